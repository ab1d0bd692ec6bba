#pragma once
// Prefill-time linear on the host: y[T, N] = x[T, K] * W[N, K]^T (+ bias) for many rows.
// Blocked so that a tile's operands stay in cache: k is cut into panels of the tile kernel's
// k_panel elements (f32: 1024, 4 KiB per row), threads split the output features, and
// within a thread's features every activation tile is reused across all of them while its
// weights are in L2. Partial sums over k panels accumulate in y.
//
// This is the dot-product formulation on unpacked weights, in the GEMV's summation order (a row's
// result does not depend on the row count). Where that may be given up (summation::fastest),
// bf16 activations x bf16 weights take an outer-product GEMM instead (bf16_outer_gemm.hpp:
// weight pairs broadcast, activations packed), which reaches a higher share of the peak.
#include <algorithm>

#include "switchyard/core/error.hpp"
#include "switchyard/core/thread_pool.hpp"
#include "switchyard/linear/host/dot_tile.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace host {

namespace detail {

// Tile: Rows activation rows x 3 weight rows. Per k-step it loads Rows + 3 vectors for 3 Rows
// FMAs; with AVX-512's 32 registers 8 rows fit (24 accumulators + 3 weights + 1 activation),
// which makes the tile FMA-bound rather than load-bound; 16-register sets take 4 rows.
template <class Isa>
inline constexpr int gemm_tile_rows = Isa::registers >= 32 ? 8 : 4;
inline constexpr int gemm_tile_cols = 3;

template <class Tile, int Rows, int Cols, class X, class W>
SWITCHYARD_FORCE_INLINE void gemm_tile(X const* x, index_t ldx, W const* w, index_t ldw, float* y, index_t ldy,
                                       index_t k0, index_t k1, bool first) {
  float out[Rows][Cols];
  Tile::template run<Rows, Cols>(x, ldx, w, ldw, k0, k1, out);
  for (int r = 0; r < Rows; ++r)
    for (int c = 0; c < Cols; ++c) y[r * ldy + c] = first ? out[r][c] : y[r * ldy + c] + out[r][c];
}

// Features [n0, n1) for every row, one k panel at a time.
template <simd::isa Isa, class Tile, class X, class W>
void gemm_columns(X const* x, index_t ldx, W const* w, index_t ldw, float* y, index_t ldy, index_t T, index_t K,
                  index_t n0, index_t n1) {
  constexpr int R = gemm_tile_rows<Isa>, C = gemm_tile_cols;
  constexpr index_t kc = Tile::k_panel;
  // Every (row tile, weight group) pair of a k panel is one tile call; only the order differs,
  // and with it what stays in L1. Activation tiles outermost keep an R-row activation tile in L1
  // while the thread's weight rows stream from L2. When that tile is larger than L1 (bf16
  // activations with K >= 4096: 8 x 8 KiB), weight groups go outermost instead: a group's rows
  // (3 x 8 KiB) stay in L1 and serve every activation tile. Measured on Mixtral's expert shapes
  // (bench/NOTES.md): 1.3x; on K = 2048 shapes the activation-outer order is faster. Each output
  // sums its k panels in the same order either way, so results are identical bit for bit.
  bool const weights_outer = index_t{R} * std::min(K, kc) * index_t{sizeof(X)} > (index_t{32} << 10);
  // Tiles of `Rows` activation rows starting at row t, for the weight group at n.
  auto tiles = [&]<int Rows, int Cols>(index_t& t, index_t t_end, index_t n, index_t k0, index_t k1, bool first) {
    for (; t + Rows <= t_end; t += Rows)
      gemm_tile<Tile, Rows, Cols>(x + t * ldx, ldx, w + n * ldw, ldw, y + t * ldy + n, ldy, k0, k1, first);
  };
  // All rows against one weight group: tiles of R, then the remaining T mod R rows as one tile
  // of that height (each weight vector loaded once for all of them: an MoE expert's row count is
  // rarely a multiple of R, and one-row tiles would reload the weights for every leftover row).
  auto all_rows = [&]<int Cols>(index_t n, index_t k0, index_t k1, bool first) {
    index_t t = 0;
    tiles.template operator()<R, Cols>(t, T, n, k0, k1, first);
    switch (T - t) {
      case 7: if constexpr (R > 7) tiles.template operator()<7, Cols>(t, T, n, k0, k1, first); break;
      case 6: if constexpr (R > 6) tiles.template operator()<6, Cols>(t, T, n, k0, k1, first); break;
      case 5: if constexpr (R > 5) tiles.template operator()<5, Cols>(t, T, n, k0, k1, first); break;
      case 4: if constexpr (R > 4) tiles.template operator()<4, Cols>(t, T, n, k0, k1, first); break;
      case 3: tiles.template operator()<3, Cols>(t, T, n, k0, k1, first); break;
      case 2: tiles.template operator()<2, Cols>(t, T, n, k0, k1, first); break;
      default: break;
    }
    tiles.template operator()<1, Cols>(t, T, n, k0, k1, first);
  };
  // One activation tile [t, t + Rows) against every weight group of [n0, n1).
  auto all_columns = [&]<int Rows>(index_t t, index_t k0, index_t k1, bool first) {
    index_t n = n0;
    for (; n + C <= n1; n += C) {
      index_t tt = t;
      tiles.template operator()<Rows, C>(tt, t + Rows, n, k0, k1, first);
    }
    for (; n < n1; ++n) {
      index_t tt = t;
      tiles.template operator()<Rows, 1>(tt, t + Rows, n, k0, k1, first);
    }
  };
  for (index_t k0 = 0; k0 < K || k0 == 0; k0 += kc) {
    index_t const k1 = std::min(K, k0 + kc);
    bool const first = k0 == 0;
    if (weights_outer) {
      index_t n = n0;
      for (; n + C <= n1; n += C) all_rows.template operator()<C>(n, k0, k1, first);
      for (; n < n1; ++n) all_rows.template operator()<1>(n, k0, k1, first);
    } else {
      index_t t = 0;
      for (; t + R <= T; t += R) all_columns.template operator()<R>(t, k0, k1, first);
      switch (T - t) {
        case 7: if constexpr (R > 7) all_columns.template operator()<7>(t, k0, k1, first); break;
        case 6: if constexpr (R > 6) all_columns.template operator()<6>(t, k0, k1, first); break;
        case 5: if constexpr (R > 5) all_columns.template operator()<5>(t, k0, k1, first); break;
        case 4: if constexpr (R > 4) all_columns.template operator()<4>(t, k0, k1, first); break;
        case 3: all_columns.template operator()<3>(t, k0, k1, first); break;
        case 2: all_columns.template operator()<2>(t, k0, k1, first); break;
        case 1: all_columns.template operator()<1>(t, k0, k1, first); break;
        default: break;
      }
    }
    if (K == 0) break;
  }
}

// Splits features over the pool and runs gemm_columns with `Tile` on activations x (already in
// Tile's x_type), then adds the bias.
template <simd::isa Isa, class Tile, class X, class W>
void gemm_blocked(X const* x, index_t ldx, matrix_view<W const> w, float const* bias, matrix_view<float> y, index_t T,
                  index_t K, thread_pool& pool) {
  index_t const N = w.extent(0);
  if (T == 0 || N == 0) return;
  // Chunks of features that are a multiple of the tile width, ~256 KiB of weights (L2) each.
  index_t const per_chunk = std::max<index_t>(gemm_tile_cols,
      (256 * 1024) / std::max<index_t>(1, std::min(K, Tile::k_panel) * index_t{sizeof(W)}));
  index_t const grain = per_chunk - per_chunk % gemm_tile_cols;
  pool.parallel_for(0, N, grain, [&](index_t lo, index_t hi) {
    gemm_columns<Isa, Tile>(x, ldx, w.data(), w.stride(0), y.data(), y.stride(0), T, K, lo, hi);
    if (bias)
      for (index_t t = 0; t < T; ++t)
        for (index_t n = lo; n < hi; ++n) y.data()[t * y.stride(0) + n] += bias[n];
  });
}

}  // namespace detail

// x [T, K], w [N, K], bias [N] or null, y [T, N]; shapes are checked by the caller (linear<W>).
template <simd::isa Isa = simd::native, class W>
void gemm(matrix_view<float const> x, matrix_view<W const> w, float const* bias, matrix_view<float> y,
          thread_pool& pool) {
  detail::gemm_blocked<Isa, detail::f32_activations_tile<Isa>>(x.data(), x.stride(0), w, bias, y, x.extent(0), x.extent(1),
                                                               pool);
}

}  // namespace host
SWITCHYARD_NAMESPACE_END
