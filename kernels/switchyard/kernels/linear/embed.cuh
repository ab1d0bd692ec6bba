#pragma once
// Embedding lookup on the device: out[t, :] = row tokens[t] of the table, dequantized to f32 with
// the same decoder the dense layers use (common/device_format.cuh), which equals the host's
// format::traits<W>::dequantize bit for bit -- the host model's embed_row. One block per token,
// each thread 8 elements per step (two 16-byte stores).
#include <cstdint>

#include "switchyard/kernels/common/device_format.cuh"
#include "switchyard/kernels/expert/gemv.cuh"

SWITCHYARD_NAMESPACE_BEGIN
namespace kernels::linear {

inline constexpr int embed_threads = 128;

// table [rows, cols / B] in format W; row_scales [rows] or null (codes x scale, as the host's
// scaled dequantization); with BS, block_scales [ceil(rows/128), ceil(cols/128)]. A token outside
// [0, rows) cannot be refused without synchronizing, so its row is written as NaN: a wrong id
// poisons what follows instead of reading out of bounds or passing unseen.
template <class W, bool BS>
__global__ void __launch_bounds__(embed_threads)
    embed_kernel(W const* __restrict__ table, int rows, int cols, float const* __restrict__ row_scales,
                 float const* __restrict__ block_scales, std::int32_t const* __restrict__ tokens,
                 float* __restrict__ out) {
  using fmt = device_format<W>;
  int const t = blockIdx.x;
  std::int32_t const token = tokens[t];
  float* o = out + static_cast<std::int64_t>(t) * cols;
  if (token < 0 || token >= rows) {
    float const nan = __int_as_float(0x7FC00000);
    for (int k0 = threadIdx.x * 8; k0 < cols; k0 += embed_threads * 8) {
      *reinterpret_cast<float4*>(o + k0) = make_float4(nan, nan, nan, nan);
      *reinterpret_cast<float4*>(o + k0 + 4) = make_float4(nan, nan, nan, nan);
    }
    return;
  }
  W const* row = table + static_cast<std::int64_t>(token) * (cols / fmt::block_elems);
  float const* bs = nullptr;
  if constexpr (BS)
    bs = block_scales + static_cast<std::int64_t>(token / expert::block_scale_size) * expert::block_scale_count(cols);
  float const s = row_scales ? row_scales[token] : 1.0f;
  for (int k0 = threadIdx.x * 8; k0 < cols; k0 += embed_threads * 8) {
    float v[8];
    fmt::decode8(row, k0, v);
    expert::detail::apply_block_scale<BS>(v, bs, k0);
    if (row_scales) {
#pragma unroll
      for (int q = 0; q < 8; ++q) v[q] *= s;
    }
    *reinterpret_cast<float4*>(o + k0) = make_float4(v[0], v[1], v[2], v[3]);
    *reinterpret_cast<float4*>(o + k0 + 4) = make_float4(v[4], v[5], v[6], v[7]);
  }
}

}  // namespace kernels::linear
SWITCHYARD_NAMESPACE_END
