#pragma once
// The values a chat template computes with, and what Python does with them: truthiness, ==, <,
// str() and repr() (what `{{ x }}` prints), and json.dumps (transformers' tojson filter). Lists and
// dicts are shared and never mutated once built (the sandbox transformers uses forbids mutation);
// only a namespace() changes, through `{% set ns.attr = ... %}`. Dicts keep insertion order.
#include <charconv>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "switchyard/core/error.hpp"
#include "switchyard/generate/jinja/location.hpp"
#include "switchyard/generate/unicode.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace generate::jinja {

struct macro_def;  // ast.hpp
class value;
using list_t = std::vector<value>;
struct dict_t;

class value {
 public:
  enum class kind : std::uint8_t {
    undefined, none, boolean, integer, floating, string, list, tuple, dict, ns, loop, macro, function, method
  };

  value() = default;
  static value undefined(std::string name = {}) {
    value v;
    v.s_ = std::move(name);
    return v;
  }
  static value none() { return of(kind::none); }
  static value boolean(bool b) {
    value v = of(kind::boolean);
    v.i_ = b;
    return v;
  }
  static value integer(std::int64_t i) {
    value v = of(kind::integer);
    v.i_ = i;
    return v;
  }
  static value floating(double f) {
    value v = of(kind::floating);
    v.f_ = f;
    return v;
  }
  static value string(std::string s) {
    value v = of(kind::string);
    v.s_ = std::move(s);
    return v;
  }
  static value list(list_t items, bool tuple = false) {
    value v = of(tuple ? kind::tuple : kind::list);
    v.l_ = std::make_shared<list_t>(std::move(items));
    return v;
  }
  // A dict's items() / keys() / values(): a list that prints as Python's view (dict_items([...])).
  static value view(list_t items, std::string name) {
    value v = list(std::move(items));
    v.s_ = std::move(name);
    return v;
  }
  static value dict(std::shared_ptr<dict_t> d, kind k = kind::dict) {
    value v = of(k);
    v.d_ = std::move(d);
    return v;
  }
  static value macro(std::shared_ptr<macro_def const> m, std::string name) {
    value v = of(kind::macro);
    v.m_ = std::move(m);
    v.s_ = std::move(name);
    return v;
  }
  static value function(std::string name) {
    value v = of(kind::function);
    v.s_ = std::move(name);
    return v;
  }
  static value method(value self, std::string name) {
    value v = of(kind::method);
    v.self_ = std::make_shared<value>(std::move(self));
    v.s_ = std::move(name);
    return v;
  }

  kind type() const noexcept { return k_; }
  bool is(kind k) const noexcept { return k_ == k; }
  bool is_undefined() const noexcept { return k_ == kind::undefined; }
  bool is_none() const noexcept { return k_ == kind::none; }
  bool is_string() const noexcept { return k_ == kind::string; }
  bool is_number() const noexcept { return k_ == kind::integer || k_ == kind::floating || k_ == kind::boolean; }
  bool is_sequence() const noexcept { return k_ == kind::list || k_ == kind::tuple; }
  bool is_mapping() const noexcept { return k_ == kind::dict; }  // Python's Mapping: not a namespace
  bool is_callable() const noexcept { return k_ == kind::macro || k_ == kind::function || k_ == kind::method; }

  bool as_bool() const noexcept { return i_ != 0; }
  std::int64_t as_int() const noexcept { return k_ == kind::floating ? static_cast<std::int64_t>(f_) : i_; }
  double as_double() const noexcept { return k_ == kind::floating ? f_ : static_cast<double>(i_); }
  std::string const& str() const noexcept { return s_; }  // string; undefined / function / method / macro: the name; a view's type
  list_t const& items() const noexcept { return *l_; }
  dict_t& entries() const noexcept { return *d_; }
  std::shared_ptr<dict_t> const& dict_ptr() const noexcept { return d_; }
  std::shared_ptr<macro_def const> const& macro_ptr() const noexcept { return m_; }
  value const& self() const noexcept { return *self_; }
  bool same_object(value const& o) const noexcept {
    return k_ == o.k_ && l_ == o.l_ && d_ == o.d_ && m_ == o.m_ && (l_ || d_ || m_);
  }

