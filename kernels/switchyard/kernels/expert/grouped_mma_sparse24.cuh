#pragma once
// The prefill path of the expert FFNs for 2:4 sparse weights (format::sparse24<bf16 / f16>): the
// grouped GEMM of grouped_mma.cuh on the sparse tensor cores, mma.sp.m16n8k32 (sm_80 and later,
// sm_90a included; fragments and metadata: common/mma.cuh). The sparse operand of mma.sp is A, so
// the roles of grouped_mma.cuh are swapped:
//
//   A (M x K, 2:4 sparse)  the expert's weight rows, straight from the sparse24 blocks: a block is
//                          one row's 32-column slice, i.e. exactly one m16n8k32 A row (16 kept
//                          values + 32 bits of positions). Nothing is decoded: each thread loads its
//                          fragment words from global memory into registers (no shared memory),
//                          and the metadata is `pos` itself, rows g and g + 8 packed in one word;
//   B (K x N, dense)       the expert's slots (gathered token rows of x, or rows of h), converted to
//                          the operand type and staged in shared memory as grouped_mma.cuh does;
//   D (M x N)              = (weights . activations^T): accumulators hold weight rows x slots, so
//                          the epilogues write them transposed, out[slot][row].
//
//   gate_up: each warp's 16 A rows are 8 gate rows and the same 8 up rows (local rows g and
//            g + 8), so a thread's d0, d1 (row g) and d2, d3 (row g + 8) are gate and up of one
//            intermediate channel and the same two slots: SwiGLU runs in registers;
//   down:    each warp's 16 A rows are 16 consecutive output channels; the routing weight of the
//            slot scales them in the epilogue (the combine is combine.cuh, as for every path).
//
// Tiles: 64 weight rows (4 warps x 16) x 64 slots (the plan's tile rows) x 32 k per step; each
// warp owns all 64 slots of the tile (8 n8 products per k step, 32 accumulators per thread, as in
// grouped_mma.cuh) so no weight fragment is loaded twice. The loads of the next k step (weight
// fragments and activation rows) are issued before the current step multiplies (register double
// buffering). Grid and tile enumeration as grouped_mma.cuh: x = (expert, 64-slot tile) pairs from
// the plan's device-side offsets, y = 32 intermediate channels (gate_up) or 64 output channels
// (down).
//
// Bytes per weight: 36 / 32 against 2 for dense bf16, and half the tensor-core instructions per k:
// the prefill GEMM on pruned weights reads 1.78x fewer weight bytes and issues half the products.
#include <cstdint>
#include <type_traits>

#include "switchyard/core/format/sparse24.hpp"
#include "switchyard/kernels/common/mma.cuh"
#include "switchyard/kernels/expert/grouped_mma.cuh"
#include "switchyard/kernels/route/plan.cuh"

