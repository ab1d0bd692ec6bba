// linear<F> with int8 activations (every GGUF block type, int4 groups) against f32 activations on the same
// blocks, on any thread count; the formats that take no int8 or bf16 activations refuse them.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "support/poison.hpp"
#include "support/quantize_rows.hpp"
#include "support/tolerance.hpp"
#include "switchyard/core/format/gguf.hpp"
#include "switchyard/core/format/q2_q3_K.hpp"
#include "switchyard/core/format/iq4.hpp"
#include "switchyard/core/format/int4.hpp"
#include "switchyard/linear/linear.hpp"

namespace sy = switchyard;
namespace fmt = switchyard::format;
namespace tol = sy::test::tolerance;
using sy::index_t;
using sy::test::quantize_rows;

// int8 activations: x rounded per weight block (B elements) to 8 bits. Against exact f32 on the same blocks,
// the output's NMSE is about the activation rounding's (tolerance::int8_activations_nmse).
template <class F>
void check_int8_activations(index_t kblocks = 8) {
  constexpr int B = fmt::traits<F>::block_elems;
  index_t const N = 53, K = kblocks * B;
  std::mt19937 g(9);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> w(N * K);
  for (auto& v : w) v = d(g) / std::sqrt(float(K));
  auto [q, deq] = quantize_rows<F>(w, N, K);
  sy::linear<F> exact(sy::make_view(static_cast<F const*>(q.data()), N, K / B));
  sy::linear<F> fast(sy::make_view(static_cast<F const*>(q.data()), N, K / B), {}, sy::activations::int8);
  sy::thread_pool pool(2);
  for (index_t T : {1, 3, 8}) {
    std::vector<float> x(T * K), y(T * N), want(T * N);
    for (auto& v : x) v = d(g);
    sy::test::poison({y.data(), y.size()});
    fast(sy::make_view(static_cast<float const*>(x.data()), T, K), sy::make_view(y.data(), T, N), pool);
    exact(sy::make_view(static_cast<float const*>(x.data()), T, K), sy::make_view(want.data(), T, N), pool);
    double num = 0, den = 0;
    for (std::size_t i = 0; i < y.size(); ++i) num += (y[i] - want[i]) * double(y[i] - want[i]), den += double(want[i]) * want[i];
    INFO(fmt::traits<F>::name << " B = " << B << " K = " << K << " T = " << T << ": NMSE " << num / den);
    CHECK(num / den < tol::int8_activations_nmse);
    CHECK(num / den > 0.0);  // the rounding is real: this path is not the f32 one
    // Tight: the same products on the rounded activations in double (dequantized weights times
    // xq dx). The kernels sum integers exactly, so they differ from it by f32 rounding only.
    static_assert(sy::host::int8_activation_group<F> == B, "activations are rounded per weight block");
    sy::host::int8_activations xa;
    xa.quantize(sy::make_view(static_cast<float const*>(x.data()), T, K), B);
    for (index_t t = 0; t < T; ++t)  // the rounding itself: absmax / 127 per block, half to even
      for (index_t grp = 0; grp < K / B; ++grp) {
        float amax = 0.0f;
        for (index_t i = 0; i < B; ++i) amax = std::fmax(amax, std::fabs(x[t * K + grp * B + i]));
        float const dx = amax / 127.0f;
        REQUIRE(xa.scale[t * (K / B) + grp] == dx);
        std::int32_t sum = 0;
        for (index_t i = 0; i < B; ++i) {
          auto const want_q = static_cast<std::int8_t>(std::nearbyint(x[t * K + grp * B + i] * (1.0f / dx)));
          REQUIRE(xa.q[t * K + grp * B + i] == want_q);
          sum += want_q;
        }
        REQUIRE(xa.sum[t * (K / B) + grp] == sum);
      }
    for (index_t t = 0; t < T; ++t)
      for (index_t n = 0; n < N; ++n) {
        double ref = 0, mag = 0;
        for (index_t k = 0; k < K; ++k) {
          double const p = double(deq[n * K + k]) * xa.q[t * K + k] * xa.scale[t * (K / B) + k / B];
          ref += p, mag += std::fabs(p);
        }
        INFO(fmt::traits<F>::name << " B = " << B << " K = " << K << " t = " << t << " n = " << n);
        CHECK(std::fabs(y[t * N + n] - ref) <= tol::int8_activations_same_sums * mag);
      }
  }
}