 private:
  static value of(kind k) {
    value v;
    v.k_ = k;
    return v;
  }
  kind k_ = kind::undefined;
  std::int64_t i_ = 0;  // boolean, integer
  double f_ = 0;
  std::string s_;
  std::shared_ptr<list_t> l_;
  std::shared_ptr<dict_t> d_;
  std::shared_ptr<macro_def const> m_;
  std::shared_ptr<value> self_;
};

bool py_equal(value const& a, value const& b, int depth = 0);

// Insertion-ordered; lookups compare keys as Python does (1 == 1.0 == True).
struct dict_t {
  std::vector<std::pair<value, value>> items;

  value const* find(value const& key) const {
    for (auto const& [k, v] : items)
      if (py_equal(k, key)) return &v;
    return nullptr;
  }
  value const* find(std::string_view key) const {
    for (auto const& [k, v] : items)
      if (k.is_string() && k.str() == key) return &v;
    return nullptr;
  }
  void set(value key, value v) {
    for (auto& [k, old] : items)
      if (py_equal(k, key)) {
        old = std::move(v);
        return;
      }
    items.emplace_back(std::move(key), std::move(v));
  }
};

inline constexpr int max_data_depth = 256;  // nesting of lists / dicts printed, compared or converted

inline char const* type_name(value const& v) {
  switch (v.type()) {
    case value::kind::undefined: return "undefined";
    case value::kind::none: return "NoneType";
    case value::kind::boolean: return "bool";
    case value::kind::integer: return "int";
    case value::kind::floating: return "float";
    case value::kind::string: return "str";
    case value::kind::list: return "list";
    case value::kind::tuple: return "tuple";
    case value::kind::dict: return "dict";
    case value::kind::ns: return "Namespace";
    case value::kind::loop: return "LoopContext";
    case value::kind::macro: return "Macro";
    case value::kind::function: return "builtin_function";
    case value::kind::method: return "method";
  }
  return "?";
}

// ---- UTF-8 as Python's code points ------------------------------------------------------------

// Python's str.isspace(): White_Space plus the separators U+001C..U+001F.
inline bool py_space(std::uint32_t cp) noexcept { return unicode::is_space(cp) || (cp >= 0x1C && cp <= 0x1F); }

inline std::vector<std::uint32_t> code_points(std::string_view s) {
  std::vector<std::uint32_t> out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    auto const d = unicode::decode(s, i);
    out.push_back(d.cp == unicode::invalid ? 0xDC00u + static_cast<std::uint8_t>(s[i]) : d.cp);  // surrogateescape
    i += static_cast<std::size_t>(d.bytes);
  }
  return out;
}

inline void append_cp(std::string& out, std::uint32_t cp) {
  if (cp >= 0xDC80 && cp <= 0xDCFF)
    out += static_cast<char>(cp - 0xDC00);  // an invalid byte, back as it came
  else
    unicode::append_utf8(out, cp);
}

inline std::size_t py_len(std::string_view s) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < s.size(); ++n) i += static_cast<std::size_t>(unicode::decode(s, i).bytes);
  return n;
}

// ---- str() and repr() -------------------------------------------------------------------------

// Python's repr(float): the shortest digits that round-trip, fixed notation for exponents -4..15.
inline std::string py_float(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d < 0 ? "-inf" : "inf";
  char buf[64];
  auto const r = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
  std::string_view sci(buf, static_cast<std::size_t>(r.ptr - buf));
  std::string out;
  if (sci.front() == '-') out += '-', sci.remove_prefix(1);
  auto const e = sci.find('e');
  std::string digits;
  for (char c : sci.substr(0, e))
    if (c != '.') digits += c;
  int exp = 0;
  std::from_chars(sci.data() + e + (sci[e + 1] == '+' ? 2 : 1), sci.data() + sci.size(), exp);
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
  if (exp >= -4 && exp < 16) {
    if (exp >= 0) {
      auto const int_digits = static_cast<std::size_t>(exp) + 1;
      if (digits.size() <= int_digits)
        out += digits + std::string(int_digits - digits.size(), '0') + ".0";
      else
        out += digits.substr(0, int_digits) + "." + digits.substr(int_digits);
    } else {
      out += "0." + std::string(static_cast<std::size_t>(-exp - 1), '0') + digits;
    }
    return out;
  }
  out += digits.substr(0, 1);
  if (digits.size() > 1) out += "." + digits.substr(1);
  out += exp < 0 ? "e-" : "e+";
  auto const ae = std::to_string(exp < 0 ? -exp : exp);
  out += (ae.size() < 2 ? "0" : "") + ae;
  return out;
}

