#pragma once
// linear on block-quantized weights (q8_0, q4_0, q4_K, q6_K, int4 groups, mxfp4), computed from the
// packed blocks: W is a view of blocks [N, K / B]; no dequantized copy of W ever exists.
//
//   block_gemv  (decode, T <= 8 rows): each thread streams its output rows' blocks once. AVX-512
//               (block_gemv_avx512.hpp: q8_0, q4_0, int4 groups, q4_K, q6_K, mxfp4) and AVX2
//               (block_gemv_avx2.hpp: q8_0, q4_0, int4 groups, mxfp4) decode in registers; otherwise a
//               block is decoded (traits<F>::decode) into a stack buffer and used for all T
//               activation rows while in L1.
//   block_gemm  (prefill): for a panel of output rows, the blocks are dequantized once into an
//               f32 panel (~256 KiB, L2) and the f32 GEMM tile runs on it for all T rows: the
//               dequantization leaves the inner loop and is amortized over T.
// With int8 activations, linear<W> takes the integer-dot-product kernels instead: the GEMVs
// (int8_activations.hpp, q8_int8_gemv.hpp, q4k_int8_gemv.hpp) and, for prefill, int8_gemm.hpp.
#include <algorithm>
#include <vector>

#include "switchyard/core/concepts.hpp"
#include "switchyard/core/format/gguf.hpp"
#include "switchyard/core/format/int4.hpp"
#include "switchyard/core/format/mxfp4.hpp"
#include "switchyard/core/simd/simd.hpp"
#include "switchyard/core/tensor_view.hpp"
#include "switchyard/core/thread_pool.hpp"
#include "switchyard/linear/host/block_gemv_avx2.hpp"
#include "switchyard/linear/host/block_gemv_avx512.hpp"
#include "switchyard/linear/host/gemm.hpp"
#include "switchyard/linear/host/gemv.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace host {

namespace detail {


template <simd::isa Isa, int T, class F>
void block_gemv_rows(float const* x, index_t ldx, F const* w, index_t ldw_blocks, float const* bias, float* y, index_t ldy,
                     index_t kb_count, index_t n0, index_t n1) {
  using Tr = format::traits<F>;
  constexpr int B = Tr::block_elems, L = Isa::lanes;
  static_assert(B % L == 0, "block sizes are multiples of every ISA's lanes");
  alignas(64) float buf[B];
  for (index_t n = n0; n < n1; ++n) {
    typename Isa::vf acc[T];
    for (int t = 0; t < T; ++t) acc[t] = Isa::zero();
    F const* row = w + n * ldw_blocks;
    for (index_t kb = 0; kb < kb_count; ++kb) {
      Tr::decode(row + kb, buf);
      float const* xk = x + kb * B;
      for (int i = 0; i < B; i += L) {
        auto const wv = Isa::load(buf + i);
        for (int t = 0; t < T; ++t) acc[t] = Isa::fma(wv, Isa::load(xk + t * ldx + i), acc[t]);
      }
    }
    for (int t = 0; t < T; ++t) y[t * ldy + n] = Isa::reduce_add(acc[t]) + (bias ? bias[n] : 0.0f);
  }
}

}  // namespace detail

