#pragma once
// Tokens -> statements and expressions, with jinja2's grammar and precedence (lowest first):
// `a if b else c`, or, and, not, comparisons and `in` / `not in`, + -, ~, * / // %, **, unary - +,
// then postfix `.attr`, `[i]`, `[a:b:c]`, calls, `| filter` and `is [not] test`.
//
// Statements: if / elif / else, for (tuple targets, `if` filter, else), set (names, tuples,
// namespace attributes, blocks), macro, filter, with, break / continue (the loopcontrols
// extension), raw (in the lexer) and transformers' {% generation %}. Anything else -- include,
// extends, block, import, call, do, an unknown filter or test -- is a format_error naming it and
// its line and column. Nesting is bounded (max_depth) so that no template can overflow the stack.
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "switchyard/generate/jinja/ast.hpp"
#include "switchyard/generate/jinja/builtins.hpp"
#include "switchyard/generate/jinja/lexer.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace generate::jinja {

class parser {
 public:
  static constexpr int max_depth = 128;

  static body_t run(std::vector<token> tokens) {
    parser p(std::move(tokens));
    std::string end;
    body_t body = p.parse_body({}, &end, {1, 1});
    return body;
  }

 private:
  explicit parser(std::vector<token> t) : t_(std::move(t)) { t_.push_back({tok::eof, "", t_.empty() ? location{} : t_.back().at}); }

  std::vector<token> t_;
  std::size_t i_ = 0;
  int depth_ = 0;

  struct deeper {
    parser& p;
    explicit deeper(parser& q, location at) : p(q) {
      if (++p.depth_ > max_depth) fail_at(at, "the template nests deeper than ", max_depth, " levels");
    }
    ~deeper() { --p.depth_; }
  };

  token const& cur() const { return t_[i_]; }
  token const& peek(std::size_t k = 1) const { return t_[std::min(i_ + k, t_.size() - 1)]; }
  bool is_op(std::string_view op) const { return cur().kind == tok::op && cur().text == op; }
  bool is_name(std::string_view n) const { return cur().kind == tok::name && cur().text == n; }
  static std::string describe(token const& t) {
    switch (t.kind) {
      case tok::text: return "text";
      case tok::var_begin: return "'{{'";
      case tok::var_end: return "end of print statement ('}}')";
      case tok::block_begin: return "'{%'";
      case tok::block_end: return "end of statement block ('%}')";
      case tok::name: return "'" + t.text + "'";
      case tok::string: return "a string";
      case tok::integer:
      case tok::floating: return "a number";
      case tok::op: return "'" + t.text + "'";
      case tok::eof: return "end of template";
    }
    return "?";
  }
  [[noreturn]] void unexpected(std::string_view wanted) const {
    fail_at(cur().at, "expected ", wanted, ", got ", describe(cur()));
  }
  void expect_op(std::string_view op) {
    if (!is_op(op)) unexpected("'" + std::string(op) + "'");
    ++i_;
  }
  std::string expect_name() {
    if (cur().kind != tok::name) unexpected("a name");
    return t_[i_++].text;
  }
  void expect_block_end() {
    if (cur().kind != tok::block_end) unexpected("end of statement block ('%}')");
    ++i_;
  }

  static expr_ptr node(ek kind, location at) {
    auto e = std::make_unique<expr>();
    e->kind = kind;
    e->at = at;
    return e;
  }
  static stmt_ptr snode(sk kind, location at) {
    auto s = std::make_unique<stmt>();
    s->kind = kind;
    s->at = at;
    return s;
  }

  // ---- statements -----------------------------------------------------------------------------

  // Statements up to a {% name %} with name in `ends` (consumed up to the name; *end gets it), or
  // to the end of the template when `ends` is empty.
  body_t parse_body(std::vector<std::string_view> const& ends, std::string* end, location opened) {
    deeper guard(*this, cur().at);
    body_t body;
    while (true) {
      token const& t = cur();
      switch (t.kind) {
        case tok::eof:
          if (!ends.empty()) {
            std::string list;
            for (auto e : ends) list += (list.empty() ? "'" : " or '") + std::string(e) + "'";
            fail_at(opened, "unexpected end of template: the block opened here needs ", list);
          }
          return body;
        case tok::text: {
          auto s = snode(sk::text, t.at);
          s->text = t.text;
          body.push_back(std::move(s));
          ++i_;
          break;
        }
        case tok::var_begin: {
          ++i_;
          auto s = snode(sk::output, t.at);
          s->e = parse_tuple(true);
          if (cur().kind != tok::var_end) unexpected("end of print statement ('}}')");
          ++i_;
          body.push_back(std::move(s));
          break;
        }
        case tok::block_begin: {
          token const& name = peek();
          if (name.kind == tok::name)
            for (auto e : ends)
              if (name.text == e) {
                i_ += 2;
                *end = name.text;
                return body;
              }
          ++i_;
          body.push_back(parse_statement());
          break;
        }
        default: unexpected("text or a tag");
      }
    }
  }

