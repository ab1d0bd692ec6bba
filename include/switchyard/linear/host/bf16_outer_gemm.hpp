#pragma once
// Prefill GEMM for bf16 activations times bf16 weights as an outer product: vectors run over 16
// tokens, and each weight pair (W[n][2p], W[n][2p+1]) is broadcast from memory into vdpbf16ps
// (AVX512-BF16's embedded 32-bit broadcast), so the weights are used as stored -- no packed copy
// -- and only the activations are re-laid: pairs [K/2][Tp], 16 tokens per vector.
//
// Why not the dot-product tile (bf16_activations.hpp): that tile ends every output in a
// horizontal reduction and reads each activation vector once per three weight rows; here a
// register tile of 48 tokens x 8 weight rows (24 accumulators) reads three activation vectors and
// eight 4-byte weight pairs per 24 vdpbf16ps, and an output is never reduced across lanes.
// bench/NOTES.md: 1.4-1.9x the dot tile on the Mixtral expert shapes.
//
// Summation order: an output accumulates its k pairs one after another (vdpbf16ps adds a pair's
// two exact products to the lane), whatever its token's lane or tile: rows do not influence each
// other. It is not the dot tile's order (16 lane partial sums, then a tree), so a row's result
// differs in the last bits between this GEMM and the decode GEMV: linear takes it only when the
// caller allows results to depend on the row count (summation::fastest, linear.hpp).
// K is cut into panels (accumulators stored to y and reloaded: the same f32 values, so the same
// order) so that a panel of activation pairs stays in L2 for every weight row of the thread.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "switchyard/core/format/bf16.hpp"
#include "switchyard/core/tensor_view.hpp"
#include "switchyard/core/thread_pool.hpp"

#if defined(__AVX512BF16__) && defined(__AVX512F__) && defined(__AVX512BW__)
#include <immintrin.h>
#define SWITCHYARD_BF16_OUTER_GEMM 1
#endif