// x [T, K] (T <= gemv_max_rows), w [N, K / B] blocks, bias [N] or null, y [T, N].
template <simd::isa Isa = simd::native, class F>
void block_gemv(matrix_view<float const> x, matrix_view<F const> w, float const* bias, matrix_view<float> y,
                thread_pool& pool) {
  index_t const T = x.extent(0), N = w.extent(0), kbs = w.extent(1);
  if (T == 0 || N == 0) return;
  // ~64 KiB of packed weights per chunk.
  index_t const grain = std::max<index_t>(4, (64 * 1024) / std::max<index_t>(1, kbs * index_t{sizeof(F)}));
  constexpr bool kind512 = detail::nibble_format<F>::value || std::is_same_v<F, format::q8_0> ||
                          std::is_same_v<F, format::q4_K> || std::is_same_v<F, format::q6_K> ||
                          std::is_same_v<F, format::mxfp4>;
  constexpr bool kind256 =
      detail::nibble_format<F>::value || std::is_same_v<F, format::q8_0> || std::is_same_v<F, format::mxfp4>;
  constexpr bool fast512 = detail::block_gemv_avx512 && detail::isa_named<Isa>("avx512") && kind512;
  constexpr bool fast256 = detail::block_gemv_avx2 && detail::isa_named<Isa>("avx2") && kind256;
  constexpr bool fast = fast512 || fast256;
  // Per-block sums of x for the nibble formats' zero points, once per call.
  std::vector<float> xsum;
  if constexpr (fast && std::is_same_v<F, format::q4_K>) {  // per sub-block of 32
    index_t const groups = kbs * 8;
    xsum.resize(static_cast<std::size_t>(T * groups));
    for (index_t t = 0; t < T; ++t)
      for (index_t g = 0; g < groups; ++g) {
        float s = 0.0f;
        for (int i = 0; i < 32; ++i) s += x(t, g * 32 + i);
        xsum[static_cast<std::size_t>(t * groups + g)] = s;
      }
  }
  if constexpr (fast && detail::nibble_format<F>::value) {
    constexpr int B = format::traits<F>::block_elems;
    xsum.resize(static_cast<std::size_t>(T * kbs));
    for (index_t t = 0; t < T; ++t)
      for (index_t kb = 0; kb < kbs; ++kb) {
        float s = 0.0f;
        for (int i = 0; i < B; ++i) s += x(t, kb * B + i);
        xsum[static_cast<std::size_t>(t * kbs + kb)] = s;
      }
  }
  auto run = [&]<int Tc>() {
    pool.parallel_for(0, N, grain, [&](index_t lo, index_t hi) {
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)
      if constexpr (fast512) {
        detail::fast_rows_avx512<Tc>(x.data(), x.stride(0), w.data(), w.stride(0), xsum.data(), bias, y.data(), y.stride(0),
                                     kbs, lo, hi);
        return;
      }
#endif
#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
      if constexpr (fast256) {
        detail::fast_rows_avx2<Tc>(x.data(), x.stride(0), w.data(), w.stride(0), xsum.data(), bias, y.data(), y.stride(0),
                                   kbs, lo, hi);
        return;
      }
#endif
      detail::block_gemv_rows<Isa, Tc>(x.data(), x.stride(0), w.data(), w.stride(0), bias, y.data(), y.stride(0), kbs,
                                       lo, hi);
    });
  };
  dispatch_rows(T, run);
}

// x [T, K], w [N, K / B] blocks, bias [N] or null, y [T, N], any T.
template <simd::isa Isa = simd::native, class F>
void block_gemm(matrix_view<float const> x, matrix_view<F const> w, float const* bias, matrix_view<float> y,
                thread_pool& pool) {
  using Tr = format::traits<F>;
  using Tile = detail::f32_activations_tile<Isa>;
  constexpr index_t C = detail::gemm_tile_cols;
  index_t const T = x.extent(0), N = w.extent(0), kbs = w.extent(1), K = kbs * Tr::block_elems;
  if (T == 0 || N == 0) return;
  // Panels of output rows whose dequantized f32 weights take ~256 KiB (L2), a multiple of the
  // GEMM tile's width.
  index_t panel = std::max<index_t>(C, (256 * 1024) / std::max<index_t>(1, K * index_t{sizeof(float)}));
  panel -= panel % C;
  pool.parallel_for(0, N, panel, [&](index_t lo, index_t hi) {
    thread_local std::vector<float> wf;
    for (index_t n0 = lo; n0 < hi; n0 += panel) {
      index_t const n1 = std::min(hi, n0 + panel);
      wf.resize(static_cast<std::size_t>((n1 - n0) * K));
      for (index_t n = n0; n < n1; ++n)
        for (index_t kb = 0; kb < kbs; ++kb)
          Tr::decode(&w(n, kb), wf.data() + (n - n0) * K + kb * Tr::block_elems);
      detail::gemm_columns<Isa, Tile>(x.data(), x.stride(0), wf.data(), K, y.data() + n0, y.stride(0), T, K, 0, n1 - n0);
      if (bias)
        for (index_t t = 0; t < T; ++t)
          for (index_t n = n0; n < n1; ++n) y.data()[t * y.stride(0) + n] += bias[n];
    }
  });
}

}  // namespace host
SWITCHYARD_NAMESPACE_END
