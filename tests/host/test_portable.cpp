// Built with SWITCHYARD_SIMD_SCALAR and without -march flags: the public entry points run on the
// portable path (simd::native is the scalar fallback), which must compile anywhere and give the
// same results as the reference within the same tolerances.
#include <catch2/catch.hpp>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "support/reference_file.hpp"
#include "support/tolerance.hpp"
#include "switchyard/core/buffer.hpp"
#include "switchyard/core/format/mxfp4.hpp"
#include "switchyard/linear/linear.hpp"
#include "switchyard/norm/rms_norm.hpp"

namespace sy = switchyard;

static_assert(std::is_same_v<sy::simd::native, sy::simd::scalar>, "SWITCHYARD_SIMD_SCALAR must force the fallback");

TEST_CASE("the scalar build's linear matches torch", "[portable]") {
  sy::test::reference_file ref("linear.safetensors");
  auto const xt = ref.get("case5.x");  // f32 weights with bias, GEMM path (9 rows)
  auto const T = xt.shape[0], K = xt.shape[1];
  auto const x = xt.as<float>();
  auto const wt = ref.get("case5.weight");
  auto const N = wt.shape[0];
  auto const w = wt.as<float>();
  auto const b = ref.get("case5.bias").as<float>();
  auto const want = ref.get("case5.y").as<float>();
  sy::buffer<float> y(static_cast<std::size_t>(T * N));
  sy::linear<float>(sy::make_view(w.data(), N, K), sy::make_view(b.data(), N))(sy::make_view(x.data(), T, K), y.view(T, N));
  for (std::int64_t i = 0; i < T * N; ++i) {
    double mag = std::fabs(b[i % N]);
    for (std::int64_t k = 0; k < K; ++k) mag += std::fabs(x[(i / N) * K + k] * w[(i % N) * K + k]);
    REQUIRE(std::fabs(y[i] - want[i]) <= sy::test::tolerance::linear(K) * mag);
  }
}

TEST_CASE("the scalar build's rms_norm matches torch", "[portable]") {
  sy::test::reference_file ref("rms_norm.safetensors");
  auto const xt = ref.get("case1.x");
  auto const rows = xt.shape[0], n = xt.shape[1];
  auto const x = xt.as<float>();
  auto const w = ref.get("case1.weight").as<float>();
  auto const want = ref.get("case1.y").as<float>();
  sy::buffer<float> y(static_cast<std::size_t>(rows * n));
  sy::norm::rms_norm(sy::make_view(x.data(), rows, n), sy::make_view(w.data(), n), y.view(rows, n),
                     ref.get("case1.eps").as<float>()[0]);
  for (std::int64_t i = 0; i < rows * n; ++i)
    REQUIRE(std::fabs(y[i] - want[i]) <= sy::test::tolerance::rms_norm(n) * std::fabs(want[i]));
}

// int8 activations (q8_0's pairs and q4_0's chunks have portable twins): the scalar build must
// give the f32 path's answer within the activation rounding, and not the f32 path itself.
template <class F>
static void check_portable_int8(std::int64_t N, std::int64_t kblocks) {
  constexpr int B = sy::format::traits<F>::block_elems;
  std::int64_t const K = kblocks * B;
  std::mt19937 g(5);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<F> q(static_cast<std::size_t>(N * kblocks));
  float buf[B];
  for (auto& blk : q) {
    for (auto& v : buf) v = d(g);
    sy::format::traits<F>::quantize(buf, &blk);
  }
  auto const wv = sy::make_view(static_cast<F const*>(q.data()), N, kblocks);
  for (std::int64_t T : {1, 5, 13}) {  // 13: the int8 GEMM (linear/host/int8_gemm.hpp), portable path
    std::vector<float> x(static_cast<std::size_t>(T * K)), y(static_cast<std::size_t>(T * N)), want(y.size());
    for (auto& v : x) v = d(g);
    sy::linear<F> const fast(wv, {}, sy::activations::int8), exact(wv);
    fast(sy::make_view(static_cast<float const*>(x.data()), T, K), sy::make_view(y.data(), T, N));
    exact(sy::make_view(static_cast<float const*>(x.data()), T, K), sy::make_view(want.data(), T, N));
    double num = 0, den = 0;
    for (std::size_t i = 0; i < y.size(); ++i) num += (y[i] - want[i]) * double(y[i] - want[i]), den += double(want[i]) * want[i];
    INFO(sy::format::traits<F>::name << " T = " << T << ": NMSE " << num / den);
    CHECK(num / den < sy::test::tolerance::int8_activations_nmse);
    CHECK(num / den > 0.0);
  }
}

TEST_CASE("the scalar build's int8-activation GEMV and GEMM stay within the activation rounding", "[portable]") {
  check_portable_int8<sy::format::q8_0>(37, 9);
  check_portable_int8<sy::format::q4_0>(37, 9);
  check_portable_int8<sy::format::q4_K>(37, 2);
}

// mxfp4 (a format with its own vector tiles elsewhere): the scalar build's GEMV and GEMM equal a
// float64 product on the dequantized weights.
TEST_CASE("the scalar build's linear<mxfp4> matches a float64 product", "[portable]") {
  using F = sy::format::mxfp4;
  std::int64_t const N = 13, K = 96;
  std::mt19937 g(9);
  std::uniform_int_distribution<int> byte(0, 255);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<F> q(static_cast<std::size_t>(N * K / 32));
  for (auto& blk : q) {
    blk.e = static_cast<std::uint8_t>(120 + byte(g) % 10);
    for (auto& c : blk.qs) c = static_cast<std::uint8_t>(byte(g));
  }
  std::vector<float> w(static_cast<std::size_t>(N * K));
  for (std::size_t b = 0; b < q.size(); ++b) sy::format::traits<F>::dequantize(&q[b], w.data() + 32 * b);
  sy::linear<F> const layer(sy::make_view(static_cast<F const*>(q.data()), N, K / 32));
  for (std::int64_t T : {1, 3, 12}) {
    std::vector<float> x(static_cast<std::size_t>(T * K)), y(static_cast<std::size_t>(T * N));
    for (auto& v : x) v = d(g);
    layer(sy::make_view(static_cast<float const*>(x.data()), T, K), sy::make_view(y.data(), T, N));
    for (std::int64_t i = 0; i < T * N; ++i) {
      double want = 0, mag = 0;
      for (std::int64_t k = 0; k < K; ++k) {
        double const p = double(x[(i / N) * K + k]) * w[(i % N) * K + k];
        want += p, mag += std::fabs(p);
      }
      REQUIRE(std::fabs(y[i] - want) <= sy::test::tolerance::linear(K) * mag);
    }
  }
}
