#pragma once
// What a template can call and how values combine, as jinja2 and Python do it: attribute and
// item access (a dict's methods first for `.name`, its keys first for `[key]`; a miss is
// undefined), the operators, iteration, the filters and tests of jinja2 that chat templates use,
// transformers' tojson, the str / dict / list methods templates call, and the globals range,
// namespace, dict, raise_exception and strftime_now. Limits (runtime) bound every string and
// list built here, so no template allocates without bound.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <ctime>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "switchyard/generate/jinja/location.hpp"
#include "switchyard/generate/jinja/value.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace generate::jinja {

// Bounds on one render; a render past any of them stops with a format_error.
struct limits {
  std::size_t max_output_bytes = std::size_t{8} << 20;  // the output, and any one string built on the way
  std::uint64_t max_steps = 20'000'000;                 // statements, expressions and loop iterations evaluated
  int max_call_depth = 64;                              // nested macro calls
  std::size_t max_items = 1'000'000;                    // any one list built by the template
};

struct runtime {
  limits lim;
  std::uint64_t steps = 0;
  std::tm now{};  // strftime_now's time
  // Every namespace() made: a namespace can come to hold itself ({% set ns.a = [ns] %}), a cycle
  // of shared pointers, so their contents are dropped when the render ends.
  std::vector<std::shared_ptr<dict_t>> namespaces;

  runtime() = default;
  runtime(runtime const&) = delete;
  runtime& operator=(runtime const&) = delete;
  ~runtime() {
    for (auto& d : namespaces) d->items.clear();
  }

  void step(location at) {
    if (++steps > lim.max_steps) fail_at(at, "the template ran past ", lim.max_steps, " evaluation steps");
  }
  void check_size(std::size_t bytes, location at) const {
    if (bytes > lim.max_output_bytes) fail_at(at, "a string of more than ", lim.max_output_bytes, " bytes");
  }
  void check_items(std::size_t n, location at) const {
    if (n > lim.max_items) fail_at(at, "a list of more than ", lim.max_items, " items");
  }
};

using kwargs_t = std::vector<std::pair<std::string, value>>;

inline std::vector<std::string_view> const& filter_names() {
  static std::vector<std::string_view> const names = {
      "abs", "attr", "batch", "capitalize", "center", "count", "d", "default", "dictsort", "e", "escape", "first",
      "float", "forceescape", "indent", "int", "items", "join", "last", "length", "list", "lower", "map", "max", "min",
      "reject", "rejectattr", "replace", "reverse", "round", "safe", "select", "selectattr", "sort", "string", "sum",
      "title", "tojson", "trim", "unique", "upper", "wordcount"};
  return names;
}
inline std::vector<std::string_view> const& test_names() {
  static std::vector<std::string_view> const names = {
      "boolean", "callable", "defined", "divisibleby", "eq", "equalto", "escaped", "even", "false", "float", "ge", "gt",
      "greaterthan", "in", "integer", "iterable", "le", "lessthan", "lower", "lt", "mapping", "ne", "none", "number",
      "odd", "sameas", "sequence", "string", "true", "undefined", "upper", "==", "!=", "<", "<=", ">", ">="};
  return names;
}
inline bool known_filter(std::string_view n) {
  auto const& v = filter_names();
  return std::find(v.begin(), v.end(), n) != v.end();
}
inline bool known_test(std::string_view n) {
  auto const& v = test_names();
  return std::find(v.begin(), v.end(), n) != v.end();
}

// ---- small helpers ----------------------------------------------------------------------------

// Positional argument i or keyword `name`, or null.
inline value const* arg(std::vector<value> const& args, kwargs_t const& kwargs, std::size_t i, std::string_view name) {
  if (i < args.size()) return &args[i];
  for (auto const& [k, v] : kwargs)
    if (k == name) return &v;
  return nullptr;
}

inline std::string const& need_string(value const& v, std::string_view what, location at) {
  if (!v.is_string()) fail_at(at, what, " must be a string, not ", type_name(v));
  return v.str();
}

inline std::int64_t need_int(value const& v, std::string_view what, location at) {
  if (!v.is(value::kind::integer) && !v.is(value::kind::boolean)) fail_at(at, what, " must be an integer, not ", type_name(v));
  return v.as_int();
}

inline std::string from_cps(std::vector<std::uint32_t> const& cps, std::size_t from, std::size_t to) {
  std::string out;
  for (std::size_t i = from; i < to && i < cps.size(); ++i) append_cp(out, cps[i]);
  return out;
}

inline char ascii_upper(char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 32) : c; }
inline char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; }
inline std::string to_upper(std::string s) {
  for (auto& c : s) c = ascii_upper(c);
  return s;
}
inline std::string to_lower(std::string s) {
  for (auto& c : s) c = ascii_lower(c);
  return s;
}
inline bool cased_letter(std::uint32_t cp) { return unicode::is_letter(cp); }

// Python's str.strip family; chars null: white space.
inline std::string py_strip(std::string const& s, value const* chars, bool left, bool right, location at) {
  auto cps = code_points(s);
  std::vector<std::uint32_t> set;
  bool const ws = !chars || chars->is_none();
  if (!ws) set = code_points(need_string(*chars, "strip's argument", at));
  auto strip_it = [&](std::uint32_t cp) { return ws ? py_space(cp) : std::find(set.begin(), set.end(), cp) != set.end(); };
  std::size_t b = 0, e = cps.size();
  if (left)
    while (b < e && strip_it(cps[b])) ++b;
  if (right)
    while (e > b && strip_it(cps[e - 1])) --e;
  return from_cps(cps, b, e);
}

inline value str_list(std::vector<std::string> parts) {
  list_t items;
  items.reserve(parts.size());
  for (auto& p : parts) items.push_back(value::string(std::move(p)));
  return value::list(std::move(items));
}

// Python's str.split / rsplit.
inline std::vector<std::string> py_split(std::string const& s, value const* sep, std::int64_t maxsplit, bool from_right,
                                         location at) {
  std::vector<std::string> out;
  if (!sep || sep->is_none()) {
    auto cps = code_points(s);
    if (!from_right) {
      std::size_t i = 0;
      while (true) {
        while (i < cps.size() && py_space(cps[i])) ++i;
        if (i >= cps.size()) break;
        if (maxsplit >= 0 && static_cast<std::int64_t>(out.size()) == maxsplit) {
          out.push_back(from_cps(cps, i, cps.size()));  // the rest, white space after it kept
          break;
        }
        std::size_t j = i;
        while (j < cps.size() && !py_space(cps[j])) ++j;
        out.push_back(from_cps(cps, i, j));
        i = j;
      }
    } else {
      std::size_t i = cps.size();
      while (true) {
        while (i > 0 && py_space(cps[i - 1])) --i;
        if (i == 0) break;
        if (maxsplit >= 0 && static_cast<std::int64_t>(out.size()) == maxsplit) {
          out.push_back(from_cps(cps, 0, i));  // the rest, white space before it kept
          break;
        }
        std::size_t j = i;
        while (j > 0 && !py_space(cps[j - 1])) --j;
        out.push_back(from_cps(cps, j, i));
        i = j;
      }
      std::reverse(out.begin(), out.end());
    }
    return out;
  }
  std::string const& sp = need_string(*sep, "split's separator", at);
  if (sp.empty()) fail_at(at, "split: empty separator");
  if (!from_right) {
    std::size_t b = 0;
    while (true) {
      std::size_t const p = (maxsplit < 0 || static_cast<std::int64_t>(out.size()) < maxsplit) ? s.find(sp, b) : std::string::npos;
      if (p == std::string::npos) {
        out.push_back(s.substr(b));
        return out;
      }
      out.push_back(s.substr(b, p - b));
      b = p + sp.size();
    }
  }
  std::size_t e = s.size();
  while (true) {
    std::size_t const p = (maxsplit < 0 || static_cast<std::int64_t>(out.size()) < maxsplit) && e >= sp.size()
                              ? s.rfind(sp, e - sp.size())
                              : std::string::npos;
    if (p == std::string::npos) {
      out.push_back(s.substr(0, e));
      break;
    }
    out.push_back(s.substr(p + sp.size(), e - p - sp.size()));
    e = p;
  }
  std::reverse(out.begin(), out.end());
  return out;
}

