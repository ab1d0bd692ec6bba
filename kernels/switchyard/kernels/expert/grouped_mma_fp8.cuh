#pragma once
// The prefill path for fp8 e4m3 expert weights on devices with fp8 tensor cores (sm_89+, sm_90a
// included): both operands in e4m3, mma.sync.m16n8k32, DeepSeek-V3's recipe for the scales.
//
//   activations: quantized per row and group of 128 columns beforehand (quantize_fp8.cuh): x for
//     gate_up, h (the gate_up output) for down;
//   weights: the e4m3 codes as stored, with their 128 x 128 block scales (BS), per-channel scales
//     (applied in the epilogue, as the bf16 path does) or none;
//   accumulation: each 128-wide k group is summed by the tensor cores into a partial f32 tile,
//     which is then scaled by (activation scale of the row) x (weight block scale) and added to
//     the running f32 tile -- the "promotion" that keeps fp8 products from accumulating across
//     scales they do not share.
//
// Same tiling, grid and epilogues as grouped_mma.cuh (64 slots x 64 weight rows x 32 k per block
// of 4 warps); a 32-wide k step is one m16n8k32 per accumulator tile. Operands are staged in
// shared memory as bytes, rows 48 bytes apart (32 + 16: the fragment loads of a warp fall in 32
// distinct banks).
#include <cstdint>

#include "switchyard/kernels/common/mma.cuh"
#include "switchyard/kernels/expert/gemv.cuh"
#include "switchyard/kernels/expert/grouped_mma.cuh"
#include "switchyard/kernels/route/plan.cuh"

SWITCHYARD_NAMESPACE_BEGIN
namespace kernels::expert {

inline constexpr int fp8_lds = 48;  // bytes per staged row

namespace detail {

__device__ __forceinline__ std::uint32_t lds32_bytes(std::uint8_t const* s, int at) {
  return *reinterpret_cast<std::uint32_t const*>(s + at);
}

// a_rows[p] / b_rows[p]: the e4m3 A row (activation codes; null past the expert's slots) and
// weight row (null past the matrix) that thread tid loads 8 bytes of per k step (tile rows tid / 4
// and tid / 4 + 32). a_scales[i][half]: the scale row (ceil(K/128) floats) of the thread's
// accumulator row wm 32 + 16 i + g + 8 half, or null (a row past the slots: its partial sums are 0);
// b_scale(j): the block-scale row of the warp's j-th n8 tile, or null (no block scales: 1).
template <class BN0, class BScale>
__device__ __forceinline__ void mainloop_fp8(int K, std::uint8_t const* const (&a_rows)[2],
                                             std::uint8_t const* const (&b_rows)[2],
                                             float const* const (&a_scales)[2][2], BScale b_scale, BN0 b_n0,
                                             float (&acc)[2][4][4]) {
  __shared__ alignas(16) std::uint8_t as[mma_bm * fp8_lds];
  __shared__ alignas(16) std::uint8_t bs[mma_bn * fp8_lds];
  int const tid = threadIdx.x, warp_id = tid / 32, lane = tid % 32;
  int const g = lane / 4, c = lane % 4, wm = warp_id / 2;

  uint2 a_reg[2], b_reg[2];
  auto load = [&](int k0) {
#pragma unroll
    for (int p = 0; p < 2; ++p) {
      int const kc = ((tid + mma_threads * p) % 4) * 8;
      a_reg[p] = a_rows[p] ? *reinterpret_cast<uint2 const*>(a_rows[p] + k0 + kc) : make_uint2(0, 0);
      b_reg[p] = b_rows[p] ? *reinterpret_cast<uint2 const*>(b_rows[p] + k0 + kc) : make_uint2(0, 0);
    }
  };

  float part[2][4][4];
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j)
#pragma unroll
      for (int q = 0; q < 4; ++q) acc[i][j][q] = part[i][j][q] = 0.0f;

