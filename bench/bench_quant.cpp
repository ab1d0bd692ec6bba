// linear<F> on block formats at MoE expert shapes: decode GEMV as GB/s of packed weight bytes
// against the read bandwidth, on 1 and N threads; prefill GEMM at 128 and 512 rows as GFLOP/s
// against the FMA peak. Limits measured in this same run. The GEMV cycles through enough weight
// copies (>= 256 MiB, 8x this machine's L3) that every call streams its weights from memory.
//
//   bench_quant [gemv|target|kquant|ksmall|sparse|mxfp4|gemm|prefill|prefill_k|all] [reps]   (target: the formats of issue 5's GEMV target only;
//                                                     kquant: every GGUF block type, f32 and int8 activations;
//                                                     ksmall: int8 activations only, q2_K / q3_K / iq4_xs
//                                                     beside q4_K / q6_K;
//                                                     sparse: 2:4 sparse24<E> against dense E
//                                                     (bf16, f16, f32), f32 activations;
//                                                     mxfp4: mxfp4 beside q4_0, GEMV and GEMM;
//                                                     prefill: f32 vs int8 activations at the peers
//                                                     model's expert shapes, 1 and N threads;
//                                                     prefill_k: the same for q5_K / q6_K, the
//                                                     formats Q4_K_M files keep, 1 thread)
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "bench_util.hpp"
#include "switchyard/core/format/gguf.hpp"
#include "switchyard/core/format/int4.hpp"
#include "switchyard/core/format/mxfp4.hpp"
#include "switchyard/core/format/q2_q3_K.hpp"
#include "switchyard/core/format/iq4.hpp"
#include "switchyard/core/format/sparse24.hpp"
#include "switchyard/linear/linear.hpp"
#include "switchyard/linear/scaled_linear.hpp"

namespace sy = switchyard;
namespace fmt = switchyard::format;
using sy::index_t;

namespace {

struct shape {
  char const* name;
  index_t N, K;
};
constexpr shape shapes[] = {{"mixtral up 14336x4096", 14336, 4096}, {"mixtral down 4096x14336", 4096, 14336},
                            {"qwen3 up 768x2048", 768, 2048}, {"qwen3 down 2048x768", 2048, 768}};

template <class F>
std::vector<F> random_blocks(index_t N, index_t K, sy::thread_pool& pool) {
  constexpr int B = fmt::traits<F>::block_elems;
  std::vector<F> q(static_cast<std::size_t>(N * K / B));
  pool.parallel_for(0, static_cast<index_t>(q.size()), 256, [&](index_t lo, index_t hi) {
    std::mt19937 g(static_cast<unsigned>(lo));
    std::normal_distribution<float> d(0.0f, 0.02f);
    float buf[B];
    for (index_t b = lo; b < hi; ++b) {
      for (auto& v : buf) v = d(g);
      fmt::traits<F>::quantize(buf, &q[static_cast<std::size_t>(b)]);
    }
  });
  return q;
}

// Times y = x W^T at T = 1 on 1 and N threads, cycling through enough copies of `base` (>= 256
// MiB) that every call streams its weights from memory; run(weights, x, y, pool) makes the layer
// on one copy and applies it. Prints GB/s of `bytes` (packed weights and their scales).
//
// Each of `reps` rounds is a pair: a plain read of the next batch of copies (bench::read_through,
// same threads), then the layer on the batch after it. A batch is as many calls as make >= 8 MiB,
// so a 40 us call is timed over a dozen calls rather than alone against the clock. Columns:
//   %bw     median call against the best of the big probe at the start (a fixed limit);
//   best    best call against that same limit;
//   paired  median over rounds of (layer GB/s / read GB/s in the same round): the fraction of
//           what the machine gave at that moment, so other tenants' traffic cancels out;
//   p25-p75 the quartiles of that ratio.
template <class E, class Run>
void time_gemv(shape s, std::string const& name, std::vector<E> const& base, std::size_t bytes, sy::thread_pool& one,
               sy::thread_pool& all, double bw1, double bwn, int reps, Run const& run) {
  std::size_t const copies = std::max<std::size_t>(4, (std::size_t{256} << 20) / bytes + 1);
  std::size_t const batch = std::min(copies / 4, std::max<std::size_t>(1, ((std::size_t{8} << 20) + bytes - 1) / bytes));
  std::size_t const copy_bytes = base.size() * sizeof(E);
  std::vector<E> w(base.size() * copies);
  for (std::size_t c = 0; c < copies; ++c) std::memcpy(w.data() + c * base.size(), base.data(), copy_bytes);
  std::vector<float> x(static_cast<std::size_t>(s.K)), y(static_cast<std::size_t>(s.N));
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.1f * float(i));
  std::uint64_t keep = 0;
  for (int threads = 0; threads < 2; ++threads) {
    sy::thread_pool& pool = threads == 0 ? one : all;
    std::size_t c = 0;
    auto next = [&] { return static_cast<E const*>(w.data()) + (c++ % copies) * base.size(); };
    auto layer_batch = [&] {
      for (std::size_t i = 0; i < batch; ++i)
        run(next(), sy::make_view(static_cast<float const*>(x.data()), 1, s.K), sy::make_view(y.data(), 1, s.N), pool);
    };
    auto read_batch = [&] {
      for (std::size_t i = 0; i < batch; ++i) keep ^= bench::read_through(pool, next(), copy_bytes);
    };
    layer_batch(), read_batch();  // warm-up: code, pool, page tables
    std::vector<double> call, ratio;
    for (int r = 0; r < reps; ++r) {
      auto const t0 = std::chrono::steady_clock::now();
      read_batch();
      auto const t1 = std::chrono::steady_clock::now();
      layer_batch();
      auto const t2 = std::chrono::steady_clock::now();
      double const t_read = std::chrono::duration<double>(t1 - t0).count();
      double const t_layer = std::chrono::duration<double>(t2 - t1).count();
      double const read_gbs = double(copy_bytes / 4096 * 4096) * double(batch) / t_read;
      call.push_back(t_layer / double(batch));
      ratio.push_back(double(bytes) / call.back() / read_gbs);
    }
    std::sort(call.begin(), call.end());
    std::sort(ratio.begin(), ratio.end());
    auto q = [](std::vector<double> const& v, double f) { return v[static_cast<std::size_t>(f * double(v.size() - 1) + 0.5)]; };
    double const median = q(call, 0.5);
    double const gbs = double(bytes) / median;
    double const limit = threads == 0 ? bw1 : bwn;
    std::printf("%-24s %-12s %2d %9.3f %6.0f%% %7.1f %6.1f%% %6.1f%% %6.1f%% %5.0f-%.0f%%\n", s.name, name.c_str(), pool.size(),
                median * 1e3, (call.back() - call.front()) / median * 100, gbs * 1e-9, gbs / limit * 100,
                double(bytes) / call.front() / limit * 100, q(ratio, 0.5) * 100, q(ratio, 0.25) * 100, q(ratio, 0.75) * 100);
  }
  if (keep == 0x5eed) std::printf(" ");  // the reads' result is used
}

