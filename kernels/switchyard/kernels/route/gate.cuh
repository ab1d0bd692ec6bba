#pragma once
// The router's gate on the device: logits [T, E] = x [T, H] . gate [E, H]^T (+ bias [E]), in f32
// like the host (routing decisions are discontinuous, so the gate is not rounded to bf16).
// A plain shared-memory tiled SIMT product: 32 tokens x 32 experts per block of 256 threads, each
// thread 2 x 2 outputs, K in steps of 32. The gate is a small share of an MoE layer's work
// (E / (3 k F) of the expert FLOPs: 0.04% for Mixtral, 2% for Qwen3-30B-A3B); every output is a
// dot product in fixed k order, so a token's logits do not depend on its batch.
#include <cstdint>

#include "switchyard/config.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace kernels::route {

inline constexpr int gate_tile = 32;

__global__ void __launch_bounds__(256) gate_kernel(float const* __restrict__ x, float const* __restrict__ gate,
                                                   float const* __restrict__ bias, float* __restrict__ logits, int T,
                                                   int E, int H) {
  __shared__ float xs[gate_tile][gate_tile + 1];
  __shared__ float gs[gate_tile][gate_tile + 1];
  int const t0 = blockIdx.x * gate_tile, e0 = blockIdx.y * gate_tile;
  int const tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  float acc[2][2] = {};
  for (int k0 = 0; k0 < H; k0 += gate_tile) {
    for (int i = threadIdx.x; i < gate_tile * gate_tile; i += 256) {
      int const r = i / gate_tile, c = i % gate_tile, k = k0 + c;
      xs[r][c] = (t0 + r < T && k < H) ? x[static_cast<std::int64_t>(t0 + r) * H + k] : 0.0f;
      gs[r][c] = (e0 + r < E && k < H) ? gate[static_cast<std::int64_t>(e0 + r) * H + k] : 0.0f;
    }
    __syncthreads();
#pragma unroll 8
    for (int c = 0; c < gate_tile; ++c) {
      float const a0 = xs[2 * ty][c], a1 = xs[2 * ty + 1][c];
      float const b0 = gs[2 * tx][c], b1 = gs[2 * tx + 1][c];
      acc[0][0] = fmaf(a0, b0, acc[0][0]);
      acc[0][1] = fmaf(a0, b1, acc[0][1]);
      acc[1][0] = fmaf(a1, b0, acc[1][0]);
      acc[1][1] = fmaf(a1, b1, acc[1][1]);
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 2; ++j) {
      int const t = t0 + 2 * ty + i, e = e0 + 2 * tx + j;
      if (t < T && e < E) logits[static_cast<std::int64_t>(t) * E + e] = acc[i][j] + (bias ? bias[e] : 0.0f);
    }
}

inline void launch_gate(float const* x, float const* gate, float const* bias, float* logits, int T, int E, int H,
                        cudaStream_t stream) {
  if (T == 0) return;
  dim3 const grid((T + gate_tile - 1) / gate_tile, (E + gate_tile - 1) / gate_tile);
  gate_kernel<<<grid, 256, 0, stream>>>(x, gate, bias, logits, T, E, H);
}

}  // namespace kernels::route
SWITCHYARD_NAMESPACE_END