  stmt_ptr parse_statement() {
    location const at = cur().at;
    if (cur().kind != tok::name) unexpected("a statement name");
    std::string const tag = t_[i_++].text;
    if (tag == "if") return parse_if(at);
    if (tag == "for") return parse_for(at);
    if (tag == "set") return parse_set(at);
    if (tag == "macro") return parse_macro(at);
    if (tag == "filter") return parse_filter_block(at);
    if (tag == "with") return parse_with(at);
    if (tag == "generation") {
      expect_block_end();
      auto s = snode(sk::generation, at);
      std::string end;
      s->body = parse_body({"endgeneration"}, &end, at);
      expect_block_end();
      return s;
    }
    if (tag == "break" || tag == "continue") {
      expect_block_end();
      return snode(tag == "break" ? sk::break_ : sk::continue_, at);
    }
    if (tag == "include" || tag == "extends" || tag == "import" || tag == "from" || tag == "block" || tag == "call" ||
        tag == "autoescape" || tag == "trans")
      fail_at(at, "the {% ", tag, " %} statement is not supported by switchyard's chat templates");
    if (tag.rfind("end", 0) == 0 || tag == "elif" || tag == "else")
      fail_at(at, "unexpected {% ", tag, " %}: no open block it could close");
    fail_at(at, "unknown tag '", tag, "'");
  }

  stmt_ptr parse_if(location at) {
    auto s = snode(sk::if_, at);
    while (true) {
      expr_ptr cond = parse_tuple(false);
      expect_block_end();
      std::string end;
      body_t body = parse_body({"elif", "else", "endif"}, &end, at);
      s->branches.emplace_back(std::move(cond), std::move(body));
      if (end == "elif") continue;
      if (end == "else") {
        expect_block_end();
        s->else_body = parse_body({"endif"}, &end, at);
      }
      expect_block_end();
      return s;
    }
  }

  // Assignment targets: a name, or names separated by commas (optionally in parentheses).
  std::vector<std::string> parse_targets() {
    std::vector<std::string> names;
    bool const paren = is_op("(");
    if (paren) ++i_;
    while (true) {
      names.push_back(expect_name());
      if (!is_op(",")) break;
      ++i_;
      if (cur().kind != tok::name) break;  // trailing comma
    }
    if (paren) expect_op(")");
    for (auto const& n : names)
      if (n == "true" || n == "false" || n == "none" || n == "True" || n == "False" || n == "None")
        fail_at(cur().at, "cannot assign to '", n, "'");
    return names;
  }

  stmt_ptr parse_for(location at) {
    auto s = snode(sk::for_, at);
    s->targets = parse_targets();
    if (!is_name("in")) unexpected("'in'");
    ++i_;
    s->e = parse_tuple(false, /*stop_at_if=*/true);
    if (is_name("if")) {
      ++i_;
      s->cond = parse_expression(true);
    }
    if (is_name("recursive")) fail_at(cur().at, "recursive for loops are not supported");
    expect_block_end();
    std::string end;
    s->body = parse_body({"else", "endfor"}, &end, at);
    if (end == "else") {
      expect_block_end();
      s->else_body = parse_body({"endfor"}, &end, at);
    }
    expect_block_end();
    return s;
  }

  stmt_ptr parse_set(location at) {
    if (cur().kind == tok::name && peek().kind == tok::op && peek().text == ".") {
      auto s = snode(sk::set, at);
      s->targets.push_back(t_[i_].text);
      i_ += 2;
      s->attr = expect_name();
      expect_op("=");
      s->e = parse_tuple(true);
      expect_block_end();
      return s;
    }
    std::vector<std::string> targets = parse_targets();
    if (is_op("=")) {
      ++i_;
      auto s = snode(sk::set, at);
      s->targets = std::move(targets);
      s->e = parse_tuple(true);
      expect_block_end();
      return s;
    }
    if (targets.size() != 1) unexpected("'='");
    auto s = snode(sk::set_block, at);
    s->targets = std::move(targets);
    if (is_op("|")) s->filter = parse_filter_chain(nullptr);
    expect_block_end();
    std::string end;
    s->body = parse_body({"endset"}, &end, at);
    expect_block_end();
    return s;
  }

