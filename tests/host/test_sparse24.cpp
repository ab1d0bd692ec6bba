// 2:4 sparse weights (format::sparse24<E>): the conversion keeps the two largest magnitudes of
// every group of 4 and nothing else, round-trips weights that are already 2:4, and linear<> on the
// compressed blocks equals the dense layer on the same (pruned) weights -- decode rows through the
// sparse GEMV kernel of this build, prefill rows through the block GEMM.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "support/poison.hpp"
#include "support/quantize_rows.hpp"
#include "support/tolerance.hpp"
#include "switchyard/core/format/sparse24.hpp"
#include "switchyard/linear/linear.hpp"

namespace sy = switchyard;
namespace fmt = switchyard::format;
namespace tol = sy::test::tolerance;
using sy::index_t;

namespace {

template <class E>
float as_e(float v) {
  return fmt::scalar_traits<E, fmt::detail::sparse24_f32_name>::to_float(fmt::scalar_traits<E, fmt::detail::sparse24_f32_name>::from_float(v));
}

template <class E>
void check_conversion() {
  using Tr = fmt::traits<fmt::sparse24<E>>;
  std::mt19937 g(3);
  std::normal_distribution<float> d(0.0f, 1.0f);
  for (int trial = 0; trial < 200; ++trial) {
    float x[32], out[32];
    for (auto& v : x) v = d(g);
    if (trial % 3 == 1)  // groups with fewer than two non-zeros (one, none), and ties
      for (int i = 0; i < 32; ++i)
        if (i % 3 == 0 || i < 4 || (i >= 8 && i < 11)) x[i] = 0.0f;
    if (trial % 3 == 2)
      for (int i = 0; i < 32; ++i) x[i] = (i % 4 == 1 || i % 4 == 2) ? 1.0f : 0.0f;
    fmt::sparse24<E> b;
    Tr::quantize(x, &b);
    Tr::dequantize(&b, out);
    for (int grp = 0; grp < 8; ++grp) {
      INFO(Tr::name << " trial " << trial << " group " << grp);
      // Kept: two distinct ascending positions, and they are the two largest magnitudes.
      int const p0 = Tr::position(&b, 2 * grp) - 4 * grp, p1 = Tr::position(&b, 2 * grp + 1) - 4 * grp;
      REQUIRE((0 <= p0 && p0 < p1 && p1 < 4));
      int nonzero = 0;
      for (int i = 0; i < 4; ++i) {
        float const got = out[4 * grp + i], src = x[4 * grp + i];
        nonzero += got != 0.0f;
        if (i == p0 || i == p1) {
          CHECK(got == as_e<E>(src));
          for (int j = 0; j < 4; ++j)  // nothing dropped is larger than what is kept
            if (j != p0 && j != p1) CHECK(std::fabs(x[4 * grp + j]) <= std::fabs(src));
        } else {
          CHECK(got == 0.0f);
        }
      }
      CHECK(nonzero <= 2);
    }
    // Already 2:4 (and representable in E): the conversion is exact.
    fmt::sparse24<E> again;
    Tr::quantize(out, &again);
    float back[32];
    Tr::dequantize(&again, back);
    for (int i = 0; i < 32; ++i) CHECK(back[i] == out[i]);
  }
}

// y = x W^T + bias against the dense f32 layer on the decompressed weights; T decode rows (the
// GEMV kernel) or prefill rows (block GEMM).
template <class E>
void check_layer(index_t T, index_t N, index_t K) {
  std::mt19937 g(static_cast<unsigned>(11 + T + N + K));
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> w(static_cast<std::size_t>(N * K)), x(static_cast<std::size_t>(T * K)), bias(static_cast<std::size_t>(N));
  for (auto& v : w) v = d(g) / std::sqrt(float(K));
  for (auto& v : x) v = d(g);
  for (auto& v : bias) v = d(g);
  auto [blocks, dense] = sy::test::quantize_rows<fmt::sparse24<E>>(w, N, K);
  sy::thread_pool pool(2);
  sy::linear<fmt::sparse24<E>> sparse(sy::make_view(static_cast<fmt::sparse24<E> const*>(blocks.data()), N, K / 32),
                                      sy::make_view(static_cast<float const*>(bias.data()), N));
  std::vector<float> y(static_cast<std::size_t>(T * N));
  sy::test::poison({y.data(), y.size()});
  sparse(sy::make_view(static_cast<float const*>(x.data()), T, K), sy::make_view(y.data(), T, N), pool);
  for (index_t t = 0; t < T; ++t)
    for (index_t n = 0; n < N; ++n) {
      double ref = bias[static_cast<std::size_t>(n)], mag = std::fabs(bias[static_cast<std::size_t>(n)]);
      for (index_t k = 0; k < K; ++k) {
        double const p = double(dense[static_cast<std::size_t>(n * K + k)]) * x[static_cast<std::size_t>(t * K + k)];
        ref += p, mag += std::fabs(p);
      }
      INFO(fmt::traits<fmt::sparse24<E>>::name << " T " << T << " N " << N << " K " << K << " row " << t << " col " << n);
      CHECK(std::fabs(y[static_cast<std::size_t>(t * N + n)] - ref) <= tol::linear(K) * mag);
    }
}

}  // namespace

TEMPLATE_TEST_CASE("sparse24 conversion is 2:4 magnitude pruning and exact on 2:4 weights", "[sparse][format]", float,
                   fmt::bf16, fmt::f16) {
  check_conversion<TestType>();
}

TEMPLATE_TEST_CASE("linear<sparse24> equals the dense layer on the pruned weights", "[sparse][linear]", float, fmt::bf16,
                   fmt::f16) {
  for (index_t T : {1, 3, 8}) check_layer<TestType>(T, 37, 32 * 9);
  check_layer<TestType>(1, 200, 32);
  check_layer<TestType>(2, 64, 32 * 130);  // x past 16 KiB: R rows per pass (4 for T <= 2, 2 for T <= 4)
  check_layer<TestType>(1, 37, 32 * 130);
  check_layer<TestType>(3, 37, 32 * 43);
  check_layer<TestType>(4, 37, 32 * 33);
  check_layer<TestType>(20, 45, 32 * 5);  // prefill: the block GEMM
}
