#pragma once
// The prefill path of the expert FFNs: one grouped GEMM launch per projection for all experts,
// on tensor cores (mma.sync m16n8k16, f32 accumulation; sm_80 and later, sm_90a included).
//
//   gate_up: h[s] = act(x[token(s)] . gate^T, x[token(s)] . up^T)    the gather of token rows is
//            fused into the A-operand load, SwiGLU into the epilogue: a block's B tile holds 32
//            gate rows and the 32 matching up rows, and each warp owns 16 gate and the same 16 up
//            columns, so gate and up meet in the same thread's accumulators;
//   down:    out[s] = w(s) (h[s] . down^T + b)                          the routing weight scale is
//            fused into the epilogue; the combine over a token's k slots is a separate
//            deterministic kernel (combine.cuh).
//
// Tiles: 64 slots x 64 weight rows x 32 k per block of 4 warps (2 x 2, each 32 x 32). The weight
// tile is decoded from the packed format in registers (common/device_format.cuh) and stored to
// shared memory as bf16 (f16 for f16 weights), so every format runs the same tensor-core loop;
// global loads of the next k step are issued before the current one is multiplied (register
// double buffering). The grid's x dimension enumerates (expert, 64-row tile) pairs from the
// plan's device-side tile offsets, bounded on the host by ceil(S / 64) + min(E, S): no host
// synchronization, and a CUDA graph can hold the launch.
//
// Not here yet: the sm_90a path with wgmma and the bulk tensor copy engine (TMA) and cp.async
// multi-stage pipelines; sm_90a runs this mma.sync path (and, for e4m3 weights, the fp8 twin in
// grouped_mma_fp8.cuh).
#include <cstdint>

#include "switchyard/kernels/common/device_format.cuh"
#include "switchyard/kernels/common/mma.cuh"
#include "switchyard/kernels/expert/gemv.cuh"
#include "switchyard/kernels/route/plan.cuh"

