#pragma once
// The parsed template: expression and statement nodes, each with its place in the source.
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "switchyard/generate/jinja/location.hpp"
#include "switchyard/generate/jinja/value.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace generate::jinja {

struct expr;
using expr_ptr = std::unique_ptr<expr>;

enum class ek : std::uint8_t {
  literal,   // lit
  name,      // name
  list,      // items
  tuple,     // items
  dict,      // items: key, value, key, value, ...
  attr,      // a.name
  item,      // a[b]
  slice,     // a[b:c:d] (b, c, d may be null)
  call,      // a(items..., kwargs...)
  filter,    // a | name(items..., kwargs...)   (a null inside {% filter %} and {% set x | f %})
  test,      // a is [not] name(items...)
  unary,     // name ("-", "+", "not") a
  binary,    // a name b: + - * / // % ** ~ and or in "not in"
  compare,   // a ops[0] items[0] ops[1] items[1] ...
  cond,      // a if b else c (c may be null)
};

struct expr {
  ek kind;
  location at;
  std::string name;
  value lit;
  expr_ptr a, b, c, d;
  std::vector<expr_ptr> items;
  std::vector<std::pair<std::string, expr_ptr>> kwargs;
  std::vector<std::string> ops;
  bool negated = false;  // `is not`
};

struct stmt;
using stmt_ptr = std::unique_ptr<stmt>;
using body_t = std::vector<stmt_ptr>;

enum class sk : std::uint8_t {
  text,        // text
  output,      // {{ e }}
  if_,         // branches, else_body
  for_,        // targets in e [if cond] body [else else_body]
  set,         // targets = e, or target_ns.attr = e
  set_block,   // {% set targets[0] | filter %} body {% endset %}
  macro,       // {% macro name(params) %} body
  call_block,  // {% call e %} body: unsupported, refused at parse time
  filter_block,  // {% filter f %} body
  with_,       // {% with a = x, ... %} body
  break_,
  continue_,
  generation,  // transformers' {% generation %} body: renders the body
};

struct macro_def {
  std::string name;
  std::vector<std::pair<std::string, expr_ptr>> params;  // default may be null
  body_t body;
  location at;
};

struct stmt {
  sk kind;
  location at;
  std::string text;
  expr_ptr e, cond, filter;
  std::vector<std::string> targets;
  std::string attr;  // set ns.attr
  std::vector<std::pair<expr_ptr, body_t>> branches;
  std::vector<std::pair<std::string, expr_ptr>> assignments;  // with
  body_t body, else_body;
  std::shared_ptr<macro_def const> macro;
};

}  // namespace generate::jinja
SWITCHYARD_NAMESPACE_END