// Whether repr() shows a code point as it is (str.isprintable()); an approximation without the
// Unicode database: controls, separators other than ' ', the common format characters and
// private use are escaped.
inline bool py_printable(std::uint32_t cp) noexcept {
  if (cp < 0x20 || cp == 0x7F) return false;
  if (cp < 0x7F) return true;
  if (cp < 0xA0 || cp == 0xAD) return false;
  if (unicode::is_space(cp)) return false;
  if ((cp >= 0x200B && cp <= 0x200F) || (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2060 && cp <= 0x206F)) return false;
  if (cp == 0xFEFF || (cp >= 0xFFF9 && cp <= 0xFFFB) || (cp >= 0xD800 && cp <= 0xF8FF)) return false;
  if (cp >= 0xF0000) return false;
  return true;
}

inline std::string py_repr_string(std::string_view s) {
  bool const has_single = s.find('\'') != std::string_view::npos, has_double = s.find('"') != std::string_view::npos;
  char const q = has_single && !has_double ? '"' : '\'';
  std::string out(1, q);
  for (std::uint32_t cp : code_points(s)) {
    if (cp == static_cast<std::uint32_t>(q) || cp == '\\') {
      out += '\\';
      out += static_cast<char>(cp);
    } else if (cp == '\n') {
      out += "\\n";
    } else if (cp == '\r') {
      out += "\\r";
    } else if (cp == '\t') {
      out += "\\t";
    } else if (!py_printable(cp)) {
      char buf[16];
      if (cp < 0x100) std::snprintf(buf, sizeof buf, "\\x%02x", cp);
      else if (cp < 0x10000) std::snprintf(buf, sizeof buf, "\\u%04x", cp);
      else std::snprintf(buf, sizeof buf, "\\U%08x", cp);
      out += buf;
    } else {
      append_cp(out, cp);
    }
  }
  return out + q;
}

void py_repr_into(std::string& out, value const& v, int depth);

inline void py_str_into(std::string& out, value const& v, int depth = 0) {
  switch (v.type()) {
    case value::kind::undefined: return;
    case value::kind::string: out += v.str(); return;
    default: py_repr_into(out, v, depth);
  }
}

inline void py_repr_into(std::string& out, value const& v, int depth) {
  if (depth > max_data_depth) fail_at({}, "a value nested deeper than ", max_data_depth, " levels");
  switch (v.type()) {
    case value::kind::undefined: out += "Undefined"; return;
    case value::kind::none: out += "None"; return;
    case value::kind::boolean: out += v.as_bool() ? "True" : "False"; return;
    case value::kind::integer: out += std::to_string(v.as_int()); return;
    case value::kind::floating: out += py_float(v.as_double()); return;
    case value::kind::string: out += py_repr_string(v.str()); return;
    case value::kind::list:
    case value::kind::tuple: {
      bool const tuple = v.is(value::kind::tuple);
      if (!v.str().empty()) out += v.str() + "(";
      out += tuple ? '(' : '[';
      bool first = true;
      for (auto const& x : v.items()) {
        if (!first) out += ", ";
        first = false;
        py_repr_into(out, x, depth + 1);
      }
      if (tuple && v.items().size() == 1) out += ',';
      out += tuple ? ')' : ']';
      if (!v.str().empty()) out += ")";
      return;
    }
    case value::kind::dict:
    case value::kind::ns: {
      bool const ns = v.is(value::kind::ns);
      out += ns ? "<Namespace {" : "{";
      bool first = true;
      for (auto const& [k, x] : v.entries().items) {
        if (!first) out += ", ";
        first = false;
        py_repr_into(out, k, depth + 1);
        out += ": ";
        py_repr_into(out, x, depth + 1);
      }
      out += ns ? "}>" : "}";
      return;
    }
    case value::kind::loop: out += "<LoopContext>"; return;
    case value::kind::macro: out += "<Macro '" + v.str() + "'>"; return;
    case value::kind::function: out += "<built-in function " + v.str() + ">"; return;
    case value::kind::method: out += "<built-in method " + v.str() + ">"; return;
  }
}

