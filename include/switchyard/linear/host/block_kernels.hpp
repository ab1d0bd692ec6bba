#pragma once
// linear on block-quantized weights (q8_0, q4_0, q4_K, q6_K, int4 groups), computed from the
// packed blocks: W is a view of blocks [N, K / B]; no dequantized copy of W ever exists.
//
//   block_gemv  (decode, T <= 8 rows): each thread streams its output rows' blocks once; a block is
//               dequantized into a small stack buffer (the format's own dequantize(), which the
//               compiler vectorizes) and immediately used for all T activation rows while it is
//               in L1. Bound by the packed bytes.
//   block_gemm  (prefill): for a panel of output rows, the blocks are dequantized once into an
//               f32 panel (~256 KiB, L2) and the f32 GEMM tile runs on it for all T rows: the
//               dequantization leaves the inner loop and is amortized over T.
// int8 activations with integer dot products (VNNI) are the next step for the GEMV (bench/NOTES.md).
#include <algorithm>
#include <vector>

#include "switchyard/core/concepts.hpp"
#include "switchyard/core/simd/simd.hpp"
#include "switchyard/core/tensor_view.hpp"
#include "switchyard/core/thread_pool.hpp"
#include "switchyard/linear/host/gemm.hpp"

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
      Tr::dequantize(row + kb, buf);
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
  auto run = [&]<int Tc>() {
    pool.parallel_for(0, N, grain, [&](index_t lo, index_t hi) {
      detail::block_gemv_rows<Isa, Tc>(x.data(), x.stride(0), w.data(), w.stride(0), bias, y.data(), y.stride(0), kbs,
                                       lo, hi);
    });
  };
  switch (T) {
    case 1: run.template operator()<1>(); break;
    case 2: run.template operator()<2>(); break;
    case 3: run.template operator()<3>(); break;
    case 4: run.template operator()<4>(); break;
    case 5: run.template operator()<5>(); break;
    case 6: run.template operator()<6>(); break;
    case 7: run.template operator()<7>(); break;
    default: run.template operator()<8>(); break;
  }
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
          Tr::dequantize(&w(n, kb), wf.data() + (n - n0) * K + kb * Tr::block_elems);
      detail::gemm_columns<Isa, Tile>(x.data(), x.stride(0), wf.data(), K, y.data() + n0, y.stride(0), T, K, 0, n1 - n0);
      if (bias)
        for (index_t t = 0; t < T; ++t)
          for (index_t n = n0; n < n1; ++n) y.data()[t * y.stride(0) + n] += bias[n];
    }
  });
}

}  // namespace host
SWITCHYARD_NAMESPACE_END
