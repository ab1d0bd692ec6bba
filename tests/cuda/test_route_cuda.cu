// The device router and dispatch plan against the host ones (route/router.hpp,
// route/dispatch_plan.hpp) on fresh random inputs: ids and plans exactly, router weights within
// tolerance::router_weight. Outputs are poisoned before every run.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "cuda/device_array.cuh"
#include "support/random.hpp"
#include "support/tolerance.hpp"
#include "switchyard/kernels/route/plan.cuh"
#include "switchyard/kernels/route/topk_kernel.cuh"
#include "switchyard/route/dispatch_plan.hpp"
#include "switchyard/route/families.hpp"

namespace sy = switchyard;
namespace tol = sy::test::tolerance;
using sy::index_t;
using sy::test::device_array;

namespace {

// Router R on T random tokens of E experts: device ids/weights against the host's.
template <class R>
void check_router(int T, int E, bool with_bias, bool special_values, float scaling = 1.0f, float p = 0.5f) {
  constexpr int K = R::max_k;
  INFO("E = " << E << ", T = " << T << ", K = " << K << ", seed " << sy::test::seed());
  std::vector<float> logits(static_cast<std::size_t>(T) * E), bias(static_cast<std::size_t>(E));
  sy::test::fill_normal<float>(logits, 0.0f, 2.0f);
  sy::test::fill_normal<float>(bias, 0.0f, 0.5f);
  if (special_values && T >= 3) {
    logits[1] = NAN;                                   // token 0: one NaN logit
    logits[static_cast<std::size_t>(E) + 2] = INFINITY;  // token 1: +inf
    for (int e = 0; e < E; ++e) logits[2 * static_cast<std::size_t>(E) + e] = 0.25f;  // token 2: all tied
  }
  std::vector<std::int32_t> ids_h(static_cast<std::size_t>(T) * K);
  std::vector<float> w_h(ids_h.size());
  sy::route::router_params hp;
  hp.scaling = scaling;
  hp.p = p;
  if (with_bias) hp.selection_bias = sy::make_view<float const>(bias.data(), E);
  R{}(sy::make_view<float const>(logits.data(), T, E), sy::make_view(ids_h.data(), T, K), sy::make_view(w_h.data(), T, K),
      hp);

  device_array<float> d_logits(logits), d_bias(bias), d_w(ids_h.size());
  device_array<std::int32_t> d_ids(ids_h.size());
  d_ids.poison();
  d_w.poison();
  sy::kernels::route::device_router_params dp;
  dp.scaling = scaling;
  dp.p = p;
  dp.selection_bias = with_bias ? d_bias.get() : nullptr;
  sy::kernels::route::launch_topk<R::config>(d_logits.get(), T, E, dp, d_ids.get(), d_w.get(), nullptr);
  SWITCHYARD_CUDA_CHECK(cudaDeviceSynchronize());
  auto const ids_d = d_ids.download();
  auto const w_d = d_w.download();
  for (int t = 0; t < T; ++t)
    for (int j = 0; j < K; ++j) {
      std::size_t const i = static_cast<std::size_t>(t) * K + j;
      INFO("token " << t << ", choice " << j);
      REQUIRE(ids_d[i] == ids_h[i]);
      if (std::isnan(w_h[i])) {
        REQUIRE(std::isnan(w_d[i]));
      } else {
        REQUIRE(std::fabs(w_d[i] - w_h[i]) <= tol::router_weight(E) * std::fabs(w_h[i]) + 1e-30);
      }
    }
}

}  // namespace

TEST_CASE("device top-k routers equal the host routers", "[cuda][route]") {
  for (int T : {1, 7, 333}) {
    check_router<sy::route::mixtral<2>>(T, 8, false, true);
    check_router<sy::route::qwen_moe<8>>(T, 64, false, true);
    check_router<sy::route::olmoe<8>>(T, 128, false, false);
    check_router<sy::route::deepseek_v3<6, 8, 4>>(T, 64, true, true, 2.5f);
    check_router<sy::route::deepseek_v3<8, 8, 4>>(T, 256, true, false, 2.5f);
    check_router<sy::route::gpt_oss<4>>(T, 32, false, true);
    check_router<sy::route::cumulative_k<4, 1>>(T, 16, false, false, 1.0f, 0.6f);
    check_router<sy::route::topk_router<sy::route::topk_config{.top_k = 1}>>(T, 8, false, true);  // Switch
    check_router<sy::route::topk_router<sy::route::topk_config{.top_k = 3}>>(T, 100, false, false);  // E % 32 != 0
  }
}