inline std::string py_str(value const& v) {
  std::string out;
  py_str_into(out, v);
  return out;
}

// ---- truthiness, equality, ordering -----------------------------------------------------------

inline bool py_truthy(value const& v) {
  switch (v.type()) {
    case value::kind::undefined:
    case value::kind::none: return false;
    case value::kind::boolean:
    case value::kind::integer: return v.as_int() != 0;
    case value::kind::floating: return v.as_double() != 0.0;
    case value::kind::string: return !v.str().empty();
    case value::kind::list:
    case value::kind::tuple: return !v.items().empty();
    case value::kind::dict: return !v.entries().items.empty();
    default: return true;
  }
}

inline bool py_equal(value const& a, value const& b, int depth) {
  if (depth > max_data_depth) fail_at({}, "a value nested deeper than ", max_data_depth, " levels");
  if (a.is_number() && b.is_number()) {
    if (a.is(value::kind::floating) || b.is(value::kind::floating)) return a.as_double() == b.as_double();
    return a.as_int() == b.as_int();
  }
  if (a.is_sequence() && b.is_sequence()) {
    if (a.type() != b.type() || a.items().size() != b.items().size()) return false;
    for (std::size_t i = 0; i < a.items().size(); ++i)
      if (!py_equal(a.items()[i], b.items()[i], depth + 1)) return false;
    return true;
  }
  if (a.type() != b.type()) return false;
  switch (a.type()) {
    case value::kind::undefined:
    case value::kind::none: return true;
    case value::kind::string: return a.str() == b.str();
    case value::kind::dict: {
      auto const& x = a.entries().items;
      auto const& y = b.entries();
      if (x.size() != y.items.size()) return false;
      for (auto const& [k, v] : x) {
        auto const* w = y.find(k);
        if (!w || !py_equal(v, *w, depth + 1)) return false;
      }
      return true;
    }
    case value::kind::function:
    case value::kind::method: return a.str() == b.str() && (!a.is(value::kind::method) || a.self().same_object(b.self()));
    default: return a.same_object(b);
  }
}

// a < b as Python orders them: numbers, strings (by code point: UTF-8 byte order agrees), sequences
// lexicographically; anything else is a TypeError, reported at `at`.
inline bool py_less(value const& a, value const& b, location at, int depth = 0) {
  if (depth > max_data_depth) fail_at(at, "a value nested deeper than ", max_data_depth, " levels");
  if (a.is_number() && b.is_number()) {
    if (a.is(value::kind::floating) || b.is(value::kind::floating)) return a.as_double() < b.as_double();
    return a.as_int() < b.as_int();
  }
  if (a.is_string() && b.is_string()) return a.str() < b.str();
  if (a.is_sequence() && a.type() == b.type()) {
    auto const& x = a.items();
    auto const& y = b.items();
    for (std::size_t i = 0; i < x.size() && i < y.size(); ++i)
      if (!py_equal(x[i], y[i])) return py_less(x[i], y[i], at, depth + 1);
    return x.size() < y.size();
  }
  fail_at(at, "'<' is not supported between instances of '", type_name(a), "' and '", type_name(b), "'");
}

// ---- json.dumps -------------------------------------------------------------------------------

struct json_options {
  bool ensure_ascii = false;
  bool indent_set = false;
  std::string indent;  // per level, when indent_set
  std::string item_separator = ", ";
  std::string key_separator = ": ";
  bool sort_keys = false;
};

inline void json_string_into(std::string& out, std::string_view s, bool ensure_ascii) {
  out += '"';
  for (std::uint32_t cp : code_points(s)) {
    switch (cp) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default: {
        char buf[16];
        if (cp < 0x20 || (ensure_ascii && cp > 0x7E)) {
          if (cp >= 0x10000) {
            auto const c = cp - 0x10000;
            std::snprintf(buf, sizeof buf, "\\u%04x\\u%04x", 0xD800 + (c >> 10), 0xDC00 + (c & 0x3FF));
          } else {
            std::snprintf(buf, sizeof buf, "\\u%04x", cp);
          }
          out += buf;
        } else {
          append_cp(out, cp);
        }
      }
    }
  }
  out += '"';
}

