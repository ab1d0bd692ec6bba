#pragma once
// Decode-time linear on the host: y[T, N] = x[T, K] * W[N, K]^T (+ bias) for few rows T (1..8).
// Bound by the bytes of W, so the goal is to read each weight byte once: threads split the
// output features, and every weight vector loaded is used for all T activation rows while it is
// in a register. T is a template parameter (dispatched once per call) so the accumulators stay
// in registers; weight rows per step (Cols) shrink as T grows, to fit the register file
// (detail::tile_cols: 16 registers for AVX2, 32 for AVX-512).
#include <algorithm>

#include "switchyard/core/error.hpp"
#include "switchyard/core/thread_pool.hpp"
#include "switchyard/linear/host/dot_tile.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace host {

inline constexpr index_t gemv_max_rows = 8;

// Calls f.template operator()<T>() with the run-time row count T (1..gemv_max_rows) as a
// template argument, so that decode kernels keep one accumulator per row in registers.
template <class F>
void dispatch_rows(index_t T, F&& f) {
  switch (T) {
    case 1: f.template operator()<1>(); break;
    case 2: f.template operator()<2>(); break;
    case 3: f.template operator()<3>(); break;
    case 4: f.template operator()<4>(); break;
    case 5: f.template operator()<5>(); break;
    case 6: f.template operator()<6>(); break;
    case 7: f.template operator()<7>(); break;
    default: f.template operator()<8>(); break;
  }
}

namespace detail {

template <simd::isa Isa, class Tile, int T, class X, class W>
void gemv_rows(X const* x, index_t ldx, W const* w, index_t ldw, float const* bias, float* y, index_t ldy,
               index_t K, index_t n0, index_t n1) {
  constexpr int C = tile_cols<Isa>(T);
  index_t n = n0;
  auto emit = [&]<int Cols>(float (&out)[T][Cols], index_t nb) {
    for (int t = 0; t < T; ++t)
      for (int c = 0; c < Cols; ++c) y[t * ldy + nb + c] = out[t][c] + (bias ? bias[nb + c] : 0.0f);
  };
  // out = sum of k panels, added in panel order (see k_panel).
  constexpr index_t panel = Tile::k_panel;
  auto tile = [&]<int Cols>(index_t nb) {
    float out[T][Cols], part[T][Cols];
    Tile::template run<T, Cols>(x, ldx, w + nb * ldw, ldw, 0, std::min(K, panel), out);
    for (index_t k0 = panel; k0 < K; k0 += panel) {
      Tile::template run<T, Cols>(x, ldx, w + nb * ldw, ldw, k0, std::min(K, k0 + panel), part);
      for (int t = 0; t < T; ++t)
        for (int c = 0; c < Cols; ++c) out[t][c] += part[t][c];
    }
    emit(out, nb);
  };
  for (; n + C <= n1; n += C) tile.template operator()<C>(n);
  for (; n < n1; ++n) tile.template operator()<1>(n);
}

// Splits output features over the pool; T (<= gemv_max_rows) becomes a template argument.
template <simd::isa Isa, class Tile, class X, class W>
void gemv_blocked(X const* x, index_t ldx, matrix_view<W const> w, float const* bias, matrix_view<float> y, index_t T,
                  index_t K, thread_pool& pool) {
  index_t const N = w.extent(0);
  require(T >= 0 && T <= gemv_max_rows, "host::gemv", "at most ", gemv_max_rows, " rows, got ", T);
  if (T == 0 || N == 0) return;
  // ~64 KiB of weights per chunk: enough work to amortize the claim, many chunks per thread.
  index_t const grain = std::max<index_t>(4, (64 * 1024) / std::max<index_t>(1, K * index_t{sizeof(W)}));
  auto run = [&]<int Tc>() {
    pool.parallel_for(0, N, grain, [&](index_t lo, index_t hi) {
      gemv_rows<Isa, Tile, Tc>(x, ldx, w.data(), w.stride(0), bias, y.data(), y.stride(0), K, lo, hi);
    });
  };
  dispatch_rows(T, run);
}

}  // namespace detail

// x [T, K], w [N, K], bias [N] or empty, y [T, N]; T <= gemv_max_rows. Shapes are checked by the
// caller (linear<W>); rows must be contiguous.
template <simd::isa Isa = simd::native, class W>
void gemv(matrix_view<float const> x, matrix_view<W const> w, float const* bias, matrix_view<float> y,
          thread_pool& pool) {
  detail::gemv_blocked<Isa, detail::f32_activations_tile<Isa>>(x.data(), x.stride(0), w, bias, y, x.extent(0), x.extent(1),
                                                               pool);
}

// H GEMVs of one shape in one parallel region: for each head h,
//   y_h [T, N] = x_h [T, K] W_h^T,  x_h = x + h x_head (rows ldx apart), W_h = w + h w_head (rows ldw
//   apart), y_h = y + h y_head (rows ldy apart).
// MLA's absorbed decode multiplies every head by its own small matrix (W_uk_h^T, W_uv_h: 64 KiB
// each in f32 at DeepSeek-V3-like sizes); as H calls of gemv, each is a parallel region of its own
// whose wake-up and tail cost as much as its rows. Each row is the dot product gemv computes.
template <simd::isa Isa = simd::native, class W>
void gemv_heads(float const* x, index_t ldx, index_t x_head, W const* w, index_t ldw, index_t w_head, float* y,
                index_t ldy, index_t y_head, index_t H, index_t T, index_t N, index_t K, thread_pool& pool) {
  require(T >= 0 && T <= gemv_max_rows, "host::gemv_heads", "at most ", gemv_max_rows, " rows, got ", T);
  if (T == 0 || N == 0 || H == 0) return;
  index_t const grain = std::max<index_t>(4, (64 * 1024) / std::max<index_t>(1, K * index_t{sizeof(W)}));
  auto run = [&]<int Tc>() {
    pool.parallel_for(0, H * N, grain, [&](index_t lo, index_t hi) {
      while (lo < hi) {  // a chunk may span heads: split it at their boundaries
        index_t const h = lo / N, r0 = lo % N, r1 = std::min(N, r0 + (hi - lo));
        detail::gemv_rows<Isa, detail::f32_activations_tile<Isa>, Tc>(x + h * x_head, ldx, w + h * w_head, ldw,
                                                                      nullptr, y + h * y_head, ldy, K, r0, r1);
        lo += r1 - r0;
      }
    });
  };
  dispatch_rows(T, run);
}

}  // namespace host
SWITCHYARD_NAMESPACE_END