template <class F>
void gemv_row(shape s, sy::thread_pool& one, sy::thread_pool& all, double bw1, double bwn, int reps,
              sy::activations act = sy::activations::f32) {
  constexpr int B = fmt::traits<F>::block_elems;
  auto const base = random_blocks<F>(s.N, s.K, all);
  std::string const name = std::string(fmt::traits<F>::name) + (act == sy::activations::int8 ? "/i8" : "");
  time_gemv(s, name, base, base.size() * sizeof(F), one, all, bw1, bwn, reps,
            [&](F const* w, sy::matrix_view<float const> x, sy::matrix_view<float> y, sy::thread_pool& pool) {
              sy::linear<F>(sy::make_view(w, s.N, s.K / B), {}, act)(x, y, pool);
            });
}

// Every GGUF block type, with f32 activations and, where linear<F> takes them, int8 (q8_0 / q8_K
// rounding, as llama.cpp computes them).
template <class... F>
void gguf_types_rows_of(shape s, sy::thread_pool& one, sy::thread_pool& all, double bw1, double bwn, int reps) {
  auto row = [&]<class G>() {
    gemv_row<G>(s, one, all, bw1, bwn, reps);
    if constexpr (sy::linear<G>::takes_int8) gemv_row<G>(s, one, all, bw1, bwn, reps, sy::activations::int8);
  };
  (row.template operator()<F>(), ...);
}
void gguf_types_rows(shape s, sy::thread_pool& one, sy::thread_pool& all, double bw1, double bwn, int reps) {
  gguf_types_rows_of<fmt::q8_0, fmt::q4_0, fmt::q4_1, fmt::q5_0, fmt::q5_1, fmt::q2_K, fmt::q3_K, fmt::q4_K, fmt::q5_K,
                     fmt::q6_K, fmt::iq4_nl, fmt::iq4_xs, fmt::mxfp4>(s, one, all, bw1, bwn, reps);
}