TEST_CASE("the device router refuses what it cannot route", "[cuda][route]") {
  device_array<float> logits(8 * 300);
  device_array<std::int32_t> ids(8);
  device_array<float> w(8);
  using big = sy::route::qwen_moe<8>;
  REQUIRE_THROWS_WITH((sy::kernels::route::launch_topk<big::config>(logits.get(), 1, 300, {}, ids.get(), w.get(), nullptr)),
                      Catch::Contains("1..256 experts"));
  REQUIRE_THROWS_WITH((sy::kernels::route::launch_topk<big::config>(logits.get(), 1, 4, {}, ids.get(), w.get(), nullptr)),
                      Catch::Contains("top_k = 8"));
  using ds = sy::route::deepseek_v3<6, 8, 4>;
  REQUIRE_THROWS_WITH((sy::kernels::route::launch_topk<ds::config>(logits.get(), 1, 64, {}, ids.get(), w.get(), nullptr)),
                      Catch::Contains("selection_bias"));
}

TEST_CASE("the device dispatch plan equals the host plan", "[cuda][plan]") {
  std::uniform_int_distribution<int> coin(0, 9);
  for (int E : {1, 8, 64, 256, 1000})
    for (int T : {0, 1, 7, 500})
      for (int K : {1, 2, 8})
        for (std::int64_t capacity : {std::int64_t{-1}, std::int64_t{3}, std::int64_t{0}}) {
          INFO("E " << E << " T " << T << " K " << K << " capacity " << capacity);
          std::uniform_int_distribution<int> expert(0, E - 1);
          std::vector<std::int32_t> ids(static_cast<std::size_t>(T) * K);
          for (auto& id : ids) id = coin(sy::test::rng()) == 0 ? -1 : expert(sy::test::rng());  // some unused choices
          if (E == 8 && T == 500) std::fill(ids.begin(), ids.end(), 5);  // every slot to one expert
          sy::route::dispatch_plan host;
          host.build(sy::make_view<std::int32_t const>(ids.data(), T, K), E, capacity);

          sy::kernels::workspace_carver sizer;
          sy::kernels::route::device_plan::carve(sizer, static_cast<std::int64_t>(T) * K, E);
          device_array<char> ws(sizer.bytes());
          ws.poison();
          sy::kernels::workspace_carver carver(ws.get());
          auto const plan = sy::kernels::route::device_plan::carve(carver, static_cast<std::int64_t>(T) * K, E);
          device_array<std::int32_t> d_ids(ids);
          sy::kernels::route::build_plan(d_ids.get(), T, K, E, capacity, plan, nullptr);
          SWITCHYARD_CUDA_CHECK(cudaDeviceSynchronize());

          auto get = [](std::int32_t const* p, std::size_t n) {
            std::vector<std::int32_t> v(n);
            if (n) SWITCHYARD_CUDA_CHECK(cudaMemcpy(v.data(), p, n * sizeof(std::int32_t), cudaMemcpyDeviceToHost));
            return v;
          };
          auto const S = static_cast<std::size_t>(host.kept());
          REQUIRE(get(plan.counts, E) == host.counts());
          REQUIRE(get(plan.offsets, E + 1) == host.offsets());
          REQUIRE(get(plan.slot_token, S) == host.slot_token());
          REQUIRE(get(plan.slot_choice, S) == host.slot_choice());
          REQUIRE(get(plan.token_slot, ids.size()) == host.token_slot());
          REQUIRE(get(plan.dropped, 1)[0] == host.dropped());
          // Tile offsets and the active list follow from the counts.
          std::vector<std::int32_t> tiles{0}, active;
          for (int e = 0; e < E; ++e) {
            tiles.push_back(tiles.back() + (host.count(e) + 63) / 64);
            if (host.count(e) > 0) active.push_back(e);
          }
          REQUIRE(get(plan.tile_offsets, E + 1) == tiles);
          REQUIRE(get(plan.active_count, 1)[0] == static_cast<std::int32_t>(active.size()));
          REQUIRE(get(plan.active, active.size()) == active);
        }
}
