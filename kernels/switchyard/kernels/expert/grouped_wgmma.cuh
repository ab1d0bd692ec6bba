#pragma once
// The prefill path for bf16 expert weights on Hopper (sm_90a): the grouped GEMM of
// grouped_mma.cuh with the weight tiles brought in by the bulk tensor copy engine (TMA) and the
// products done by warpgroup tensor-core instructions (wgmma m64n64k16) from shared memory.
//
// Per block (one warpgroup, 128 threads): 64 slots x 64 weight rows, k in steps of 64 (one
// 128-byte row of bf16 per tile row, the 128-byte swizzle). Each step: thread 0 arms the
// block's mbarrier with the weight tile's bytes and starts its TMA copy (gate_up: the 32 gate rows
// and the 32 matching up rows, two boxes; down: one box of 64 rows); meanwhile all threads gather
// their slots' activation rows (x in f32, rounded to bf16; or h's bf16), store them swizzled,
// fence them for the async proxy; then the block waits for the copy, issues four wgmma (k16 each)
// and waits for them before the next step reuses the tiles.
//
// This is the first, straightforward form -- one stage, no overlap of the copy with the
// products -- written without a Hopper GPU to run it: it is selected only by
// moe_path::wgmma until a GPU run has validated it (tests/cuda run it against the host on any
// sm_90a device). Next: a multi-stage TMA pipeline with producer / consumer warpgroups.
#include <cstdint>

#include <cuda.h>

#include "switchyard/kernels/common/mma.cuh"
#include "switchyard/kernels/common/sm90.cuh"
#include "switchyard/kernels/expert/grouped_mma.cuh"
#include "switchyard/kernels/route/plan.cuh"

SWITCHYARD_NAMESPACE_BEGIN
namespace kernels::expert {

inline constexpr int wg_bk = 64;                  // k per step: 128 bytes of bf16
inline constexpr int wg_tile_bytes = 64 * 128;    // a 64-row tile of one step
inline constexpr int wg_threads = 128;            // one warpgroup
// Dynamic shared memory per block: the A and B tiles, the barrier, and room to align to 1024.
inline constexpr int wg_smem_bytes = 2 * wg_tile_bytes + 64 + 1024;

namespace detail {

struct wg_tiles {
  std::uint8_t* a;
  std::uint8_t* b;
  std::uint64_t* bar;
};

__device__ __forceinline__ wg_tiles wg_carve() {
  extern __shared__ std::uint8_t wg_dynamic_smem[];
  std::uint32_t const base = sm90::smem_addr(wg_dynamic_smem);
  std::uint32_t const pad = (1024u - base % 1024u) % 1024u;  // the swizzle wants 1024-byte tiles
  std::uint8_t* a = wg_dynamic_smem + pad;
  return {a, a + wg_tile_bytes, reinterpret_cast<std::uint64_t*>(a + 2 * wg_tile_bytes)};
}

// 8 activations (k .. k + 8) of a row as 16 bytes of bf16: zeros past K (K % 32 == 0, so a chunk
// is wholly inside or outside).
__device__ __forceinline__ uint4 a_chunk(float const* row, int k, int K) {
  if (row == nullptr || k >= K) return make_uint4(0, 0, 0, 0);
  float4 const lo = *reinterpret_cast<float4 const*>(row + k), hi = *reinterpret_cast<float4 const*>(row + k + 4);
  float const v[8] = {lo.x, lo.y, lo.z, lo.w, hi.x, hi.y, hi.z, hi.w};
  return pack8<mma::bf16_operands>(v);
}
__device__ __forceinline__ uint4 a_chunk(std::uint16_t const* row, int k, int K) {
  if (row == nullptr || k >= K) return make_uint4(0, 0, 0, 0);
  return *reinterpret_cast<uint4 const*>(row + k);
}

// The k loop of both projections. a_rows[p]: the A row (null past the expert's slots) of tile row
// tid / 8 + 16 p, whose 16-byte chunk tid % 8 this thread stores each step; load_b(k0, b, bar):
// thread 0's TMA copies of the weight tile (announced on bar: 64 x 128 bytes). d: the warpgroup's
// 64 x 64 accumulators (sm90.cuh for their layout).
template <class A, class LoadB>
__device__ __forceinline__ void wg_mainloop(int K, A const* const (&a_rows)[4], LoadB load_b, float (&d)[32]) {
  wg_tiles const s = wg_carve();
  int const tid = threadIdx.x;
#pragma unroll
  for (int i = 0; i < 32; ++i) d[i] = 0.0f;
  if (tid == 0) sm90::mbarrier_init(s.bar, 1);
  __syncthreads();
  int const chunk = tid % 8;
  std::uint32_t phase = 0;
  for (int k0 = 0; k0 < K; k0 += wg_bk, phase ^= 1) {
    if (tid == 0) {
      sm90::mbarrier_arrive_expect_tx(s.bar, wg_tile_bytes);
      load_b(k0, s.b, s.bar);
    }
#pragma unroll
    for (int p = 0; p < 4; ++p) {
      int const r = tid / 8 + 16 * p;
      uint4 const v = a_chunk(a_rows[p], k0 + 8 * chunk, K);
      *reinterpret_cast<uint4*>(s.a + r * 128 + ((chunk ^ (r % 8)) * 16)) = v;  // the 128-byte swizzle
    }
    sm90::fence_async_shared();
    __syncthreads();
    sm90::mbarrier_wait(s.bar, phase);
    sm90::wgmma_fence();
    sm90::fence_operands(d);
#pragma unroll
    for (int kk = 0; kk < wg_bk / 16; ++kk)
      sm90::wgmma_m64n64k16_bf16(d, sm90::desc_k_major_sw128(s.a + 32 * kk), sm90::desc_k_major_sw128(s.b + 32 * kk),
                                 true);
    sm90::wgmma_commit();
    sm90::wgmma_wait_all();
    sm90::fence_operands(d);
    __syncthreads();  // every warp is done with the tiles before the next step refills them
  }
}

}  // namespace detail

// h [S, F] bf16 bits = act(gate . x, up . x) per slot, bf16 weights through `gate_up_map` (a 2D
// tensor map over gate_up viewed as [E 2F, H], box 64 k x 32 rows, 128-byte swizzle). Bias
// [E, 2F] or null. Grid: (tile bound, F / 32), wg_threads, wg_smem_bytes of dynamic memory.
template <class Act>
__global__ void __launch_bounds__(wg_threads)
    wgmma_gate_up_kernel(route::plan_view plan, float const* __restrict__ x, const __grid_constant__ CUtensorMap gate_up_map,
                         float const* __restrict__ bias, std::uint16_t* __restrict__ h, int H, int F) {
  int e, m0, n, off;
  if (!detail::find_tile(plan, e, m0, n, off)) return;
  int const f0 = blockIdx.y * 32;
  int const tid = threadIdx.x;
  float const* a_rows[4];
#pragma unroll
  for (int p = 0; p < 4; ++p) {
    int const r = tid / 8 + 16 * p;
    a_rows[p] = m0 + r < n ? x + static_cast<std::int64_t>(plan.slot_token[off + m0 + r]) * H : nullptr;
  }
  int const gate_row = e * 2 * F + f0;
  float d[32];
  detail::wg_mainloop(H, a_rows,
                      [&](int k0, std::uint8_t* b, std::uint64_t* bar) {
                        sm90::tma_load_2d(b, &gate_up_map, k0, gate_row, bar);
                        sm90::tma_load_2d(b + 32 * 128, &gate_up_map, k0, gate_row + F, bar);
                      },
                      d);

  int const lane = tid % 32, g = lane / 4, c = lane % 4, w = tid / 32;
  float const* bg = bias ? bias + static_cast<std::int64_t>(e) * 2 * F : nullptr;
#pragma unroll
  for (int i = 0; i < 4; ++i)  // columns 8 i + 2c of the gate half, 32 + 8 i + 2c of the up half
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      int const m = m0 + 16 * w + g + 8 * half;
      int const col = f0 + 8 * i + 2 * c;
      if (m >= n || col >= F) continue;
      float v[2];
#pragma unroll
      for (int q = 0; q < 2; ++q) {
        float const gate = d[4 * i + 2 * half + q] + (bg ? bg[col + q] : 0.0f);
        float const up = d[4 * (i + 4) + 2 * half + q] + (bg ? bg[F + col + q] : 0.0f);
        v[q] = Act::apply(gate, up);
      }
      *reinterpret_cast<std::uint32_t*>(h + static_cast<std::int64_t>(off + m) * F + col) =
          mma::bf16_operands::pack(v[0], v[1]);
    }
}

