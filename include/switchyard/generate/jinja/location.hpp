#pragma once
// Where in a template something is (line and column, from 1, columns in characters) and the two
// ways a template fails: format_error for what the renderer cannot parse or evaluate (naming the
// construct and its place), invalid_argument for a template's own raise_exception() (the template
// refuses the conversation it was given).
#include <string>
#include <string_view>

#include "switchyard/core/error.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace generate::jinja {

struct location {
  int line = 1;
  int column = 1;
};

template <class... Args>
[[noreturn]] void fail_at(location at, Args const&... args) {
  switchyard::detail::fail<format_error>("generate::chat_template", "line ", at.line, ", column ", at.column, ": ",
                                         args...);
}

[[noreturn]] inline void template_raised(location at, std::string_view message) {
  switchyard::detail::fail<invalid_argument>("generate::chat_template", "the template raised an exception: ", message,
                                             " (raise_exception at line ", at.line, ", column ", at.column, ")");
}

}  // namespace generate::jinja
SWITCHYARD_NAMESPACE_END