inline bool line_break(std::uint32_t cp) {
  return cp == '\n' || cp == '\r' || cp == 0x0B || cp == 0x0C || (cp >= 0x1C && cp <= 0x1E) || cp == 0x85 ||
         cp == 0x2028 || cp == 0x2029;
}
inline std::vector<std::string> py_splitlines(std::string const& s, bool keepends) {
  auto cps = code_points(s);
  std::vector<std::string> out;
  std::size_t b = 0;
  for (std::size_t i = 0; i < cps.size(); ++i) {
    if (!line_break(cps[i])) continue;
    std::size_t e = i + 1;
    if (cps[i] == '\r' && e < cps.size() && cps[e] == '\n') ++e;
    out.push_back(from_cps(cps, b, keepends ? e : i));
    b = e;
    i = e - 1;
  }
  if (b < cps.size()) out.push_back(from_cps(cps, b, cps.size()));
  return out;
}

inline std::string py_replace(std::string const& s, std::string const& old, std::string const& rep, std::int64_t count,
                              runtime& rt, location at) {
  std::string out;
  std::int64_t n = 0;
  if (old.empty()) {
    auto cps = code_points(s);
    for (std::size_t i = 0; i <= cps.size(); ++i) {
      if (count < 0 || n < count) out += rep, ++n;
      if (i < cps.size()) append_cp(out, cps[i]);
      rt.check_size(out.size(), at);
    }
    return out;
  }
  std::size_t b = 0;
  while (true) {
    std::size_t const p = (count < 0 || n < count) ? s.find(old, b) : std::string::npos;
    if (p == std::string::npos) break;
    out.append(s, b, p - b);
    out += rep;
    rt.check_size(out.size(), at);
    b = p + old.size();
    ++n;
  }
  out.append(s, b, std::string::npos);
  rt.check_size(out.size(), at);
  return out;
}