SWITCHYARD_NAMESPACE_BEGIN
namespace kernels::expert {

inline constexpr int mma_bm = route::plan_tile_rows;  // slots per tile (the plan's tile rows)
inline constexpr int mma_bn = 64;                      // weight rows per tile
inline constexpr int mma_bk = 32;
inline constexpr int mma_lds = mma_bk + 8;  // smem row stride (elements): 20 words, conflict-free fragment loads
inline constexpr int mma_threads = 128;

// Operand type of the tensor-core product for weight format W: f16 weights multiply in f16
// (bf16 would drop 3 of their mantissa bits), everything else in bf16.
template <class W>
using mma_operands = std::conditional_t<std::is_same_v<W, format::f16>, mma::f16_operands, mma::bf16_operands>;

namespace detail {

__device__ __forceinline__ std::uint32_t lds32(std::uint16_t const* s, int at) {
  return *reinterpret_cast<std::uint32_t const*>(s + at);
}

// Which (expert, tile) this block computes; false when the block is past the last tile.
__device__ __forceinline__ bool find_tile(route::plan_view const& plan, int& e, int& m0, int& n, int& off) {
  int const tile = blockIdx.x;
  int const E = plan.experts;
  if (tile >= plan.tile_offsets[E]) return false;
  int lo = 0, hi = E + 1;  // upper_bound of tile in tile_offsets[0, E]
  while (lo < hi) {
    int const mid = (lo + hi) / 2;
    if (plan.tile_offsets[mid] <= tile) lo = mid + 1;
    else hi = mid;
  }
  e = lo - 1;
  m0 = (tile - plan.tile_offsets[e]) * mma_bm;
  n = plan.counts[e];
  off = plan.offsets[e];
  return true;
}

template <class Ops>
__device__ __forceinline__ uint4 pack8(float const (&v)[8]) {
  return make_uint4(Ops::pack(v[0], v[1]), Ops::pack(v[2], v[3]), Ops::pack(v[4], v[5]), Ops::pack(v[6], v[7]));
}

// The tile loop shared by both projections. Thread `tid` loads 8 elements of tile rows
// tid / 4 and tid / 4 + 32 (p = 0, 1) per k step: a_rows[p] is that A row (null: past the expert's
// slots), f32 (converted) or 16-bit operand bits; b_rows[p] that weight row (null: past the
// matrix); with BS, b_scales[p] that row's 128 x 128 block scales (the weights are scaled as
// decoded, before the rounding to the operand type). acc[i][j]: the warp's 2 x 4 grid of 16 x 8
// accumulators; `b_n0(j)` is the smem row of the warp's j-th n8 tile.
template <class W, class Ops, bool BS, class A, class BN0>
__device__ __forceinline__ void mainloop(int K, A const* const (&a_rows)[2], W const* const (&b_rows)[2],
                                         float const* const (&b_scales)[2], BN0 b_n0, float (&acc)[2][4][4]) {
  using fmt = device_format<W>;
  __shared__ alignas(16) std::uint16_t as[mma_bm * mma_lds];
  __shared__ alignas(16) std::uint16_t bs[mma_bn * mma_lds];
  int const tid = threadIdx.x, warp_id = tid / 32, lane = tid % 32;
  int const g = lane / 4, c = lane % 4, wm = warp_id / 2;

  uint4 a_reg[2], b_reg[2];
  auto load = [&](int k0) {
#pragma unroll
    for (int p = 0; p < 2; ++p) {
      int const kc = ((tid + mma_threads * p) % 4) * 8;
      A const* src = a_rows[p];
      if (src == nullptr) {
        a_reg[p] = make_uint4(0, 0, 0, 0);
      } else if constexpr (std::is_same_v<A, float>) {
        float4 const lo = *reinterpret_cast<float4 const*>(src + k0 + kc);
        float4 const hi = *reinterpret_cast<float4 const*>(src + k0 + kc + 4);
        float const v[8] = {lo.x, lo.y, lo.z, lo.w, hi.x, hi.y, hi.z, hi.w};
        a_reg[p] = pack8<Ops>(v);
      } else {
        a_reg[p] = *reinterpret_cast<uint4 const*>(src + k0 + kc);
      }
      W const* w = b_rows[p];
      if (w == nullptr) {
        b_reg[p] = make_uint4(0, 0, 0, 0);
      } else {
        float v[8];
        fmt::decode8(w, k0 + kc, v);
        apply_block_scale<BS>(v, b_scales[p], k0 + kc);
        b_reg[p] = pack8<Ops>(v);
      }
    }
  };

#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j)
#pragma unroll
      for (int q = 0; q < 4; ++q) acc[i][j][q] = 0.0f;

  load(0);
  for (int k0 = 0; k0 < K; k0 += mma_bk) {
    __syncthreads();  // the previous step's fragments are read
#pragma unroll
    for (int p = 0; p < 2; ++p) {
      int const q = tid + mma_threads * p, r = q / 4, kc = (q % 4) * 8;
      *reinterpret_cast<uint4*>(as + r * mma_lds + kc) = a_reg[p];
      *reinterpret_cast<uint4*>(bs + r * mma_lds + kc) = b_reg[p];
    }
    __syncthreads();
    if (k0 + mma_bk < K) load(k0 + mma_bk);  // in flight while this step multiplies
#pragma unroll
    for (int ks = 0; ks < mma_bk; ks += 16) {
      std::uint32_t a[2][4], b[4][2];
#pragma unroll
      for (int i = 0; i < 2; ++i) {
        int const r0 = (wm * 32 + i * 16 + g) * mma_lds + ks + 2 * c;
        a[i][0] = lds32(as, r0);
        a[i][1] = lds32(as, r0 + 8 * mma_lds);
        a[i][2] = lds32(as, r0 + 8);
        a[i][3] = lds32(as, r0 + 8 * mma_lds + 8);
      }
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        int const r0 = (b_n0(j) + g) * mma_lds + ks + 2 * c;
        b[j][0] = lds32(bs, r0);
        b[j][1] = lds32(bs, r0 + 8);
      }
#pragma unroll
      for (int i = 0; i < 2; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) Ops::run(acc[i][j], a[i], b[j]);
    }
  }
}

// The accumulator rows of this thread (the 2 x 4 grid of m16n8 tiles of its warp): tile row
// wm 32 + 16 i + g + 8 half for i, half in {0, 1}.
__device__ __forceinline__ int acc_row(int i, int half) {
  int const lane = threadIdx.x % 32, wm = (threadIdx.x / 32) / 2;
  return wm * 32 + i * 16 + lane / 4 + 8 * half;
}

// gate_up's epilogue, shared by the bf16 / f16 and fp8 tiles: the warp's n8 tiles j = 0, 1 hold
// gate columns f0 + wn 16 + 8 j + 2c, tiles j + 2 the matching up columns; per-channel scales
// `sc` and bias `bg` ([2F], this expert's) or null; h [S, F] as Ops's 16-bit bits.
template <class Act, class Ops>
__device__ __forceinline__ void store_gate_up(float const (&acc)[2][4][4], int m0, int n, int off, int f0,
                                              float const* bg, float const* sc, std::uint16_t* h, int F) {
  int const c = threadIdx.x % 4, wn = (threadIdx.x / 32) % 2;
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 2; ++j)
#pragma unroll
      for (int half = 0; half < 2; ++half) {
        int const m = m0 + acc_row(i, half);
        int const col = f0 + wn * 16 + j * 8 + 2 * c;
        if (m >= n || col >= F) continue;
        float v[2];
#pragma unroll
        for (int q = 0; q < 2; ++q) {
          float const gate = (sc ? sc[col + q] : 1.0f) * acc[i][j][2 * half + q] + (bg ? bg[col + q] : 0.0f);
          float const up = (sc ? sc[F + col + q] : 1.0f) * acc[i][j + 2][2 * half + q] + (bg ? bg[F + col + q] : 0.0f);
          v[q] = Act::apply(gate, up);
        }
        *reinterpret_cast<std::uint32_t*>(h + static_cast<std::int64_t>(off + m) * F + col) = Ops::pack(v[0], v[1]);
      }
}

