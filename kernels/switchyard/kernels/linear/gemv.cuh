#pragma once
// The decode path of the dense layers: y[t] = x[t] W^T for a few rows t, bound by the bytes of W
// (the LM head and the attention projections are a batch-1 decode step's whole cost). Each warp
// owns gemv_rows_per_warp consecutive weight rows; per step a lane decodes 8 weights of each of
// them straight from the packed format (common/device_format.cuh: 16-byte loads for f32 / bf16 /
// f16, 8-byte for fp8 and int8 codes, 2-byte for GGUF blocks and int4 groups) and multiplies them
// against up to gemv_tokens activation rows, so every weight byte is read once per pass of 8
// rows, and each activation chunk read serves both weight rows (activation reads come from L1 /
// L2 and would otherwise outnumber weight bytes several times for 4-bit formats). Activations
// and accumulation are f32, as in the host's linear<W>, so the result equals the host's to f32
// rounding; a warp-shuffle reduction finishes each dot product.
//
// A matrix with few rows splits each row pair's k range over 2 or 4 warps of the block
// (gemv_k_splits), whose partial sums are added in a fixed order through shared memory, so that
// the grid still fills the device.
//
// Grid: x = blocks of gemv_rows_per_block_for(splits) weight rows; y = 1. More than gemv_tokens
// activation rows run as passes inside the kernel (each pass reads the weights again: this path
// is for decode; linear_path_for sends larger T to the tensor-core kernel).
#include <cstdint>

#include "switchyard/kernels/common/device_format.cuh"
#include "switchyard/kernels/common/warp.cuh"
#include "switchyard/kernels/expert/gemv.cuh"

