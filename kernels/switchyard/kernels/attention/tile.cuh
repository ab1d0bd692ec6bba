#pragma once
// The pieces both prefill kernels share (flash_mma.cuh for sm_80, flash_wgmma.cuh for sm_90a).
// Both hold a warp's 16 query rows of a 64-row block in the same accumulator layout -- the m16n8
// layout of mma.sync, which wgmma's m64nN accumulators repeat along N (common/sm90.cuh):
//   element 4 i + 2 half + q of a tile array is row g + 8 half (g = lane / 4), column
//   8 i + 2 (lane % 4) + q,
// for the scores (64 keys: 32 floats) and for the output (D columns: D / 2 floats). So the
// masking, the online softmax (in base 2 on scores times scale log2 e, as the host), the rescale
// and the epilogue are written once here.
#include <cstdint>

#include "switchyard/config.hpp"
#include "switchyard/kernels/attention/mask.cuh"
#include "switchyard/kernels/common/mma.cuh"

SWITCHYARD_NAMESPACE_BEGIN
namespace kernels::attention {

inline constexpr int flash_bq = 64;       // query rows per block (4 warps x 16)
inline constexpr int flash_bk = 64;       // keys per tile
inline constexpr int flash_threads = 128;
inline constexpr float log2e = 1.4426950408889634f;

// Everything a prefill launch reads: q [T, Hq, D], k [S, Hkv, D], v [S, Hkv, D], out [T, Hq, D],
// all f32 and contiguous; query t at position q0 + t.
struct flash_params {
  float const* q;
  float const* k;
  float const* v;
  float* out;
  int T, S, Hq, Hkv, q0;
  float qscale;         // scale * log2(e)
  float const* sinks;   // [Hq] learned sink logits (gpt-oss), or null
  device_mask mask;
  // [4] or null: tiles visited, skipped, partial (tiles of 64 x 64), counted by every block; and
  // the tag of the kernel that ran (flash_path_tag), written by thread 0 of block (0, 0).
  unsigned long long* stats;
};

// The tags kernels write into flash_params::stats[3]: what ran, as the device saw it.
inline constexpr unsigned long long flash_tag_mma = 1, flash_tag_wgmma = 2;

namespace detail {

// Scores of one 64-key tile after the product: times scale log2(e), then -inf where the mask
// drops the pair or the key is past S (only on partial tiles or the last one).
template <mask_kind MK>
__device__ __forceinline__ void scale_and_mask(float (&s)[32], flash_params const& p, bool masked, int row0, int k_lo,
                                               int keys) {
  int const lane = threadIdx.x % 32, g = lane / 4, c = lane % 4;
#pragma unroll
  for (int i = 0; i < 32; ++i) s[i] *= p.qscale;
  if (!masked) return;
#pragma unroll
  for (int j = 0; j < 8; ++j)
#pragma unroll
    for (int half = 0; half < 2; ++half)
#pragma unroll
      for (int q = 0; q < 2; ++q) {
        int const col = 8 * j + 2 * c + q;
        int const qpos = p.q0 + row0 + g + 8 * half;
        if (col >= keys || !mask_rules<MK>::keep(p.mask, qpos, k_lo + col)) s[4 * j + 2 * half + q] = -INFINITY;
      }
}

// The online softmax step for the thread's two rows (g, g + 8): new running max m (over the quad
// that shares the rows), probabilities p = exp2(s - m) in place, the thread's share of the
// running sum l, and the factor alpha that rescales the output rows. A row with no visible key
// so far keeps m = -inf, p = 0, alpha = 0 (its output and sum are 0 anyway).
__device__ __forceinline__ void online_softmax(float (&s)[32], float (&m)[2], float (&l)[2], float (&alpha)[2]) {
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    float mx = -INFINITY;
#pragma unroll
    for (int j = 0; j < 8; ++j) mx = fmaxf(mx, fmaxf(s[4 * j + 2 * half], s[4 * j + 2 * half + 1]));
    mx = fmaxf(mx, __shfl_xor_sync(0xFFFFFFFFu, mx, 1));
    mx = fmaxf(mx, __shfl_xor_sync(0xFFFFFFFFu, mx, 2));
    float const m_new = fmaxf(m[half], mx);
    float const base = m_new == -INFINITY ? 0.0f : m_new;
    alpha[half] = exp2f(m[half] - base);
    float sum = 0.0f;
#pragma unroll
    for (int j = 0; j < 8; ++j)
#pragma unroll
      for (int q = 0; q < 2; ++q) {
        float const e = exp2f(s[4 * j + 2 * half + q] - base);
        s[4 * j + 2 * half + q] = e;
        sum += e;
      }
    l[half] = l[half] * alpha[half] + sum;
    m[half] = m_new;
  }
}

// Output rows times alpha (o: D / 2 floats in the tile layout).
template <int N>
__device__ __forceinline__ void rescale(float (&o)[N], float const (&alpha)[2]) {
#pragma unroll
  for (int i = 0; i < N; ++i) o[i] *= alpha[(i / 2) % 2];
}

// The probabilities of keys 16 kk .. 16 kk + 15 as an m16n8k16 A fragment (bf16): the score
// accumulators of n8 tiles 2 kk and 2 kk + 1 are exactly the A layout (mma.cuh).
__device__ __forceinline__ void p_fragment(float const (&s)[32], int kk, std::uint32_t (&a)[4]) {
  using ops = mma::bf16_operands;
  a[0] = ops::pack(s[8 * kk + 0], s[8 * kk + 1]);
  a[1] = ops::pack(s[8 * kk + 2], s[8 * kk + 3]);
  a[2] = ops::pack(s[8 * kk + 4], s[8 * kk + 5]);
  a[3] = ops::pack(s[8 * kk + 6], s[8 * kk + 7]);
}

// The host's finish_row (flash_attention.hpp): the factor that normalizes a finished row, with
// the sink's logit (base 2) joining the denominator once; no visible key: 0.
__device__ __forceinline__ float finish_row(float m, float l, float sink2) {
  if (m == -INFINITY) return 0.0f;
  if (sink2 == -INFINITY) return l > 0.0f ? 1.0f / l : 0.0f;
  float const top = fmaxf(m, sink2);
  float const w = exp2f(m - top);
  return w / (l * w + exp2f(sink2 - top));
}

// Sums l over the quad, normalizes and writes the warp's rows (row0 = the warp's first row of
// the block) of query head h to out; rows past T are not written.
template <int D>
__device__ __forceinline__ void epilogue(flash_params const& p, float (&o)[D / 2], float const (&m)[2], float (&l)[2],
                                         int t0, int row0, int h) {
  int const lane = threadIdx.x % 32, g = lane / 4, c = lane % 4;
  float const sink2 = p.sinks ? p.sinks[h] * log2e : -INFINITY;
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    l[half] += __shfl_xor_sync(0xFFFFFFFFu, l[half], 1);
    l[half] += __shfl_xor_sync(0xFFFFFFFFu, l[half], 2);
    int const t = t0 + row0 + g + 8 * half;
    float const inv = finish_row(m[half], l[half], sink2);
    if (t >= p.T) continue;
    float* dst = p.out + (static_cast<std::int64_t>(t) * p.Hq + h) * D;
#pragma unroll
    for (int i = 0; i < D / 8; ++i)
      *reinterpret_cast<float2*>(dst + 8 * i + 2 * c) =
          make_float2(o[4 * i + 2 * half] * inv, o[4 * i + 2 * half + 1] * inv);
  }
}

// The mask's answer for a tile (block-uniform), counted in p.stats by thread 0.
template <mask_kind MK>
__device__ __forceinline__ tile_coverage tile_cover(flash_params const& p, int q_lo, int q_hi, int k_lo, int keys,
                                                    bool count) {
  tile_coverage const cov = mask_rules<MK>::coverage(p.mask, q_lo, q_hi, k_lo, k_lo + keys - 1);
  if (count && p.stats != nullptr && threadIdx.x == 0) {
    atomicAdd(p.stats, 1ull);
    if (cov == tile_coverage::none) atomicAdd(p.stats + 1, 1ull);
    if (cov == tile_coverage::partial) atomicAdd(p.stats + 2, 1ull);
  }
  return cov;
}

// Thread 0 of block (0, 0) records which kernel runs.
__device__ __forceinline__ void record_path(flash_params const& p, unsigned long long tag) {
  if (p.stats != nullptr && blockIdx.x == 0 && blockIdx.y == 0 && threadIdx.x == 0) p.stats[3] = tag;
}

}  // namespace detail
}  // namespace kernels::attention
SWITCHYARD_NAMESPACE_END
