// Activation-aware int4 against round-to-nearest; int8 and fp8 codes with per-tensor,
// per-channel and 128x128 block scales; W8A8 (int8 codes with per-token int8 activations).
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "support/poison.hpp"
#include "support/tolerance.hpp"
#include "switchyard/core/format/fp8.hpp"
#include "switchyard/core/format/int4.hpp"
#include "switchyard/linear/linear.hpp"
#include "switchyard/linear/quantize.hpp"
#include "switchyard/linear/scaled_linear.hpp"

namespace sy = switchyard;
namespace fmt = switchyard::format;
namespace tol = sy::test::tolerance;
using sy::index_t;

TEST_CASE("activation-aware int4 beats round-to-nearest on the output error", "[quant]") {
  index_t const N = 64, K = 512, T = 32;
  std::mt19937 g(21);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  std::vector<float> w(N * K), channel(K), x(T * K), act_sq(K, 0.0f);
  for (auto& v : w) v = d(g) / std::sqrt(float(K));
  for (auto& c : channel) c = u(g) < 0.03f ? 10.0f : 1.0f;
  for (index_t i = 0; i < T * K; ++i) x[i] = d(g) * channel[i % K];
  for (index_t i = 0; i < 128 * K; ++i) {  // calibration: other draws from the same distribution
    float const v = d(g) * channel[i % K];
    act_sq[i % K] += v * v / 128.0f;
  }
  using F = fmt::int4_asym<128>;
  std::vector<F> rtn(N * K / 128), aware(N * K / 128);
  sy::quant::quantize_rtn(sy::make_view(static_cast<float const*>(w.data()), N, K), sy::make_view(rtn.data(), N, K / 128));
  sy::quant::quantize_activation_aware(sy::make_view(static_cast<float const*>(w.data()), N, K), std::span<float const>(act_sq),
                                       sy::make_view(aware.data(), N, K / 128));
  auto output_error = [&](std::vector<F> const& q) {
    std::vector<float> y(T * N), ref(T * N);
    sy::linear<F>(sy::make_view(static_cast<F const*>(q.data()), N, K / 128))(sy::make_view(static_cast<float const*>(x.data()), T, K),
                                                                             sy::make_view(y.data(), T, N));
    sy::linear<float>(sy::make_view(static_cast<float const*>(w.data()), N, K))(sy::make_view(static_cast<float const*>(x.data()), T, K),
                                                                               sy::make_view(ref.data(), T, N));
    double num = 0, den = 0;
    for (std::size_t i = 0; i < y.size(); ++i) num += (y[i] - ref[i]) * double(y[i] - ref[i]), den += double(ref[i]) * ref[i];
    return std::sqrt(num / den);
  };
  double const e_rtn = output_error(rtn), e_aware = output_error(aware);
  INFO("relative L2: RTN " << e_rtn << ", activation-aware " << e_aware);
  CHECK(e_aware < 0.9 * e_rtn);
  // RTN through quantize_rtn equals the format's own quantizer block by block.
  F q;
  fmt::traits<F>::quantize(w.data() + 128, &q);
  CHECK(std::memcmp(&q, &rtn[1], sizeof(F)) == 0);
  CHECK_THROWS_WITH(sy::quant::quantize_activation_aware(sy::make_view(static_cast<float const*>(w.data()), N, K),
                                                         std::span<float const>(act_sq.data(), 100),
                                                         sy::make_view(aware.data(), N, K / 128)),
                    Catch::Contains("act_sq has 100 entries but the weight has 512 input channels"));
}

template <class E>
void check_scaled(sy::scale_granularity g) {
  index_t const N = 150, K = 300;  // neither a multiple of the 128-wide scale tiles
  std::mt19937 gen(31);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> w(N * K), bias(N);
  for (auto& v : w) v = d(gen) / std::sqrt(float(K));
  for (auto& v : bias) v = d(gen);
  index_t const sr = g == sy::scale_granularity::per_tensor ? 1 : g == sy::scale_granularity::per_channel ? N : 2;
  index_t const sc = g == sy::scale_granularity::block ? 3 : 1;
  std::vector<E> codes(N * K);
  std::vector<float> scales(sr * sc), deq(N * K);
  sy::quant::quantize_scaled<E>(sy::make_view(static_cast<float const*>(w.data()), N, K), g, sy::make_view(codes.data(), N, K),
                                sy::make_view(scales.data(), sr, sc));
  for (index_t n = 0; n < N; ++n)
    for (index_t k = 0; k < K; ++k) {
      float const s = g == sy::scale_granularity::per_tensor ? scales[0]
                      : g == sy::scale_granularity::per_channel ? scales[n] : scales[(n / 128) * sc + k / 128];
      deq[n * K + k] = fmt::traits<E>::to_float(codes[n * K + k]) * s;
    }
  // The codes carry the weights within the format's rounding.
  double num = 0, den = 0;
  for (std::size_t i = 0; i < w.size(); ++i) num += (deq[i] - w[i]) * double(deq[i] - w[i]), den += double(w[i]) * w[i];
  CHECK(num / den < (std::is_same_v<E, std::int8_t> ? 1e-4 : 2e-3));
  sy::scaled_linear<E> layer(sy::make_view(static_cast<E const*>(codes.data()), N, K), g,
                             sy::make_view(static_cast<float const*>(scales.data()), sr, sc),
                             sy::make_view(static_cast<float const*>(bias.data()), N));
  sy::linear<float> ref(sy::make_view(static_cast<float const*>(deq.data()), N, K), sy::make_view(static_cast<float const*>(bias.data()), N));
  sy::thread_pool pool(2);
  for (index_t T : {1, 4, 19}) {
    std::vector<float> x(T * K), y(T * N), want(T * N);
    for (auto& v : x) v = d(gen);
    sy::test::poison({y.data(), y.size()});
    layer(sy::make_view(static_cast<float const*>(x.data()), T, K), sy::make_view(y.data(), T, N), pool);
    ref(sy::make_view(static_cast<float const*>(x.data()), T, K), sy::make_view(want.data(), T, N), pool);
    for (index_t t = 0; t < T; ++t)
      for (index_t n = 0; n < N; ++n) {
        double mag = std::fabs(bias[n]);
        for (index_t k = 0; k < K; ++k) mag += std::fabs(double(x[t * K + k]) * deq[n * K + k]);
        INFO(fmt::traits<E>::name << " granularity " << int(g) << " T " << T << " row " << t << " feature " << n);
        REQUIRE(std::fabs(double(y[t * N + n]) - want[t * N + n]) <= tol::linear(K) * mag);
      }
  }
}

