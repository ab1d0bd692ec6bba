#pragma once
// gate[i] = Act::apply(gate[i], up[i]) over n elements: the gated activation of an expert's
// hidden row. SiLU (the MoE models' activation) runs in the SIMD layer: e^-g as exp2(-g log2 e)
// (simd exp2, within ~2 ulp), then g / (1 + e^-g) * up -- std::exp one element at a time was ~5%
// of a Q4_K_M prefill. The tail shorter than a vector goes through the same vector code (padded),
// so an element's value does not depend on where a caller's range starts (threads split the rows
// at different columns). Other activations: element by element.
#include <algorithm>
#include <type_traits>

#include "switchyard/core/simd/simd.hpp"
#include "switchyard/core/tensor_view.hpp"
#include "switchyard/expert/activation.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace expert::detail {

template <class V>
SWITCHYARD_FORCE_INLINE typename V::vf silu_times(typename V::vf g, typename V::vf u) noexcept {
  typename V::vf const e = V::exp2(V::mul(g, V::set1(-1.4426950408889634f)));
  return V::mul(V::div(g, V::add(V::set1(1.0f), e)), u);
}

template <class Act>
void apply_glu(float* gate, float const* up, index_t n) {
  if constexpr (std::is_same_v<Act, silu_glu>) {
    using V = simd::native;
    constexpr index_t L = V::lanes;
    index_t i = 0;
    for (; i + L <= n; i += L) V::store(gate + i, silu_times<V>(V::load(gate + i), V::load(up + i)));
    if (i < n) {
      float g[L] = {}, u[L] = {};
      std::copy(gate + i, gate + n, g);
      std::copy(up + i, up + n, u);
      V::store(g, silu_times<V>(V::load(g), V::load(u)));
      std::copy(g, g + (n - i), gate + i);
    }
  } else {
    for (index_t i = 0; i < n; ++i) gate[i] = Act::apply(gate[i], up[i]);
  }
}

}  // namespace expert::detail
SWITCHYARD_NAMESPACE_END