TEST_CASE("int8 activations on q4_0, q8_0 and int4 groups stay within the activation rounding", "[quant][linear]") {
  // Every kernel layout (linear/host/int8_gemv_avx512.hpp): quad (q4_0, groups of 32; K / 32 not
  // a multiple of 4 leaves tail blocks), wide (groups of 128, 256), and the 128-bit path (64);
  // q8_0's pairs of blocks (q8_int8_gemv.hpp; an odd block count leaves one).
  check_int8_activations<fmt::q4_0>();
  check_int8_activations<fmt::q4_0>(11);
  check_int8_activations<fmt::int4_sym<32>>(7);
  check_int8_activations<fmt::int4_asym<32>>(12);
  check_int8_activations<fmt::int4_sym<128>>();
  check_int8_activations<fmt::int4_asym<128>>(5);
  check_int8_activations<fmt::int4_sym<256>>(3);
  check_int8_activations<fmt::int4_asym<64>>();
  check_int8_activations<fmt::q8_0>();
  check_int8_activations<fmt::q8_0>(11);
  check_int8_activations<fmt::q8_0>(1);
  // x's data above 16 KiB per call: several weight rows per pass (6 at T = 1, 2 at T = 3; 53
  // rows leave a remainder), with the per-stream prefetch.
  check_int8_activations<fmt::q4_0>(264);
  check_int8_activations<fmt::int4_sym<128>>(128);
  check_int8_activations<fmt::q8_0>(185);
  // q4_K: super blocks of 256, activations rounded per 256 (q4k_int8_gemv.hpp).
  check_int8_activations<fmt::q4_K>(1);
  check_int8_activations<fmt::q4_K>(5);
  check_int8_activations<fmt::q4_K>(16);
  // q5_K: the same kernel with a fifth bit per code.
  check_int8_activations<fmt::q5_K>(1);
  check_int8_activations<fmt::q5_K>(5);
  check_int8_activations<fmt::q5_K>(16);
  // q6_K: 16 sub-blocks of 16 with int8 scales (q6k_int8_gemv.hpp).
  check_int8_activations<fmt::q6_K>(1);
  check_int8_activations<fmt::q6_K>(5);
  check_int8_activations<fmt::q6_K>(16);
  // The formats unpacked to byte codes per 64 elements (unpacked_int8_gemv.hpp): blocks of 32 in
  // pairs (an odd count leaves a tail block; 185 blocks: several rows per pass); super-blocks of
  // 256 with integer scales (superblock_int8_gemv.hpp); on AVX2 builds, int8_gemv_avx2.hpp.
  check_int8_activations<fmt::q4_1>();
  check_int8_activations<fmt::q4_1>(11);
  check_int8_activations<fmt::q5_0>(11);
  check_int8_activations<fmt::q5_0>(185);
  check_int8_activations<fmt::q5_1>();
  check_int8_activations<fmt::q5_1>(185);
  check_int8_activations<fmt::iq4_nl>(1);
  check_int8_activations<fmt::iq4_nl>(11);
  check_int8_activations<fmt::q2_K>(1);
  check_int8_activations<fmt::q2_K>(16);
  check_int8_activations<fmt::q3_K>(5);
  check_int8_activations<fmt::q3_K>(16);
  check_int8_activations<fmt::iq4_xs>(1);
  check_int8_activations<fmt::iq4_xs>(16);
}

// The unpacked formats' portable integer sums (the path without AVX512-VNNI) against the kernel
// this build runs, and their unpacking against the format's own decode.
template <class F>
void check_unpacked_portable(index_t K) {
  constexpr int B = fmt::traits<F>::block_elems;
  index_t const N = 29;
  std::mt19937 g(41);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> w(N * K);
  for (auto& v : w) v = d(g) / std::sqrt(float(K));
  auto [q, deq] = quantize_rows<F>(w, N, K);
  F const* blocks = static_cast<F const*>(q.data());
  for (index_t b = 0; b < N * K / B; ++b) {  // value = d_g (u - Z) + m_g is the format's value
    std::uint8_t u[B];
    float dg[B / 16], mg[B / 16], want[B];
    sy::host::detail::int8_unpack<F>::scalar(blocks[b], u, dg, mg);
    fmt::traits<F>::dequantize(blocks + b, want);
    for (int i = 0; i < B; ++i) {
      float const got = dg[i / 16] * static_cast<float>(u[i] - sy::host::detail::int8_unpack<F>::Z) + mg[i / 16];
      INFO(fmt::traits<F>::name << " block " << b << " element " << i);
      REQUIRE(std::fabs(got - want[i]) <= 1e-6f * (1.0f + std::fabs(want[i])));
    }
  }
  sy::thread_pool pool(1);
  index_t constexpr T = 3;
  std::vector<float> x(T * K), y(T * N), y_portable(T * N), bias(N);
  for (auto& v : x) v = d(g);
  for (auto& v : bias) v = d(g);
  sy::linear<F> layer(sy::make_view(blocks, N, K / B), sy::make_view(static_cast<float const*>(bias.data()), N),
                      sy::activations::int8);
  sy::test::poison({y.data(), y.size()});
  sy::test::poison({y_portable.data(), y_portable.size()});
  layer(sy::make_view(static_cast<float const*>(x.data()), T, K), sy::make_view(y.data(), T, N), pool);
  sy::host::int8_activations xa;
  xa.quantize(sy::make_view(static_cast<float const*>(x.data()), T, K), B);
  sy::host::detail::unpacked_int8_rows_portable<T>(xa, blocks, K / B, K / B, bias.data(), y_portable.data(), N, 0, N);
  for (index_t i = 0; i < T * N; ++i) {
    INFO(fmt::traits<F>::name << " element " << i);
    CHECK(std::fabs(y[i] - y_portable[i]) <= 1e-5 * (1.0 + std::fabs(y_portable[i])));
  }
}