TEST_CASE("int8 and fp8 codes with per-tensor, per-channel and 128x128 block scales", "[quant][linear]") {
  for (auto g : {sy::scale_granularity::per_tensor, sy::scale_granularity::per_channel, sy::scale_granularity::block}) {
    check_scaled<std::int8_t>(g);
    check_scaled<fmt::e4m3>(g);
  }
  std::vector<std::int8_t> c(4);
  std::vector<float> s(3);
  CHECK_THROWS_WITH(sy::scaled_linear<std::int8_t>(sy::make_view(static_cast<std::int8_t const*>(c.data()), 2, 2),
                                                   sy::scale_granularity::per_channel, sy::make_view(static_cast<float const*>(s.data()), 3, 1)),
                    Catch::Contains("scales are [3, 1] but this granularity needs [2, 1]"));
}

// W8A8: int8 codes with activations quantized per token. Exactly the integer formula on the
// quantized activations (recomputed here in double), and within the activation rounding of the
// f32 layer on the same codes.
TEST_CASE("W8A8: int8 codes with per-token int8 activations", "[quant][linear]") {
  // K not a multiple of the 64-byte VNNI step, N not a multiple of the GEMM's 4-row groups; T
  // covers the decode path (1, 3), the GEMM's 4-token tiles with a tail (17) and several tiles.
  index_t const N = 70, K = 200;
  std::mt19937 gen(37);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> w(N * K), bias(N);
  for (auto& v : w) v = d(gen) / std::sqrt(float(K));
  for (auto& v : bias) v = d(gen);
  for (auto g : {sy::scale_granularity::per_tensor, sy::scale_granularity::per_channel}) {
    index_t const sr = g == sy::scale_granularity::per_tensor ? 1 : N;
    std::vector<std::int8_t> codes(N * K);
    std::vector<float> scales(sr);
    sy::quant::quantize_scaled<std::int8_t>(sy::make_view(static_cast<float const*>(w.data()), N, K), g,
                                            sy::make_view(codes.data(), N, K), sy::make_view(scales.data(), sr, 1));
    auto const cv = sy::make_view(static_cast<std::int8_t const*>(codes.data()), N, K);
    auto const sv = sy::make_view(static_cast<float const*>(scales.data()), sr, 1);
    auto const bv = sy::make_view(static_cast<float const*>(bias.data()), N);
    sy::scaled_linear<std::int8_t> w8a8(cv, g, sv, bv, sy::activations::int8), w8a16(cv, g, sv, bv);
    sy::thread_pool pool(2);
    for (index_t T : {1, 3, 17, 40}) {
      std::vector<float> x(T * K), y(T * N), f(T * N);
      for (auto& v : x) v = d(gen);
      sy::test::poison({y.data(), y.size()});
      w8a8(sy::make_view(static_cast<float const*>(x.data()), T, K), sy::make_view(y.data(), T, N), pool);
      w8a16(sy::make_view(static_cast<float const*>(x.data()), T, K), sy::make_view(f.data(), T, N), pool);
      double num = 0, den = 0;
      for (index_t t = 0; t < T; ++t) {
        float amax = 0;
        for (index_t k = 0; k < K; ++k) amax = std::fmax(amax, std::fabs(x[t * K + k]));
        float const sx = amax / 127.0f;
        for (index_t n = 0; n < N; ++n) {
          std::int64_t acc = 0;
          for (index_t k = 0; k < K; ++k)
            acc += static_cast<std::int64_t>(std::nearbyint(x[t * K + k] * (1.0f / sx))) * codes[n * K + k];
          double const want = double(sx) * scales[g == sy::scale_granularity::per_tensor ? 0 : n] * double(acc) + bias[n];
          INFO("granularity " << int(g) << " T " << T << " row " << t << " feature " << n);
          REQUIRE(std::fabs(y[t * N + n] - want) <= 1e-5 * (std::fabs(want) + 1.0));
          num += (double(y[t * N + n]) - f[t * N + n]) * (double(y[t * N + n]) - f[t * N + n]);
          den += (double(f[t * N + n]) - bias[n]) * (double(f[t * N + n]) - bias[n]);
        }
      }
      CHECK(num / den < tol::int8_activations_nmse);
    }
  }
  std::vector<std::int8_t> c(4 * 256);
  std::vector<float> s(4);
  CHECK_THROWS_WITH(sy::scaled_linear<std::int8_t>(sy::make_view(static_cast<std::int8_t const*>(c.data()), 4, 256),
                                                   sy::scale_granularity::block, sy::make_view(static_cast<float const*>(s.data()), 1, 2),
                                                   {}, sy::activations::int8),
                    Catch::Contains("int8 activations (W8A8) take int8 codes with per-tensor or per-channel scales"));
}