// int8 / fp8 codes with per-channel scales (scaled_linear).
template <class E>
void gemv_scaled_row(shape s, sy::thread_pool& one, sy::thread_pool& all, double bw1, double bwn, int reps,
                     sy::activations act = sy::activations::f32) {
  std::vector<E> base(static_cast<std::size_t>(s.N * s.K));
  std::mt19937 g(1);
  std::normal_distribution<float> d(0.0f, 0.3f);
  for (auto& v : base) v = fmt::traits<E>::from_float(d(g) * 100.0f);
  std::vector<float> scales(static_cast<std::size_t>(s.N), 0.01f);
  time_gemv(s, std::string(fmt::traits<E>::name) + (act == sy::activations::int8 ? "/ch/w8a8" : "/ch"), base,
            base.size() * sizeof(E) + scales.size() * sizeof(float),
            one, all, bw1, bwn, reps,
            [&](E const* w, sy::matrix_view<float const> x, sy::matrix_view<float> y, sy::thread_pool& pool) {
              sy::scaled_linear<E>(sy::make_view(w, s.N, s.K), sy::scale_granularity::per_channel,
                                   sy::make_view(static_cast<float const*>(scales.data()), s.N, 1), {}, act)(x, y, pool);
            });
}

template <class F>
void gemm_row(shape s, index_t T, sy::thread_pool& pool, double peak, int reps,
              sy::activations act = sy::activations::f32, double int8_peak = 0.0) {
  constexpr int B = fmt::traits<F>::block_elems;
  auto const w = random_blocks<F>(s.N, s.K, pool);
  std::vector<float> x(static_cast<std::size_t>(T * s.K)), y(static_cast<std::size_t>(T * s.N));
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.1f * float(i));
  sy::linear<F> layer(sy::make_view(static_cast<F const*>(w.data()), s.N, s.K / B), {}, act);
  auto const t = bench::time_it(reps, [&] {
    layer(sy::make_view(static_cast<float const*>(x.data()), T, s.K), sy::make_view(y.data(), T, s.N), pool);
  });
  double const gf = 2.0 * double(T) * s.N * s.K / t.median;
  std::string const name = std::string(fmt::traits<F>::name) + (act == sy::activations::int8 ? "/i8" : "");
  std::printf("%-24s %-9s %4lld %9.2f %6.0f%% %7.1f %6.1f%%", s.name, name.c_str(), (long long)T, t.median * 1e3,
              t.spread() * 100, gf * 1e-9, gf / peak * 100);
  if (act == sy::activations::int8 && int8_peak > 0) std::printf(" %6.1f%% of the vpdpbusd peak", gf / int8_peak * 100);
  std::printf("\n");
}

// Prefill at the Mixtral-like peers model's expert shapes (hidden 1024, expert FFN 2816; 512
// tokens top-2 over 8 experts: ~128 rows per expert): f32 against int8 activations.
constexpr shape prefill_shapes[] = {{"peers gate_up 5632x1024", 5632, 1024}, {"peers down 1024x2816", 1024, 2816}};

template <class F>
void prefill_pair(shape s, index_t T, sy::thread_pool& pool, double peak, double int8_peak, int reps) {
  gemm_row<F>(s, T, pool, peak, reps);
  gemm_row<F>(s, T, pool, peak, reps, sy::activations::int8, int8_peak);
}

// The matrices llama-quantize's Q4_K_M keeps in q6_K (LM head, attention V, some FFN down) and
// q5_K (attention output), at the peers model's shapes (vocabulary 32000, hidden 1024, FFN 2816).
constexpr shape prefill_k_q6[] = {{"peers head 32000x1024", 32000, 1024}, {"peers down 1024x2816", 1024, 2816}};
constexpr shape prefill_k_q5[] = {{"peers attn_out 1024x1024", 1024, 1024}, {"peers down 1024x2816", 1024, 2816}};