SWITCHYARD_NAMESPACE_BEGIN
namespace kernels::linear {

inline constexpr int gemv_warps = 4;          // warps per block
inline constexpr int gemv_rows_per_warp = 2;  // weight rows per warp (share each activation read)
inline constexpr int gemv_tokens = 8;  // activation rows per pass over the weights
inline constexpr int gemv_min_blocks = 1;

// The value a kernel writes to the optional tag pointer: which kernel ran (linear_path's values).
inline constexpr int gemv_tag = 1;
inline constexpr int mma_tag = 2;

// Everything a dense-layer kernel needs beside the weights' type (one struct: fewer parameters
// to keep in order, and the same for both kernels).
template <class W>
struct linear_args {
  float const* x;
  std::int64_t ldx;
  int T;
  W const* w;
  int rows, cols;
  float const* row_scales;    // [rows] or null
  float const* block_scales;  // [ceil(rows/128), ceil(cols/128)] (used only when the kernel's BS is true)
  float const* bias;          // [rows] or null
  float* y;
  std::int64_t ldy;
  bool accumulate;
  int* tag;  // [2] or null: the kernel that ran (gemv_tag, mma_tag) and the GEMV's k splits (0 for mma)
};

namespace detail {
// The output epilogue shared by both kernels: y[t, r] = (accumulate ? y[t, r] : 0) + s_r v + b_r,
// in that order (the host: y = x W^T, then y * s + b for scaled codes, then the caller's add).
template <class W>
__device__ __forceinline__ void store_output(linear_args<W> const& a, int t, int r, float v) {
  float const s = a.row_scales ? a.row_scales[r] : 1.0f;
  float const b = a.bias ? a.bias[r] : 0.0f;
  float* out = a.y + static_cast<std::int64_t>(t) * a.ldy + r;
  float const val = s * v + b;
  *out = a.accumulate ? *out + val : val;
}
}  // namespace detail

// How many warps share a weight row pair, splitting its k range (1, 2 or 4): chosen from the row
// count alone so that a matrix with few rows still fills the device (a 1024-row K / V projection
// at one warp per row pair would give 128 blocks of 4 warps; with 4 warps per pair, 512), and so
// that a row's summation order depends on the matrix's shape only, never on T or the device.
// 2048 rows at 4 warps per pair, 8192 at 2, and anything larger at 1 are all >= 1024 blocks.
constexpr int gemv_k_splits(int rows) noexcept { return rows <= 2048 ? 4 : rows <= 8192 ? 2 : 1; }
constexpr int gemv_rows_per_block_for(int k_splits) noexcept { return gemv_warps / k_splits * gemv_rows_per_warp; }

// KS warps (of the block's gemv_warps) work on the same gemv_rows_per_warp rows, warp w of the
// group on the k chunks w, w + KS, ... (256 weights each); their partial sums meet in shared
// memory and the group's first warp adds them in warp order (deterministic).
template <class W, bool BS, int KS>
__global__ void __launch_bounds__(gemv_warps * 32, gemv_min_blocks) gemv_kernel(linear_args<W> a) {
  static_assert(gemv_warps % KS == 0);
  using fmt = device_format<W>;
  constexpr int R = gemv_rows_per_warp;
  constexpr int groups = gemv_warps / KS;  // row groups per block
  __shared__ float part[KS > 1 ? gemv_warps : 1][R][gemv_tokens];
  int const warp_id = threadIdx.x / 32, lane = threadIdx.x % 32;
  int const group = warp_id / KS, kw = warp_id % KS;
  if (a.tag && blockIdx.x == 0 && threadIdx.x == 0) a.tag[0] = gemv_tag, a.tag[1] = KS;
  int const r0 = (blockIdx.x * groups + group) * R;
  // A group past the matrix still takes part in the barriers of a split block.
  bool const live = r0 < a.rows;
  if (KS == 1 && !live) return;
  std::int64_t const row_blocks = a.cols / fmt::block_elems;
  W const* w_row[R];
  float const* bs_row[R] = {};
#pragma unroll
  for (int i = 0; i < R; ++i) {
    // A row past the matrix re-reads the last row (its result is not stored): no branch per load.
    int const r = r0 + i < a.rows ? r0 + i : a.rows - 1;
    w_row[i] = a.w + r * row_blocks;
    if constexpr (BS) bs_row[i] = a.block_scales + static_cast<std::int64_t>(r / expert::block_scale_size) *
                                                       expert::block_scale_count(a.cols);
  }
  for (int t0 = 0; t0 < a.T; t0 += gemv_tokens) {
    int const m = a.T - t0 < gemv_tokens ? a.T - t0 : gemv_tokens;
    float const* x0 = a.x + static_cast<std::int64_t>(t0) * a.ldx;
    float acc[R][gemv_tokens];
#pragma unroll
    for (int i = 0; i < R; ++i)
#pragma unroll
      for (int t = 0; t < gemv_tokens; ++t) acc[i][t] = 0.0f;
    int const k_begin = live ? (kw * 32 + lane) * 8 : a.cols;
#pragma unroll 1
    for (int k0 = k_begin; k0 < a.cols; k0 += KS * 32 * 8) {
      float wv[R][8];
#pragma unroll
      for (int i = 0; i < R; ++i) {
        fmt::decode8(w_row[i], k0, wv[i]);
        expert::detail::apply_block_scale<BS>(wv[i], bs_row[i], k0);
      }
#pragma unroll
      for (int t = 0; t < gemv_tokens; ++t) {
        if (t >= m) continue;
        float const* xr = x0 + t * a.ldx + k0;
        float4 const lo = *reinterpret_cast<float4 const*>(xr);
        float4 const hi = *reinterpret_cast<float4 const*>(xr + 4);
        float const xv[8] = {lo.x, lo.y, lo.z, lo.w, hi.x, hi.y, hi.z, hi.w};
#pragma unroll
        for (int i = 0; i < R; ++i)
#pragma unroll
          for (int q = 0; q < 8; ++q) acc[i][t] = fmaf(wv[i][q], xv[q], acc[i][t]);
      }
    }
    // Every lane ends each reduction with the sum; lane i * gemv_tokens + t owns (row i, row t).
#pragma unroll
    for (int i = 0; i < R; ++i)
#pragma unroll
      for (int t = 0; t < gemv_tokens; ++t) {
        if (t >= m) continue;
        float const v = warp::sum(acc[i][t]);
        if (lane != i * gemv_tokens + t) continue;
        if constexpr (KS == 1) {
          if (r0 + i < a.rows) detail::store_output(a, t0 + t, r0 + i, v);
        } else {
          part[warp_id][i][t] = v;
        }
      }
    if constexpr (KS > 1) {
      __syncthreads();
      int const i = lane / gemv_tokens, t = lane % gemv_tokens;
      if (kw == 0 && i < R && t < m && r0 + i < a.rows) {
        float v = part[warp_id][i][t];
#pragma unroll
        for (int w = 1; w < KS; ++w) v += part[warp_id + w][i][t];
        detail::store_output(a, t0 + t, r0 + i, v);
      }
      __syncthreads();  // part is written again by the next pass
    }
  }
}

}  // namespace kernels::linear
SWITCHYARD_NAMESPACE_END