  load(0);
  for (int k0 = 0; k0 < K; k0 += mma_bk) {
    __syncthreads();  // the previous step's fragments are read
#pragma unroll
    for (int p = 0; p < 2; ++p) {
      int const q = tid + mma_threads * p, r = q / 4, kc = (q % 4) * 8;
      *reinterpret_cast<uint2*>(as + r * fp8_lds + kc) = a_reg[p];
      *reinterpret_cast<uint2*>(bs + r * fp8_lds + kc) = b_reg[p];
    }
    __syncthreads();
    if (k0 + mma_bk < K) load(k0 + mma_bk);  // in flight while this step multiplies
    std::uint32_t a[2][4], b[4][2];
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      int const r0 = (wm * 32 + i * 16 + g) * fp8_lds + 4 * c;
      a[i][0] = lds32_bytes(as, r0);
      a[i][1] = lds32_bytes(as, r0 + 8 * fp8_lds);
      a[i][2] = lds32_bytes(as, r0 + 16);
      a[i][3] = lds32_bytes(as, r0 + 8 * fp8_lds + 16);
    }
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      int const r0 = (b_n0(j) + g) * fp8_lds + 4 * c;
      b[j][0] = lds32_bytes(bs, r0);
      b[j][1] = lds32_bytes(bs, r0 + 16);
    }
#pragma unroll
    for (int i = 0; i < 2; ++i)
#pragma unroll
      for (int j = 0; j < 4; ++j) mma::e4m3_operands::run(part[i][j], a[i], b[j]);

    // End of a 128-wide k group (or of K): promote the partial sums with their scales.
    int const next = k0 + mma_bk;
    if (next % block_scale_size == 0 || next >= K) {
      int const kb = k0 / block_scale_size;
      float sw[4];
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        float const* row = b_scale(j);
        sw[j] = row ? row[kb] : 1.0f;
      }
#pragma unroll
      for (int i = 0; i < 2; ++i)
#pragma unroll
        for (int half = 0; half < 2; ++half) {
          float const sa = a_scales[i][half] ? a_scales[i][half][kb] : 0.0f;
#pragma unroll
          for (int j = 0; j < 4; ++j)
#pragma unroll
            for (int q = 0; q < 2; ++q) {
              acc[i][j][2 * half + q] = fmaf(part[i][j][2 * half + q], sa * sw[j], acc[i][j][2 * half + q]);
              part[i][j][2 * half + q] = 0.0f;
            }
        }
    }
  }
}

// a_scales[i][half]: the activation-scale row of the thread's accumulator row m0 + acc_row(i, half)
// (row_of(m)), or null past the expert's n slots.
template <class RowOf>
__device__ __forceinline__ void scale_rows(float const* (&a_scales)[2][2], int m0, int n, RowOf row_of) {
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      int const m = m0 + acc_row(i, half);
      a_scales[i][half] = m < n ? row_of(m) : nullptr;
    }
}

}  // namespace detail

// The fp8 twin of mma_gate_up_kernel: xq [T, H] e4m3 codes and xs [T, ceil(H/128)] their scales
// (quantize_fp8_rows_kernel on x); gate_up [E, 2F, H] e4m3; bias, per-channel scales [E, 2F] or
// null; with BS, block_scales [E, 2 ceil(F/128), ceil(H/128)]. h [S, F] bf16 bits.
template <class Act, bool BS>
__global__ void __launch_bounds__(mma_threads)
    mma_fp8_gate_up_kernel(route::plan_view plan, std::uint8_t const* __restrict__ xq, float const* __restrict__ xs,
                           format::e4m3 const* __restrict__ gate_up, float const* __restrict__ bias,
                           float const* __restrict__ scales, float const* __restrict__ block_scales,
                           std::uint16_t* __restrict__ h, int H, int F) {
  int e, m0, n, off;
  if (!detail::find_tile(plan, e, m0, n, off)) return;
  int const f0 = blockIdx.y * (mma_bn / 2);
  int const HB = block_scale_count(H), FB = block_scale_count(F);
  auto const* gu = reinterpret_cast<std::uint8_t const*>(gate_up) + static_cast<std::int64_t>(e) * 2 * F * H;
  std::uint8_t const* a_rows[2];
  std::uint8_t const* b_rows[2];
#pragma unroll
  for (int p = 0; p < 2; ++p) {
    int const r = (threadIdx.x + mma_threads * p) / 4;
    a_rows[p] = m0 + r < n ? xq + static_cast<std::int64_t>(plan.slot_token[off + m0 + r]) * H : nullptr;
    int const f = f0 + (r % 32);
    b_rows[p] = f < F ? gu + static_cast<std::int64_t>(r < 32 ? f : F + f) * H : nullptr;
  }
  int const wn = (threadIdx.x / 32) % 2;
  float const* a_scales[2][2];
  detail::scale_rows(a_scales, m0, n, [&](int m) { return xs + static_cast<std::int64_t>(plan.slot_token[off + m]) * HB; });
  // The tile's 32 gate rows and 32 up rows each lie in one 128-row block (f0 % 32 == 0).
  float const* gate_bs = nullptr;
  float const* up_bs = nullptr;
  if constexpr (BS) {
    gate_bs = block_scales + (static_cast<std::int64_t>(e) * 2 * FB + f0 / block_scale_size) * HB;
    up_bs = gate_bs + static_cast<std::int64_t>(FB) * HB;
  }
  float acc[2][4][4];
  detail::mainloop_fp8(
      H, a_rows, b_rows, a_scales, [&](int j) { return j < 2 ? gate_bs : up_bs; },
      [wn](int j) { return j < 2 ? wn * 16 + j * 8 : 32 + wn * 16 + (j - 2) * 8; }, acc);

  detail::store_gate_up<Act, mma::bf16_operands>(acc, m0, n, off, f0,
                                                 bias ? bias + static_cast<std::int64_t>(e) * 2 * F : nullptr,
                                                 scales ? scales + static_cast<std::int64_t>(e) * 2 * F : nullptr, h, F);
}

