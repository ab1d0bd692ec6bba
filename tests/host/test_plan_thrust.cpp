// The Thrust formulation of the dispatch plan gives the counting sort's plan, field for field,
// on random ids with unused choices, skewed loads and capacities.
#include <catch2/catch.hpp>

#include <algorithm>
#include <random>
#include <vector>

#include "support/random.hpp"
#include "switchyard/route/dispatch_plan_thrust.hpp"

namespace sy = switchyard;
using sy::index_t;

TEST_CASE("Thrust plan equals the counting-sort plan", "[route][plan]") {
  std::uniform_int_distribution<int> coin(0, 99);
  for (int round = 0; round < 200; ++round) {
    index_t const T = round % 7 == 0 ? 0 : 1 + coin(sy::test::rng()) % 90, K = 1 + round % 8;
    int const E = 1 + round % 17;
    index_t const capacity = round % 3 == 0 ? -1 : round % 11;
    std::vector<std::int32_t> ids(T * K);
    for (auto& v : ids) {
      int const r = coin(sy::test::rng());
      v = r < 8 ? -1 : (round % 5 == 1 ? r % std::min(2, E) : r % E);  // some rounds pile onto two experts
    }
    auto const view = sy::make_view<std::int32_t const>(ids.data(), T, K);
    sy::route::dispatch_plan a, b;
    a.build(view, E, capacity);
    sy::route::build_plan_thrust(thrust::host, b, view, E, capacity);
    REQUIRE(a.counts() == b.counts());
    REQUIRE(a.offsets() == b.offsets());
    REQUIRE(a.slot_token() == b.slot_token());
    REQUIRE(a.slot_choice() == b.slot_choice());
    REQUIRE(a.token_slot() == b.token_slot());
    REQUIRE(a.dropped() == b.dropped());
    REQUIRE(a.tokens() == b.tokens());
  }
  std::vector<std::int32_t> bad = {0, 9};
  sy::route::dispatch_plan p;
  CHECK_THROWS_WITH(sy::route::build_plan_thrust(thrust::host, p, sy::make_view<std::int32_t const>(bad.data(), 1, 2), 4),
                    Catch::Contains("ids(0, 1) = 9 is outside [0, 4)"));
}
