// linear<F> on block formats (q8_0, q4_0, q4_K, q6_K, int4 groups) computed from the packed
// blocks, against the same layer on the dequantized weights in f32 (the weights' values are then
// identical, so the f32 bound applies): GEMV rows 1..8 and GEMM rows 9..70, every ISA, with a
// bias. The MoE layers on block formats are in test_quant_moe.cpp, int8 activations in
// test_quant_int8.cpp, scaled int8 / fp8 codes in test_quant_scaled.cpp (one unit each, so the
// build spreads over the cores).
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "support/isas.hpp"
#include "support/poison.hpp"
#include "support/quantize_rows.hpp"
#include "support/tolerance.hpp"
#include "switchyard/core/format/gguf.hpp"
#include "switchyard/core/format/int4.hpp"
#include "switchyard/linear/linear.hpp"

namespace sy = switchyard;
namespace fmt = switchyard::format;
namespace tol = sy::test::tolerance;
using sy::index_t;
using sy::test::quantize_rows;

namespace {

template <class Isa, class F>
void check_format_linear(sy::thread_pool& pool) {
  constexpr int B = fmt::traits<F>::block_elems;
  index_t const N = 37, K = 3 * B + (B >= 256 ? 256 : 4 * B);
  std::mt19937 g(3);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> w(N * K), bias(N);
  for (auto& v : w) v = d(g) / std::sqrt(float(K));
  for (auto& v : bias) v = d(g);
  auto [q, deq] = quantize_rows<F>(w, N, K);
  sy::linear<F> layer(sy::make_view(static_cast<F const*>(q.data()), N, K / B), sy::make_view(static_cast<float const*>(bias.data()), N));
  sy::linear<float> ref(sy::make_view(static_cast<float const*>(deq.data()), N, K), sy::make_view(static_cast<float const*>(bias.data()), N));
  REQUIRE(layer.in_features() == K);
  for (index_t T : {1, 2, 5, 8, 9, 23, 70}) {
    std::vector<float> x(T * K), y(T * N), want(T * N);
    for (auto& v : x) v = d(g);
    sy::test::poison({y.data(), y.size()});
    layer.template operator()<Isa>(sy::make_view(static_cast<float const*>(x.data()), T, K), sy::make_view(y.data(), T, N), pool);
    ref.template operator()<sy::simd::scalar>(sy::make_view(static_cast<float const*>(x.data()), T, K), sy::make_view(want.data(), T, N), pool);
    for (index_t t = 0; t < T; ++t)
      for (index_t n = 0; n < N; ++n) {
        double mag = std::fabs(bias[n]);
        for (index_t k = 0; k < K; ++k) mag += std::fabs(double(x[t * K + k]) * deq[n * K + k]);
        INFO(fmt::traits<F>::name << " on " << Isa::name << ", T = " << T << ", row " << t << ", feature " << n);
        REQUIRE(std::fabs(double(y[t * N + n]) - want[t * N + n]) <= tol::linear(K) * mag);
      }
  }
}

}  // namespace

TEMPLATE_LIST_TEST_CASE("linear on block formats equals linear on their dequantized weights", "[quant][linear]",
                        sy::test::all_isas) {
  using Isa = TestType;
  if (!sy::test::runnable<Isa>()) return;
  sy::thread_pool pool(3);
  check_format_linear<Isa, fmt::q8_0>(pool);
  check_format_linear<Isa, fmt::q4_0>(pool);
  check_format_linear<Isa, fmt::q4_K>(pool);
  check_format_linear<Isa, fmt::q6_K>(pool);
  check_format_linear<Isa, fmt::int4_sym<128>>(pool);
  check_format_linear<Isa, fmt::int4_asym<32>>(pool);
}