inline void json_dump_into(std::string& out, value const& v, json_options const& o, int depth, location at) {
  if (depth > max_data_depth) fail_at(at, "tojson: a value nested deeper than ", max_data_depth, " levels");
  auto newline = [&](int level) {
    if (!o.indent_set) return;
    out += '\n';
    for (int i = 0; i < level; ++i) out += o.indent;
  };
  switch (v.type()) {
    case value::kind::none: out += "null"; return;
    case value::kind::boolean: out += v.as_bool() ? "true" : "false"; return;
    case value::kind::integer: out += std::to_string(v.as_int()); return;
    case value::kind::floating: {
      double const d = v.as_double();
      out += std::isnan(d) ? "NaN" : std::isinf(d) ? (d < 0 ? "-Infinity" : "Infinity") : py_float(d);
      return;
    }
    case value::kind::string: json_string_into(out, v.str(), o.ensure_ascii); return;
    case value::kind::list:
    case value::kind::tuple: {
      if (!v.str().empty()) fail_at(at, "tojson: Object of type ", v.str(), " is not JSON serializable");
      if (v.items().empty()) {
        out += "[]";
        return;
      }
      out += '[';
      bool first = true;
      for (auto const& x : v.items()) {
        if (!first) out += o.item_separator;
        first = false;
        newline(depth + 1);
        json_dump_into(out, x, o, depth + 1, at);
      }
      newline(depth);
      out += ']';
      return;
    }
    case value::kind::dict: {
      auto const& items = v.entries().items;
      if (items.empty()) {
        out += "{}";
        return;
      }
      std::vector<std::pair<std::string, value const*>> keyed;
      for (auto const& [k, x] : items) {
        std::string key;
        if (k.is_string()) key = k.str();
        else if (k.is(value::kind::boolean)) key = k.as_bool() ? "true" : "false";
        else if (k.is_none()) key = "null";
        else if (k.is(value::kind::integer) || k.is(value::kind::floating)) key = py_str(k);
        else fail_at(at, "tojson: keys must be str, int, float, bool or None, not ", type_name(k));
        keyed.emplace_back(std::move(key), &x);
      }
      if (o.sort_keys)
        std::stable_sort(keyed.begin(), keyed.end(), [](auto const& x, auto const& y) { return x.first < y.first; });
      out += '{';
      bool first = true;
      for (auto const& [k, x] : keyed) {
        if (!first) out += o.item_separator;
        first = false;
        newline(depth + 1);
        json_string_into(out, k, o.ensure_ascii);
        out += o.key_separator;
        json_dump_into(out, *x, o, depth + 1, at);
      }
      newline(depth);
      out += '}';
      return;
    }
    default: fail_at(at, "tojson: Object of type ", type_name(v), " is not JSON serializable");
  }
}

// ---- from JSON (the render context) -----------------------------------------------------------

template <class Json>
value from_json(Json const& j, int depth = 0) {
  if (depth > max_data_depth) switchyard::detail::fail<invalid_argument>("generate::chat_template", "the context is nested deeper than ", max_data_depth, " levels");
  if (j.is_null()) return value::none();
  if (j.is_boolean()) return value::boolean(j.template get<bool>());
  if (j.is_number_unsigned()) {
    auto const u = j.template get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(INT64_MAX)) return value::floating(static_cast<double>(u));
    return value::integer(static_cast<std::int64_t>(u));
  }
  if (j.is_number_integer()) return value::integer(j.template get<std::int64_t>());
  if (j.is_number_float()) return value::floating(j.template get<double>());
  if (j.is_string()) return value::string(j.template get<std::string>());
  if (j.is_array()) {
    list_t items;
    items.reserve(j.size());
    for (auto const& x : j) items.push_back(from_json(x, depth + 1));
    return value::list(std::move(items));
  }
  if (j.is_object()) {
    auto d = std::make_shared<dict_t>();
    for (auto it = j.begin(); it != j.end(); ++it) d->items.emplace_back(value::string(it.key()), from_json(it.value(), depth + 1));
    return value::dict(std::move(d));
  }
  switchyard::detail::fail<invalid_argument>("generate::chat_template", "the context holds a value JSON cannot express (binary)");
}

}  // namespace generate::jinja
SWITCHYARD_NAMESPACE_END