// out [S, H] f32 = w(s) (h[s] . down^T + b), bf16 weights through `down_map` (a 2D tensor map
// over down viewed as [E H, F], box 64 k x 64 rows, 128-byte swizzle); bias [E, H] or null,
// route_weights as mma_down_kernel's. Grid: (tile bound, H / 64).
__global__ void __launch_bounds__(wg_threads)
    wgmma_down_kernel(route::plan_view plan, std::uint16_t const* __restrict__ h, const __grid_constant__ CUtensorMap down_map,
                      float const* __restrict__ bias, float const* __restrict__ route_weights, float* __restrict__ out,
                      int H, int F) {
  int e, m0, n, off;
  if (!detail::find_tile(plan, e, m0, n, off)) return;
  int const n0 = blockIdx.y * 64;
  int const tid = threadIdx.x;
  std::uint16_t const* a_rows[4];
#pragma unroll
  for (int p = 0; p < 4; ++p) {
    int const r = tid / 8 + 16 * p;
    a_rows[p] = m0 + r < n ? h + static_cast<std::int64_t>(off + m0 + r) * F : nullptr;
  }
  int const down_row = e * H + n0;
  float d[32];
  detail::wg_mainloop(
      F, a_rows, [&](int k0, std::uint8_t* b, std::uint64_t* bar) { sm90::tma_load_2d(b, &down_map, k0, down_row, bar); },
      d);

  int const lane = tid % 32, g = lane / 4, c = lane % 4, w = tid / 32;
  float const* b = bias ? bias + static_cast<std::int64_t>(e) * H : nullptr;
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    int const m = m0 + 16 * w + g + 8 * half;
    if (m >= n) continue;
    float const scale = route_weights ? route_weights[plan.slot_choice[off + m]] : 1.0f;
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      int const col = n0 + 8 * i + 2 * c;
      if (col >= H) continue;
      float2 const v = make_float2(scale * (d[4 * i + 2 * half] + (b ? b[col] : 0.0f)),
                                   scale * (d[4 * i + 2 * half + 1] + (b ? b[col + 1] : 0.0f)));
      *reinterpret_cast<float2*>(out + static_cast<std::int64_t>(off + m) * H + col) = v;
    }
  }
}

}  // namespace kernels::expert
SWITCHYARD_NAMESPACE_END