// The fp8 twin of mma_down_kernel: hq [S, F] e4m3 codes of h and hs [S, ceil(F/128)] their scales
// (slot-indexed, as h); down [E, H, F] e4m3; bias, per-channel scales [E, H] or null; with BS,
// block_scales [E, ceil(H/128), ceil(F/128)]; route_weights as mma_down_kernel's.
template <bool BS>
__global__ void __launch_bounds__(mma_threads)
    mma_fp8_down_kernel(route::plan_view plan, std::uint8_t const* __restrict__ hq, float const* __restrict__ hs,
                        format::e4m3 const* __restrict__ down, float const* __restrict__ bias,
                        float const* __restrict__ scales, float const* __restrict__ block_scales,
                        float const* __restrict__ route_weights, float* __restrict__ out, int H, int F) {
  int e, m0, n, off;
  if (!detail::find_tile(plan, e, m0, n, off)) return;
  int const n0 = blockIdx.y * mma_bn;
  int const FB = block_scale_count(F);
  auto const* dw = reinterpret_cast<std::uint8_t const*>(down) + static_cast<std::int64_t>(e) * H * F;
  std::uint8_t const* a_rows[2];
  std::uint8_t const* b_rows[2];
#pragma unroll
  for (int p = 0; p < 2; ++p) {
    int const r = (threadIdx.x + mma_threads * p) / 4;
    a_rows[p] = m0 + r < n ? hq + static_cast<std::int64_t>(off + m0 + r) * F : nullptr;
    b_rows[p] = n0 + r < H ? dw + static_cast<std::int64_t>(n0 + r) * F : nullptr;
  }
  int const wn = (threadIdx.x / 32) % 2;
  float const* a_scales[2][2];
  detail::scale_rows(a_scales, m0, n, [&](int m) { return hs + static_cast<std::int64_t>(off + m) * FB; });
  // The tile's 64 rows lie in one 128-row block (n0 % 64 == 0).
  float const* row_bs = nullptr;
  if constexpr (BS)
    row_bs = block_scales + (static_cast<std::int64_t>(e) * block_scale_count(H) + n0 / block_scale_size) * FB;
  float acc[2][4][4];
  detail::mainloop_fp8(F, a_rows, b_rows, a_scales, [&](int) { return row_bs; },
                       [wn](int j) { return wn * 32 + j * 8; }, acc);

  detail::store_down(acc, plan, m0, n, off, n0, bias ? bias + static_cast<std::int64_t>(e) * H : nullptr,
                     scales ? scales + static_cast<std::int64_t>(e) * H : nullptr, route_weights, out, H);
}

}  // namespace kernels::expert
SWITCHYARD_NAMESPACE_END
