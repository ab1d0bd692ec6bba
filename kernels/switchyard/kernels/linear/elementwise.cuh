#pragma once
// The small element-wise kernels around the dense layers: the dense FFN's gated activation over
// a fused [T, 2F] gate_up product, and the in-place add of a residual. Both are bound by memory
// traffic; grid-stride loops over plain coalesced f32 accesses, no host synchronization.
#include <algorithm>
#include <cstdint>

#include <cuda_runtime_api.h>

#include "switchyard/core/error.hpp"
#include "switchyard/expert/activation.hpp"
#include "switchyard/kernels/linear/matrix.cuh"

SWITCHYARD_NAMESPACE_BEGIN
namespace kernels::linear {

inline constexpr int elementwise_threads = 256;
inline constexpr std::int64_t elementwise_max_blocks = 65536;  // grid-stride beyond

namespace detail {
inline unsigned elementwise_blocks(std::int64_t n) {
  return static_cast<unsigned>(std::min<std::int64_t>((n + elementwise_threads - 1) / elementwise_threads,
                                                      elementwise_max_blocks));
}
}  // namespace detail

// (Kernels are templates so that several units of one program can include this header.)
// The activation is the host's own expression (switchyard::expert::silu_glu::apply, a
// __host__ __device__ function: gate / (1 + exp(-gate)) * up in f32), so the only difference from
// the host is the exponential: CUDA's expf (2 ulp at most) against the C library's.
template <int = 0>
__global__ void __launch_bounds__(elementwise_threads)
    silu_glu_kernel(float const* __restrict__ gate_up, std::int64_t T, int F, float* __restrict__ h) {
  std::int64_t const n = T * F;
  for (std::int64_t i = blockIdx.x * std::int64_t{blockDim.x} + threadIdx.x; i < n;
       i += std::int64_t{gridDim.x} * blockDim.x) {
    std::int64_t const t = i / F, f = i % F;
    float const* row = gate_up + t * 2 * F;
    h[i] = switchyard::expert::silu_glu::apply(row[f], row[F + f]);
  }
}

template <int = 0>
__global__ void __launch_bounds__(elementwise_threads) add_inplace_kernel(float* y, float const* x, std::int64_t n) {
  for (std::int64_t i = blockIdx.x * std::int64_t{blockDim.x} + threadIdx.x; i < n;
       i += std::int64_t{gridDim.x} * blockDim.x)
    y[i] += x[i];
}

// h[t, f] = act(gate_up[t, f]) * gate_up[t, F + f]: the dense FFN's GLU over a [T, 2F] product
// whose first F columns are the gate projection and last F the up projection (the host's
// glu_experts bank order); act = SiLU exactly as switchyard::expert::silu_glu computes it.
// h: [T, F], contiguous; it must not overlap gate_up.
inline void silu_glu(float const* gate_up, int T, int F, float* h, cudaStream_t stream) {
  char const* where = "kernels::linear::silu_glu";
  require(T >= 0 && F >= 0, where, "T = ", T, ", F = ", F);
  std::int64_t const n = std::int64_t{T} * F;
  if (n == 0) return;
  require(gate_up != nullptr && h != nullptr, where, "gate_up and h must be device pointers, got null");
  silu_glu_kernel<><<<detail::elementwise_blocks(n), elementwise_threads, 0, stream>>>(gate_up, T, F, h);
  detail::check_launch(where, "the SiLU GLU");
}

// y[i] += x[i] for i < n (x and y the same or disjoint, not partly overlapping).
inline void add_inplace(float* y, float const* x, std::int64_t n, cudaStream_t stream) {
  char const* where = "kernels::linear::add_inplace";
  require(n >= 0, where, "n = ", n);
  if (n == 0) return;
  require(x != nullptr && y != nullptr, where, "x and y must be device pointers, got null");
  add_inplace_kernel<><<<detail::elementwise_blocks(n), elementwise_threads, 0, stream>>>(y, x, n);
  detail::check_launch(where, "the add");
}

}  // namespace kernels::linear
SWITCHYARD_NAMESPACE_END