// down's epilogue, shared likewise: out[s, col] = w(s) (sd acc + b) for the warp's columns
// n0 + wn 32 + 8 j + 2c; sd, b ([H], this expert's) or null; w(s) from route_weights or 1.
__device__ __forceinline__ void store_down(float const (&acc)[2][4][4], route::plan_view const& plan, int m0, int n,
                                           int off, int n0, float const* b, float const* sc,
                                           float const* route_weights, float* out, int H) {
  int const c = threadIdx.x % 4, wn = (threadIdx.x / 32) % 2;
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      int const m = m0 + acc_row(i, half);
      if (m >= n) continue;
      float const scale = route_weights ? route_weights[plan.slot_choice[off + m]] : 1.0f;
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        int const col = n0 + wn * 32 + j * 8 + 2 * c;
        if (col >= H) continue;
        float2 const v =
            make_float2(scale * ((sc ? sc[col] : 1.0f) * acc[i][j][2 * half] + (b ? b[col] : 0.0f)),
                        scale * ((sc ? sc[col + 1] : 1.0f) * acc[i][j][2 * half + 1] + (b ? b[col + 1] : 0.0f)));
        *reinterpret_cast<float2*>(out + static_cast<std::int64_t>(off + m) * H + col) = v;
      }
    }
}

}  // namespace detail