SWITCHYARD_NAMESPACE_BEGIN
namespace host::detail {

#if defined(SWITCHYARD_BF16_OUTER_GEMM)
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push  // GCC 12's masked intrinsics: see int8_gemv_avx512.hpp
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

// Weight rows per register tile: 8 rows x 3 vectors of 16 tokens = 24 accumulators. (12 rows x 2
// vectors measured slower: the twelve row pointers do not fit the general registers.)
inline constexpr int outer_rows = 8;

// x [T, K] (K even) rounded to bf16 and laid out as pairs: pack[p * Tp + t] holds x[t][2p] (low
// half) and x[t][2p + 1]; tokens T .. Tp-1 are zero.
inline void pack_bf16_pairs(matrix_view<float const> x, std::uint32_t* pack, index_t Tp, thread_pool& pool) {
  index_t const T = x.extent(0), P = x.extent(1) / 2;
  constexpr index_t pb = 64;  // pairs per work item: rows of x read contiguously, 64 at a time
  pool.parallel_for(0, (P + pb - 1) / pb, 1, [&](index_t lo, index_t hi) {
    for (index_t b = lo; b < hi; ++b) {
      index_t const p0 = b * pb, p1 = std::min(P, p0 + pb);
      for (index_t t = 0; t < T; ++t) {
        float const* row = x.row(t);
        for (index_t p = p0; p < p1; ++p)
          pack[p * Tp + t] = std::uint32_t{format::bf16(row[2 * p]).bits} | std::uint32_t{format::bf16(row[2 * p + 1]).bits} << 16;
      }
      for (index_t p = p0; p < p1; ++p)
        for (index_t t = T; t < Tp; ++t) pack[p * Tp + t] = 0;
    }
  });
}

// MT x 16 tokens from t0 against NW weight rows, pairs [p0, p1). The accumulators live in c
// ([NW][Tp] floats, the rows' sums so far): zero on the first panel, else loaded, stored back.
template <int MT, int NW>
SWITCHYARD_FORCE_INLINE void outer_tile(std::uint32_t const* pack, index_t Tp, index_t t0, std::uint32_t const* const* w,
                                        index_t p0, index_t p1, float* c, bool first) {
  __m512 acc[MT][NW];
  for (int i = 0; i < MT; ++i)
    for (int j = 0; j < NW; ++j) acc[i][j] = first ? _mm512_setzero_ps() : _mm512_loadu_ps(c + j * Tp + t0 + 16 * i);
  for (index_t p = p0; p < p1; ++p) {
    __m512bh a[MT];
    for (int i = 0; i < MT; ++i) a[i] = (__m512bh)_mm512_loadu_si512(pack + p * Tp + t0 + 16 * i);
    for (int j = 0; j < NW; ++j) {
      __m512bh const b = (__m512bh)_mm512_set1_epi32(static_cast<int>(w[j][p]));
      for (int i = 0; i < MT; ++i) acc[i][j] = _mm512_dpbf16_ps(acc[i][j], a[i], b);
    }
  }
  for (int i = 0; i < MT; ++i)
    for (int j = 0; j < NW; ++j) _mm512_storeu_ps(c + j * Tp + t0 + 16 * i, acc[i][j]);
}

// Rows [n, n + NW) of W against every token, pairs [p0, p1): token tiles of 48, then 32 or 16.
template <int NW>
SWITCHYARD_FORCE_INLINE void outer_rows_all_tokens(std::uint32_t const* pack, index_t Tp, format::bf16 const* w, index_t ldw,
                                                   index_t n, index_t p0, index_t p1, float* c, bool first) {
  std::uint32_t const* wr[NW];
  for (int j = 0; j < NW; ++j) wr[j] = reinterpret_cast<std::uint32_t const*>(w + (n + j) * ldw);
  index_t t = 0;
  for (; t + 48 <= Tp; t += 48) outer_tile<3, NW>(pack, Tp, t, wr, p0, p1, c, first);
  if (t + 32 <= Tp) outer_tile<2, NW>(pack, Tp, t, wr, p0, p1, c, first);
  else if (t < Tp) outer_tile<1, NW>(pack, Tp, t, wr, p0, p1, c, first);
}

// y [T, N] = round_bf16(x) W^T (+ bias). K must be even (a weight pair is one 32-bit load) and
// the rows of W 4-byte aligned; pack is scratch of P * Tp words.
inline void bf16_outer_gemm(matrix_view<float const> x, matrix_view<format::bf16 const> w, float const* bias,
                            matrix_view<float> y, std::uint32_t* pack, thread_pool& pool) {
  index_t const T = x.extent(0), K = x.extent(1), N = w.extent(0), P = K / 2, Tp = (T + 15) / 16 * 16;
  pack_bf16_pairs(x, pack, Tp, pool);
  // Pairs per panel: the panel's activations (Tp x 4 bytes per pair) take ~256 KiB, in L2.
  index_t const panel = std::max<index_t>(1, std::min(P, std::max<index_t>(256, (index_t{256} << 10) / (4 * Tp))));
  index_t const groups = (N + outer_rows - 1) / outer_rows;
  // Weight-row groups over the threads; several groups per work item so that each panel of
  // activations serves many weight rows from L2.
  index_t const grain = std::max<index_t>(1, std::min<index_t>(16, groups / (4 * index_t{pool.size()})));
  pool.parallel_for(0, groups, grain, [&](index_t g0, index_t g1) {
    index_t const n0 = g0 * outer_rows, n1 = std::min(N, g1 * outer_rows);
    // The work item's sums, [row][Tp]: vector loads and stores for the panels, transposed into y
    // once at the end (a scatter per vector measured slower).
    thread_local std::vector<float> sums;
    if (sums.size() < static_cast<std::size_t>((n1 - n0) * Tp)) sums.resize(static_cast<std::size_t>((n1 - n0) * Tp));
    float* c = sums.data();
    for (index_t p0 = 0; p0 < P; p0 += panel) {
      index_t const p1 = std::min(P, p0 + panel);
      bool const first = p0 == 0;
      index_t n = n0;
      for (; n + outer_rows <= n1; n += outer_rows)
        outer_rows_all_tokens<outer_rows>(pack, Tp, w.data(), w.stride(0), n, p0, p1, c + (n - n0) * Tp, first);
      for (; n + 4 <= n1; n += 4) outer_rows_all_tokens<4>(pack, Tp, w.data(), w.stride(0), n, p0, p1, c + (n - n0) * Tp, first);
      for (; n < n1; ++n) outer_rows_all_tokens<1>(pack, Tp, w.data(), w.stride(0), n, p0, p1, c + (n - n0) * Tp, first);
    }
    for (index_t t = 0; t < T; ++t) {
      float* yr = y.data() + t * y.stride(0);
      for (index_t n = n0; n < n1; ++n) yr[n] = (P == 0 ? 0.0f : c[(n - n0) * Tp + t]) + (bias ? bias[n] : 0.0f);
    }
  });
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#endif  // SWITCHYARD_BF16_OUTER_GEMM

}  // namespace host::detail
SWITCHYARD_NAMESPACE_END
