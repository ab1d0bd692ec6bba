#pragma once
// The micro-kernel under the host GEMV and GEMM: a tile of Rows activation rows times Cols weight
// rows, each output the dot product of the two over a range of k, accumulated in Rows x Cols
// vector registers and reduced once at the end. Weights are widened to f32 in registers as they
// are loaded, so a bf16 weight is read from memory at 2 bytes per element and never copied.
#include <algorithm>
#include <cstdint>

#ifndef SWITCHYARD_DECODE_PREFETCH
#define SWITCHYARD_DECODE_PREFETCH 2048
#endif

#include "switchyard/core/format/traits.hpp"
#include "switchyard/core/simd/simd.hpp"
#include "switchyard/core/tensor_view.hpp"
#include "switchyard/detail/madd.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace host::detail {

// Both GEMV and GEMM sum k in panels of a tile kernel's k_panel elements (this many for f32
// activations), in the same order (panel partials added left to right). A row's result therefore does not depend on how many other rows share
// the call, which makes the MoE layer's output per token independent of its batch (its
// deterministic mode costs nothing). 1024 f32 = 4 KiB per row: a 4x3 GEMM tile's operands fit L1.
inline constexpr index_t k_panel = 1024;

// How many weight rows a tile of `rows` activation rows can take so that its accumulators, its
// weight vectors and one activation vector fit in the instruction set's vector registers.
template <simd::isa Isa>
constexpr int tile_cols(int rows, int max_cols = 4) {
  int c = (Isa::registers - 1) / (rows + 1);
  return c < 1 ? 1 : (c > max_cols ? max_cols : c);
}

// Decode tiles (this many activation rows or fewer) of 16-bit weights prefetch their weight
// streams: a core keeps only so many loads in flight, and with the loads alone (Cols short streams
// the hardware prefetcher restarts on every tile) a 1-thread f16 / bf16 GEMV on Zen 5 ran at the
// same iterations per second as f32, i.e. at half its bytes: 20-24 of 40 GB/s. 2 KiB ahead: 28-33
// GB/s (1 KiB 27-31, 512 B 24-27, 3-4 KiB no better; bench/NOTES.md). f32 weights, already at the
// bandwidth without it, are left alone.
inline constexpr int decode_prefetch_rows = 2;
inline constexpr index_t decode_prefetch_bytes = SWITCHYARD_DECODE_PREFETCH;

// Prefetches weight row `row` (row stride ldw elements) decode_prefetch_bytes past element k; past
// the row's end, into the same stream of the next tile (row + Cols * ldw), which comes next.
template <int Cols, class W>
SWITCHYARD_FORCE_INLINE void prefetch_weights(W const* row, index_t ldw, index_t k) {
  // The address may lie past the matrix (prefetches never fault): computed as an integer, not by
  // pointer arithmetic beyond the object.
  index_t const pos = k * index_t{sizeof(W)} + decode_prefetch_bytes, len = ldw * index_t{sizeof(W)};
  std::uintptr_t const at = reinterpret_cast<std::uintptr_t>(row) +
                            static_cast<std::uintptr_t>(pos + (pos >= len ? (Cols - 1) * len : 0));
  __builtin_prefetch(reinterpret_cast<void const*>(at), 0, 3);
}

// out[r][c] = sum_{k in [k0, k1)} x[r][k] * w[c][k], for x rows x + r*ldx and weight rows w + c*ldw.
template <simd::isa Isa, int Rows, int Cols, class W>
SWITCHYARD_FORCE_INLINE void dot_tile(float const* SWITCHYARD_RESTRICT x, index_t ldx, W const* SWITCHYARD_RESTRICT w,
                                      index_t ldw, index_t k0, index_t k1, float (&out)[Rows][Cols]) {
  constexpr index_t L = Isa::lanes;
  using V = typename Isa::vf;
  V acc[Rows][Cols];
#pragma GCC unroll 8
  for (int r = 0; r < Rows; ++r)
#pragma GCC unroll 8
    for (int c = 0; c < Cols; ++c) acc[r][c] = Isa::zero();

  // Per step: Cols weight vectors and then one activation vector per row, each loaded once
  // (Rows + Cols loads for Rows * Cols FMAs); registers: Rows * Cols + Cols + 1.
  index_t k = k0;
  for (; k + L <= k1; k += L) {
    if constexpr (Rows <= decode_prefetch_rows && sizeof(W) <= 2) {
#pragma GCC unroll 8
      for (int c = 0; c < Cols; ++c) prefetch_weights<Cols>(w + c * ldw, ldw, k);
    }
    V wv[Cols];
#pragma GCC unroll 8
    for (int c = 0; c < Cols; ++c) wv[c] = Isa::load_as_f32(w + c * ldw + k);
#pragma GCC unroll 8
    for (int r = 0; r < Rows; ++r) {
      V const xv = Isa::load(x + r * ldx + k);
#pragma GCC unroll 8
      for (int c = 0; c < Cols; ++c) acc[r][c] = Isa::fma(xv, wv[c], acc[r][c]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < Rows; ++r)
#pragma GCC unroll 8
    for (int c = 0; c < Cols; ++c) {
      float s = Isa::reduce_add(acc[r][c]);
      for (index_t kk = k; kk < k1; ++kk) s = ::switchyard::detail::madd(x[r * ldx + kk], format::to_float(w[c * ldw + kk]), s);
      out[r][c] = s;
    }
}

// The tile kernel of f32 activations: dot_tile. Other activation formats supply their own
// (linear/host/bf16_activations.hpp) and reuse the GEMV and GEMM blocking.
template <simd::isa Isa>
struct f32_activations_tile {
  using x_type = float;
  static constexpr index_t k_panel = host::detail::k_panel;
  template <int Rows, int Cols, class W>
  static SWITCHYARD_FORCE_INLINE void run(float const* x, index_t ldx, W const* w, index_t ldw, index_t k0, index_t k1,
                                          float (&out)[Rows][Cols]) {
    dot_tile<Isa, Rows, Cols>(x, ldx, w, ldw, k0, k1, out);
  }
};

}  // namespace host::detail
SWITCHYARD_NAMESPACE_END