TEST_CASE("q4_1, q5_0, q5_1, iq4_nl, q2_K, q3_K, iq4_xs with int8 activations: unpacking and portable sums", "[quant][linear]") {
  check_unpacked_portable<fmt::q4_1>(32 * 23);
  check_unpacked_portable<fmt::q5_0>(32 * 24);
  check_unpacked_portable<fmt::q5_1>(32 * 23);
  check_unpacked_portable<fmt::iq4_nl>(32 * 24);
  check_unpacked_portable<fmt::q2_K>(768);
  check_unpacked_portable<fmt::q3_K>(768);
  check_unpacked_portable<fmt::iq4_xs>(768);
}

template <class F>
void check_kquant_portable() {
  // The build runs one of the two (the 512-bit kernel with AVX512-VNNI); the other is checked
  // here directly against it, so both stay tested on every machine.
  index_t const N = 29, K = 768;
  std::mt19937 g(31);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> w(N * K);
  for (auto& v : w) v = d(g) / std::sqrt(float(K));
  auto [q, deq] = quantize_rows<F>(w, N, K);
  sy::thread_pool pool(1);
  index_t constexpr T = 3;
  std::vector<float> x(T * K), y(T * N), y_portable(T * N);
  for (auto& v : x) v = d(g);
  std::vector<float> bias(N);
  for (auto& v : bias) v = d(g);
  sy::linear<F> with_bias(sy::make_view(static_cast<F const*>(q.data()), N, K / 256),
                                  sy::make_view(static_cast<float const*>(bias.data()), N), sy::activations::int8);
  sy::test::poison({y.data(), y.size()});
  sy::test::poison({y_portable.data(), y_portable.size()});
  with_bias(sy::make_view(static_cast<float const*>(x.data()), T, K), sy::make_view(y.data(), T, N), pool);
  sy::host::int8_activations xa;
  xa.quantize(sy::make_view(static_cast<float const*>(x.data()), T, K), 256);
  sy::host::detail::q4k_int8_lanes lanes;
  lanes.build(xa);
  sy::host::detail::q4k_int8_portable_rows<T, F>(lanes, xa.scale.data(), K, static_cast<F const*>(q.data()), K / 256,
                                              K / 256, bias.data(), y_portable.data(), N, 0, N);
  for (index_t i = 0; i < T * N; ++i) {
    INFO("element " << i);
    CHECK(std::fabs(y[i] - y_portable[i]) <= 1e-5 * (1.0 + std::fabs(y_portable[i])));
  }
}

TEST_CASE("q4_K and q5_K with int8 activations: the portable integer sums equal the kernel's", "[quant][linear]") {
  check_kquant_portable<fmt::q4_K>();
  check_kquant_portable<fmt::q5_K>();
}

