#pragma once
// Activation rows to fp8 e4m3 for the fp8 tensor-core GEMM (grouped_mma_fp8.cuh), in
// DeepSeek-V3's recipe: one scale per row and group of 128 columns (the last group may be
// narrower), scale = amax / 448 (e4m3's largest finite value), codes = round(v / scale) with
// saturation. One warp per (group, row), four elements per lane.
#include <cstdint>

#include <cuda_fp8.h>

#include "switchyard/kernels/common/warp.cuh"
#include "switchyard/kernels/expert/gemv.cuh"

SWITCHYARD_NAMESPACE_BEGIN
namespace kernels::expert {

inline constexpr float e4m3_max_finite = 448.0f;

namespace detail {
__device__ __forceinline__ float load_activation(float const* p) { return *p; }
__device__ __forceinline__ float load_activation(std::uint16_t const* p) { return __uint_as_float(std::uint32_t{*p} << 16); }
}  // namespace detail

// in [rows, K] (f32, or bf16 bits) -> codes [rows, K] e4m3, scales [rows, ceil(K / 128)].
// K a multiple of 32. Grid: (rows, ceil(K / 128)) -- rows in x, which has room for T k slots at
// T = 8192 and k = 8 (y stops at 65535) --, 32 threads.
template <class In>
__global__ void __launch_bounds__(32)
    quantize_fp8_rows_kernel(In const* __restrict__ in, int K, std::uint8_t* __restrict__ codes,
                             float* __restrict__ scales) {
  int const group = blockIdx.y, lane = threadIdx.x;
  std::int64_t const row = blockIdx.x;
  int const k = group * block_scale_size + 4 * lane;
  bool const here = k < K;  // K % 32 == 0: a lane has all four of its elements or none
  float v[4] = {0.0f, 0.0f, 0.0f, 0.0f};
  if (here) {
#pragma unroll
    for (int i = 0; i < 4; ++i) v[i] = detail::load_activation(in + row * K + k + i);
  }
  float const amax = warp::max(fmaxf(fmaxf(fabsf(v[0]), fabsf(v[1])), fmaxf(fabsf(v[2]), fabsf(v[3]))));
  float const scale = amax / e4m3_max_finite;
  float const inv = amax > 0.0f ? e4m3_max_finite / amax : 0.0f;
  if (here) {
    __nv_fp8x2_storage_t const lo = __nv_cvt_float2_to_fp8x2(make_float2(v[0] * inv, v[1] * inv), __NV_SATFINITE, __NV_E4M3);
    __nv_fp8x2_storage_t const hi = __nv_cvt_float2_to_fp8x2(make_float2(v[2] * inv, v[3] * inv), __NV_SATFINITE, __NV_E4M3);
    *reinterpret_cast<std::uint32_t*>(codes + row * K + k) = std::uint32_t{lo} | (std::uint32_t{hi} << 16);
  }
  if (lane == 0) scales[row * block_scale_count(K) + group] = scale;
}

}  // namespace kernels::expert
SWITCHYARD_NAMESPACE_END
