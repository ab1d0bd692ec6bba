#pragma once
// Evaluates a parsed template over a context, with jinja2's scoping: a for loop's body gets a
// fresh scope each iteration (a {% set %} inside does not outlive it), if blocks get none, a
// macro's body sees its arguments and the template's top-level variables at call time,
// namespace() attributes are the one thing that changes across scopes. Every statement,
// expression and iteration counts against runtime's limits, and so does every string built.
#include <string>
#include <utility>
#include <vector>

#include "switchyard/generate/jinja/ast.hpp"
#include "switchyard/generate/jinja/builtins.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace generate::jinja {

class renderer {
 public:
  renderer(body_t const& body, runtime& rt) : body_(body), rt_(rt) {}

  // The output of the template over `context` (a dict: its string keys are the variables).
  std::string run(value const& context) {
    scope root{{}, nullptr};
    if (context.is_mapping())
      for (auto const& [k, v] : context.entries().items)
        if (k.is_string()) root.vars.emplace_back(k.str(), v);
    root_ = &root;
    std::string out;
    exec(body_, root, out);
    return out;
  }

 private:
  struct scope {
    std::vector<std::pair<std::string, value>> vars;
    scope* parent;

    value* find_here(std::string_view name) {
      for (auto it = vars.rbegin(); it != vars.rend(); ++it)
        if (it->first == name) return &it->second;
      return nullptr;
    }
    void set(std::string const& name, value v) {
      if (value* p = find_here(name)) *p = std::move(v);
      else vars.emplace_back(name, std::move(v));
    }
  };
  enum class flow { normal, break_, continue_ };

  body_t const& body_;
  runtime& rt_;
  scope* root_ = nullptr;
  int call_depth_ = 0;

  value lookup(std::string const& name, scope& s) const {
    for (scope* p = &s; p; p = p->parent)
      if (value* v = p->find_here(name)) return *v;
    if (is_global_function(name)) return value::function(name);
    return value::undefined(name);
  }

  void append(std::string& out, std::string_view s, location at) const {
    rt_.check_size(out.size() + s.size(), at);
    out += s;
  }

  // Binds targets to v (one name, or a tuple unpacked).
  void assign(scope& s, std::vector<std::string> const& targets, value const& v, location at) {
    if (targets.size() == 1) {
      s.set(targets[0], v);
      return;
    }
    list_t items = iterate(v, at);
    if (items.size() != targets.size())
      fail_at(at, "cannot unpack ", items.size(), " values into ", targets.size(), " names");
    for (std::size_t i = 0; i < targets.size(); ++i) s.set(targets[i], items[i]);
  }

  flow exec(body_t const& body, scope& s, std::string& out) {
    for (auto const& st : body) {
      flow const f = exec_one(*st, s, out);
      if (f != flow::normal) return f;
    }
    return flow::normal;
  }

  flow exec_one(stmt const& st, scope& s, std::string& out) {
    rt_.step(st.at);
    switch (st.kind) {
      case sk::text: append(out, st.text, st.at); return flow::normal;
      case sk::output: {
        value const v = eval(*st.e, s);
        std::string text;
        py_str_into(text, v);
        append(out, text, st.at);
        return flow::normal;
      }
      case sk::if_:
        for (auto const& [cond, body] : st.branches)
          if (py_truthy(eval(*cond, s))) return exec(body, s, out);
        return exec(st.else_body, s, out);
      case sk::for_: return exec_for(st, s, out);
      case sk::set: {
        value v = eval(*st.e, s);
        if (!st.attr.empty()) {
          value const target = lookup(st.targets[0], s);
          if (!target.is(value::kind::ns))
            fail_at(st.at, "cannot assign attribute '", st.attr, "' on '", st.targets[0], "', which is not a namespace()");
          if (!st.attr.empty() && st.attr[0] == '_') fail_at(st.at, "namespace attributes starting with '_' are refused");
          target.entries().set(value::string(st.attr), std::move(v));
          return flow::normal;
        }
        assign(s, st.targets, v, st.at);
        return flow::normal;
      }
      case sk::set_block: {
        std::string captured;
        exec(st.body, s, captured);
        value v = value::string(std::move(captured));
        if (st.filter) v = eval_filter(*st.filter, std::move(v), s);
        s.set(st.targets[0], std::move(v));
        return flow::normal;
      }
      case sk::macro: s.set(st.macro->name, value::macro(st.macro, st.macro->name)); return flow::normal;
      case sk::filter_block: {
        std::string captured;
        exec(st.body, s, captured);
        value const v = eval_filter(*st.filter, value::string(std::move(captured)), s);
        std::string text;
        py_str_into(text, v);
        append(out, text, st.at);
        return flow::normal;
      }
      case sk::with_: {
        scope inner{{}, &s};
        for (auto const& [name, e] : st.assignments) inner.set(name, eval(*e, s));
        return exec(st.body, inner, out);
      }
      case sk::generation: return exec(st.body, s, out);
      case sk::break_: return flow::break_;
      case sk::continue_: return flow::continue_;
      case sk::call_block: fail_at(st.at, "{% call %} is not supported");
    }
    return flow::normal;
  }

