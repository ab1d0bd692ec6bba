#pragma once
// RMSNorm on the device, the host's norm::rms_norm (include/switchyard/norm/rms_norm.hpp) row for
// row: y[t, :] = (x[t, :] * rsqrt(mean(x[t, :]^2) + eps)) * weight, f32 rows, f32 weight
// (norm_weight_t is f32 for every model format), the product in the host's order (normalized row
// times the weight last). One block of rms_norm_threads per row: each thread sums the squares of
// a strided slice (float4 where the row's length and x's alignment allow it), a warp then block reduction, and the scale is
// 1 / sqrt(sum / n + eps) in IEEE f32 as the host computes it (no rsqrtf approximation).
// In place (y == x) is allowed.
#include <cstdint>

#include <cuda_runtime_api.h>

#include "switchyard/core/error.hpp"
#include "switchyard/kernels/common/cuda_check.cuh"
#include "switchyard/kernels/common/warp.cuh"

SWITCHYARD_NAMESPACE_BEGIN
namespace kernels::norm {

inline constexpr int rms_norm_threads = 256;

__global__ void __launch_bounds__(rms_norm_threads)
    rms_norm_kernel(float const* x, float const* __restrict__ weight, float* y, int n, float eps) {
  __shared__ float partial[rms_norm_threads / 32];
  std::int64_t const row = blockIdx.x;
  float const* xr = x + row * n;
  float* yr = y + row * n;
  int const tid = threadIdx.x;
  // float4 loads need every row 16-byte aligned: a base so aligned and rows of a multiple of 4
  // (x may be a view into a larger buffer at any float offset; then the scalar loop).
  bool const vec = n % 4 == 0 && reinterpret_cast<std::uintptr_t>(x) % 16 == 0;
  float sum = 0.0f;
  if (vec) {
    for (int i = 4 * tid; i < n; i += 4 * rms_norm_threads) {
      float4 const v = *reinterpret_cast<float4 const*>(xr + i);
      sum = fmaf(v.x, v.x, sum), sum = fmaf(v.y, v.y, sum), sum = fmaf(v.z, v.z, sum), sum = fmaf(v.w, v.w, sum);
    }
  } else {
    for (int i = tid; i < n; i += rms_norm_threads) sum = fmaf(xr[i], xr[i], sum);
  }
  sum = warp::sum(sum);
  if (tid % 32 == 0) partial[tid / 32] = sum;
  __syncthreads();
  float total = 0.0f;
#pragma unroll
  for (int w = 0; w < rms_norm_threads / 32; ++w) total += partial[w];
  float const scale = 1.0f / __fsqrt_rn(__fdiv_rn(total, static_cast<float>(n)) + eps);
  for (int i = tid; i < n; i += rms_norm_threads) yr[i] = __fmul_rn(__fmul_rn(xr[i], scale), weight[i]);
}

// x, y [rows, n] f32 on the device (y may equal x), weight [n] f32 on the device.
inline void rms_norm(float const* x, float const* weight, float* y, std::int64_t rows, int n, float eps,
                     cudaStream_t stream = nullptr) {
  require(n > 0 && rows >= 0 && rows < (std::int64_t{1} << 31), "kernels::norm::rms_norm", "rows (", rows,
          ") must be in [0, 2^31) and n (", n, ") positive");
  require(eps >= 0.0f && eps < 1e30f, "kernels::norm::rms_norm", "eps must be finite and >= 0, got ", eps);
  if (rows == 0) return;
  rms_norm_kernel<<<static_cast<unsigned>(rows), rms_norm_threads, 0, stream>>>(x, weight, y, n, eps);
  SWITCHYARD_CUDA_CHECK(cudaGetLastError());
}

}  // namespace kernels::norm
SWITCHYARD_NAMESPACE_END
