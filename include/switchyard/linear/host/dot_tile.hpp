#pragma once
// The micro-kernel under the host GEMV and GEMM: a tile of Rows activation rows times Cols weight
// rows, each output the dot product of the two over a range of k, accumulated in Rows x Cols
// vector registers and reduced once at the end. Weights are widened to f32 in registers as they
// are loaded, so a bf16 weight is read from memory at 2 bytes per element and never copied.
#include <algorithm>

#include "switchyard/core/format/traits.hpp"
#include "switchyard/core/simd/simd.hpp"
#include "switchyard/core/tensor_view.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace host::detail {

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

  index_t k = k0;
  for (; k + L <= k1; k += L) {
#pragma GCC unroll 8
    for (int c = 0; c < Cols; ++c) {
      V const wv = Isa::load_as_f32(w + c * ldw + k);
#pragma GCC unroll 8
      for (int r = 0; r < Rows; ++r) acc[r][c] = Isa::fma(Isa::load(x + r * ldx + k), wv, acc[r][c]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < Rows; ++r)
#pragma GCC unroll 8
    for (int c = 0; c < Cols; ++c) {
      float s = Isa::reduce_add(acc[r][c]);
      for (index_t kk = k; kk < k1; ++kk) s += x[r * ldx + kk] * format::to_float(w[c * ldw + kk]);
      out[r][c] = s;
    }
}

}  // namespace host::detail
SWITCHYARD_NAMESPACE_END