// W8A8 prefill: int8 codes with per-channel scales, activations quantized per token.
void gemm_w8a8_row(shape s, index_t T, sy::thread_pool& pool, double peak, int reps) {
  std::vector<std::int8_t> codes(static_cast<std::size_t>(s.N * s.K));
  std::mt19937 g(1);
  std::normal_distribution<float> d(0.0f, 30.0f);
  for (auto& v : codes) v = fmt::traits<std::int8_t>::from_float(d(g));
  std::vector<float> scales(static_cast<std::size_t>(s.N), 0.01f);
  std::vector<float> x(static_cast<std::size_t>(T * s.K)), y(static_cast<std::size_t>(T * s.N));
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.1f * float(i));
  sy::scaled_linear<std::int8_t> layer(sy::make_view(static_cast<std::int8_t const*>(codes.data()), s.N, s.K),
                                       sy::scale_granularity::per_channel,
                                       sy::make_view(static_cast<float const*>(scales.data()), s.N, 1), {},
                                       sy::activations::int8);
  auto const t = bench::time_it(reps, [&] {
    layer(sy::make_view(static_cast<float const*>(x.data()), T, s.K), sy::make_view(y.data(), T, s.N), pool);
  });
  double const ops = 2.0 * double(T) * s.N * s.K / t.median;
  std::printf("%-24s %-9s %4lld %9.2f %6.0f%% %7.1f %6.1f%% of the vpdpbusd peak\n", s.name, "w8a8", (long long)T,
              t.median * 1e3, t.spread() * 100, ops * 1e-9, peak > 0 ? ops / peak * 100 : 0.0);
}

}  // namespace