// h [S, F] (16-bit operand bits of Ops) = act(gate . x, up . x) per slot; gate_up [E, 2F, H / B],
// bias and per-channel scales [E, 2F] or null; with BS, block_scales as gemv_gate_up_kernel's.
// Grid: (tile bound, F / 32).
template <class W, class Act, bool BS = false>
__global__ void __launch_bounds__(mma_threads)
    mma_gate_up_kernel(route::plan_view plan, float const* __restrict__ x, W const* __restrict__ gate_up,
                       float const* __restrict__ bias, float const* __restrict__ scales,
                       float const* __restrict__ block_scales, std::uint16_t* __restrict__ h, int H, int F) {
  using Ops = mma_operands<W>;
  int e, m0, n, off;
  if (!detail::find_tile(plan, e, m0, n, off)) return;
  int const f0 = blockIdx.y * (mma_bn / 2);
  std::int64_t const row_blocks = H / device_format<W>::block_elems;
  W const* gu = gate_up + static_cast<std::int64_t>(e) * 2 * F * row_blocks;
  // Row pointers are fixed for the whole K loop: resolve the gather once.
  float const* a_rows[2];
  W const* b_rows[2];
  float const* b_scales[2] = {nullptr, nullptr};
#pragma unroll
  for (int p = 0; p < 2; ++p) {
    int const r = (threadIdx.x + mma_threads * p) / 4;
    a_rows[p] = m0 + r < n ? x + static_cast<std::int64_t>(plan.slot_token[off + m0 + r]) * H : nullptr;
    int const f = f0 + (r % 32);
    b_rows[p] = f < F ? gu + (static_cast<std::int64_t>(r < 32 ? f : F + f)) * row_blocks : nullptr;
    if constexpr (BS) {
      int const HB = block_scale_count(H), FB = block_scale_count(F);
      b_scales[p] = block_scales + (static_cast<std::int64_t>(e) * 2 * FB + (r < 32 ? 0 : FB) + f / block_scale_size) * HB;
    }
  }
  int const wn = (threadIdx.x / 32) % 2;
  float acc[2][4][4];
  detail::mainloop<W, Ops, BS>(H, a_rows, b_rows, b_scales,
                               [wn](int j) { return j < 2 ? wn * 16 + j * 8 : 32 + wn * 16 + (j - 2) * 8; }, acc);

  detail::store_gate_up<Act, Ops>(acc, m0, n, off, f0, bias ? bias + static_cast<std::int64_t>(e) * 2 * F : nullptr,
                                  scales ? scales + static_cast<std::int64_t>(e) * 2 * F : nullptr, h, F);
}

// out [S, H] f32 = w(s) (sd h[s] . down^T + b); down [E, H, F / B], bias and per-channel scales sd
// [E, H] or null; with BS, block_scales as gemv_down_kernel's; route_weights [T K] (w(s) =
// route_weights[slot_choice[s]]) or null (w = 1). Grid: (tile bound, H / 64).
template <class W, bool BS = false>
__global__ void __launch_bounds__(mma_threads)
    mma_down_kernel(route::plan_view plan, std::uint16_t const* __restrict__ h, W const* __restrict__ down,
                    float const* __restrict__ bias, float const* __restrict__ scales,
                    float const* __restrict__ block_scales, float const* __restrict__ route_weights,
                    float* __restrict__ out, int H, int F) {
  using Ops = mma_operands<W>;
  int e, m0, n, off;
  if (!detail::find_tile(plan, e, m0, n, off)) return;
  int const n0 = blockIdx.y * mma_bn;
  std::int64_t const row_blocks = F / device_format<W>::block_elems;
  W const* dw = down + static_cast<std::int64_t>(e) * H * row_blocks;
  std::uint16_t const* a_rows[2];
  W const* b_rows[2];
  float const* b_scales[2] = {nullptr, nullptr};
#pragma unroll
  for (int p = 0; p < 2; ++p) {
    int const r = (threadIdx.x + mma_threads * p) / 4;
    a_rows[p] = m0 + r < n ? h + static_cast<std::int64_t>(off + m0 + r) * F : nullptr;
    b_rows[p] = n0 + r < H ? dw + static_cast<std::int64_t>(n0 + r) * row_blocks : nullptr;
    if constexpr (BS)
      b_scales[p] = block_scales + (static_cast<std::int64_t>(e) * block_scale_count(H) + (n0 + r) / block_scale_size) *
                                       block_scale_count(F);
  }
  int const wn = (threadIdx.x / 32) % 2;
  float acc[2][4][4];
  detail::mainloop<W, Ops, BS>(F, a_rows, b_rows, b_scales, [wn](int j) { return wn * 32 + j * 8; }, acc);

  detail::store_down(acc, plan, m0, n, off, n0, bias ? bias + static_cast<std::int64_t>(e) * H : nullptr,
                     scales ? scales + static_cast<std::int64_t>(e) * H : nullptr, route_weights, out, H);
}

}  // namespace kernels::expert
SWITCHYARD_NAMESPACE_END
