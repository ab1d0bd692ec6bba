// Routers and the dispatch plan, by property: top-k's guarantees whatever the logits (NaN, +-inf,
// ties), each policy against a direct computation, and the plan's permutation, capacity and
// round trip on random ids.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <set>
#include <vector>

#include "support/random.hpp"
#include "switchyard/route/dispatch_plan.hpp"
#include "switchyard/route/families.hpp"

namespace sy = switchyard;
using sy::index_t;

namespace {
std::vector<int> topk(std::vector<float> const& s, int k) {
  std::vector<int> ids(static_cast<std::size_t>(k), -7);
  sy::route::detail::top_k(s.data(), static_cast<int>(s.size()), k, ids.data());
  return ids;
}
constexpr float nan_ = std::numeric_limits<float>::quiet_NaN();
constexpr float inf_ = std::numeric_limits<float>::infinity();
}  // namespace

TEST_CASE("top-k: descending, ties to the lower id, NaN lowest, infinities ranked", "[route]") {
  CHECK(topk({0.1f, 0.5f, 0.3f, 0.5f}, 3) == std::vector<int>{1, 3, 2});
  CHECK(topk({nan_, 1.0f, -inf_, nan_}, 3) == std::vector<int>{1, 2, 0});   // NaN below -inf
  CHECK(topk({nan_, nan_, nan_}, 2) == std::vector<int>{0, 1});             // all NaN: still k distinct ids
  CHECK(topk({-inf_, inf_, 0.0f, inf_}, 4) == std::vector<int>{1, 3, 2, 0});
  CHECK(topk({2.0f, 2.0f, 2.0f, 2.0f}, 2) == std::vector<int>{0, 1});
  // Random rows with NaN/inf sprinkled in: k distinct in-range ids, in rank order.
  std::uniform_int_distribution<int> pick(0, 9);
  for (int round = 0; round < 500; ++round) {
    int const n = 1 + round % 40, k = 1 + round % n;
    std::vector<float> s(static_cast<std::size_t>(n));
    sy::test::fill_normal<float>(s);
    for (auto& v : s) {
      int const p = pick(sy::test::rng());
      if (p == 0) v = nan_;
      else if (p == 1) v = (pick(sy::test::rng()) % 2 ? inf_ : -inf_);
      else if (p == 2) v = 0.5f;  // ties
    }
    auto const ids = topk(s, k);
    std::set<int> distinct(ids.begin(), ids.end());
    REQUIRE(distinct.size() == static_cast<std::size_t>(k));
    REQUIRE(*distinct.begin() >= 0);
    REQUIRE(*distinct.rbegin() < n);
    for (int j = 1; j < k; ++j) REQUIRE(sy::route::detail::ranks_above(s[ids[j - 1]], ids[j - 1], s[ids[j]], ids[j]));
    // Nothing left out ranks above the last one taken.
    for (int i = 0; i < n; ++i)
      if (!distinct.count(i)) REQUIRE_FALSE(sy::route::detail::ranks_above(s[i], i, s[ids[k - 1]], ids[k - 1]));
  }
}

TEST_CASE("routers accept T = 0 and always emit k distinct ids", "[route]") {
  sy::thread_pool pool(2);
  std::vector<float> logits(5 * 16);
  std::vector<std::int32_t> ids(5 * 4);
  std::vector<float> w(5 * 4);
  sy::route::mixtral<4>{}(sy::make_view<float const>(logits.data(), 0, 16), sy::make_view(ids.data(), 0, 4),
                          sy::make_view(w.data(), 0, 4), {}, pool);
  sy::test::fill_normal<float>(logits);
  logits[3] = nan_, logits[20] = inf_, logits[21] = inf_;
  sy::route::olmoe<4>{}(sy::make_view<float const>(logits.data(), 5, 16), sy::make_view(ids.data(), 5, 4),
                        sy::make_view(w.data(), 5, 4), {}, pool);
  for (int t = 0; t < 5; ++t) {
    std::set<int> d(ids.begin() + t * 4, ids.begin() + t * 4 + 4);
    REQUIRE(d.size() == 4);
  }
}

TEST_CASE("gpt-oss router: top-k of raw logits, softmax over the chosen", "[route]") {
  std::vector<float> logits(8);
  sy::test::fill_normal<float>(logits, 0.0f, 2.0f);
  std::vector<std::int32_t> ids(4);
  std::vector<float> w(4), scratch(16);
  bool skip[8];
  sy::route::gpt_oss<4>::route_token(logits.data(), 8, ids.data(), w.data(), {}, scratch.data(), skip);
  auto const want = topk(logits, 4);
  double z = 0;
  for (int j = 0; j < 4; ++j) z += std::exp(double(logits[want[j]]));
  for (int j = 0; j < 4; ++j) {
    CHECK(ids[j] == want[j]);
    CHECK(std::fabs(w[j] - std::exp(double(logits[want[j]])) / z) <= 1e-6);
  }
}