// Python's str.title(): a letter after a non-letter is upper-cased, other letters lower-cased (ASCII).
inline std::string py_title(std::string const& s) {
  std::string out;
  bool prev_cased = false;
  for (std::uint32_t cp : code_points(s)) {
    if (cp < 0x80) {
      char c = static_cast<char>(cp);
      bool const letter = (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
      out += letter ? (prev_cased ? ascii_lower(c) : ascii_upper(c)) : c;
      prev_cased = letter;
    } else {
      append_cp(out, cp);
      prev_cased = cased_letter(cp);
    }
  }
  return out;
}

inline std::string py_capitalize(std::string const& s) {
  std::string out = to_lower(s);
  if (!out.empty()) out[0] = ascii_upper(out[0]);
  return out;
}

// jinja2's title filter: words begin after white space, '-', '(', '{', '[', '<'.
inline std::string jinja_title(std::string const& s) {
  std::string out;
  bool word_start = true;
  for (std::uint32_t cp : code_points(s)) {
    bool const sep = py_space(cp) || cp == '-' || cp == '(' || cp == '{' || cp == '[' || cp == '<';
    if (cp < 0x80) out += word_start && !sep ? ascii_upper(static_cast<char>(cp)) : (sep ? static_cast<char>(cp) : ascii_lower(static_cast<char>(cp)));
    else append_cp(out, cp);
    word_start = sep;
  }
  return out;
}

inline std::string html_escape(std::string const& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&#34;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

// ---- iteration, attributes, items -------------------------------------------------------------

// The items a for loop (or a filter) walks: a list's items, a string's characters, a dict's keys;
// undefined walks nothing; anything else is not iterable.
inline list_t iterate(value const& v, location at) {
  switch (v.type()) {
    case value::kind::undefined: return {};
    case value::kind::list:
    case value::kind::tuple: return v.items();
    case value::kind::string: {
      list_t out;
      for (std::uint32_t cp : code_points(v.str())) {
        std::string ch;
        append_cp(ch, cp);
        out.push_back(value::string(std::move(ch)));
      }
      return out;
    }
    case value::kind::dict: {
      list_t out;
      for (auto const& [k, x] : v.entries().items) out.push_back(k);
      return out;
    }
    default: fail_at(at, "'", type_name(v), "' object is not iterable");
  }
}

inline bool is_str_method(std::string_view n) {
  static constexpr std::string_view names[] = {
      "strip", "lstrip", "rstrip", "split", "rsplit", "splitlines", "startswith", "endswith", "upper", "lower", "title",
      "capitalize", "replace", "find", "rfind", "count", "join", "isdigit", "isalpha", "isalnum", "isspace", "isupper",
      "islower", "format", "index", "rindex", "center", "ljust", "rjust", "zfill", "swapcase", "casefold", "encode"};
  return std::find(std::begin(names), std::end(names), n) != std::end(names);
}
inline bool is_dict_method(std::string_view n) {
  static constexpr std::string_view names[] = {"items", "keys", "values", "get", "copy", "pop", "popitem", "setdefault",
                                               "update", "clear", "fromkeys"};
  return std::find(std::begin(names), std::end(names), n) != std::end(names);
}
inline bool is_list_method(std::string_view n) {
  static constexpr std::string_view names[] = {"index", "count", "append", "extend", "insert", "pop", "remove",
                                               "reverse", "sort", "clear", "copy"};
  return std::find(std::begin(names), std::end(names), n) != std::end(names);
}

// obj.name as jinja2's getattr does it: the attribute (a method), else obj["name"], else undefined.
inline value get_attr(value const& obj, std::string const& name, location at) {
  switch (obj.type()) {
    case value::kind::undefined:
      fail_at(at, "'", obj.str().empty() ? std::string("value") : obj.str(), "' is undefined (reading its attribute '", name, "')");
    case value::kind::dict:
      if (is_dict_method(name)) return value::method(obj, name);
      if (auto const* v = obj.entries().find(std::string_view(name))) return *v;
      return value::undefined(name);
    case value::kind::ns:
    case value::kind::loop:
      if (auto const* v = obj.entries().find(std::string_view(name))) return *v;
      if (obj.is(value::kind::loop) && (name == "cycle" || name == "changed")) return value::method(obj, name);
      return value::undefined(name);
    case value::kind::string:
      if (is_str_method(name)) return value::method(obj, name);
      return value::undefined(name);
    case value::kind::list:
    case value::kind::tuple:
      if (is_list_method(name)) return value::method(obj, name);
      return value::undefined(name);
    default: return value::undefined(name);
  }
}

inline std::int64_t normalize_index(std::int64_t i, std::size_t n) { return i < 0 ? i + static_cast<std::int64_t>(n) : i; }

// obj[key] as jinja2's getitem does it: the item, else (for a string key) the attribute, else undefined.
inline value get_item(value const& obj, value const& key, location at) {
  switch (obj.type()) {
    case value::kind::undefined:
      fail_at(at, "'", obj.str().empty() ? std::string("value") : obj.str(), "' is undefined (reading an item of it)");
    case value::kind::dict:
      if (auto const* v = obj.entries().find(key)) return *v;
      break;
    case value::kind::list:
    case value::kind::tuple:
      if (key.is(value::kind::integer) || key.is(value::kind::boolean)) {
        auto const i = normalize_index(key.as_int(), obj.items().size());
        if (i >= 0 && static_cast<std::size_t>(i) < obj.items().size()) return obj.items()[static_cast<std::size_t>(i)];
        return value::undefined();
      }
      break;
    case value::kind::string:
      if (key.is(value::kind::integer) || key.is(value::kind::boolean)) {
        auto cps = code_points(obj.str());
        auto const i = normalize_index(key.as_int(), cps.size());
        if (i >= 0 && static_cast<std::size_t>(i) < cps.size()) return value::string(from_cps(cps, static_cast<std::size_t>(i), static_cast<std::size_t>(i) + 1));
        return value::undefined();
      }
      break;
    default: break;
  }
  if (key.is_string()) return get_attr(obj, key.str(), at);
  return value::undefined();
}

// Python's slice of a list, tuple or string.
inline value get_slice(value const& obj, value const& start, value const& stop, value const& stepv, runtime& rt, location at) {
  if (obj.is_undefined()) fail_at(at, "'", obj.str().empty() ? std::string("value") : obj.str(), "' is undefined (slicing it)");
  std::int64_t step = 1;
  if (!stepv.is_none() && !stepv.is_undefined()) step = need_int(stepv, "a slice step", at);
  if (step == 0) fail_at(at, "slice step cannot be zero");
  std::vector<std::uint32_t> cps;
  std::size_t n;
  if (obj.is_string()) cps = code_points(obj.str()), n = cps.size();
  else if (obj.is_sequence()) n = obj.items().size();
  else return value::undefined();
  auto const len = static_cast<std::int64_t>(n);
  auto bound = [&](value const& v, std::int64_t dflt) {
    if (v.is_none() || v.is_undefined()) return dflt;
    std::int64_t i = need_int(v, "a slice index", at);
    if (i < 0) i += len, i = std::max(i, step < 0 ? std::int64_t{-1} : std::int64_t{0});
    else i = std::min(i, step < 0 ? len - 1 : len);
    return i;
  };
  std::int64_t const b = bound(start, step < 0 ? len - 1 : 0), e = bound(stop, step < 0 ? -1 : len);
  std::vector<std::size_t> idx;
  for (std::int64_t i = b; step > 0 ? i < e : i > e; i += step) idx.push_back(static_cast<std::size_t>(i));
  rt.check_items(idx.size(), at);
  if (obj.is_string()) {
    std::string out;
    for (auto i : idx) append_cp(out, cps[i]);
    return value::string(std::move(out));
  }
  list_t out;
  out.reserve(idx.size());
  for (auto i : idx) out.push_back(obj.items()[i]);
  return value::list(std::move(out), obj.is(value::kind::tuple));
}

// `item in container`
inline bool py_contains(value const& container, value const& item, location at) {
  switch (container.type()) {
    case value::kind::undefined: return false;
    case value::kind::string:
      if (!item.is_string()) fail_at(at, "'in <string>' requires a string as left operand, not ", type_name(item));
      return container.str().find(item.str()) != std::string::npos;
    case value::kind::list:
    case value::kind::tuple:
      for (auto const& x : container.items())
        if (py_equal(x, item)) return true;
      return false;
    case value::kind::dict: return container.entries().find(item) != nullptr;
    default: fail_at(at, "argument of type '", type_name(container), "' is not iterable");
  }
}

// ---- operators --------------------------------------------------------------------------------

inline value checked_int(long double exact, std::int64_t r, bool overflow, location at) {
  (void)exact;
  if (overflow) fail_at(at, "integer overflow (switchyard's integers are 64-bit)");
  return value::integer(r);
}

inline value binary_op(std::string const& op, value const& a, value const& b, runtime& rt, location at) {
  if (op == "~") {
    std::string s = py_str(a);
    py_str_into(s, b);
    rt.check_size(s.size(), at);
    return value::string(std::move(s));
  }
  if (a.is_undefined() || b.is_undefined())
    fail_at(at, "'", (a.is_undefined() ? a : b).str().empty() ? std::string("value") : (a.is_undefined() ? a : b).str(),
            "' is undefined (used with '", op, "')");
  bool const ints = (a.is(value::kind::integer) || a.is(value::kind::boolean)) && (b.is(value::kind::integer) || b.is(value::kind::boolean));
  bool const nums = a.is_number() && b.is_number();
  auto unsupported = [&]() -> value {
    fail_at(at, "unsupported operand type(s) for ", op, ": '", type_name(a), "' and '", type_name(b), "'");
  };
  if (op == "+") {
    if (ints) {
      std::int64_t r;
      return checked_int(0, r, __builtin_add_overflow(a.as_int(), b.as_int(), &r), at);
    }
    if (nums) return value::floating(a.as_double() + b.as_double());
    if (a.is_string() && b.is_string()) {
      rt.check_size(a.str().size() + b.str().size(), at);
      return value::string(a.str() + b.str());
    }
    if (a.is_sequence() && a.type() == b.type()) {
      rt.check_items(a.items().size() + b.items().size(), at);
      list_t out = a.items();
      out.insert(out.end(), b.items().begin(), b.items().end());
      return value::list(std::move(out), a.is(value::kind::tuple));
    }
    if (a.is_string() || b.is_string())
      fail_at(at, "can only concatenate str (not \"", type_name(a.is_string() ? b : a), "\") to str");
    return unsupported();
  }
  if (op == "-") {
    if (ints) {
      std::int64_t r;
      return checked_int(0, r, __builtin_sub_overflow(a.as_int(), b.as_int(), &r), at);
    }
    if (nums) return value::floating(a.as_double() - b.as_double());
    return unsupported();
  }
  if (op == "*") {
    if (ints) {
      std::int64_t r;
      return checked_int(0, r, __builtin_mul_overflow(a.as_int(), b.as_int(), &r), at);
    }
    if (nums) return value::floating(a.as_double() * b.as_double());
    value const* seq = (a.is_string() || a.is_sequence()) ? &a : (b.is_string() || b.is_sequence()) ? &b : nullptr;
    value const* cnt = seq == &a ? &b : &a;
    if (seq && (cnt->is(value::kind::integer) || cnt->is(value::kind::boolean))) {
      std::int64_t const n = std::max<std::int64_t>(0, cnt->as_int());
      if (seq->is_string()) {
        if (n > 0 && seq->str().size() > rt.lim.max_output_bytes / static_cast<std::uint64_t>(n))
          rt.check_size(rt.lim.max_output_bytes + 1, at);
        std::string out;
        for (std::int64_t i = 0; i < n; ++i) out += seq->str();
        return value::string(std::move(out));
      }
      if (n > 0 && seq->items().size() > rt.lim.max_items / static_cast<std::uint64_t>(n)) rt.check_items(rt.lim.max_items + 1, at);
      list_t out;
      for (std::int64_t i = 0; i < n; ++i) out.insert(out.end(), seq->items().begin(), seq->items().end());
      return value::list(std::move(out), seq->is(value::kind::tuple));
    }
    return unsupported();
  }
  if (op == "/") {
    if (!nums) return unsupported();
    if (b.as_double() == 0) fail_at(at, "division by zero");
    return value::floating(a.as_double() / b.as_double());
  }
  if (op == "//" || op == "%") {
    if (a.is_string() && op == "%") fail_at(at, "printf-style string formatting ('%' on a string) is not supported");
    if (!nums) return unsupported();
    if (b.as_double() == 0) fail_at(at, op == "%" ? "modulo by zero" : "integer division by zero");
    if (ints) {
      std::int64_t const x = a.as_int(), y = b.as_int();
      if (x == INT64_MIN && y == -1) fail_at(at, "integer overflow (switchyard's integers are 64-bit)");
      std::int64_t q = x / y, r = x % y;
      if (r != 0 && ((r < 0) != (y < 0))) --q, r += y;
      return value::integer(op == "//" ? q : r);
    }
    // Python's float divmod
    double const x = a.as_double(), y = b.as_double();
    double mod = std::fmod(x, y);
    double div = (x - mod) / y;
    if (mod != 0 && ((mod < 0) != (y < 0))) mod += y, div -= 1.0;
    if (op == "%") return value::floating(mod != 0 ? mod : std::copysign(0.0, y));
    double floordiv = std::floor(div);
    if (div - floordiv > 0.5) floordiv += 1.0;
    return value::floating(div != 0 ? floordiv : std::copysign(0.0, x / y));
  }
  if (op == "**") {
    if (ints && b.as_int() >= 0) {
      std::int64_t r = 1, base = a.as_int();
      for (std::int64_t e = b.as_int(); e > 0; --e) {
        if (__builtin_mul_overflow(r, base, &r)) fail_at(at, "integer overflow (switchyard's integers are 64-bit)");
        if (r == 0 || r == 1) break;
        if (r == -1) {
          r = (e % 2 == 1) ? -1 : 1;
          break;
        }
      }
      return value::integer(r);
    }
    if (nums) return value::floating(std::pow(a.as_double(), b.as_double()));
    return unsupported();
  }
  fail_at(at, "unknown operator '", op, "'");
}

// ---- tests ------------------------------------------------------------------------------------

inline bool apply_test(std::string const& name, value const& v, std::vector<value> const& args, location at) {
  auto one = [&]() -> value const& {
    if (args.empty()) fail_at(at, "the test '", name, "' needs an argument");
    return args[0];
  };
  if (name == "defined") return !v.is_undefined();
  if (name == "undefined") return v.is_undefined();
  if (name == "none") return v.is_none();
  if (name == "boolean") return v.is(value::kind::boolean);
  if (name == "true") return v.is(value::kind::boolean) && v.as_bool();
  if (name == "false") return v.is(value::kind::boolean) && !v.as_bool();
  if (name == "integer") return v.is(value::kind::integer);
  if (name == "float") return v.is(value::kind::floating);
  if (name == "number") return v.is_number();
  if (name == "string") return v.is_string();
  if (name == "mapping") return v.is_mapping();
  if (name == "iterable")
    return v.is_undefined() || v.is_string() || v.is_sequence() || v.is_mapping();
  if (name == "sequence") return v.is_string() || v.is_sequence() || v.is_mapping();
  if (name == "callable") return v.is_callable();
  if (name == "escaped") return false;
  if (name == "odd" || name == "even") {
    std::int64_t const i = need_int(v, "the value tested", at);
    return (i % 2 != 0) == (name == "odd");
  }
  if (name == "divisibleby") {
    std::int64_t const d = need_int(one(), "divisibleby's argument", at);
    if (d == 0) fail_at(at, "divisibleby 0");
    return need_int(v, "the value tested", at) % d == 0;
  }
  if (name == "lower" || name == "upper") {
    if (!v.is_string()) return false;
    bool cased = false;
    for (char c : v.str()) {
      if (c >= 'a' && c <= 'z') {
        if (name == "upper") return false;
        cased = true;
      } else if (c >= 'A' && c <= 'Z') {
        if (name == "lower") return false;
        cased = true;
      }
    }
    return cased;
  }
  if (name == "eq" || name == "equalto" || name == "==") return py_equal(v, one());
  if (name == "ne" || name == "!=") return !py_equal(v, one());
  if (name == "lt" || name == "lessthan" || name == "<") return py_less(v, one(), at);
  if (name == "le" || name == "<=") return !py_less(one(), v, at);
  if (name == "gt" || name == "greaterthan" || name == ">") return py_less(one(), v, at);
  if (name == "ge" || name == ">=") return !py_less(v, one(), at);
  if (name == "in") return py_contains(one(), v, at);
  if (name == "sameas") {
    value const& o = one();
    if (v.type() != o.type()) return false;
    if (v.is_none() || v.is_undefined()) return true;
    if (v.is(value::kind::boolean)) return v.as_bool() == o.as_bool();
    if (v.is(value::kind::integer)) return v.as_int() == o.as_int() && v.as_int() >= -5 && v.as_int() <= 256;
    return v.same_object(o);
  }
  fail_at(at, "unknown test '", name, "'");
}

// ---- filters ----------------------------------------------------------------------------------

inline std::string json_dumps(value const& v, std::vector<value> const& args, kwargs_t const& kwargs, location at) {
  // transformers: tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False)
  json_options o;
  if (auto const* a = arg(args, kwargs, 0, "ensure_ascii")) o.ensure_ascii = py_truthy(*a);
  if (auto const* a = arg(args, kwargs, 1, "indent"); a && !a->is_none()) {
    o.indent_set = true;
    if (a->is_string()) o.indent = a->str();
    else o.indent = std::string(static_cast<std::size_t>(std::clamp<std::int64_t>(need_int(*a, "tojson's indent", at), 0, 1024)), ' ');
    o.item_separator = ",";
  }
  if (auto const* a = arg(args, kwargs, 2, "separators"); a && !a->is_none()) {
    if (!a->is_sequence() || a->items().size() != 2) fail_at(at, "tojson's separators must be a pair of strings");
    o.item_separator = need_string(a->items()[0], "a separator", at);
    o.key_separator = need_string(a->items()[1], "a separator", at);
  }
  if (auto const* a = arg(args, kwargs, 3, "sort_keys")) o.sort_keys = py_truthy(*a);
  std::string out;
  json_dump_into(out, v, o, 0, at);
  return out;
}

// Python's int(str): optional sign, digits with single underscores, white space around.
inline bool parse_py_int(std::string const& s, std::int64_t* out) {
  std::string t = py_strip(s, nullptr, true, true, {});
  std::string digits;
  std::size_t i = 0;
  bool neg = false;
  if (i < t.size() && (t[i] == '+' || t[i] == '-')) neg = t[i] == '-', ++i;
  if (i >= t.size()) return false;
  for (; i < t.size(); ++i) {
    if (t[i] >= '0' && t[i] <= '9') digits += t[i];
    else if (t[i] == '_' && !digits.empty() && i + 1 < t.size() && t[i + 1] != '_') continue;
    else return false;
  }
  if (digits.empty()) return false;
  if (neg) digits.insert(digits.begin(), '-');
  auto const r = std::from_chars(digits.data(), digits.data() + digits.size(), *out);
  return r.ec == std::errc() && r.ptr == digits.data() + digits.size();
}
inline bool parse_py_float(std::string const& s, double* out) {
  std::string t = py_strip(s, nullptr, true, true, {});
  std::string l = to_lower(t);
  std::string_view body = l;
  bool neg = false;
  if (!body.empty() && (body[0] == '+' || body[0] == '-')) neg = body[0] == '-', body.remove_prefix(1);
  if (body == "inf" || body == "infinity") return *out = neg ? -INFINITY : INFINITY, true;
  if (body == "nan") return *out = NAN, true;
  std::string clean;
  for (char c : t)
    if (c != '_') clean += c;
  if (!clean.empty() && clean[0] == '+') clean.erase(0, 1);
  auto const r = std::from_chars(clean.data(), clean.data() + clean.size(), *out);
  return r.ec == std::errc() && r.ptr == clean.data() + clean.size() && !clean.empty();
}

// Applies a filter by name; `apply_filter_fn` lets map() call other filters.
inline value apply_filter(std::string const& name, value const& v, std::vector<value> const& args, kwargs_t const& kwargs,
                          runtime& rt, location at);

inline value attribute_path(value v, value const& path, location at) {
  if (path.is(value::kind::integer)) return get_item(v, path, at);
  std::string const& p = need_string(path, "attribute", at);
  std::size_t b = 0;
  while (true) {
    std::size_t const dot = p.find('.', b);
    std::string part = p.substr(b, dot == std::string::npos ? std::string::npos : dot - b);
    std::int64_t idx;
    if (!part.empty() && std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; }) && parse_py_int(part, &idx))
      v = get_item(v, value::integer(idx), at);
    else
      v = get_item(v, value::string(part), at);
    if (dot == std::string::npos) return v;
    if (v.is_undefined()) return v;
    b = dot + 1;
  }
}