int main(int argc, char** argv) {
  sy::simd::ensure_native_supported();
  std::string const what = argc > 1 ? argv[1] : "all";
  int const reps = argc > 2 ? std::atoi(argv[2]) : 9;
  auto& all = sy::thread_pool::shared();
  sy::thread_pool one(1);
  if (what == "all" || what == "gemv" || what == "target" || what == "mxfp4" || what == "kquant" || what == "ksmall" || what == "sparse") {
    double const bw1 = bench::read_bandwidth(one), bwn = bench::read_bandwidth(all);
    std::printf("GEMV, T = 1. read bandwidth %.1f GB/s (1 thread), %.1f GB/s (%d threads)\n", bw1 * 1e-9, bwn * 1e-9,
                all.size());
    std::printf("%-24s %-12s %2s %9s %7s %7s %7s %7s %7s %9s\n", "shape", "format", "th", "median_ms", "spread", "GB/s", "%bw",
                "best", "paired", "p25-p75");
    for (auto const& s : shapes) {
      if (what == "target") {  // issue 5's 70% target: q8_0, q4_0 and int4 g128 (int8 activations)
        gemv_row<fmt::q8_0>(s, one, all, bw1, bwn, reps);
        gemv_row<fmt::q8_0>(s, one, all, bw1, bwn, reps, sy::activations::int8);
        gemv_row<fmt::q4_0>(s, one, all, bw1, bwn, reps, sy::activations::int8);
        gemv_row<fmt::int4_sym<128>>(s, one, all, bw1, bwn, reps, sy::activations::int8);
        continue;
      }
      if (what == "sparse") {  // 2:4 pruning's decode speed: compressed blocks against the dense weights
        gemv_row<fmt::bf16>(s, one, all, bw1, bwn, reps);
        gemv_row<fmt::sparse24<fmt::bf16>>(s, one, all, bw1, bwn, reps);
        gemv_row<fmt::f16>(s, one, all, bw1, bwn, reps);
        gemv_row<fmt::sparse24<fmt::f16>>(s, one, all, bw1, bwn, reps);
        gemv_row<float>(s, one, all, bw1, bwn, reps);
        gemv_row<fmt::sparse24<float>>(s, one, all, bw1, bwn, reps);
        continue;
      }
      if (what == "ksmall") {  // the super-block int8 GEMVs of superblock_int8_gemv.hpp, q4_K / q6_K for reference
        gemv_row<fmt::q2_K>(s, one, all, bw1, bwn, reps, sy::activations::int8);
        gemv_row<fmt::q3_K>(s, one, all, bw1, bwn, reps, sy::activations::int8);
        gemv_row<fmt::iq4_xs>(s, one, all, bw1, bwn, reps, sy::activations::int8);
        gemv_row<fmt::q4_K>(s, one, all, bw1, bwn, reps, sy::activations::int8);
        gemv_row<fmt::q6_K>(s, one, all, bw1, bwn, reps, sy::activations::int8);
        continue;
      }
      if (what == "kquant") {  // issue 19's table: every GGUF type, int8 activations where the format takes them
        gguf_types_rows(s, one, all, bw1, bwn, reps);
        continue;
      }
      if (what == "mxfp4") {  // gpt-oss's expert format beside the nibble format it resembles
        gemv_row<fmt::q4_0>(s, one, all, bw1, bwn, reps);
        gemv_row<fmt::mxfp4>(s, one, all, bw1, bwn, reps);
        continue;
      }
      gemv_row<fmt::q8_0>(s, one, all, bw1, bwn, reps);
      gemv_row<fmt::q4_0>(s, one, all, bw1, bwn, reps);
      gemv_row<fmt::mxfp4>(s, one, all, bw1, bwn, reps);
      gemv_row<fmt::q4_K>(s, one, all, bw1, bwn, reps);
      gemv_row<fmt::q6_K>(s, one, all, bw1, bwn, reps);
      gemv_row<fmt::int4_sym<128>>(s, one, all, bw1, bwn, reps);
      gemv_row<fmt::q8_0>(s, one, all, bw1, bwn, reps, sy::activations::int8);
      gemv_row<fmt::q4_0>(s, one, all, bw1, bwn, reps, sy::activations::int8);
      gemv_row<fmt::int4_sym<128>>(s, one, all, bw1, bwn, reps, sy::activations::int8);
      gemv_scaled_row<std::int8_t>(s, one, all, bw1, bwn, reps);
      gemv_scaled_row<std::int8_t>(s, one, all, bw1, bwn, reps, sy::activations::int8);
      gemv_scaled_row<fmt::e4m3>(s, one, all, bw1, bwn, reps);
    }
  }
  if (what == "all" || what == "gemm" || what == "mxfp4") {
    double const peak = bench::fma_peak(all);
    std::printf("GEMM. FMA peak %.1f GFLOP/s (%d threads)\n", peak * 1e-9, all.size());
    std::printf("%-24s %-9s %4s %9s %7s %7s %7s\n", "shape", "format", "T", "median_ms", "spread", "GFLOP/s", "%peak");
    for (index_t T : {128, 512}) {
      gemm_row<fmt::q8_0>(shapes[0], T, all, peak, 3);
      gemm_row<fmt::q4_0>(shapes[0], T, all, peak, 3);
      gemm_row<fmt::mxfp4>(shapes[0], T, all, peak, 3);
      if (what == "mxfp4") continue;
      gemm_row<fmt::q4_K>(shapes[0], T, all, peak, 3);
      gemm_row<fmt::int4_sym<128>>(shapes[0], T, all, peak, 3);
    }
  }
  if (what == "all" || what == "prefill") {
    for (sy::thread_pool* pool : {&one, &all}) {
      double const peak = bench::fma_peak(*pool), ipeak = bench::int8_dot_peak(*pool);
      std::printf("Prefill GEMM, %d thread(s). FMA peak %.1f GFLOP/s, vpdpbusd peak %.1f GOP/s\n", pool->size(),
                  peak * 1e-9, ipeak * 1e-9);
      std::printf("%-24s %-9s %4s %9s %7s %7s %7s\n", "shape", "format", "T", "median_ms", "spread", "GFLOP/s", "%fma");
      for (auto const& s : prefill_shapes)
        for (index_t T : {32, 128}) {
          prefill_pair<fmt::q8_0>(s, T, *pool, peak, ipeak, reps);
          prefill_pair<fmt::q4_0>(s, T, *pool, peak, ipeak, reps);
          prefill_pair<fmt::q4_K>(s, T, *pool, peak, ipeak, reps);
        }
    }
  }
  if (what == "all" || what == "prefill_k") {
    double const peak = bench::fma_peak(one), ipeak = bench::int8_dot_peak(one);
    std::printf("Prefill GEMM, q5_K / q6_K, 1 thread. FMA peak %.1f GFLOP/s, vpdpbusd peak %.1f GOP/s\n", peak * 1e-9,
                ipeak * 1e-9);
    std::printf("%-24s %-9s %4s %9s %7s %7s %7s\n", "shape", "format", "T", "median_ms", "spread", "GFLOP/s", "%fma");
    for (index_t T : {32, 128}) {
      for (auto const& s : prefill_k_q6) prefill_pair<fmt::q6_K>(s, T, one, peak, ipeak, reps);
      for (auto const& s : prefill_k_q5) prefill_pair<fmt::q5_K>(s, T, one, peak, ipeak, reps);
      prefill_pair<fmt::q4_K>(prefill_k_q6[1], T, one, peak, ipeak, reps);  // the reference k-quant
    }
  }
  if (what == "all" || what == "gemm" || what == "w8a8") {
    double const peak = bench::int8_dot_peak(all);
    std::printf("W8A8 GEMM. vpdpbusd peak %.1f GOP/s (%d threads)\n", peak * 1e-9, all.size());
    for (index_t T : {16, 128, 512})
      for (auto const& s : {shapes[0], shapes[1]}) gemm_w8a8_row(s, T, all, peak, 3);
  }
  return 0;
}
