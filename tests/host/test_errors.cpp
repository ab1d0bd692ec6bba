// One hierarchy, messages that say where and what.
#include <catch2/catch.hpp>

#include <stdexcept>

#include "switchyard/core/error.hpp"

namespace sy = switchyard;

TEST_CASE("every error derives from switchyard::error and std::runtime_error", "[error]") {
  CHECK_THROWS_AS(sy::detail::fail<sy::index_error>("x", "y"), sy::invalid_argument);
  CHECK_THROWS_AS(sy::detail::fail<sy::unsupported_config>("x", "y"), sy::invalid_argument);
  CHECK_THROWS_AS(sy::detail::fail<sy::format_error>("x", "y"), sy::error);
  CHECK_THROWS_AS(sy::detail::fail<sy::allocation_error>("x", "y"), sy::error);
  CHECK_THROWS_AS(sy::detail::fail<sy::unsupported_cpu>("x", "y"), std::runtime_error);
}

TEST_CASE("messages name the place and the values", "[error]") {
  CHECK_THROWS_WITH(sy::require(false, "linear", "x has ", 7, " columns"), "switchyard::linear: x has 7 columns");
  CHECK_NOTHROW(sy::require(true, "linear", "unused"));
}