  stmt_ptr parse_macro(location at) {
    auto def = std::make_shared<macro_def>();
    def->at = at;
    def->name = expect_name();
    expect_op("(");
    while (!is_op(")")) {
      if (!def->params.empty()) expect_op(",");
      if (is_op(")")) break;
      std::string name = expect_name();
      expr_ptr dflt;
      if (is_op("=")) {
        ++i_;
        dflt = parse_expression(true);
      }
      def->params.emplace_back(std::move(name), std::move(dflt));
    }
    ++i_;
    expect_block_end();
    std::string end;
    def->body = parse_body({"endmacro"}, &end, at);
    if (cur().kind == tok::name && cur().text == def->name) ++i_;
    expect_block_end();
    auto s = snode(sk::macro, at);
    s->macro = std::move(def);
    return s;
  }

  stmt_ptr parse_filter_block(location at) {
    auto s = snode(sk::filter_block, at);
    s->filter = parse_filter_chain(nullptr, /*first_without_bar=*/true);
    expect_block_end();
    std::string end;
    s->body = parse_body({"endfilter"}, &end, at);
    expect_block_end();
    return s;
  }

  stmt_ptr parse_with(location at) {
    auto s = snode(sk::with_, at);
    while (cur().kind != tok::block_end) {
      if (!s->assignments.empty()) expect_op(",");
      std::string name = expect_name();
      expect_op("=");
      s->assignments.emplace_back(std::move(name), parse_expression(true));
    }
    expect_block_end();
    std::string end;
    s->body = parse_body({"endwith"}, &end, at);
    expect_block_end();
    return s;
  }

  // ---- expressions ----------------------------------------------------------------------------

  // Comma-separated expressions: one, or a tuple.
  expr_ptr parse_tuple(bool with_condexpr, bool stop_at_if = false) {
    location const at = cur().at;
    std::vector<expr_ptr> items;
    bool comma = false;
    while (true) {
      if (!items.empty()) {
        if (!is_op(",")) break;
        ++i_;
        comma = true;
      }
      if (cur().kind == tok::var_end || cur().kind == tok::block_end || is_op(")") || (stop_at_if && is_name("if")))
        break;
      items.push_back(parse_expression(with_condexpr));
    }
    if (items.empty()) unexpected("an expression");
    if (items.size() == 1 && !comma) return std::move(items[0]);
    auto e = node(ek::tuple, at);
    e->items = std::move(items);
    return e;
  }

  expr_ptr parse_expression(bool with_condexpr) {
    deeper guard(*this, cur().at);
    expr_ptr e = parse_or();
    if (!with_condexpr) return e;
    while (is_name("if")) {
      auto c = node(ek::cond, cur().at);
      ++i_;
      c->b = parse_or();
      c->a = std::move(e);
      if (is_name("else")) {
        ++i_;
        c->c = parse_expression(true);
      }
      e = std::move(c);
    }
    return e;
  }

  expr_ptr binary(std::string op, expr_ptr a, expr_ptr b, location at) {
    auto e = node(ek::binary, at);
    e->name = std::move(op);
    e->a = std::move(a);
    e->b = std::move(b);
    return e;
  }