inline value sort_key(value const& x, bool case_sensitive) {
  if (!case_sensitive && x.is_string()) return value::string(to_lower(x.str()));
  return x;
}

inline value apply_filter(std::string const& name, value const& v, std::vector<value> const& args, kwargs_t const& kwargs,
                          runtime& rt, location at) {
  auto string_of = [&](value const& x) { return py_str(x); };
  if (name == "safe") return v;
  if (name == "string") return value::string(string_of(v));
  if (name == "e" || name == "escape" || name == "forceescape") return value::string(html_escape(string_of(v)));
  if (name == "length" || name == "count") {
    switch (v.type()) {
      case value::kind::undefined: return value::integer(0);
      case value::kind::string: return value::integer(static_cast<std::int64_t>(py_len(v.str())));
      case value::kind::list:
      case value::kind::tuple: return value::integer(static_cast<std::int64_t>(v.items().size()));
      case value::kind::dict: return value::integer(static_cast<std::int64_t>(v.entries().items.size()));
      default: fail_at(at, "object of type '", type_name(v), "' has no len()");
    }
  }
  if (name == "d" || name == "default") {
    value const* dflt = arg(args, kwargs, 0, "default_value");
    value const* boolean = arg(args, kwargs, 1, "boolean");
    bool const use = v.is_undefined() || (boolean && py_truthy(*boolean) && !py_truthy(v));
    if (!use) return v;
    return dflt ? *dflt : value::string("");
  }
  if (name == "upper") return value::string(to_upper(string_of(v)));
  if (name == "lower") return value::string(to_lower(string_of(v)));
  if (name == "capitalize") return value::string(py_capitalize(string_of(v)));
  if (name == "title") return value::string(jinja_title(string_of(v)));
  if (name == "trim") return value::string(py_strip(string_of(v), arg(args, kwargs, 0, "chars"), true, true, at));
  if (name == "replace") {
    value const* old = arg(args, kwargs, 0, "old");
    value const* rep = arg(args, kwargs, 1, "new");
    value const* count = arg(args, kwargs, 2, "count");
    if (!old || !rep) fail_at(at, "replace needs the old and the new string");
    return value::string(py_replace(string_of(v), string_of(*old), string_of(*rep),
                                    count && !count->is_none() ? need_int(*count, "replace's count", at) : -1, rt, at));
  }
  if (name == "tojson") return value::string(json_dumps(v, args, kwargs, at));
  if (name == "items") {
    if (v.is_undefined()) return value::list({});
    if (!v.is_mapping()) fail_at(at, "items: can only get item pairs from a mapping, not ", type_name(v));
    list_t out;
    for (auto const& [k, x] : v.entries().items) out.push_back(value::list({k, x}, true));
    return value::list(std::move(out));
  }
  if (name == "list") return value::list(iterate(v, at));
  if (name == "first" || name == "last") {
    list_t items = iterate(v, at);
    if (items.empty()) return value::undefined();
    return name == "first" ? items.front() : items.back();
  }
  if (name == "reverse") {
    if (v.is_string()) {
      auto cps = code_points(v.str());
      std::reverse(cps.begin(), cps.end());
      return value::string(from_cps(cps, 0, cps.size()));
    }
    list_t items = iterate(v, at);
    std::reverse(items.begin(), items.end());
    return value::list(std::move(items));
  }
  if (name == "join") {
    value const* sep = arg(args, kwargs, 0, "d");
    value const* attribute = arg(args, kwargs, 1, "attribute");
    std::string out;
    bool first = true;
    for (auto const& x : iterate(v, at)) {
      if (!first && sep) out += string_of(*sep);
      first = false;
      py_str_into(out, attribute ? attribute_path(x, *attribute, at) : x);
      rt.check_size(out.size(), at);
    }
    return value::string(std::move(out));
  }
  if (name == "abs") {
    if (v.is(value::kind::floating)) return value::floating(std::fabs(v.as_double()));
    if (v.is(value::kind::integer) || v.is(value::kind::boolean)) {
      if (v.as_int() == INT64_MIN) fail_at(at, "integer overflow (switchyard's integers are 64-bit)");
      return value::integer(v.as_int() < 0 ? -v.as_int() : v.as_int());
    }
    fail_at(at, "bad operand type for abs(): '", type_name(v), "'");
  }
  if (name == "int") {
    value const* dflt = arg(args, kwargs, 0, "default");
    value const fallback = dflt ? *dflt : value::integer(0);
    if (v.is(value::kind::integer) || v.is(value::kind::boolean)) return value::integer(v.as_int());
    if (v.is(value::kind::floating)) {
      double const d = v.as_double();
      if (!std::isfinite(d) || std::fabs(d) >= 9.2e18) return fallback;
      return value::integer(static_cast<std::int64_t>(d));
    }
    if (v.is_string()) {
      std::int64_t i;
      double d;
      if (parse_py_int(v.str(), &i)) return value::integer(i);
      if (parse_py_float(v.str(), &d) && std::isfinite(d) && std::fabs(d) < 9.2e18) return value::integer(static_cast<std::int64_t>(d));
    }
    return fallback;
  }
  if (name == "float") {
    value const* dflt = arg(args, kwargs, 0, "default");
    value const fallback = dflt ? *dflt : value::floating(0.0);
    if (v.is_number()) return value::floating(v.as_double());
    double d;
    if (v.is_string() && parse_py_float(v.str(), &d)) return value::floating(d);
    return fallback;
  }
  if (name == "round") {
    value const* prec = arg(args, kwargs, 0, "precision");
    value const* method = arg(args, kwargs, 1, "method");
    std::int64_t const p = prec ? need_int(*prec, "round's precision", at) : 0;
    std::string const m = method ? need_string(*method, "round's method", at) : "common";
    if (!v.is_number()) fail_at(at, "round: a number is needed, not ", type_name(v));
    if (m == "common" && !v.is(value::kind::floating)) return value::integer(v.as_int());
    double const scale = std::pow(10.0, static_cast<double>(std::clamp<std::int64_t>(p, -300, 300)));
    double const x = v.as_double() * scale;
    double r;
    if (m == "common" && p >= 0 && p <= 300 && std::isfinite(v.as_double())) {
      // Python's round(x, n): the exact binary value rounded half-even at n decimals, which is
      // what printf's %.*f does.
      char buf[1024];  // 309 integer digits + 300 decimals at most
      std::snprintf(buf, sizeof buf, "%.*f", static_cast<int>(std::min<std::int64_t>(p, 300)), v.as_double());
      return value::floating(std::strtod(buf, nullptr));
    }
    if (m == "common") r = std::nearbyint(x);
    else if (m == "ceil") r = std::ceil(x);
    else if (m == "floor") r = std::floor(x);
    else fail_at(at, "round: method must be 'common', 'ceil' or 'floor'");
    return value::floating(r / scale);
  }
  if (name == "center") {
    value const* w = arg(args, kwargs, 0, "width");
    std::int64_t const width = w ? need_int(*w, "center's width", at) : 80;
    std::string s = string_of(v);
    auto const len = static_cast<std::int64_t>(py_len(s));
    if (width <= len) return value::string(s);
    rt.check_size(static_cast<std::size_t>(width), at);
    std::int64_t const pad = width - len, left = pad / 2 + (pad & width & 1);
    return value::string(std::string(static_cast<std::size_t>(left), ' ') + s + std::string(static_cast<std::size_t>(pad - left), ' '));
  }
  if (name == "indent") {
    value const* w = arg(args, kwargs, 0, "width");
    value const* first = arg(args, kwargs, 1, "first");
    value const* blank = arg(args, kwargs, 2, "blank");
    std::string ind = w && w->is_string() ? w->str() : std::string(static_cast<std::size_t>(std::clamp<std::int64_t>(w ? need_int(*w, "indent's width", at) : 4, 0, 1024)), ' ');
    std::string s = string_of(v) + "\n";
    auto lines = py_splitlines(s, false);
    std::string out;
    if (blank && py_truthy(*blank)) {
      for (std::size_t i = 0; i < lines.size(); ++i) out += (i ? "\n" + ind : "") + lines[i];
    } else {
      out = lines.empty() ? "" : lines[0];
      for (std::size_t i = 1; i < lines.size(); ++i) out += "\n" + (lines[i].empty() ? lines[i] : ind + lines[i]);
    }
    if (first && py_truthy(*first)) out = ind + out;
    rt.check_size(out.size(), at);
    return value::string(std::move(out));
  }
  if (name == "wordcount") {
    std::int64_t n = 0;
    bool in_word = false;
    for (std::uint32_t cp : code_points(string_of(v))) {
      bool const w = unicode::is_letter(cp) || unicode::is_number(cp) || cp == '_' || unicode::is_mark(cp);
      if (w && !in_word) ++n;
      in_word = w;
    }
    return value::integer(n);
  }
  if (name == "attr") {
    value const* a = arg(args, kwargs, 0, "name");
    if (!a) fail_at(at, "attr needs a name");
    std::string const& n = need_string(*a, "attr's name", at);
    if (v.is(value::kind::ns) || v.is(value::kind::loop)) return get_attr(v, n, at);
    if ((v.is_mapping() && is_dict_method(n)) || (v.is_string() && is_str_method(n)) || (v.is_sequence() && is_list_method(n)))
      return get_attr(v, n, at);
    return value::undefined(n);
  }
  if (name == "batch") {
    value const* c = arg(args, kwargs, 0, "linecount");
    value const* fill = arg(args, kwargs, 1, "fill_with");
    std::int64_t const n = c ? need_int(*c, "batch's size", at) : 0;
    if (n <= 0) fail_at(at, "batch: the size must be positive");
    list_t items = iterate(v, at), out, cur;
    for (auto& x : items) {
      cur.push_back(std::move(x));
      if (static_cast<std::int64_t>(cur.size()) == n) out.push_back(value::list(std::move(cur))), cur.clear();
    }
    if (!cur.empty()) {
      if (fill && !fill->is_none())
        while (static_cast<std::int64_t>(cur.size()) < n) cur.push_back(*fill);
      out.push_back(value::list(std::move(cur)));
    }
    return value::list(std::move(out));
  }
  value const* case_arg = nullptr;
  if (name == "sort" || name == "unique" || name == "min" || name == "max" || name == "dictsort") {
    bool const is_sort = name == "sort", is_dictsort = name == "dictsort";
    case_arg = is_sort ? arg(args, kwargs, 1, "case_sensitive") : arg(args, kwargs, 0, "case_sensitive");
    bool const cs = case_arg && py_truthy(*case_arg);
    value const* attribute = is_sort ? arg(args, kwargs, 2, "attribute") : is_dictsort ? nullptr : arg(args, kwargs, 1, "attribute");
    bool reverse = false;
    if (is_sort) {
      if (auto const* r = arg(args, kwargs, 0, "reverse")) reverse = py_truthy(*r);
    } else if (is_dictsort) {
      if (auto const* r = arg(args, kwargs, 2, "reverse")) reverse = py_truthy(*r);
    }
    list_t items;
    int by_value = 0;
    if (is_dictsort) {
      if (!v.is_mapping()) fail_at(at, "dictsort: a dict is needed, not ", type_name(v));
      for (auto const& [k, x] : v.entries().items) items.push_back(value::list({k, x}, true));
      if (auto const* by = arg(args, kwargs, 1, "by")) {
        std::string const& b = need_string(*by, "dictsort's by", at);
        if (b == "value") by_value = 1;
        else if (b != "key") fail_at(at, "dictsort: by must be 'key' or 'value'");
      }
    } else {
      items = iterate(v, at);
    }
    auto key = [&](value const& x) {
      if (is_dictsort) return sort_key(x.items()[static_cast<std::size_t>(by_value)], cs);
      return sort_key(attribute ? attribute_path(x, *attribute, at) : x, cs);
    };
    if (name == "unique") {
      list_t out, seen;
      for (auto const& x : items) {
        value k = key(x);
        bool dup = false;
        for (auto const& s : seen)
          if (py_equal(s, k)) dup = true;
        if (!dup) seen.push_back(std::move(k)), out.push_back(x);
      }
      return value::list(std::move(out));
    }
    if (name == "min" || name == "max") {
      if (items.empty()) return value::undefined();
      std::size_t best = 0;
      for (std::size_t i = 1; i < items.size(); ++i) {
        bool const better = name == "min" ? py_less(key(items[i]), key(items[best]), at) : py_less(key(items[best]), key(items[i]), at);
        if (better) best = i;
      }
      return items[best];
    }
    std::vector<std::pair<value, value>> keyed;
    for (auto& x : items) keyed.emplace_back(key(x), std::move(x));
    std::stable_sort(keyed.begin(), keyed.end(), [&](auto const& x, auto const& y) {
      return reverse ? py_less(y.first, x.first, at) : py_less(x.first, y.first, at);
    });
    list_t out;
    for (auto& [k, x] : keyed) out.push_back(std::move(x));
    return value::list(std::move(out));
  }
  if (name == "sum") {
    value const* attribute = arg(args, kwargs, 0, "attribute");
    value const* start = arg(args, kwargs, 1, "start");
    value total = start ? *start : value::integer(0);
    for (auto const& x : iterate(v, at)) total = binary_op("+", total, attribute ? attribute_path(x, *attribute, at) : x, rt, at);
    return total;
  }
  if (name == "map") {
    list_t out;
    list_t const items = iterate(v, at);
    value const* attribute = nullptr;
    for (auto const& [k, x] : kwargs)
      if (k == "attribute") attribute = &x;
    if (attribute) {
      value const* dflt = nullptr;
      for (auto const& [k, x] : kwargs)
        if (k == "default") dflt = &x;
      for (auto const& x : items) {
        value r = attribute_path(x, *attribute, at);
        out.push_back(r.is_undefined() && dflt ? *dflt : r);
      }
      return value::list(std::move(out));
    }
    if (args.empty()) fail_at(at, "map needs a filter name or attribute=");
    std::string const& f = need_string(args[0], "map's filter", at);
    if (!known_filter(f)) fail_at(at, "map: unknown filter '", f, "'");
    std::vector<value> rest(args.begin() + 1, args.end());
    for (auto const& x : items) out.push_back(apply_filter(f, x, rest, kwargs, rt, at));
    return value::list(std::move(out));
  }
  if (name == "select" || name == "reject" || name == "selectattr" || name == "rejectattr") {
    bool const by_attr = name == "selectattr" || name == "rejectattr";
    bool const keep_if = name == "select" || name == "selectattr";
    std::size_t i = 0;
    value const* attribute = nullptr;
    if (by_attr) {
      if (args.empty()) fail_at(at, name, " needs an attribute name");
      attribute = &args[i++];
    }
    std::string test;
    if (i < args.size()) {
      test = need_string(args[i++], "the test's name", at);
      if (!known_test(test)) fail_at(at, name, ": unknown test '", test, "'");
    }
    std::vector<value> rest(args.begin() + static_cast<std::ptrdiff_t>(std::min(i, args.size())), args.end());
    list_t out;
    for (auto const& x : iterate(v, at)) {
      value const subject = attribute ? attribute_path(x, *attribute, at) : x;
      bool const pass = test.empty() ? py_truthy(subject) : apply_test(test, subject, rest, at);
      if (pass == keep_if) out.push_back(x);
    }
    return value::list(std::move(out));
  }
  fail_at(at, "unknown filter '", name, "'");
}

