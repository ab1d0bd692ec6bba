#pragma once
// The prefill path of the dense layers: y = x W^T on tensor cores (mma.sync.m16n8k16, f32
// accumulation; sm_80 and later, sm_90a included), the expert GEMM's recipe
// (expert/grouped_mma.cuh) for one plain matrix: activations rounded to bf16 as they enter shared
// memory, weights decoded from the packed format in registers (common/device_format.cuh) and
// rounded to bf16 (f16 for f16 weights, which multiply in f16: bf16 would drop 3 of their
// mantissa bits), per-row scales, bias and the accumulate-into-y in the epilogue.
//
// Tiles: 64 activation rows x 64 weight rows x 32 k per block of 4 warps (2 x 2, each 32 x 32,
// a 2 x 4 grid of m16n8 accumulators). Two shared-memory stages: the global loads of step k + 1
// are issued before step k multiplies and stored into the other stage after it, so one barrier
// per step suffices. Every edge is masked: activation rows past T and weight rows past the matrix
// load zeros and are not stored; the k chunks (8 elements) past cols load zeros, so cols need
// only be a multiple of 8 (and of the format's block), not of the 32-wide k step.
//
// Grid: x = ceil(rows / 64) weight-row tiles, y = ceil(T / 64) activation-row tiles.
#include <cstdint>

#include "switchyard/kernels/common/device_format.cuh"
#include "switchyard/kernels/common/mma.cuh"
#include "switchyard/kernels/expert/grouped_mma.cuh"
#include "switchyard/kernels/linear/gemv.cuh"

SWITCHYARD_NAMESPACE_BEGIN
namespace kernels::linear {

inline constexpr int mma_bm = 64;  // activation rows per tile
inline constexpr int mma_bn = 64;  // weight rows per tile
inline constexpr int mma_bk = 32;
inline constexpr int mma_lds = mma_bk + 8;  // smem row stride (elements): 20 words, conflict-free fragment loads
inline constexpr int mma_threads = 128;
inline constexpr int mma_max_row_tiles = 65535;  // grid y: ceil(T / 64)

template <class W, bool BS>
__global__ void __launch_bounds__(mma_threads) mma_kernel(linear_args<W> a) {
  using fmt = device_format<W>;
  using Ops = expert::mma_operands<W>;
  __shared__ alignas(16) std::uint16_t as[2][mma_bm * mma_lds];
  __shared__ alignas(16) std::uint16_t bs[2][mma_bn * mma_lds];
  int const tid = threadIdx.x, warp_id = tid / 32, lane = tid % 32;
  int const g = lane / 4, c = lane % 4, wm = warp_id / 2, wn = warp_id % 2;
  int const n0 = blockIdx.x * mma_bn, m0 = blockIdx.y * mma_bm;
  if (a.tag && blockIdx.x == 0 && blockIdx.y == 0 && tid == 0) a.tag[0] = mma_tag, a.tag[1] = 0;

  // Thread tid loads 8 elements at k chunk (tid % 4) of tile rows tid / 4 and tid / 4 + 32 of
  // both operands; the row pointers are fixed for the whole k loop (null: past the edge).
  std::int64_t const row_blocks = a.cols / fmt::block_elems;
  float const* a_rows[2];
  W const* b_rows[2];
  float const* b_scales[2] = {nullptr, nullptr};
#pragma unroll
  for (int p = 0; p < 2; ++p) {
    int const r = (tid + mma_threads * p) / 4;
    a_rows[p] = m0 + r < a.T ? a.x + static_cast<std::int64_t>(m0 + r) * a.ldx : nullptr;
    b_rows[p] = n0 + r < a.rows ? a.w + static_cast<std::int64_t>(n0 + r) * row_blocks : nullptr;
    if constexpr (BS)
      if (n0 + r < a.rows)
        b_scales[p] = a.block_scales + static_cast<std::int64_t>((n0 + r) / expert::block_scale_size) *
                                           expert::block_scale_count(a.cols);
  }
  int const kc = (tid % 4) * 8;  // the same for p = 0 and 1 (mma_threads is a multiple of 4)

  uint4 a_reg[2], b_reg[2];
  auto load = [&](int k0) {
    int const k = k0 + kc;
#pragma unroll
    for (int p = 0; p < 2; ++p) {
      if (a_rows[p] == nullptr || k >= a.cols) {
        a_reg[p] = make_uint4(0, 0, 0, 0);
      } else {
        float4 const lo = *reinterpret_cast<float4 const*>(a_rows[p] + k);
        float4 const hi = *reinterpret_cast<float4 const*>(a_rows[p] + k + 4);
        float const v[8] = {lo.x, lo.y, lo.z, lo.w, hi.x, hi.y, hi.z, hi.w};
        a_reg[p] = expert::detail::pack8<Ops>(v);
      }
      if (b_rows[p] == nullptr || k >= a.cols) {
        b_reg[p] = make_uint4(0, 0, 0, 0);
      } else {
        float v[8];
        fmt::decode8(b_rows[p], k, v);
        expert::detail::apply_block_scale<BS>(v, b_scales[p], k);
        b_reg[p] = expert::detail::pack8<Ops>(v);
      }
    }
  };
  auto store = [&](int stage) {
#pragma unroll
    for (int p = 0; p < 2; ++p) {
      int const r = (tid + mma_threads * p) / 4;
      *reinterpret_cast<uint4*>(&as[stage][r * mma_lds + kc]) = a_reg[p];
      *reinterpret_cast<uint4*>(&bs[stage][r * mma_lds + kc]) = b_reg[p];
    }
  };

  float acc[2][4][4];
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j)
#pragma unroll
      for (int q = 0; q < 4; ++q) acc[i][j][q] = 0.0f;