  flow exec_for(stmt const& st, scope& s, std::string& out) {
    list_t items = iterate(eval(*st.e, s), st.e->at);
    if (st.cond) {
      list_t kept;
      for (auto& x : items) {
        rt_.step(st.cond->at);
        scope probe{{}, &s};
        assign(probe, st.targets, x, st.at);
        if (py_truthy(eval(*st.cond, probe))) kept.push_back(std::move(x));
      }
      items = std::move(kept);
    }
    if (items.empty()) {
      scope inner{{}, &s};
      exec(st.else_body, inner, out);
      return flow::normal;
    }
    auto const n = static_cast<std::int64_t>(items.size());
    for (std::int64_t i = 0; i < n; ++i) {
      rt_.step(st.at);
      scope inner{{}, &s};
      assign(inner, st.targets, items[static_cast<std::size_t>(i)], st.at);
      auto loop = std::make_shared<dict_t>();
      auto put = [&](char const* k, value v) { loop->items.emplace_back(value::string(k), std::move(v)); };
      put("index", value::integer(i + 1));
      put("index0", value::integer(i));
      put("revindex", value::integer(n - i));
      put("revindex0", value::integer(n - i - 1));
      put("first", value::boolean(i == 0));
      put("last", value::boolean(i == n - 1));
      put("length", value::integer(n));
      put("depth", value::integer(1));
      put("depth0", value::integer(0));
      if (i > 0) put("previtem", items[static_cast<std::size_t>(i - 1)]);
      if (i + 1 < n) put("nextitem", items[static_cast<std::size_t>(i + 1)]);
      inner.set("loop", value::dict(std::move(loop), value::kind::loop));
      if (exec(st.body, inner, out) == flow::break_) break;
    }
    return flow::normal;
  }

  void eval_args(expr const& e, scope& s, std::vector<value>* args, kwargs_t* kwargs) {
    args->reserve(e.items.size());
    for (auto const& a : e.items) args->push_back(eval(*a, s));
    for (auto const& [k, a] : e.kwargs) kwargs->emplace_back(k, eval(*a, s));
  }

  // A filter chain whose innermost operand is null (a {% filter %} or {% set x | f %} body).
  value eval_filter(expr const& f, value operand, scope& s) {
    if (f.a) operand = eval_filter(*f.a, std::move(operand), s);
    std::vector<value> args;
    kwargs_t kwargs;
    eval_args(f, s, &args, &kwargs);
    return apply_filter(f.name, operand, args, kwargs, rt_, f.at);
  }

  value call_macro(macro_def const& m, std::vector<value> const& args, kwargs_t const& kwargs, location at) {
    if (call_depth_ >= rt_.lim.max_call_depth)
      fail_at(at, "macro calls nested deeper than ", rt_.lim.max_call_depth, " levels (recursion?)");
    if (args.size() > m.params.size())
      fail_at(at, "macro '", m.name, "' takes not more than ", m.params.size(), " argument(s)");
    scope inner{{}, root_};
    for (std::size_t i = 0; i < m.params.size(); ++i) {
      auto const& [pname, dflt] = m.params[i];
      value const* given = i < args.size() ? &args[i] : nullptr;
      for (auto const& [k, v] : kwargs)
        if (k == pname) {
          if (given) fail_at(at, "macro '", m.name, "' got multiple values for argument '", pname, "'");
          given = &v;
        }
      inner.set(pname, given ? *given : dflt ? eval(*dflt, inner) : value::undefined(pname));
    }
    for (auto const& [k, v] : kwargs) {
      bool known = false;
      for (auto const& p : m.params) known = known || p.first == k;
      if (!known) fail_at(at, "macro '", m.name, "' takes no keyword argument '", k, "'");
    }
    ++call_depth_;
    std::string out;
    exec(m.body, inner, out);
    --call_depth_;
    return value::string(std::move(out));
  }