// ---- methods and global functions -------------------------------------------------------------

inline value call_method(value const& self, std::string const& name, std::vector<value> const& args, kwargs_t const& kwargs,
                         runtime& rt, location at) {
  if (self.is(value::kind::loop)) {
    if (name == "cycle") {
      if (args.empty()) fail_at(at, "loop.cycle needs at least one value");
      auto const* i0 = self.entries().find(std::string_view("index0"));
      return args[static_cast<std::size_t>(i0->as_int()) % args.size()];
    }
    fail_at(at, "loop.", name, "() is not supported");
  }
  if (self.is_mapping()) {
    auto const& items = self.entries().items;
    if (name == "items") {
      list_t out;
      for (auto const& [k, x] : items) out.push_back(value::list({k, x}, true));
      return value::view(std::move(out), "dict_items");
    }
    if (name == "keys" || name == "values") {
      list_t out;
      for (auto const& [k, x] : items) out.push_back(name == "keys" ? k : x);
      return value::view(std::move(out), name == "keys" ? "dict_keys" : "dict_values");
    }
    if (name == "get") {
      value const* key = arg(args, kwargs, 0, "key");
      if (!key) fail_at(at, "dict.get needs a key");
      if (auto const* x = self.entries().find(*key)) return *x;
      value const* dflt = arg(args, kwargs, 1, "default");
      return dflt ? *dflt : value::none();
    }
    if (name == "copy") return value::dict(std::make_shared<dict_t>(self.entries()));
    fail_at(at, "dict.", name, "() would change the dict: chat templates are sandboxed (immutable)");
  }
  if (self.is_sequence()) {
    if (name == "index" || name == "count") {
      value const* x = arg(args, kwargs, 0, "value");
      if (!x) fail_at(at, "list.", name, "() needs a value");
      std::int64_t n = 0;
      for (std::size_t i = 0; i < self.items().size(); ++i)
        if (py_equal(self.items()[i], *x)) {
          if (name == "index") return value::integer(static_cast<std::int64_t>(i));
          ++n;
        }
      if (name == "index") fail_at(at, "list.index(x): x not in list");
      return value::integer(n);
    }
    if (name == "copy") return value::list(self.items(), self.is(value::kind::tuple));
    fail_at(at, "list.", name, "() would change the list: chat templates are sandboxed (immutable)");
  }
  if (!self.is_string()) fail_at(at, "'", type_name(self), "' object has no method '", name, "'");
  std::string const& s = self.str();
  auto cp_index = [&](std::size_t byte) { return value::integer(static_cast<std::int64_t>(py_len(std::string_view(s).substr(0, byte)))); };
  if (name == "strip") return value::string(py_strip(s, arg(args, kwargs, 0, "chars"), true, true, at));
  if (name == "lstrip") return value::string(py_strip(s, arg(args, kwargs, 0, "chars"), true, false, at));
  if (name == "rstrip") return value::string(py_strip(s, arg(args, kwargs, 0, "chars"), false, true, at));
  if (name == "split" || name == "rsplit") {
    value const* m = arg(args, kwargs, 1, "maxsplit");
    auto parts = py_split(s, arg(args, kwargs, 0, "sep"), m ? need_int(*m, "maxsplit", at) : -1, name == "rsplit", at);
    rt.check_items(parts.size(), at);
    return str_list(std::move(parts));
  }
  if (name == "splitlines") {
    value const* k = arg(args, kwargs, 0, "keepends");
    return str_list(py_splitlines(s, k && py_truthy(*k)));
  }
  if (name == "startswith" || name == "endswith") {
    value const* p = arg(args, kwargs, 0, "prefix");
    if (!p) fail_at(at, "str.", name, "() needs an argument");
    if (args.size() > 1) fail_at(at, "str.", name, "() with start / end is not supported");
    auto test = [&](value const& x) {
      std::string const& t = need_string(x, std::string("str.") + name + "'s argument", at);
      return name == "startswith" ? s.compare(0, t.size(), t) == 0 && s.size() >= t.size()
                                  : s.size() >= t.size() && s.compare(s.size() - t.size(), t.size(), t) == 0;
    };
    if (p->is(value::kind::tuple)) {
      for (auto const& x : p->items())
        if (test(x)) return value::boolean(true);
      return value::boolean(false);
    }
    return value::boolean(test(*p));
  }
  if (name == "upper") return value::string(to_upper(s));
  if (name == "lower" || name == "casefold") return value::string(to_lower(s));
  if (name == "title") return value::string(py_title(s));
  if (name == "capitalize") return value::string(py_capitalize(s));
  if (name == "swapcase") {
    std::string out = s;
    for (auto& c : out) c = (c >= 'a' && c <= 'z') ? ascii_upper(c) : ascii_lower(c);
    return value::string(std::move(out));
  }
  if (name == "replace") {
    value const* old = arg(args, kwargs, 0, "old");
    value const* rep = arg(args, kwargs, 1, "new");
    value const* count = arg(args, kwargs, 2, "count");
    if (!old || !rep) fail_at(at, "str.replace needs two arguments");
    return value::string(py_replace(s, need_string(*old, "str.replace's argument", at), need_string(*rep, "str.replace's argument", at),
                                    count ? need_int(*count, "str.replace's count", at) : -1, rt, at));
  }
  if (name == "find" || name == "rfind" || name == "index" || name == "rindex" || name == "count") {
    value const* sub = arg(args, kwargs, 0, "sub");
    if (!sub) fail_at(at, "str.", name, "() needs an argument");
    if (args.size() > 1) fail_at(at, "str.", name, "() with start / end is not supported");
    std::string const& t = need_string(*sub, std::string("str.") + name + "'s argument", at);
    if (name == "count") {
      if (t.empty()) return value::integer(static_cast<std::int64_t>(py_len(s)) + 1);
      std::int64_t n = 0;
      for (std::size_t p = s.find(t); p != std::string::npos; p = s.find(t, p + t.size())) ++n;
      return value::integer(n);
    }
    std::size_t const p = (name == "find" || name == "index") ? s.find(t) : s.rfind(t);
    if (p == std::string::npos) {
      if (name == "index" || name == "rindex") fail_at(at, "str.", name, ": substring not found");
      return value::integer(-1);
    }
    return cp_index(p);
  }
  if (name == "join") {
    value const* it = arg(args, kwargs, 0, "iterable");
    if (!it) fail_at(at, "str.join needs an argument");
    std::string out;
    bool first = true;
    for (auto const& x : iterate(*it, at)) {
      if (!first) out += s;
      first = false;
      out += need_string(x, "str.join's items", at);
      rt.check_size(out.size(), at);
    }
    return value::string(std::move(out));
  }
  if (name == "isdigit" || name == "isalpha" || name == "isalnum" || name == "isspace" || name == "isupper" || name == "islower") {
    auto cps = code_points(s);
    if (cps.empty()) return value::boolean(false);
    if (name == "isupper" || name == "islower") {
      return apply_test(name == "isupper" ? "upper" : "lower", self, {}, at) ? value::boolean(true) : value::boolean(false);
    }
    for (std::uint32_t cp : cps) {
      bool ok = name == "isdigit"   ? (cp >= '0' && cp <= '9')
                : name == "isalpha" ? unicode::is_letter(cp)
                : name == "isalnum" ? unicode::is_letter(cp) || unicode::is_number(cp)
                                    : py_space(cp);
      if (!ok) return value::boolean(false);
    }
    return value::boolean(true);
  }
  if (name == "center" || name == "ljust" || name == "rjust" || name == "zfill") {
    value const* w = arg(args, kwargs, 0, "width");
    if (!w) fail_at(at, "str.", name, "() needs a width");
    std::int64_t const width = need_int(*w, "the width", at);
    auto const len = static_cast<std::int64_t>(py_len(s));
    if (width <= len) return self;
    rt.check_size(static_cast<std::size_t>(width) + s.size(), at);
    auto const pad = static_cast<std::size_t>(width - len);
    if (name == "ljust") return value::string(s + std::string(pad, ' '));
    if (name == "rjust") return value::string(std::string(pad, ' ') + s);
    if (name == "zfill") {
      bool const sign = !s.empty() && (s[0] == '+' || s[0] == '-');
      return value::string(sign ? s.substr(0, 1) + std::string(pad, '0') + s.substr(1) : std::string(pad, '0') + s);
    }
    std::size_t const left = pad / 2 + (pad & static_cast<std::size_t>(width) & 1);
    return value::string(std::string(left, ' ') + s + std::string(pad - left, ' '));
  }
  fail_at(at, "str.", name, "() is not supported by switchyard's chat templates");
}

