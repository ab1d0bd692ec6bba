#pragma once
// The decode path of the expert FFNs: few tokens per expert, so each expert is a bandwidth-bound
// GEMV over its weight rows rather than a padded GEMM. One warp per weight row (gate_up: the gate
// row and its up row together, so SwiGLU is applied in registers), each lane streaming 8 weights
// per step straight from the packed format (common/device_format.cuh), all the expert's tokens
// (up to `tokens_per_pass` at a time) multiplied against each weight as it passes: every weight
// byte is read once per call when an expert serves <= 8 tokens. Activations stay f32, as on the
// host, so this path matches the host's f32 result to rounding.
//
// Grid: x = blocks of 8 rows, y = index into the plan's list of active experts (bounded by
// min(E, T K) on the host; blocks past the device-side count leave at once).
#include <cstdint>
#include <type_traits>

#include "switchyard/kernels/common/device_format.cuh"
#include "switchyard/kernels/common/warp.cuh"
#include "switchyard/kernels/route/plan.cuh"

SWITCHYARD_NAMESPACE_BEGIN
namespace kernels::expert {

inline constexpr int gemv_warps = 8;
inline constexpr int tokens_per_pass = 8;

// 128 x 128 block scales (DeepSeek-V3's weight_scale_inv) for fp8 and int8 codes: a matrix of R
// rows and K columns has ceil(R / 128) x ceil(K / 128) of them, row-major.
inline constexpr int block_scale_size = 128;
__host__ __device__ constexpr int block_scale_count(int n) { return (n + block_scale_size - 1) / block_scale_size; }

// Formats whose codes may carry 128 x 128 block scales on the device.
template <class W>
inline constexpr bool takes_block_scales =
    std::is_same_v<W, format::e4m3> || std::is_same_v<W, format::e5m2> || std::is_same_v<W, std::int8_t>;

namespace detail {
// The eight weights decoded at k0 of a row times the row's block scale there (block_row: the
// row's ceil(K / 128) scales), in the host's order: code, then x scale, in f32.
template <bool BS>
__device__ __forceinline__ void apply_block_scale(float (&w)[8], float const* block_row, int k0) {
  if constexpr (BS) {
    float const s = block_row[k0 / block_scale_size];
#pragma unroll
    for (int q = 0; q < 8; ++q) w[q] *= s;
  }
}

// acc[t] += w . x[t][k0 .. k0 + 8) for each token of the pass.
__device__ __forceinline__ void fma8(float const (&w)[8], float const* __restrict__ xrow, float& acc) {
  float4 const a = *reinterpret_cast<float4 const*>(xrow);
  float4 const b = *reinterpret_cast<float4 const*>(xrow + 4);
  acc = fmaf(w[0], a.x, acc);
  acc = fmaf(w[1], a.y, acc);
  acc = fmaf(w[2], a.z, acc);
  acc = fmaf(w[3], a.w, acc);
  acc = fmaf(w[4], b.x, acc);
  acc = fmaf(w[5], b.y, acc);
  acc = fmaf(w[6], b.z, acc);
  acc = fmaf(w[7], b.w, acc);
}
}  // namespace detail

// h[s, i] = act(sg_i gate_i . x[token(s)] + bg_i, su_i up_i . x[token(s)] + bu_i) for the slots s
// of the expert; gate_up [E, 2F, H / B] (gate rows, then up rows), bias and scales [E, 2F] or null
// (per-channel scales of int8 / fp8 codes); with BS, block_scales [E, 2 ceil(F/128), ceil(H/128)]
// (the gate rows' blocks, then the up rows'); h [S, F] f32.
template <class W, class Act, bool BS = false>
__global__ void __launch_bounds__(gemv_warps * 32, 1)
    gemv_gate_up_kernel(route::plan_view plan, float const* __restrict__ x, W const* __restrict__ gate_up,
                        float const* __restrict__ bias, float const* __restrict__ scales,
                        float const* __restrict__ block_scales, float* __restrict__ h, int H, int F) {
  using fmt = device_format<W>;
  int const a = blockIdx.y;
  if (a >= *plan.active_count) return;
  int const e = plan.active[a];
  int const i = blockIdx.x * gemv_warps + threadIdx.x / 32, lane = threadIdx.x % 32;
  if (i >= F) return;
  std::int64_t const row_blocks = H / fmt::block_elems;
  W const* g_row = gate_up + (static_cast<std::int64_t>(e) * 2 * F + i) * row_blocks;
  W const* u_row = g_row + static_cast<std::int64_t>(F) * row_blocks;
  int const n = plan.counts[e], off = plan.offsets[e];
  float const bg = bias ? bias[static_cast<std::int64_t>(e) * 2 * F + i] : 0.0f;
  float const bu = bias ? bias[static_cast<std::int64_t>(e) * 2 * F + F + i] : 0.0f;
  float const sg = scales ? scales[static_cast<std::int64_t>(e) * 2 * F + i] : 1.0f;
  float const su = scales ? scales[static_cast<std::int64_t>(e) * 2 * F + F + i] : 1.0f;
  float const* g_bs = nullptr;
  float const* u_bs = nullptr;
  if constexpr (BS) {
    int const HB = block_scale_count(H), FB = block_scale_count(F);
    g_bs = block_scales + (static_cast<std::int64_t>(e) * 2 * FB + i / block_scale_size) * HB;
    u_bs = g_bs + static_cast<std::int64_t>(FB) * HB;
  }
  for (int c0 = 0; c0 < n; c0 += tokens_per_pass) {
    int const m = n - c0 < tokens_per_pass ? n - c0 : tokens_per_pass;
    float const* xr[tokens_per_pass];
#pragma unroll
    for (int t = 0; t < tokens_per_pass; ++t)
      xr[t] = x + static_cast<std::int64_t>(plan.slot_token[off + c0 + (t < m ? t : 0)]) * H;
    float ag[tokens_per_pass] = {}, au[tokens_per_pass] = {};
    for (int k0 = lane * 8; k0 < H; k0 += 32 * 8) {
      float wg[8], wu[8];
      fmt::decode8(g_row, k0, wg);
      fmt::decode8(u_row, k0, wu);
      detail::apply_block_scale<BS>(wg, g_bs, k0);
      detail::apply_block_scale<BS>(wu, u_bs, k0);
#pragma unroll
      for (int t = 0; t < tokens_per_pass; ++t)
        if (t < m) {
          detail::fma8(wg, xr[t] + k0, ag[t]);
          detail::fma8(wu, xr[t] + k0, au[t]);
        }
    }
#pragma unroll
    for (int t = 0; t < tokens_per_pass; ++t) {
      if (t >= m) break;
      float const g = warp::sum(ag[t]), u = warp::sum(au[t]);
      if (lane == 0) h[static_cast<std::int64_t>(off + c0 + t) * F + i] = Act::apply(sg * g + bg, su * u + bu);
    }
  }
}

// out[s, r] = scale(s) (sd_r down_r . h[s] + b_r); down [E, H, F / B], bias and channel scales
// sd [E, H] or null; with BS, block_scales [E, ceil(H/128), ceil(F/128)]; scale(s) =
// route_weights[slot_choice[s]] (the router weight of that choice), or 1 when null.
template <class W, bool BS = false>
__global__ void __launch_bounds__(gemv_warps * 32, 1)
    gemv_down_kernel(route::plan_view plan, float const* __restrict__ h, W const* __restrict__ down,
                     float const* __restrict__ bias, float const* __restrict__ scales,
                     float const* __restrict__ block_scales, float const* __restrict__ route_weights,
                     float* __restrict__ out, int H, int F) {
  using fmt = device_format<W>;
  int const a = blockIdx.y;
  if (a >= *plan.active_count) return;
  int const e = plan.active[a];
  int const r = blockIdx.x * gemv_warps + threadIdx.x / 32, lane = threadIdx.x % 32;
  if (r >= H) return;
  std::int64_t const row_blocks = F / fmt::block_elems;
  W const* w_row = down + (static_cast<std::int64_t>(e) * H + r) * row_blocks;
  int const n = plan.counts[e], off = plan.offsets[e];
  float const b = bias ? bias[static_cast<std::int64_t>(e) * H + r] : 0.0f;
  float const sd = scales ? scales[static_cast<std::int64_t>(e) * H + r] : 1.0f;
  float const* bs = nullptr;
  if constexpr (BS)
    bs = block_scales + (static_cast<std::int64_t>(e) * block_scale_count(H) + r / block_scale_size) * block_scale_count(F);
  for (int c0 = 0; c0 < n; c0 += tokens_per_pass) {
    int const m = n - c0 < tokens_per_pass ? n - c0 : tokens_per_pass;
    float acc[tokens_per_pass] = {};
    for (int k0 = lane * 8; k0 < F; k0 += 32 * 8) {
      float w[8];
      fmt::decode8(w_row, k0, w);
      detail::apply_block_scale<BS>(w, bs, k0);
#pragma unroll
      for (int t = 0; t < tokens_per_pass; ++t)
        if (t < m) detail::fma8(w, h + static_cast<std::int64_t>(off + c0 + t) * F + k0, acc[t]);
    }
#pragma unroll
    for (int t = 0; t < tokens_per_pass; ++t) {
      if (t >= m) break;
      float const v = warp::sum(acc[t]);
      int const s = off + c0 + t;
      if (lane == 0)
        out[static_cast<std::int64_t>(s) * H + r] = (route_weights ? route_weights[plan.slot_choice[s]] : 1.0f) * (sd * v + b);
    }
  }
}

}  // namespace kernels::expert
SWITCHYARD_NAMESPACE_END