  load(0);
  store(0);
  __syncthreads();
  int stage = 0;
  for (int k0 = 0; k0 < a.cols; k0 += mma_bk) {
    bool const more = k0 + mma_bk < a.cols;
    if (more) load(k0 + mma_bk);  // in flight while this step multiplies
    std::uint16_t const* sa = as[stage];
    std::uint16_t const* sb = bs[stage];
#pragma unroll
    for (int ks = 0; ks < mma_bk; ks += 16) {
      std::uint32_t af[2][4], bf[4][2];
#pragma unroll
      for (int i = 0; i < 2; ++i) {
        int const r = (wm * 32 + i * 16 + g) * mma_lds + ks + 2 * c;
        af[i][0] = expert::detail::lds32(sa, r);
        af[i][1] = expert::detail::lds32(sa, r + 8 * mma_lds);
        af[i][2] = expert::detail::lds32(sa, r + 8);
        af[i][3] = expert::detail::lds32(sa, r + 8 * mma_lds + 8);
      }
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        int const r = (wn * 32 + j * 8 + g) * mma_lds + ks + 2 * c;
        bf[j][0] = expert::detail::lds32(sb, r);
        bf[j][1] = expert::detail::lds32(sb, r + 8);
      }
#pragma unroll
      for (int i = 0; i < 2; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) Ops::run(acc[i][j], af[i], bf[j]);
    }
    // The other stage was last read in the previous step, which every thread finished before the
    // barrier that ended it: store the next step there, then one barrier.
    if (more) store(stage ^ 1);
    __syncthreads();
    stage ^= 1;
  }

  // Accumulator (i, j, q) is activation row wm 32 + 16 i + g + 8 (q / 2), weight row
  // wn 32 + 8 j + 2 c + q % 2 of the tile.
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j)
#pragma unroll
      for (int q = 0; q < 4; ++q) {
        int const t = m0 + wm * 32 + i * 16 + g + 8 * (q / 2);
        int const r = n0 + wn * 32 + j * 8 + 2 * c + q % 2;
        if (t < a.T && r < a.rows) detail::store_output(a, t, r, acc[i][j][q]);
      }
}

}  // namespace kernels::linear
SWITCHYARD_NAMESPACE_END