SWITCHYARD_NAMESPACE_BEGIN
namespace kernels::expert {

inline constexpr int sp_bm = 64;                     // weight rows per tile (mma.sp's M): 4 warps x 16
inline constexpr int sp_bn = route::plan_tile_rows;  // slots per tile (N)
inline constexpr int sp_bk = 32;                     // one sparse24 block per weight row per step
inline constexpr int sp_lds = sp_bk + 8;  // smem row stride (elements): 20 words, conflict-free B fragment loads
inline constexpr int sp_threads = 128;
static_assert(sp_bn == 64 && sp_bk == format::sparse24<format::bf16>::elems,
              "the sparse tile loop loads 64 slot rows x 32 k and one block per weight row per step");

// The value type E of format::sparse24<E>.
template <class W>
struct sparse24_value;
template <class E>
struct sparse24_value<format::sparse24<E>> {
  using type = E;
};

// The operand type of the sparse product: the format's own value type (exact for the weights),
// which the activations and h are rounded to.
template <class E>
using sparse_operands = std::conditional_t<std::is_same_v<E, format::f16>, mma::f16_operands, mma::bf16_operands>;

// Metadata of a missing weight row (past the matrix): keep positions 0 and 1 of every chunk (its
// values are zeros). 0b0000 and the other equal-position nibbles are undefined behaviour for
// mma.sp, so a zero word would not do.
inline constexpr std::uint32_t sparse_empty_pos = 0x44444444u;

// One m16n8k32 A fragment and its metadata word from the sparse24 blocks of the thread's two rows
// (g and g + 8 of the 16-row tile, `lo` and `hi`, null past the matrix) at one 32-column slice
// (common/mma.cuh has the layout): the thread holds chunk c and chunk c + 4 of both rows, which
// are 32-bit words c and c + 4 of a block's values (v[2c], v[2c + 1] are chunk c's kept values,
// lower position first, as mma.sp wants them); metadata: the low halves of both rows' pos for
// threads c = 0 (columns 0..15), the high halves for c = 1. Threads 2 and 3 of the quad compute a
// word that selector 0 never reads.
template <class E>
__device__ __forceinline__ void load_sparse24_fragment(format::sparse24<E> const* lo, format::sparse24<E> const* hi,
                                                       int c, std::uint32_t (&a)[4], std::uint32_t& e) {
  std::uint32_t pos_lo = sparse_empty_pos, pos_hi = sparse_empty_pos;
  a[0] = a[1] = a[2] = a[3] = 0;
  if (lo != nullptr) {
    auto const* w = reinterpret_cast<std::uint32_t const*>(lo);  // 9 words: v[0..16) as 8, then pos
    a[0] = w[c];
    a[2] = w[c + 4];
    pos_lo = w[8];
  }
  if (hi != nullptr) {
    auto const* w = reinterpret_cast<std::uint32_t const*>(hi);
    a[1] = w[c];
    a[3] = w[c + 4];
    pos_hi = w[8];
  }
  // __byte_perm(x, y, s): result byte i = byte s_i of the 8 bytes y:x. 0x5410: x's low half, then
  // y's low half above it; 0x7632: the high halves.
  e = __byte_perm(pos_lo, pos_hi, (c & 1) ? 0x7632 : 0x5410);
}

// One m16n8k32 B fragment (common/mma.cuh): `col` points at element k = 0 of the thread's B
// column (n = g) of this 32-k step, k contiguous, 4-byte aligned.
__device__ __forceinline__ void load_sparse_b_fragment(std::uint16_t const* col, int c, std::uint32_t (&b)[4]) {
#pragma unroll
  for (int q = 0; q < 4; ++q) b[q] = *reinterpret_cast<std::uint32_t const*>(col + 2 * c + 8 * q);
}

namespace detail {

// The tile loop of both projections. b_rows[p] (p = 0, 1): the activation row (slot) this thread
// stages, tile row (tid + 128 p) / 4, 8 elements at k column ((tid + 128 p) % 4) 8 of each step,
// f32 (converted to the operand type) or operand bits; null past the expert's slots. w_lo, w_hi:
// the weight rows of local rows g and g + 8 of this warp's 16 (null past the matrix), K / 32
// blocks each. acc[j]: the m16n8 accumulators of slots 8j .. 8j + 7 of the tile.
template <class E, class A>
__device__ __forceinline__ void sparse_mainloop(int K, A const* const (&b_rows)[2], format::sparse24<E> const* w_lo,
                                                format::sparse24<E> const* w_hi, float (&acc)[8][4]) {
  using Ops = sparse_operands<E>;
  __shared__ alignas(16) std::uint16_t bs[sp_bn * sp_lds];  // [slot, k] of the current step
  int const tid = threadIdx.x, lane = tid % 32;
  int const g = lane / 4, c = lane % 4;

  uint4 b_reg[2];
  std::uint32_t a_next[4], e_next;
  auto load = [&](int k0) {
#pragma unroll
    for (int p = 0; p < 2; ++p) {
      int const kc = ((tid + sp_threads * p) % 4) * 8;
      A const* src = b_rows[p];
      if (src == nullptr) {
        b_reg[p] = make_uint4(0, 0, 0, 0);
      } else if constexpr (std::is_same_v<A, float>) {
        float4 const l = *reinterpret_cast<float4 const*>(src + k0 + kc);
        float4 const h = *reinterpret_cast<float4 const*>(src + k0 + kc + 4);
        float const v[8] = {l.x, l.y, l.z, l.w, h.x, h.y, h.z, h.w};
        b_reg[p] = pack8<Ops>(v);
      } else {
        b_reg[p] = *reinterpret_cast<uint4 const*>(src + k0 + kc);
      }
    }
    int const kb = k0 / sp_bk;
    load_sparse24_fragment<E>(w_lo ? w_lo + kb : nullptr, w_hi ? w_hi + kb : nullptr, c, a_next, e_next);
  };

#pragma unroll
  for (int j = 0; j < 8; ++j)
#pragma unroll
    for (int q = 0; q < 4; ++q) acc[j][q] = 0.0f;

  load(0);
  for (int k0 = 0; k0 < K; k0 += sp_bk) {
    __syncthreads();  // the previous step's B fragments are read
#pragma unroll
    for (int p = 0; p < 2; ++p) {
      int const q = tid + sp_threads * p;
      *reinterpret_cast<uint4*>(bs + (q / 4) * sp_lds + (q % 4) * 8) = b_reg[p];
    }
    std::uint32_t const a[4] = {a_next[0], a_next[1], a_next[2], a_next[3]};
    std::uint32_t const e = e_next;
    __syncthreads();
    if (k0 + sp_bk < K) load(k0 + sp_bk);  // in flight while this step multiplies
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      std::uint32_t b[4];
      load_sparse_b_fragment(bs + (j * 8 + g) * sp_lds, c, b);
      Ops::run_sparse(acc[j], a, b, e);
    }
  }
}

// The 16 bits of one value in the operand type (h's element type).
template <class Ops>
__device__ __forceinline__ std::uint16_t operand_bits(float v) {
  return static_cast<std::uint16_t>(Ops::pack(v, 0.0f) & 0xFFFFu);
}

}  // namespace detail

