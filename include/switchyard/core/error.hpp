#pragma once
// One exception hierarchy for the whole library.
//
//   std::runtime_error
//     switchyard::error                 everything switchyard throws derives from this
//       switchyard::invalid_argument    a caller passed a bad shape, stride, size or value
//         switchyard::index_error       a tensor view was indexed out of bounds (debug builds)
//         switchyard::unsupported_config a run-time value has no compiled instance
//       switchyard::format_error        a file or a buffer is malformed (loaders, later issues)
//       switchyard::allocation_error    an allocation failed or exceeded its stated bound
//       switchyard::unsupported_cpu     the binary was compiled for an ISA this CPU lacks
//
// One root (rather than also deriving from std::invalid_argument) keeps `catch
// (std::exception const&)` unambiguous. Messages follow one style: "switchyard::<where>: <what>",
// with the offending values spelled out, plain ASCII.
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include "switchyard/config.hpp"

SWITCHYARD_NAMESPACE_BEGIN

class error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class invalid_argument : public error {
 public:
  using error::error;
};

class index_error : public invalid_argument {
 public:
  using invalid_argument::invalid_argument;
};

class unsupported_config : public invalid_argument {
 public:
  using invalid_argument::invalid_argument;
};

class format_error : public error {
 public:
  using error::error;
};

class allocation_error : public error {
 public:
  using error::error;
};

class unsupported_cpu : public error {
 public:
  using error::error;
};

namespace detail {

// "switchyard::" + where + ": " + every argument streamed in order.
template <class... Args>
std::string message(std::string_view where, Args const&... args) {
  std::ostringstream os;
  os << "switchyard::" << where << ": ";
  (os << ... << args);
  return os.str();
}

template <class Error = invalid_argument, class... Args>
[[noreturn]] void fail(std::string_view where, Args const&... args) {
  throw Error(message(where, args...));
}

}  // namespace detail

// Checks a caller-facing precondition; throws Error naming `where` when it does not hold.
// A function rather than a macro so that messages are built only on failure and the
// arguments are evaluated once.
template <class Error = invalid_argument, class... Args>
void require(bool condition, std::string_view where, Args const&... args) {
  if (!condition) [[unlikely]]
    detail::fail<Error>(where, args...);
}

SWITCHYARD_NAMESPACE_END