  expr_ptr parse_or() {
    expr_ptr e = parse_and();
    while (is_name("or")) {
      location const at = cur().at;
      ++i_;
      e = binary("or", std::move(e), parse_and(), at);
    }
    return e;
  }
  expr_ptr parse_and() {
    expr_ptr e = parse_not();
    while (is_name("and")) {
      location const at = cur().at;
      ++i_;
      e = binary("and", std::move(e), parse_not(), at);
    }
    return e;
  }
  expr_ptr parse_not() {
    if (is_name("not")) {
      deeper guard(*this, cur().at);
      auto e = node(ek::unary, cur().at);
      ++i_;
      e->name = "not";
      e->a = parse_not();
      return e;
    }
    return parse_compare();
  }
  expr_ptr parse_compare() {
    location const at = cur().at;
    expr_ptr first = parse_math1();
    std::vector<std::string> ops;
    std::vector<expr_ptr> rest;
    while (true) {
      if (cur().kind == tok::op && (cur().text == "==" || cur().text == "!=" || cur().text == "<" || cur().text == "<=" ||
                                    cur().text == ">" || cur().text == ">=")) {
        ops.push_back(t_[i_++].text);
      } else if (is_name("in")) {
        ++i_;
        ops.push_back("in");
      } else if (is_name("not") && peek().kind == tok::name && peek().text == "in") {
        i_ += 2;
        ops.push_back("not in");
      } else {
        break;
      }
      rest.push_back(parse_math1());
    }
    if (ops.empty()) return first;
    auto e = node(ek::compare, at);
    e->a = std::move(first);
    e->ops = std::move(ops);
    e->items = std::move(rest);
    return e;
  }
  expr_ptr parse_math1() {
    expr_ptr e = parse_concat();
    while (is_op("+") || is_op("-")) {
      location const at = cur().at;
      std::string op = t_[i_++].text;
      e = binary(std::move(op), std::move(e), parse_concat(), at);
    }
    return e;
  }
  expr_ptr parse_concat() {
    expr_ptr e = parse_math2();
    while (is_op("~")) {
      location const at = cur().at;
      ++i_;
      e = binary("~", std::move(e), parse_math2(), at);
    }
    return e;
  }
  expr_ptr parse_math2() {
    expr_ptr e = parse_pow();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      location const at = cur().at;
      std::string op = t_[i_++].text;
      e = binary(std::move(op), std::move(e), parse_pow(), at);
    }
    return e;
  }
  expr_ptr parse_pow() {
    expr_ptr e = parse_unary(true);
    while (is_op("**")) {
      location const at = cur().at;
      ++i_;
      e = binary("**", std::move(e), parse_unary(true), at);
    }
    return e;
  }
  expr_ptr parse_unary(bool with_filter) {
    deeper guard(*this, cur().at);
    expr_ptr e;
    if (is_op("-") || is_op("+")) {
      e = node(ek::unary, cur().at);
      e->name = t_[i_++].text;
      e->a = parse_unary(false);
    } else {
      e = parse_primary();
    }
    e = parse_postfix(std::move(e));
    if (with_filter) e = parse_filter_expr(std::move(e));
    return e;
  }

  expr_ptr parse_primary() {
    token const& t = cur();
    location const at = t.at;
    switch (t.kind) {
      case tok::name: {
        ++i_;
        auto e = node(ek::literal, at);
        if (t.text == "true" || t.text == "True") e->lit = value::boolean(true);
        else if (t.text == "false" || t.text == "False") e->lit = value::boolean(false);
        else if (t.text == "none" || t.text == "None") e->lit = value::none();
        else e->kind = ek::name, e->name = t.text;
        return e;
      }
      case tok::string: {
        std::string s;
        while (cur().kind == tok::string) s += t_[i_++].text;  // adjacent literals concatenate
        auto e = node(ek::literal, at);
        e->lit = value::string(std::move(s));
        return e;
      }
      case tok::integer: {
        ++i_;
        auto e = node(ek::literal, at);
        std::int64_t v = 0;
        std::from_chars(t.text.data(), t.text.data() + t.text.size(), v);
        e->lit = value::integer(v);
        return e;
      }
      case tok::floating: {
        ++i_;
        auto e = node(ek::literal, at);
        double v = 0;
        std::from_chars(t.text.data(), t.text.data() + t.text.size(), v);
        e->lit = value::floating(v);
        return e;
      }
      case tok::op:
        if (t.text == "(") {
          ++i_;
          if (is_op(")")) {
            ++i_;
            auto e = node(ek::tuple, at);
            return e;
          }
          expr_ptr e = parse_tuple(true);
          expect_op(")");
          return e;
        }
        if (t.text == "[") {
          ++i_;
          auto e = node(ek::list, at);
          while (!is_op("]")) {
            if (!e->items.empty()) expect_op(",");
            if (is_op("]")) break;
            e->items.push_back(parse_expression(true));
          }
          ++i_;
          return e;
        }
        if (t.text == "{") {
          ++i_;
          auto e = node(ek::dict, at);
          while (!is_op("}")) {
            if (!e->items.empty()) expect_op(",");
            if (is_op("}")) break;
            e->items.push_back(parse_expression(true));
            expect_op(":");
            e->items.push_back(parse_expression(true));
          }
          ++i_;
          return e;
        }
        break;
      default: break;
    }
    unexpected("an expression");
  }

  expr_ptr parse_postfix(expr_ptr e) {
    while (true) {
      if (is_op(".")) {
        location const at = cur().at;
        ++i_;
        if (cur().kind == tok::name) {
          auto a = node(ek::attr, at);
          a->name = t_[i_++].text;
          a->a = std::move(e);
          e = std::move(a);
        } else if (cur().kind == tok::integer) {
          auto a = node(ek::item, at);
          a->a = std::move(e);
          a->b = parse_primary();
          e = std::move(a);
        } else {
          unexpected("a name after '.'");
        }
      } else if (is_op("[")) {
        e = parse_subscript(std::move(e));
      } else if (is_op("(")) {
        e = parse_call(std::move(e));
      } else {
        return e;
      }
    }
  }

  expr_ptr parse_subscript(expr_ptr target) {
    location const at = cur().at;
    ++i_;  // [
    auto part = [&]() -> expr_ptr {
      if (is_op(":") || is_op("]")) return nullptr;
      return parse_expression(true);
    };
    expr_ptr first = part();
    if (is_op(":")) {
      auto s = node(ek::slice, at);
      s->a = std::move(target);
      s->b = std::move(first);
      ++i_;
      s->c = part();
      if (is_op(":")) {
        ++i_;
        s->d = part();
      }
      expect_op("]");
      return s;
    }
    if (!first) unexpected("an index");
    if (is_op(",")) {  // x[a, b]: a tuple key
      auto t = node(ek::tuple, first->at);
      t->items.push_back(std::move(first));
      while (is_op(",")) {
        ++i_;
        if (is_op("]")) break;
        t->items.push_back(parse_expression(true));
      }
      first = std::move(t);
    }
    expect_op("]");
    auto e = node(ek::item, at);
    e->a = std::move(target);
    e->b = std::move(first);
    return e;
  }

  // (args..., name=value...) into e->items / e->kwargs
  void parse_args(expr* e) {
    expect_op("(");
    while (!is_op(")")) {
      if (!e->items.empty() || !e->kwargs.empty()) expect_op(",");
      if (is_op(")")) break;
      if (is_op("*") || is_op("**")) fail_at(cur().at, "*args / **kwargs in calls are not supported");
      if (cur().kind == tok::name && peek().kind == tok::op && peek().text == "=") {
        std::string name = t_[i_].text;
        i_ += 2;
        e->kwargs.emplace_back(std::move(name), parse_expression(true));
      } else {
        if (!e->kwargs.empty()) fail_at(cur().at, "a positional argument follows a keyword argument");
        e->items.push_back(parse_expression(true));
      }
    }
    ++i_;
  }

  expr_ptr parse_call(expr_ptr callee) {
    auto e = node(ek::call, callee->at);
    e->a = std::move(callee);
    parse_args(e.get());
    return e;
  }

  std::string dotted_name() {
    std::string name = expect_name();
    while (is_op(".") && peek().kind == tok::name) {
      name += "." + peek().text;
      i_ += 2;
    }
    return name;
  }

  // `| f(args) | g ...` applied to `operand` (null: the {% filter %} / {% set x | f %} body).
  expr_ptr parse_filter_chain(expr_ptr operand, bool first_without_bar = false) {
    bool first = true;
    while (is_op("|") || (first && first_without_bar)) {
      if (!(first && first_without_bar)) ++i_;  // the '|'
      first = false;
      location const at = cur().at;
      std::string name = dotted_name();
      if (!known_filter(name)) fail_at(at, "unknown filter '", name, "'");
      auto f = node(ek::filter, at);
      f->name = std::move(name);
      f->a = std::move(operand);
      if (is_op("(")) parse_args(f.get());
      operand = std::move(f);
    }
    return operand;
  }

  expr_ptr parse_filter_expr(expr_ptr e) {
    while (true) {
      if (is_op("|")) {
        e = parse_filter_chain(std::move(e));
      } else if (is_name("is")) {
        location const at = cur().at;
        ++i_;
        auto t = node(ek::test, at);
        if (is_name("not")) {
          ++i_;
          t->negated = true;
        }
        t->name = dotted_name();
        if (!known_test(t->name)) fail_at(at, "unknown test '", t->name, "'");
        t->a = std::move(e);
        if (is_op("(")) {
          parse_args(t.get());
        } else if ((cur().kind == tok::name || cur().kind == tok::string || cur().kind == tok::integer ||
                    cur().kind == tok::floating || is_op("(") || is_op("[") || is_op("{")) &&
                   !is_name("else") && !is_name("or") && !is_name("and")) {
          if (is_name("is")) fail_at(cur().at, "tests cannot be chained with 'is'");
          t->items.push_back(parse_postfix(parse_primary()));
        }
        e = std::move(t);
      } else if (is_op("(")) {
        e = parse_call(std::move(e));
      } else {
        return e;
      }
    }
  }
};

}  // namespace generate::jinja
SWITCHYARD_NAMESPACE_END