inline std::string strftime_string(std::string const& fmt, std::tm const& t, location at) {
  if (fmt.size() > 256) fail_at(at, "strftime_now: format longer than 256 bytes");
  std::string out(1024, '\0');
  std::size_t const n = fmt.empty() ? 0 : std::strftime(out.data(), out.size(), fmt.c_str(), &t);
  if (n == 0 && !fmt.empty()) return std::string();
  out.resize(n);
  return out;
}

// Calls a global: range, namespace, dict, raise_exception, strftime_now.
inline value call_function(std::string const& name, std::vector<value> const& args, kwargs_t const& kwargs, runtime& rt,
                           location at) {
  if (name == "raise_exception") {
    template_raised(at, args.empty() ? std::string() : py_str(args[0]));
  }
  if (name == "strftime_now") {
    if (args.empty()) fail_at(at, "strftime_now needs a format");
    return value::string(strftime_string(need_string(args[0], "strftime_now's format", at), rt.now, at));
  }
  if (name == "range") {
    if (args.empty() || args.size() > 3 || !kwargs.empty()) fail_at(at, "range takes 1 to 3 integer arguments");
    std::int64_t start = 0, stop, step = 1;
    if (args.size() == 1) stop = need_int(args[0], "range's argument", at);
    else start = need_int(args[0], "range's argument", at), stop = need_int(args[1], "range's argument", at);
    if (args.size() == 3) step = need_int(args[2], "range's step", at);
    if (step == 0) fail_at(at, "range: step must not be zero");
    long double const count = step > 0 ? (static_cast<long double>(stop) - start + step - 1) / step
                                        : (static_cast<long double>(start) - stop - step - 1) / -step;
    if (count > 100000) fail_at(at, "range too big: the sandbox blocks ranges larger than 100000 (as jinja2's does)");
    list_t out;
    for (std::int64_t i = start; step > 0 ? i < stop : i > stop; i += step) out.push_back(value::integer(i));
    return value::list(std::move(out));
  }
  if (name == "namespace" || name == "dict") {
    auto d = std::make_shared<dict_t>();
    if (args.size() > 1) fail_at(at, name, "() takes at most one positional argument");
    if (!args.empty()) {
      if (args[0].is_mapping()) {
        d->items = args[0].entries().items;
      } else {
        for (auto const& x : iterate(args[0], at)) {
          if (!x.is_sequence() || x.items().size() != 2) fail_at(at, name, "(): each item must be a pair");
          d->set(x.items()[0], x.items()[1]);
        }
      }
    }
    for (auto const& [k, x] : kwargs) {
      if (name == "namespace" && !k.empty() && k[0] == '_')
        fail_at(at, "namespace(): names starting with '_' are refused (as transformers refuses them)");
      d->set(value::string(k), x);
    }
    if (name == "namespace") rt.namespaces.push_back(d);
    return value::dict(std::move(d), name == "namespace" ? value::kind::ns : value::kind::dict);
  }
  fail_at(at, "'", name, "' is not callable");
}

inline bool is_global_function(std::string_view n) {
  return n == "range" || n == "namespace" || n == "dict" || n == "raise_exception" || n == "strftime_now";
}

}  // namespace generate::jinja
SWITCHYARD_NAMESPACE_END