  value eval(expr const& e, scope& s) {
    rt_.step(e.at);
    switch (e.kind) {
      case ek::literal: return e.lit;
      case ek::name: return lookup(e.name, s);
      case ek::list:
      case ek::tuple: {
        rt_.check_items(e.items.size(), e.at);
        list_t items;
        items.reserve(e.items.size());
        for (auto const& x : e.items) items.push_back(eval(*x, s));
        return value::list(std::move(items), e.kind == ek::tuple);
      }
      case ek::dict: {
        auto d = std::make_shared<dict_t>();
        for (std::size_t i = 0; i + 1 < e.items.size(); i += 2) {
          value k = eval(*e.items[i], s);
          if (k.is_sequence() && !k.is(value::kind::tuple)) fail_at(e.items[i]->at, "unhashable type: 'list'");
          if (k.is_mapping() || k.is(value::kind::ns)) fail_at(e.items[i]->at, "unhashable type: '", type_name(k), "'");
          d->set(std::move(k), eval(*e.items[i + 1], s));
        }
        return value::dict(std::move(d));
      }
      case ek::attr: return get_attr(eval(*e.a, s), e.name, e.at);
      case ek::item: {
        value const obj = eval(*e.a, s);
        return get_item(obj, eval(*e.b, s), e.at);
      }
      case ek::slice: {
        value const obj = eval(*e.a, s);
        value const b = e.b ? eval(*e.b, s) : value::none();
        value const c = e.c ? eval(*e.c, s) : value::none();
        value const d = e.d ? eval(*e.d, s) : value::none();
        return get_slice(obj, b, c, d, rt_, e.at);
      }
      case ek::call: return eval_call(e, s);
      case ek::filter: {
        value const operand = eval(*e.a, s);
        std::vector<value> args;
        kwargs_t kwargs;
        eval_args(e, s, &args, &kwargs);
        return apply_filter(e.name, operand, args, kwargs, rt_, e.at);
      }
      case ek::test: {
        value const operand = eval(*e.a, s);
        std::vector<value> args;
        kwargs_t kwargs;
        eval_args(e, s, &args, &kwargs);
        return value::boolean(apply_test(e.name, operand, args, e.at) != e.negated);
      }
      case ek::unary: {
        value const v = eval(*e.a, s);
        if (e.name == "not") return value::boolean(!py_truthy(v));
        if (v.is_undefined()) fail_at(e.at, "'", v.str().empty() ? std::string("value") : v.str(), "' is undefined (used with unary '", e.name, "')");
        if (!v.is_number()) fail_at(e.at, "bad operand type for unary ", e.name, ": '", type_name(v), "'");
        if (e.name == "+") return v.is(value::kind::floating) ? v : value::integer(v.as_int());
        if (v.is(value::kind::floating)) return value::floating(-v.as_double());
        if (v.as_int() == INT64_MIN) fail_at(e.at, "integer overflow (switchyard's integers are 64-bit)");
        return value::integer(-v.as_int());
      }
      case ek::binary: {
        if (e.name == "and") {
          value a = eval(*e.a, s);
          return py_truthy(a) ? eval(*e.b, s) : a;
        }
        if (e.name == "or") {
          value a = eval(*e.a, s);
          return py_truthy(a) ? a : eval(*e.b, s);
        }
        value const a = eval(*e.a, s);
        value const b = eval(*e.b, s);
        return binary_op(e.name, a, b, rt_, e.at);
      }
      case ek::compare: {
        value left = eval(*e.a, s);
        for (std::size_t i = 0; i < e.ops.size(); ++i) {
          value right = eval(*e.items[i], s);
          std::string const& op = e.ops[i];
          location const at = e.items[i]->at;
          bool r;
          if (op == "==") r = py_equal(left, right);
          else if (op == "!=") r = !py_equal(left, right);
          else if (op == "<") r = py_less(left, right, at);
          else if (op == ">") r = py_less(right, left, at);
          else if (op == "<=") r = !py_less(right, left, at);
          else if (op == ">=") r = !py_less(left, right, at);
          else if (op == "in") r = py_contains(right, left, at);
          else r = !py_contains(right, left, at);
          if (!r) return value::boolean(false);
          left = std::move(right);
        }
        return value::boolean(true);
      }
      case ek::cond:
        if (py_truthy(eval(*e.b, s))) return eval(*e.a, s);
        return e.c ? eval(*e.c, s) : value::undefined();
    }
    fail_at(e.at, "unknown expression");
  }

  value eval_call(expr const& e, scope& s) {
    value callee;
    if (e.a->kind == ek::attr) {
      value const obj = eval(*e.a->a, s);
      callee = get_attr(obj, e.a->name, e.a->at);
      if (callee.is_undefined())
        fail_at(e.at, "'", type_name(obj), "' object has no method '", e.a->name, "'");
    } else {
      callee = eval(*e.a, s);
    }
    std::vector<value> args;
    kwargs_t kwargs;
    eval_args(e, s, &args, &kwargs);
    switch (callee.type()) {
      case value::kind::method: return call_method(callee.self(), callee.str(), args, kwargs, rt_, e.at);
      case value::kind::function: return call_function(callee.str(), args, kwargs, rt_, e.at);
      case value::kind::macro: return call_macro(*callee.macro_ptr(), args, kwargs, e.at);
      case value::kind::undefined:
        fail_at(e.at, "'", callee.str().empty() ? std::string("value") : callee.str(), "' is undefined (called as a function)");
      default: fail_at(e.at, "'", type_name(callee), "' object is not callable");
    }
  }
};

}  // namespace generate::jinja
SWITCHYARD_NAMESPACE_END