TEST_CASE("q6_K with int8 activations: the portable integer sums equal the kernel's", "[quant][linear]") {
  index_t const N = 29, K = 768;
  std::mt19937 g(37);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> w(N * K);
  for (auto& v : w) v = d(g) / std::sqrt(float(K));
  auto [q, deq] = quantize_rows<fmt::q6_K>(w, N, K);
  sy::thread_pool pool(1);
  index_t constexpr T = 3;
  std::vector<float> x(T * K), y(T * N), y_portable(T * N), bias(N);
  for (auto& v : x) v = d(g);
  for (auto& v : bias) v = d(g);
  sy::linear<fmt::q6_K> layer(sy::make_view(static_cast<fmt::q6_K const*>(q.data()), N, K / 256),
                              sy::make_view(static_cast<float const*>(bias.data()), N), sy::activations::int8);
  sy::test::poison({y.data(), y.size()});
  sy::test::poison({y_portable.data(), y_portable.size()});
  layer(sy::make_view(static_cast<float const*>(x.data()), T, K), sy::make_view(y.data(), T, N), pool);
  sy::host::int8_activations xa;
  xa.quantize(sy::make_view(static_cast<float const*>(x.data()), T, K), 256);
  sy::host::detail::q6k_int8_sums xs;
  xs.build(xa);
  sy::host::detail::q6k_int8_portable_rows<T>(xa, xs, static_cast<fmt::q6_K const*>(q.data()), K / 256, K / 256,
                                              bias.data(), y_portable.data(), N, 0, N);
  for (index_t i = 0; i < T * N; ++i) {
    INFO("element " << i);
    CHECK(std::fabs(y[i] - y_portable[i]) <= 1e-5 * (1.0 + std::fabs(y_portable[i])));
  }
}

// Threads split the rows in chunks of ~64 KiB of weights: enough rows that several chunks run on
// the pool's other thread, whose tasks must read the calling thread's rounded activations (the
// per-thread scratch of block_gemv_int8). Every row is computed the same way wherever it runs:
// the results on 1 and 3 threads agree bit for bit, and with a fresh layer in between (scratch
// reused at another shape).
template <class F>
void check_int8_threads(index_t N, index_t K) {
  constexpr int B = fmt::traits<F>::block_elems;
  std::mt19937 g(21);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> w(N * K);
  for (auto& v : w) v = d(g) / std::sqrt(float(K));
  auto [q, deq] = quantize_rows<F>(w, N, K);
  sy::linear<F> layer(sy::make_view(static_cast<F const*>(q.data()), N, K / B), {}, sy::activations::int8);
  sy::thread_pool one(1), three(3);
  for (index_t T : {1, 3}) {
    std::vector<float> x(T * K), y1(T * N), y3(T * N);
    for (auto& v : x) v = d(g);
    sy::test::poison({y1.data(), y1.size()});
    sy::test::poison({y3.data(), y3.size()});
    layer(sy::make_view(static_cast<float const*>(x.data()), T, K), sy::make_view(y1.data(), T, N), one);
    layer(sy::make_view(static_cast<float const*>(x.data()), T, K), sy::make_view(y3.data(), T, N), three);
    for (index_t i = 0; i < T * N; ++i) {
      INFO(fmt::traits<F>::name << " B = " << B << " N = " << N << " K = " << K << " T = " << T << ": element " << i);
      REQUIRE(std::isfinite(y1[i]));
      REQUIRE(y3[i] == y1[i]);
    }
  }
}

TEST_CASE("int8 activations give the same rows on any thread count", "[quant][linear]") {
  check_int8_threads<fmt::q4_0>(3000, 256);
  check_int8_threads<fmt::int4_sym<128>>(2500, 512);
  check_int8_threads<fmt::int4_asym<64>>(2000, 256);
  check_int8_threads<fmt::q8_0>(2000, 224);
  check_int8_threads<fmt::q4_0>(1500, 128);  // the scratch again, at another shape
  check_int8_threads<fmt::q8_0>(1000, 96);
  check_int8_threads<fmt::q4_K>(1200, 512);
  check_int8_threads<fmt::q5_K>(1200, 512);
  check_int8_threads<fmt::q6_K>(1200, 512);
  check_int8_threads<fmt::q5_0>(1200, 512);
  check_int8_threads<fmt::q3_K>(1200, 512);
}

TEST_CASE("linear on block formats rejects bf16 activations", "[quant][linear]") {
  std::vector<fmt::q4_0> q(4);
  CHECK_THROWS_WITH(sy::linear<fmt::q4_0>(sy::make_view(static_cast<fmt::q4_0 const*>(q.data()), 2, 2), {}, sy::activations::bf16),
                    Catch::Contains("q4_0 weights take f32 activations or int8"));
  std::vector<fmt::mxfp4> k(4);  // no int8 kernel for mxfp4
  CHECK_THROWS_WITH(sy::linear<fmt::mxfp4>(sy::make_view(static_cast<fmt::mxfp4 const*>(k.data()), 2, 2), {}, sy::activations::int8),
                    Catch::Contains("mxfp4 weights take f32 activations"));
  std::vector<fmt::q3_K> k3(4);  // q3_K takes both
  CHECK_THROWS_WITH(sy::linear<fmt::q3_K>(sy::make_view(static_cast<fmt::q3_K const*>(k3.data()), 2, 2), {}, sy::activations::bf16),
                    Catch::Contains("q3_K weights take f32 activations or int8"));
}
