// linear<F> on block formats (q8_0, q4_0, q4_K, q6_K, int4 groups) computed from the packed
// blocks, against the same layer on the dequantized weights in f32 (the weights' values are then
// identical, so the f32 bound applies): GEMV rows 1..8 and GEMM rows 9..70, every ISA, with a
// bias; and a Mixtral-style MoE layer whose experts are q4_0 / q4_K blocks against the same layer
// on their dequantized f32 weights.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "support/isas.hpp"
#include "support/poison.hpp"
#include "support/tolerance.hpp"
#include "switchyard/core/format/gguf.hpp"
#include "switchyard/core/format/int4.hpp"
#include "switchyard/expert/glu_experts.hpp"
#include "switchyard/expert/moe.hpp"
#include "switchyard/linear/linear.hpp"
#include "switchyard/linear/quantize.hpp"
#include "switchyard/linear/scaled_linear.hpp"
#include "switchyard/route/families.hpp"

namespace sy = switchyard;
namespace fmt = switchyard::format;
namespace tol = sy::test::tolerance;
using sy::index_t;

namespace {

// Quantizes rows of w [N, K] into blocks [N, K / B]; returns the blocks and their dequantized f32.
template <class F>
std::pair<std::vector<F>, std::vector<float>> quantize_rows(std::vector<float> const& w, index_t N, index_t K) {
  constexpr int B = fmt::traits<F>::block_elems;
  std::vector<F> q(static_cast<std::size_t>(N * K / B));
  std::vector<float> deq(w.size());
  for (std::size_t b = 0; b < q.size(); ++b) {
    fmt::traits<F>::quantize(w.data() + b * B, &q[b]);
    fmt::traits<F>::dequantize(&q[b], deq.data() + b * B);
  }
  return {std::move(q), std::move(deq)};
}

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
}

TEST_CASE("linear on block formats rejects bf16 activations", "[quant][linear]") {
  std::vector<fmt::q4_0> q(4);
  CHECK_THROWS_WITH(sy::linear<fmt::q4_0>(sy::make_view(static_cast<fmt::q4_0 const*>(q.data()), 2, 2), {}, sy::activations::bf16),
                    Catch::Contains("q4_0 weights take f32 activations or int8"));
  std::vector<fmt::q4_K> k(4);
  CHECK_THROWS_WITH(sy::linear<fmt::q4_K>(sy::make_view(static_cast<fmt::q4_K const*>(k.data()), 2, 2), {}, sy::activations::int8),
                    Catch::Contains("q4_K weights take f32 activations"));
}

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