TEST_CASE("cumulative k: experts until the mass reaches p, within [min_k, max_k]", "[route]") {
  std::vector<float> scratch(32), w(6);
  std::vector<std::int32_t> ids(6);
  bool skip[16];
  for (int round = 0; round < 200; ++round) {
    std::vector<float> logits(16);
    sy::test::fill_normal<float>(logits, 0.0f, 1.0f + float(round % 5));
    sy::route::router_params params;
    params.p = 0.3f + 0.1f * float(round % 7);
    sy::route::cumulative_k<6, 2>::route_token(logits.data(), 16, ids.data(), w.data(), params, scratch.data(), skip);
    // Reference: softmax, sort, accumulate.
    double m = *std::max_element(logits.begin(), logits.end()), z = 0;
    std::vector<double> p(16);
    for (int e = 0; e < 16; ++e) z += (p[e] = std::exp(logits[e] - m));
    for (auto& v : p) v /= z;
    auto const order = topk(logits, 6);
    int k = 0;
    double mass = 0;
    while (k < 6 && (k < 2 || mass < params.p)) mass += p[order[k++]];
    double wsum = 0;
    for (int j = 0; j < 6; ++j) {
      if (j < k) {
        REQUIRE(ids[j] == order[j]);
        wsum += w[j];
      } else {
        REQUIRE(ids[j] == -1);
        REQUIRE(w[j] == 0.0f);
      }
    }
    REQUIRE(std::fabs(wsum - 1.0) <= 1e-6);
  }
}

TEST_CASE("DeepSeek-V3 groups: experts outside the kept groups are never chosen", "[route]") {
  // 8 experts in 4 groups of 2; keep 2 groups. Negative biased scores must still be masked out
  // (-inf semantics), not compete with 0.
  std::vector<float> logits = {4.0f, 3.9f, -1.0f, -1.0f, 2.0f, 2.0f, -3.0f, 5.0f};
  std::vector<float> bias = {0, 0, 0, 0, 0, 0, 0, -2.0f};
  std::vector<float> scratch(16), w(2);
  std::vector<std::int32_t> ids(2);
  bool skip[8];
  sy::route::router_params params;
  params.selection_bias = sy::make_view<float const>(bias.data(), 8);
  sy::route::deepseek_v3<2, 4, 2>::route_token(logits.data(), 8, ids.data(), w.data(), params, scratch.data(), skip);
  // Group sums of biased sigmoid scores: g0 ~ 1.96, g2 ~ 1.76, g3 ~ 0.05 + 0.95 - 2 < 0 -> groups 0 and 2.
  CHECK(ids[0] == 0);
  CHECK(ids[1] == 1);
  double const s0 = 1 / (1 + std::exp(-4.0)), s1 = 1 / (1 + std::exp(-3.9));
  CHECK(std::fabs(w[0] - s0 / (s0 + s1)) <= 1e-6);
}

TEST_CASE("router configuration errors are clear", "[route]") {
  std::vector<float> logits(3 * 6);
  std::vector<std::int32_t> ids(3 * 8);
  std::vector<float> w(3 * 8);
  CHECK_THROWS_WITH((sy::route::mixtral<8>{}(sy::make_view<float const>(logits.data(), 3, 6), sy::make_view(ids.data(), 3, 8),
                                             sy::make_view(w.data(), 3, 8))),
                    "switchyard::route::topk_router: top_k = 8 but the logits have only 6 experts");
  CHECK_THROWS_WITH((sy::route::deepseek_v3<2, 4, 2>{}(sy::make_view<float const>(logits.data(), 3, 6),
                                                      sy::make_view(ids.data(), 3, 2), sy::make_view(w.data(), 3, 2))),
                    Catch::Contains("6 experts do not split into 4 equal groups"));
}

