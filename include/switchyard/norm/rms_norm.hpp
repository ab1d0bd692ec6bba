#pragma once
// RMSNorm (Zhang & Sennrich 2019), as Llama, Mixtral, Qwen and DeepSeek apply it:
//   y[t, :] = (x[t, :] * rsqrt(mean(x[t, :]^2) + eps)) * weight
// computed in f32 whatever the weight's format, with the product in that order (Hugging Face's
// LlamaRMSNorm multiplies the normalized row by the weight last; matching the order keeps the
// result within an ulp or two of the reference rather than merely close).
#include <cmath>
#include <type_traits>

#include "switchyard/core/concepts.hpp"
#include "switchyard/core/error.hpp"
#include "switchyard/core/simd/simd.hpp"
#include "switchyard/core/tensor_view.hpp"
#include "switchyard/core/thread_pool.hpp"
#include "switchyard/detail/madd.hpp"

SWITCHYARD_NAMESPACE_BEGIN

// The format of a block's norm weights given its matrix format W: f32 whatever W is. GGUF files
// keep norms in f32 beside f16 or quantized matrices, and safetensors norms in bf16 / f16 widen to
// f32 exactly; rounding an f32 norm weight to an f16 model's W moved Qwen3's q/k norms and
// DeepSeek's MLA norms by up to 2^-11 relative, 1-5e-4 of the logits (issue 19). The alias stays so
// that blocks name what they take, and may widen it again (never narrow).
template <class W>
using norm_weight_t = float;

namespace norm {

namespace detail {

// One row: sum of squares with four independent accumulators (FMA latency is 4 cycles, and
// one chain would leave the units idle), then a scaled multiply by the weight.
template <simd::isa Isa, class W>
void rms_norm_row(float const* SWITCHYARD_RESTRICT x, W const* SWITCHYARD_RESTRICT w,
                  float* SWITCHYARD_RESTRICT y, index_t n, float eps) {
  constexpr index_t L = Isa::lanes;
  using V = typename Isa::vf;
  V a0 = Isa::zero(), a1 = Isa::zero(), a2 = Isa::zero(), a3 = Isa::zero();
  index_t i = 0;
  for (; i + 4 * L <= n; i += 4 * L) {
    V const v0 = Isa::load(x + i), v1 = Isa::load(x + i + L);
    V const v2 = Isa::load(x + i + 2 * L), v3 = Isa::load(x + i + 3 * L);
    a0 = Isa::fma(v0, v0, a0), a1 = Isa::fma(v1, v1, a1);
    a2 = Isa::fma(v2, v2, a2), a3 = Isa::fma(v3, v3, a3);
  }
  for (; i + L <= n; i += L) {
    V const v = Isa::load(x + i);
    a0 = Isa::fma(v, v, a0);
  }
  float sum = Isa::reduce_add(Isa::add(Isa::add(a0, a1), Isa::add(a2, a3)));
  for (; i < n; ++i) sum = ::switchyard::detail::madd(x[i], x[i], sum);

  float const scale = 1.0f / std::sqrt(sum / static_cast<float>(n) + eps);
  V const s = Isa::set1(scale);
  i = 0;
  for (; i + L <= n; i += L) Isa::store(y + i, Isa::mul(Isa::mul(Isa::load(x + i), s), Isa::load_as_f32(w + i)));
  for (; i < n; ++i) y[i] = (x[i] * scale) * format::to_float(w[i]);
}

}  // namespace detail

// x [rows, n] f32 -> y [rows, n] f32, weight [n] in any element-wise format. y may alias x
// (in-place) but must not overlap it otherwise. Rows are split over the pool's threads.
template <class W, simd::isa Isa = simd::native>
void rms_norm(matrix_view<float const> x, vector_view<W const> weight, matrix_view<float> y, float eps,
              thread_pool& pool = thread_pool::shared()) {
  static_assert(check_scalar_format<W>());
  index_t const rows = x.extent(0), n = x.extent(1);
  require(weight.extent(0) == n, "norm::rms_norm", "weight has ", weight.extent(0), " elements but x has ", n,
          " columns");
  require(y.extent(0) == rows && y.extent(1) == n, "norm::rms_norm", "y is [", y.extent(0), ", ", y.extent(1),
          "] but x is [", rows, ", ", n, "]");
  require(x.stride(1) == 1 && y.stride(1) == 1 && weight.stride(0) == 1, "norm::rms_norm",
          "rows of x, y and weight must be contiguous (unit stride in the last dimension)");
  require(n > 0 || rows == 0, "norm::rms_norm", "rows must have at least one element");
  require(std::isfinite(eps) && eps >= 0.0f, "norm::rms_norm", "eps must be finite and >= 0, got ", eps);
  // Enough rows per chunk that a chunk is worth waking a thread for (~16k elements).
  index_t const grain = std::max<index_t>(1, 16384 / std::max<index_t>(n, 1));
  pool.parallel_for(0, rows, grain, [&](index_t lo, index_t hi) {
    for (index_t r = lo; r < hi; ++r) detail::rms_norm_row<Isa>(x.row(r), weight.data(), y.row(r), n, eps);
  });
}

}  // namespace norm
SWITCHYARD_NAMESPACE_END
