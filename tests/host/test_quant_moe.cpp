// A Mixtral-style MoE layer whose experts are q4_0 / q4_K / int4 blocks against the same layer on
// their dequantized f32 weights, and MoE decode with int8 activations against f32 activations.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "support/poison.hpp"
#include "support/quantize_rows.hpp"
#include "support/tolerance.hpp"
#include "switchyard/core/format/gguf.hpp"
#include "switchyard/core/format/int4.hpp"
#include "switchyard/expert/glu_experts.hpp"
#include "switchyard/expert/moe.hpp"
#include "switchyard/route/families.hpp"

namespace sy = switchyard;
namespace fmt = switchyard::format;
namespace tol = sy::test::tolerance;
using sy::index_t;
using sy::test::quantize_rows;

// An MoE layer's f32 weights and input, drawn in one order from `seed`: gate_up [E, 2Fi, H] and
// down [E, H, Fi] scaled to unit-variance outputs, a gate sharp enough to separate experts, x.
struct moe_inputs {
  std::vector<float> gu, dn, gate, x;
};
inline moe_inputs random_moe_inputs(index_t E, index_t H, index_t Fi, index_t T, unsigned seed) {
  std::mt19937 g(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  moe_inputs in{std::vector<float>(E * 2 * Fi * H), std::vector<float>(E * H * Fi), std::vector<float>(E * H),
                std::vector<float>(T * H)};
  for (auto& v : in.gu) v = d(g) / std::sqrt(float(H));
  for (auto& v : in.dn) v = d(g) / std::sqrt(float(Fi));
  for (auto& v : in.gate) v = 3.0f * d(g) / std::sqrt(float(H));
  for (auto& v : in.x) v = d(g);
  return in;
}

template <class F>
void check_moe() {
  constexpr int B = fmt::traits<F>::block_elems;
  index_t const H = 2 * B, Fi = B, E = 4, T = 19;
  auto const [gu, dn, gate, x] = random_moe_inputs(E, H, Fi, T, 5);
  auto [gq, gdeq] = quantize_rows<F>(gu, E * 2 * Fi, H);
  auto [dq, ddeq] = quantize_rows<F>(dn, E * H, Fi);
  using qexperts = sy::expert::glu_experts<F>;
  using fexperts = sy::expert::glu_experts<float>;
  qexperts qe(sy::tensor_view<F const, sy::dextents<3>>(gq.data(), sy::dextents<3>(E, 2 * Fi, H / B)),
              sy::tensor_view<F const, sy::dextents<3>>(dq.data(), sy::dextents<3>(E, H, Fi / B)));
  fexperts fe(sy::tensor_view<float const, sy::dextents<3>>(gdeq.data(), sy::dextents<3>(E, 2 * Fi, H)),
              sy::tensor_view<float const, sy::dextents<3>>(ddeq.data(), sy::dextents<3>(E, H, Fi)));
  REQUIRE(qe.hidden() == H);
  REQUIRE(qe.intermediate() == Fi);
  auto const gv = sy::make_view(static_cast<float const*>(gate.data()), E, H);
  sy::expert::moe<sy::route::mixtral<2>, qexperts> qlayer(gv, qe);
  sy::expert::moe<sy::route::mixtral<2>, fexperts> flayer(gv, fe);
  std::vector<float> y(T * H), want(T * H);
  sy::test::poison({y.data(), y.size()});
  sy::expert::moe_workspace ws;
  sy::thread_pool pool(2);
  qlayer(sy::make_view(static_cast<float const*>(x.data()), T, H), sy::make_view(y.data(), T, H), ws, {}, pool);
  flayer(sy::make_view(static_cast<float const*>(x.data()), T, H), sy::make_view(want.data(), T, H), ws, {}, pool);
  double const bound = tol::moe_output(H, Fi, 2);
  for (index_t t = 0; t < T; ++t) {
    double scale = 0;
    for (index_t i = 0; i < H; ++i) scale = std::max(scale, double(std::fabs(want[t * H + i])));
    for (index_t i = 0; i < H; ++i) {
      INFO(fmt::traits<F>::name << " token " << t << " element " << i);
      REQUIRE(std::fabs(double(y[t * H + i]) - want[t * H + i]) <= bound * scale);
    }
  }
}

// Decode through an MoE layer whose experts take int8 activations (glu_experts passes the option
// to each linear): against the same quantized experts with f32 activations, the NMSE of x and h
// each rounded to int8 per block -- two roundings of int8_activations_nmse's kind (measured 1.3e-4
// for q8_0 and q4_0, 2.5e-4 for int4 g128, whose 128-wide groups round more coarsely).
template <class F>
void check_moe_int8() {
  constexpr int B = fmt::traits<F>::block_elems;
  index_t const H = 8 * B, Fi = 4 * B, E = 4, T = 5;  // <= 8 rows per expert: the decode kernels
  auto const [gu, dn, gate, x] = random_moe_inputs(E, H, Fi, T, 17);
  auto const gq = quantize_rows<F>(gu, E * 2 * Fi, H).first;
  auto const dq = quantize_rows<F>(dn, E * H, Fi).first;
  using experts = sy::expert::glu_experts<F>;
  sy::tensor_view<F const, sy::dextents<3>> const gv3(gq.data(), sy::dextents<3>(E, 2 * Fi, H / B));
  sy::tensor_view<F const, sy::dextents<3>> const dv3(dq.data(), sy::dextents<3>(E, H, Fi / B));
  auto const gv = sy::make_view(static_cast<float const*>(gate.data()), E, H);
  sy::expert::moe<sy::route::mixtral<2>, experts> fast(gv, experts(gv3, dv3, {}, {}, sy::activations::int8));
  sy::expert::moe<sy::route::mixtral<2>, experts> exact(gv, experts(gv3, dv3));
  std::vector<float> y(T * H), want(T * H);
  sy::test::poison({y.data(), y.size()});
  sy::expert::moe_workspace ws;
  sy::thread_pool pool(2);
  fast(sy::make_view(static_cast<float const*>(x.data()), T, H), sy::make_view(y.data(), T, H), ws, {}, pool);
  exact(sy::make_view(static_cast<float const*>(x.data()), T, H), sy::make_view(want.data(), T, H), ws, {}, pool);
  double num = 0, den = 0;
  for (std::size_t i = 0; i < y.size(); ++i) num += (y[i] - want[i]) * double(y[i] - want[i]), den += double(want[i]) * want[i];
  INFO(fmt::traits<F>::name << ": NMSE " << num / den);
  CHECK(num / den < 2 * tol::int8_activations_nmse);
  CHECK(num / den > 0.0);
}

TEST_CASE("MoE layers decode with int8 activations on q4_0, q8_0 and int4 experts", "[quant][moe]") {
  check_moe_int8<fmt::q8_0>();
  check_moe_int8<fmt::q4_0>();
  check_moe_int8<fmt::int4_sym<128>>();
}

TEST_CASE("MoE layers run with experts in block formats", "[quant][moe]") {
  check_moe<fmt::q4_0>();
  check_moe<fmt::q4_K>();
  check_moe<fmt::int4_asym<64>>();
}
