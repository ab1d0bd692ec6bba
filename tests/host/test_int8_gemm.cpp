// The int8-activation prefill GEMM (linear/host/int8_gemm.hpp) for q8_0, q4_0, q4_K, q5_K and
// q6_K, on every path this translation unit compiles and this CPU runs (AMX, AVX512-VNNI,
// AVX-VNNI, AVX2's vpmaddubsw emulation, portable): against a double-precision product on the *rounded* activations (integer sums are
// exact, so the bound is tight), at shapes that leave partial row groups and token tiles, on
// several threads, and against the int8 GEMV on rows both can take.
#include <catch2/catch.hpp>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "support/poison.hpp"
#include "support/quantize_rows.hpp"
#include "support/tolerance.hpp"
#include "switchyard/core/cpu_features.hpp"
#include "switchyard/core/format/gguf.hpp"
#include "switchyard/linear/host/int8_gemm.hpp"
#include "switchyard/linear/linear.hpp"

namespace sy = switchyard;
namespace fmt = switchyard::format;
namespace tol = sy::test::tolerance;
using sy::index_t;
using sy::host::int8_gemm_path;
using sy::test::quantize_rows;

namespace {

char const* path_name(int8_gemm_path p) {
  switch (p) {
    case int8_gemm_path::portable: return "portable";
    case int8_gemm_path::avx2: return "avx2";
    case int8_gemm_path::avx2_vnni: return "avx2_vnni";
    case int8_gemm_path::avx512_vnni: return "avx512_vnni";
    case int8_gemm_path::amx: return "amx";
  }
  return "?";
}

// Whether this CPU runs a compiled path (the binary is built for -march=native, but a path's
// instructions are checked anyway: a cross-built test binary may run elsewhere).
bool runnable(int8_gemm_path p) {
  auto const f = sy::detect_cpu_features();
  switch (p) {
    case int8_gemm_path::portable: return true;
    case int8_gemm_path::avx2: return f.avx2 && f.fma;
    case int8_gemm_path::avx2_vnni: return f.avx2 && f.fma && (f.avx_vnni || (f.avx512_vnni && f.avx512vl));
    case int8_gemm_path::avx512_vnni: return f.avx512f && f.avx512bw && f.avx512_vnni;
    case int8_gemm_path::amx: return sy::host::amx_int8_ready();
  }
  return false;
}

struct problem {
  std::vector<float> x, bias;
  std::vector<float> deq;
  std::vector<unsigned char> blocks;  // the F blocks' bytes
  index_t T, N, K;
};

template <class F>
problem make_problem(index_t T, index_t N, index_t kblocks, unsigned seed) {
  constexpr int B = fmt::traits<F>::block_elems;
  index_t const K = kblocks * B;
  std::mt19937 g(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> w(N * K);
  for (auto& v : w) v = d(g) / std::sqrt(float(K));
  auto [q, deq] = quantize_rows<F>(w, N, K);
  problem p{std::vector<float>(T * K), std::vector<float>(N), std::move(deq), {}, T, N, K};
  p.blocks.resize(q.size() * sizeof(F));
  std::memcpy(p.blocks.data(), q.data(), p.blocks.size());
  for (auto& v : p.x) v = d(g);
  for (auto& v : p.bias) v = d(g);
  return p;
}

template <class F>
sy::matrix_view<F const> weights(problem const& p) {
  return sy::make_view(reinterpret_cast<F const*>(p.blocks.data()), p.N, p.K / fmt::traits<F>::block_elems);
}

// y against sum_k deq[n, k] xq[t, k] dx[t, k / B] + bias[n] in double, relative to sum |terms|.
template <class F>
void check_against_rounded(problem const& p, std::vector<float> const& y, bool with_bias, std::string const& what) {
  constexpr int B = fmt::traits<F>::block_elems;
  sy::host::int8_activations xa;
  xa.quantize(sy::make_view(static_cast<float const*>(p.x.data()), p.T, p.K), B);
  for (index_t t = 0; t < p.T; ++t)
    for (index_t n = 0; n < p.N; ++n) {
      double ref = with_bias ? p.bias[n] : 0.0, mag = with_bias ? std::fabs(p.bias[n]) : 0.0;
      for (index_t k = 0; k < p.K; ++k) {
        double const term = double(p.deq[n * p.K + k]) * xa.q[t * p.K + k] * xa.scale[t * (p.K / B) + k / B];
        ref += term, mag += std::fabs(term);
      }
      INFO(what << " T = " << p.T << " N = " << p.N << " K = " << p.K << ": t = " << t << " n = " << n << " y = "
                << y[t * p.N + n] << " ref = " << ref);
      REQUIRE(std::isfinite(y[t * p.N + n]));
      CHECK(std::fabs(y[t * p.N + n] - ref) <= tol::int8_activations_same_sums * mag);
    }
}

template <int8_gemm_path P, class F>
void check_path(index_t T, index_t N, index_t kblocks, bool with_bias) {
  if constexpr (sy::host::int8_gemm_compiled<P>) {
    if (!runnable(P)) return;
    auto const p = make_problem<F>(T, N, kblocks, static_cast<unsigned>(T * 131 + N * 7 + kblocks));
    std::vector<float> y(T * N);
    sy::test::poison({y.data(), y.size()});
    sy::thread_pool pool(2);
    sy::host::block_gemm_int8<P>(sy::make_view(static_cast<float const*>(p.x.data()), T, p.K), weights<F>(p),
                                 with_bias ? p.bias.data() : nullptr, sy::make_view(y.data(), T, N), pool);
    check_against_rounded<F>(p, y, with_bias, std::string(fmt::traits<F>::name) + " " + path_name(P));
  }
}

template <class F>
void check_all_paths(index_t T, index_t N, index_t kblocks, bool with_bias = false) {
  check_path<int8_gemm_path::portable, F>(T, N, kblocks, with_bias);
  check_path<int8_gemm_path::avx2, F>(T, N, kblocks, with_bias);
  check_path<int8_gemm_path::avx2_vnni, F>(T, N, kblocks, with_bias);
  check_path<int8_gemm_path::avx512_vnni, F>(T, N, kblocks, with_bias);
  check_path<int8_gemm_path::amx, F>(T, N, kblocks, with_bias);
}

}  // namespace

TEST_CASE("the int8 GEMM equals the product on the rounded activations, every compiled path", "[quant][linear][int8_gemm]") {
  // Row groups are 8 (ymm, portable) or 2 x 16 (zmm) rows and token tiles 4: N = 53 and 5 leave
  // partial groups (5: fewer rows than one group), T = 9, 13, 37 partial tiles.
  for (index_t T : {9, 13, 37}) {
    check_all_paths<fmt::q8_0>(T, 53, 7);
    check_all_paths<fmt::q4_0>(T, 53, 11);
    check_all_paths<fmt::q4_K>(T, 53, 3);
    check_all_paths<fmt::q5_K>(T, 53, 3);
    check_all_paths<fmt::q6_K>(T, 53, 3);
  }
  check_all_paths<fmt::q8_0>(16, 5, 1, true);
  check_all_paths<fmt::q4_0>(12, 5, 2, true);
  check_all_paths<fmt::q4_K>(20, 5, 1, true);
  check_all_paths<fmt::q5_K>(20, 5, 1, true);
  check_all_paths<fmt::q6_K>(18, 5, 2, true);
  check_all_paths<fmt::q8_0>(64, 96, 32, true);  // K = 1024
  check_all_paths<fmt::q4_0>(64, 96, 32, true);
  check_all_paths<fmt::q4_K>(64, 96, 4, true);
  check_all_paths<fmt::q5_K>(64, 96, 4, true);
  check_all_paths<fmt::q6_K>(64, 96, 4, true);
}

// k-quant blocks of random bytes: every code (q5_K's 0..31, q6_K's 0..63 with its high bits),
// every sub-block scale and min (q6_K's int8 scales down to -128), small f16 super-block scales.
template <class F>
problem make_random_blocks(index_t T, index_t N, index_t kblocks, unsigned seed, float x_scale) {
  index_t const K = kblocks * 256;
  std::mt19937 g(seed);
  std::vector<F> q(static_cast<std::size_t>(N * kblocks));
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_real_distribution<float> u(0.5f, 1.5f);
  for (auto& b : q) {
    auto* bytes = reinterpret_cast<unsigned char*>(&b);
    for (std::size_t i = 0; i < sizeof(F); ++i) bytes[i] = static_cast<unsigned char>(byte(g));
    b.d = fmt::f16(u(g) * 1e-3f);
    if constexpr (requires { b.dmin; }) b.dmin = fmt::f16(u(g) * 1e-3f);
  }
  problem p{std::vector<float>(T * K), std::vector<float>(N), std::vector<float>(N * K), {}, T, N, K};
  for (std::size_t b = 0; b < q.size(); ++b) fmt::traits<F>::dequantize(&q[b], p.deq.data() + b * 256);
  p.blocks.resize(q.size() * sizeof(F));
  std::memcpy(p.blocks.data(), q.data(), p.blocks.size());
  // x_scale > 0: activations at +-x_scale, so every one rounds to +-127 (the largest products).
  std::normal_distribution<float> d(0.0f, 1.0f);
  for (index_t i = 0; i < T * K; ++i) p.x[i] = x_scale > 0 ? (byte(g) % 2 ? x_scale : -x_scale) : d(g);
  return p;
}

TEST_CASE("the int8 GEMM on k-quant blocks of random bytes: every code and scale, full-scale activations",
          "[quant][linear][int8_gemm]") {
  // q6_K's codes reach 63: the AVX2 emulation's single vpmaddubsw sums 2 x 63 x 127 per int16,
  // within range; activations at +-127 (all equal magnitudes) and at random reach the extremes.
  auto run = [&]<class F, int8_gemm_path P>(float x_scale) {
    if constexpr (sy::host::int8_gemm_compiled<P>) {
      if (!runnable(P)) return;
      index_t const T = 11, N = 37;
      auto const p = make_random_blocks<F>(T, N, 3, 9 + static_cast<unsigned>(P), x_scale);
      std::vector<float> y(T * N);
      sy::thread_pool pool(1);
      sy::host::block_gemm_int8<P>(sy::make_view(static_cast<float const*>(p.x.data()), T, p.K), weights<F>(p), nullptr,
                                   sy::make_view(y.data(), T, N), pool);
      check_against_rounded<F>(p, y, false, std::string(fmt::traits<F>::name) + " random bytes " + path_name(P));
    }
  };
  for (float x_scale : {0.0f, 3.0f}) {
    run.template operator()<fmt::q4_K, int8_gemm_path::portable>(x_scale);
    run.template operator()<fmt::q4_K, int8_gemm_path::avx2>(x_scale);
    run.template operator()<fmt::q4_K, int8_gemm_path::avx2_vnni>(x_scale);
    run.template operator()<fmt::q4_K, int8_gemm_path::avx512_vnni>(x_scale);
    run.template operator()<fmt::q4_K, int8_gemm_path::amx>(x_scale);
    run.template operator()<fmt::q5_K, int8_gemm_path::portable>(x_scale);
    run.template operator()<fmt::q5_K, int8_gemm_path::avx2>(x_scale);
    run.template operator()<fmt::q5_K, int8_gemm_path::avx2_vnni>(x_scale);
    run.template operator()<fmt::q5_K, int8_gemm_path::avx512_vnni>(x_scale);
    run.template operator()<fmt::q5_K, int8_gemm_path::amx>(x_scale);
    run.template operator()<fmt::q6_K, int8_gemm_path::portable>(x_scale);
    run.template operator()<fmt::q6_K, int8_gemm_path::avx2>(x_scale);
    run.template operator()<fmt::q6_K, int8_gemm_path::avx2_vnni>(x_scale);
    run.template operator()<fmt::q6_K, int8_gemm_path::avx512_vnni>(x_scale);
    run.template operator()<fmt::q6_K, int8_gemm_path::amx>(x_scale);
  }
}

TEST_CASE("the int8 GEMM's extreme codes: q8_0's -128..127 and activations at full scale", "[quant][linear][int8_gemm]") {
  // vpmaddubsw saturates int16 pair sums above 32767: the AVX2 emulation splits q8_0's offset
  // codes (up to 255) in nibbles. Weights at +-amax and activations at +-127 reach the extremes.
  index_t const T = 11, N = 19, K = 64;
  problem p{std::vector<float>(T * K), std::vector<float>(N), std::vector<float>(N * K), {}, T, N, K};
  std::vector<float> w(N * K);
  for (index_t i = 0; i < N * K; ++i) w[i] = (i % 3 == 0 ? -1.0f : 1.0f) * (i % 7 == 0 ? 1.0f : 0.999f);
  auto [q, deq] = quantize_rows<fmt::q8_0>(w, N, K);
  p.deq = deq;
  p.blocks.resize(q.size() * sizeof(fmt::q8_0));
  std::memcpy(p.blocks.data(), q.data(), p.blocks.size());
  for (index_t i = 0; i < T * K; ++i) p.x[i] = (i % 5 == 0 ? -2.0f : 2.0f);
  auto run = [&]<int8_gemm_path P>() {
    if constexpr (sy::host::int8_gemm_compiled<P>) {
      if (!runnable(P)) return;
      std::vector<float> y(T * N);
      sy::thread_pool pool(1);
      sy::host::block_gemm_int8<P>(sy::make_view(static_cast<float const*>(p.x.data()), T, K), weights<fmt::q8_0>(p), nullptr,
                                   sy::make_view(y.data(), T, N), pool);
      check_against_rounded<fmt::q8_0>(p, y, false, std::string("q8_0 extremes ") + path_name(P));
    }
  };
  run.template operator()<int8_gemm_path::portable>();
  run.template operator()<int8_gemm_path::avx2>();
  run.template operator()<int8_gemm_path::avx2_vnni>();
  run.template operator()<int8_gemm_path::avx512_vnni>();
  run.template operator()<int8_gemm_path::amx>();
}

// linear<F> with int8 activations: above gemv_max_rows the GEMM, at or below it the GEMV. On the
// same rows both are within the same bound of the rounded product; here directly against each other.
template <class F>
void check_gemm_vs_gemv(index_t N, index_t kblocks) {
  index_t const T = sy::host::gemv_max_rows;
  auto const p = make_problem<F>(T, N, kblocks, 77);
  sy::linear<F> layer(weights<F>(p), sy::make_view(static_cast<float const*>(p.bias.data()), N), sy::activations::int8);
  sy::thread_pool pool(2);
  std::vector<float> gemv(T * N), gemm(T * N);
  auto const xv = sy::make_view(static_cast<float const*>(p.x.data()), T, p.K);
  layer(xv, sy::make_view(gemv.data(), T, N), pool);  // T <= gemv_max_rows: the GEMV
  sy::host::block_gemm_int8(xv, weights<F>(p), p.bias.data(), sy::make_view(gemm.data(), T, N), pool);
  for (index_t t = 0; t < T; ++t)
    for (index_t n = 0; n < N; ++n) {
      double mag = std::fabs(p.bias[n]);
      for (index_t k = 0; k < p.K; ++k) mag += std::fabs(double(p.deq[n * p.K + k]) * p.x[t * p.K + k]);
      INFO(fmt::traits<F>::name << " t = " << t << " n = " << n);
      CHECK(std::fabs(gemm[t * N + n] - gemv[t * N + n]) <= 2 * tol::int8_activations_same_sums * mag);
    }
  // And linear itself takes the GEMM above gemv_max_rows: the same numbers as calling it.
  index_t const T2 = 3 * T + 1;
  auto const p2 = make_problem<F>(T2, N, kblocks, 78);
  sy::linear<F> layer2(weights<F>(p2), {}, sy::activations::int8);
  std::vector<float> via_linear(T2 * N), direct(T2 * N);
  auto const xv2 = sy::make_view(static_cast<float const*>(p2.x.data()), T2, p2.K);
  layer2(xv2, sy::make_view(via_linear.data(), T2, N), pool);
  sy::host::block_gemm_int8(xv2, weights<F>(p2), nullptr, sy::make_view(direct.data(), T2, N), pool);
  CHECK(via_linear == direct);
}

TEST_CASE("the int8 GEMM agrees with the int8 GEMV on rows both take; linear takes it for prefill", "[quant][linear][int8_gemm]") {
  check_gemm_vs_gemv<fmt::q8_0>(70, 9);
  check_gemm_vs_gemv<fmt::q4_0>(70, 9);
  check_gemm_vs_gemv<fmt::q4_K>(70, 2);
  check_gemm_vs_gemv<fmt::q5_K>(70, 2);
  check_gemm_vs_gemv<fmt::q6_K>(70, 2);
}

// Threads split row groups; every row is computed the same way wherever it runs, so 1 and 3
// threads agree bit for bit, and with a call at another shape in between (per-thread scratch).
template <class F>
void check_threads(index_t T, index_t N, index_t kblocks) {
  auto const p = make_problem<F>(T, N, kblocks, 5);
  sy::thread_pool one(1), three(3);
  std::vector<float> y1(T * N), y3(T * N);
  auto const xv = sy::make_view(static_cast<float const*>(p.x.data()), T, p.K);
  sy::host::block_gemm_int8(xv, weights<F>(p), p.bias.data(), sy::make_view(y1.data(), T, N), one);
  auto const other = make_problem<F>(10, 7, 1, 6);  // another shape through the same scratch
  std::vector<float> yo(10 * 7);
  sy::host::block_gemm_int8(sy::make_view(static_cast<float const*>(other.x.data()), 10, other.K), weights<F>(other), nullptr,
                            sy::make_view(yo.data(), 10, 7), three);
  sy::host::block_gemm_int8(xv, weights<F>(p), p.bias.data(), sy::make_view(y3.data(), T, N), three);
  CHECK(y1 == y3);
  check_against_rounded<F>(p, y3, true, std::string(fmt::traits<F>::name) + " on 3 threads");
}

TEST_CASE("the int8 GEMM gives the same rows on any thread count", "[quant][linear][int8_gemm]") {
  check_threads<fmt::q8_0>(33, 700, 8);
  check_threads<fmt::q4_0>(33, 700, 8);
  check_threads<fmt::q4_K>(33, 700, 1);
  check_threads<fmt::q5_K>(33, 700, 1);
  check_threads<fmt::q6_K>(33, 700, 1);
}

// AMX computes the VNNI tile's integer sums and applies its scales in the same order: the two
// agree bit for bit, at token counts that leave one- and two-tile tails and rows past a group.
template <class F>
void check_amx_equals_vnni(index_t T, index_t N, index_t kblocks) {
  if constexpr (sy::host::int8_gemm_compiled<int8_gemm_path::amx>) {
    if (!runnable(int8_gemm_path::amx)) return;
    auto const p = make_problem<F>(T, N, kblocks, static_cast<unsigned>(T + 3 * N));
    std::vector<float> amx(T * N), vnni(T * N);
    sy::test::poison({amx.data(), amx.size()});
    sy::thread_pool pool(2);
    auto const xv = sy::make_view(static_cast<float const*>(p.x.data()), T, p.K);
    sy::host::block_gemm_int8<int8_gemm_path::amx>(xv, weights<F>(p), p.bias.data(), sy::make_view(amx.data(), T, N), pool);
    sy::host::block_gemm_int8<int8_gemm_path::avx512_vnni>(xv, weights<F>(p), p.bias.data(), sy::make_view(vnni.data(), T, N),
                                                          pool);
    INFO(fmt::traits<F>::name << " T = " << T << " N = " << N);
    CHECK(amx == vnni);
  }
}

TEST_CASE("the AMX int8 GEMM equals the AVX512-VNNI one bit for bit", "[quant][linear][int8_gemm][amx]") {
  for (index_t T : {9, 16, 17, 32, 45, 64}) {
    check_amx_equals_vnni<fmt::q8_0>(T, 71, 5);
    check_amx_equals_vnni<fmt::q4_0>(T, 71, 5);
    check_amx_equals_vnni<fmt::q4_K>(T, 71, 2);
    check_amx_equals_vnni<fmt::q5_K>(T, 71, 2);
    check_amx_equals_vnni<fmt::q6_K>(T, 71, 2);
  }
}
