#pragma once
// The combine on the device: y[t] = sum over j of out[slot(t, j)] (the routing weight is already
// applied in the down projection's epilogue), in j order, plus the shared experts' output scaled
// by sigmoid(shared_gate . x[t]) when there is a shared gate. One block per token, no atomics:
// a token's output does not depend on its batch or on the launch shape (deterministic), which a
// scatter-add in the down projection's epilogue cannot promise (float additions in arrival
// order). The cost is one extra read of the [S, H] slot outputs.
#include <cstdint>

#include "switchyard/kernels/common/warp.cuh"

SWITCHYARD_NAMESPACE_BEGIN
namespace kernels::expert {

inline constexpr int combine_threads = 256;

__global__ void __launch_bounds__(combine_threads)
    combine_kernel(std::int32_t const* __restrict__ token_slot, int K, float const* __restrict__ slot_out,
                   float const* __restrict__ shared_out, float const* __restrict__ shared_gate,
                   float const* __restrict__ x, float* __restrict__ y, int H) {
  int const t = blockIdx.x;
  float scale = 1.0f;
  if (shared_out && shared_gate) {
    __shared__ float partial[combine_threads / 32];
    float d = 0.0f;
    for (int i = threadIdx.x; i < H; i += combine_threads)
      d = fmaf(shared_gate[i], x[static_cast<std::int64_t>(t) * H + i], d);
    d = warp::sum(d);
    if (threadIdx.x % 32 == 0) partial[threadIdx.x / 32] = d;
    __syncthreads();
    d = 0.0f;
#pragma unroll
    for (int w = 0; w < combine_threads / 32; ++w) d += partial[w];
    scale = 1.0f / (1.0f + expf(-d));
  }
  std::int32_t const* slots = token_slot + static_cast<std::int64_t>(t) * K;
  for (int i = threadIdx.x; i < H; i += combine_threads) {
    float v = 0.0f;
    for (int j = 0; j < K; ++j) {
      std::int32_t const s = slots[j];
      if (s >= 0) v += slot_out[static_cast<std::int64_t>(s) * H + i];
    }
    if (shared_out) v += scale * shared_out[static_cast<std::int64_t>(t) * H + i];
    y[static_cast<std::int64_t>(t) * H + i] = v;
  }
}

}  // namespace kernels::expert
SWITCHYARD_NAMESPACE_END
