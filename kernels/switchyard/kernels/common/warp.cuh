#pragma once
// Warp-level building blocks: full-warp reductions by butterfly shuffles (every lane ends with
// the result, so no broadcast is needed afterwards).
#include "switchyard/config.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace kernels::warp {

inline constexpr int size = 32;
inline constexpr unsigned full_mask = 0xFFFFFFFFu;

__device__ __forceinline__ float sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(full_mask, v, o);
  return v;
}

__device__ __forceinline__ float max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(full_mask, v, o));
  return v;
}

}  // namespace kernels::warp
SWITCHYARD_NAMESPACE_END