// h [S, F] (16-bit operand bits of E) = act(gate . x + bg, up . x + bu) per slot; gate_up
// [E, 2F, H / 32] sparse24 blocks (gate rows, then up rows); bias [E, 2F] or null.
// Grid: (tile bound, F / 32).
template <class E, class Act>
__global__ void __launch_bounds__(sp_threads)
    sparse24_gate_up_kernel(route::plan_view plan, float const* __restrict__ x,
                            format::sparse24<E> const* __restrict__ gate_up, float const* __restrict__ bias,
                            std::uint16_t* __restrict__ h, int H, int F) {
  using Ops = sparse_operands<E>;
  int e, m0, n, off;
  if (!detail::find_tile(plan, e, m0, n, off)) return;
  int const warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, c = lane % 4;
  std::int64_t const row_blocks = H / sp_bk;
  format::sparse24<E> const* gu = gate_up + static_cast<std::int64_t>(e) * 2 * F * row_blocks;
  float const* b_rows[2];
#pragma unroll
  for (int p = 0; p < 2; ++p) {
    int const r = (threadIdx.x + sp_threads * p) / 4;
    b_rows[p] = m0 + r < n ? x + static_cast<std::int64_t>(plan.slot_token[off + m0 + r]) * H : nullptr;
  }
  // This thread's intermediate channel: gate row f (local row g) and up row F + f (local g + 8).
  int const f = static_cast<int>(blockIdx.y) * (sp_bm / 2) + warp * 8 + g;
  bool const live = f < F;
  auto const* w_gate = live ? gu + static_cast<std::int64_t>(f) * row_blocks : nullptr;
  auto const* w_up = live ? gu + static_cast<std::int64_t>(F + f) * row_blocks : nullptr;
  float acc[8][4];
  detail::sparse_mainloop<E>(H, b_rows, w_gate, w_up, acc);

  if (!live) return;
  float const* bg = bias ? bias + static_cast<std::int64_t>(e) * 2 * F : nullptr;
  float const b_gate = bg ? bg[f] : 0.0f, b_up = bg ? bg[F + f] : 0.0f;
#pragma unroll
  for (int j = 0; j < 8; ++j)
#pragma unroll
    for (int q = 0; q < 2; ++q) {
      int const m = m0 + j * 8 + 2 * c + q;  // the slot of d[q] (gate) and d[2 + q] (up)
      if (m >= n) continue;
      float const v = Act::apply(acc[j][q] + b_gate, acc[j][2 + q] + b_up);
      h[static_cast<std::int64_t>(off + m) * F + f] = detail::operand_bits<Ops>(v);
    }
}

// out [S, H] f32 = w(s) (h[s] . down^T + b); down [E, H, F / 32] sparse24 blocks, bias [E, H] or
// null; route_weights [T K] (w(s) = route_weights[slot_choice[s]]) or null (w = 1).
// Grid: (tile bound, H / 64).
template <class E>
__global__ void __launch_bounds__(sp_threads)
    sparse24_down_kernel(route::plan_view plan, std::uint16_t const* __restrict__ h,
                         format::sparse24<E> const* __restrict__ down, float const* __restrict__ bias,
                         float const* __restrict__ route_weights, float* __restrict__ out, int H, int F) {
  int e, m0, n, off;
  if (!detail::find_tile(plan, e, m0, n, off)) return;
  int const warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, c = lane % 4;
  std::int64_t const row_blocks = F / sp_bk;
  format::sparse24<E> const* dw = down + static_cast<std::int64_t>(e) * H * row_blocks;
  std::uint16_t const* b_rows[2];
#pragma unroll
  for (int p = 0; p < 2; ++p) {
    int const r = (threadIdx.x + sp_threads * p) / 4;
    b_rows[p] = m0 + r < n ? h + static_cast<std::int64_t>(off + m0 + r) * F : nullptr;
  }
  // This thread's output channels: local rows g and g + 8 of the warp's 16.
  int const r0 = static_cast<int>(blockIdx.y) * sp_bm + warp * 16 + g;
  int const row[2] = {r0, r0 + 8};
  auto const* w_lo = row[0] < H ? dw + static_cast<std::int64_t>(row[0]) * row_blocks : nullptr;
  auto const* w_hi = row[1] < H ? dw + static_cast<std::int64_t>(row[1]) * row_blocks : nullptr;
  float acc[8][4];
  detail::sparse_mainloop<E>(F, b_rows, w_lo, w_hi, acc);

  float const* b = bias ? bias + static_cast<std::int64_t>(e) * H : nullptr;
#pragma unroll
  for (int j = 0; j < 8; ++j)
#pragma unroll
    for (int q = 0; q < 2; ++q) {
      int const m = m0 + j * 8 + 2 * c + q;  // the slot of d[q] (row[0]) and d[2 + q] (row[1])
      if (m >= n) continue;
      float const scale = route_weights ? route_weights[plan.slot_choice[off + m]] : 1.0f;
      float* o = out + static_cast<std::int64_t>(off + m) * H;
#pragma unroll
      for (int half = 0; half < 2; ++half)
        if (row[half] < H) o[row[half]] = scale * (acc[j][2 * half + q] + (b ? b[row[half]] : 0.0f));
    }
}

}  // namespace kernels::expert
SWITCHYARD_NAMESPACE_END
