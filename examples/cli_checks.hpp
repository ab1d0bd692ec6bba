#pragma once
// CLI11 validators with plain messages: CLI::NonNegativeNumber / PositiveNumber print their range
// as "0.000000 to 1797693134862315708145...", which tells a user nothing.
#include <CLI/CLI.hpp>
#include <string>

namespace switchyard_examples {

// The value must be >= lo (inclusive) or > lo.
inline CLI::Validator at_least(double lo, bool inclusive = true) {
  std::string const bound = (inclusive ? ">= " : "> ") + CLI::detail::to_string(lo);
  return CLI::Validator(
      [lo, inclusive, bound](std::string& v) -> std::string {
        double x = 0;
        if (!CLI::detail::lexical_cast(v, x)) return "'" + v + "' is not a number";
        return (inclusive ? x >= lo : x > lo) ? std::string() : "must be " + bound + ", not " + v;
      },
      "NUMBER " + bound);
}

}  // namespace switchyard_examples