TEST_CASE("dispatch plan: a stable permutation with capacity, and its inverse", "[route][plan]") {
  std::uniform_int_distribution<int> coin(0, 99);
  for (int round = 0; round < 300; ++round) {
    index_t const T = round % 5 == 0 ? 0 : 1 + coin(sy::test::rng()) % 70, K = 1 + round % 4;
    int const E = 1 + round % 9;
    index_t const capacity = round % 3 == 0 ? -1 : round % 7;
    std::vector<std::int32_t> ids(static_cast<std::size_t>(T * K));
    for (auto& v : ids) {
      int const r = coin(sy::test::rng());
      v = r < 10 ? -1 : (round % 4 == 1 ? 0 : r % E);  // some unused slots; every 4th round: all to expert 0
    }
    sy::route::dispatch_plan plan;
    plan.build(sy::make_view<std::int32_t const>(ids.data(), T, K), E, capacity);
    // Counts and drops against a direct tally.
    std::vector<index_t> want(static_cast<std::size_t>(E), 0);
    for (auto v : ids)
      if (v >= 0) ++want[static_cast<std::size_t>(v)];
    index_t dropped = 0, kept = 0;
    for (int e = 0; e < E; ++e) {
      index_t const c = capacity < 0 ? want[e] : std::min(want[e], capacity);
      dropped += want[e] - c;
      kept += c;
      REQUIRE(plan.count(e) == c);
      REQUIRE(plan.offset(e + 1) - plan.offset(e) == c);
    }
    REQUIRE(plan.dropped() == dropped);
    REQUIRE(plan.kept() == kept);
    // Round trip: every kept slot points back to its (token, choice), tokens ascend within an
    // expert, and the first `capacity` choices of each expert in token order are the kept ones.
    std::vector<index_t> seen(static_cast<std::size_t>(E), 0);
    for (index_t t = 0; t < T; ++t)
      for (index_t j = 0; j < K; ++j) {
        std::int32_t const e = ids[t * K + j];
        std::int32_t const s = plan.token_slot()[t * K + j];
        if (e < 0) {
          REQUIRE(s == -1);
          continue;
        }
        bool const should_keep = capacity < 0 || seen[e]++ < capacity;
        REQUIRE((s >= 0) == should_keep);
        if (s < 0) continue;
        REQUIRE(s >= plan.offset(e));
        REQUIRE(s < plan.offset(e + 1));
        REQUIRE(plan.slot_token()[s] == t);
        REQUIRE(plan.slot_choice()[s] == t * K + j);
      }
    for (int e = 0; e < E; ++e)
      for (index_t s = plan.offset(e) + 1; s < plan.offset(e + 1); ++s) REQUIRE(plan.slot_choice()[s - 1] < plan.slot_choice()[s]);
  }
}

TEST_CASE("dispatch plan rejects out-of-range ids", "[route][plan]") {
  std::vector<std::int32_t> ids = {0, 3, 1, 4};
  sy::route::dispatch_plan plan;
  CHECK_THROWS_WITH(plan.build(sy::make_view<std::int32_t const>(ids.data(), 2, 2), 4),
                    "switchyard::route::dispatch_plan: ids(1, 1) = 4 is outside [0, 4) (and not -1)");
}

#include "switchyard/route/expert_choice.hpp"

TEST_CASE("expert choice: every expert takes its top-C tokens by softmax score", "[route]") {
  sy::thread_pool pool(2);
  for (index_t T : {1, 7, 64}) {
    index_t const E = 8;
    std::vector<float> logits(T * E), w(T * E);
    std::vector<std::int32_t> ids(T * E);
    sy::test::fill_normal<float>(logits, 0.0f, 2.0f);
    sy::route::router_params params;
    params.capacity_factor = 1.5f;
    sy::route::expert_choice{}(sy::make_view<float const>(logits.data(), T, E), sy::make_view(ids.data(), T, E),
                               sy::make_view(w.data(), T, E), params, pool);
    index_t const C = sy::route::expert_choice::capacity(T, E, 1.5f);
    REQUIRE(C == std::min<index_t>(T, static_cast<index_t>(std::ceil(T * 1.5 / E))));
    // Direct softmax per token, then per expert the C best tokens.
    std::vector<double> p(T * E);
    for (index_t t = 0; t < T; ++t) {
      double m = -1e30, z = 0;
      for (index_t e = 0; e < E; ++e) m = std::max(m, double(logits[t * E + e]));
      for (index_t e = 0; e < E; ++e) z += (p[t * E + e] = std::exp(logits[t * E + e] - m));
      for (index_t e = 0; e < E; ++e) p[t * E + e] /= z;
    }
    for (index_t e = 0; e < E; ++e) {
      std::vector<index_t> order(T);
      std::iota(order.begin(), order.end(), 0);
      std::stable_sort(order.begin(), order.end(), [&](index_t a, index_t b) { return p[a * E + e] > p[b * E + e]; });
      index_t taken = 0;
      for (index_t t = 0; t < T; ++t) taken += ids[t * E + e] == e;
      REQUIRE(taken == C);
      for (index_t r = 0; r < C; ++r) {
        index_t const t = order[r];
        REQUIRE(ids[t * E + e] == e);
        REQUIRE(std::fabs(w[t * E + e] - p[t * E + e]) <= 1e-6);
      }
      for (index_t r = C; r < T; ++r) REQUIRE(ids[order[r] * E + e] == -1);
    }
  }
}
