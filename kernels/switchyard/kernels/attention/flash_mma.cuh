#pragma once
// Flash attention prefill on tensor cores with mma.sync.m16n8k16 (bf16 operands, f32
// accumulation; sm_80 and later, sm_90a included), the device twin of the host's
// attention::flash_attention (include/switchyard/attention/flash_attention.hpp).
//
// A block is one query head and 64 query rows, 4 warps of 16 rows. Each warp keeps its Q rows in
// registers as A fragments (D / 4 registers, loaded once from f32 and rounded to bf16), the
// scores of a 64-key tile (32 floats) and its output rows (D / 2 floats). Per key tile the block
// asks the mask for the tile's coverage first (tile.cuh): `none` tiles are skipped whole -- no
// load, no product --, `full` ones run without a mask, `partial` ones (and the last, short one)
// test keep() per element. K is stored to shared memory as bf16 [64 keys][D] (keys are B's n,
// d its k: the n-major layout the B fragment wants) and V transposed, [D][64 keys] (P.V's n is
// d, its k the keys), both rows padded by 8 elements so the fragment loads hit 32 different banks.
// S = Q K^T, scaled and masked in f32, the online softmax in registers, then P (re-packed from the
// score accumulators to bf16 A fragments without leaving registers) times V.
//
// GQA: query head h reads KV head h / (Hq / Hkv). Tiles of K / V are re-read by the G heads of a
// group from L2; the sm_90a kernel shares the packed bf16 copy too.
#include <cstdint>

#include "switchyard/kernels/attention/tile.cuh"
#include "switchyard/kernels/common/mma.cuh"

SWITCHYARD_NAMESPACE_BEGIN
namespace kernels::attention {

template <int D, mask_kind MK>
__global__ void __launch_bounds__(flash_threads) flash_mma_kernel(flash_params p) {
  static_assert(D % 16 == 0 && D <= 128, "switchyard::kernels::attention: mma prefill head_dim must be 16 k, <= 128");
  constexpr int ldk = D + 8;         // K rows in shared memory (bf16 elements)
  constexpr int ldv = flash_bk + 8;  // V^T rows
  __shared__ alignas(16) std::uint16_t ks[flash_bk * ldk];
  __shared__ alignas(16) std::uint16_t vts[D * ldv];
  using ops = mma::bf16_operands;

  int const tid = threadIdx.x, warp_id = tid / 32, lane = tid % 32, g = lane / 4, c = lane % 4;
  int const h = blockIdx.y, hkv = h / (p.Hq / p.Hkv);
  int const t0 = blockIdx.x * flash_bq, row0 = 16 * warp_id;
  int const q_lo = p.q0 + t0, q_hi = p.q0 + min(t0 + flash_bq, p.T) - 1;
  detail::record_path(p, flash_tag_mma);

  // Q rows g and g + 8 of the warp as A fragments, zeros past T.
  std::uint32_t qf[D / 16][4];
  {
    float const* rows[2];
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      int const t = t0 + row0 + g + 8 * half;
      rows[half] = t < p.T ? p.q + (static_cast<std::int64_t>(t) * p.Hq + h) * D : nullptr;
    }
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk)
#pragma unroll
      for (int r = 0; r < 4; ++r) {
        float const* src = rows[r % 2];
        int const col = 16 * kk + 2 * c + 8 * (r / 2);
        float2 const v = src ? *reinterpret_cast<float2 const*>(src + col) : make_float2(0.0f, 0.0f);
        qf[kk][r] = ops::pack(v.x, v.y);
      }
  }

  float o[D / 2];
#pragma unroll
  for (int i = 0; i < D / 2; ++i) o[i] = 0.0f;
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};

  int const tiles = (p.S + flash_bk - 1) / flash_bk;
  for (int kt = 0; kt < tiles; ++kt) {
    int const k_lo = kt * flash_bk, keys = min(flash_bk, p.S - k_lo);
    tile_coverage const cov = detail::tile_cover<MK>(p, q_lo, q_hi, k_lo, keys, true);
    if (cov == tile_coverage::none) continue;

    __syncthreads();  // the previous tile's fragments are read
    for (int idx = tid; idx < flash_bk * D / 4; idx += flash_threads) {
      int const key = idx / (D / 4), d = (idx % (D / 4)) * 4;
      float4 kv = make_float4(0.0f, 0.0f, 0.0f, 0.0f), vv = kv;
      if (key < keys) {
        std::int64_t const at = (static_cast<std::int64_t>(k_lo + key) * p.Hkv + hkv) * D + d;
        kv = *reinterpret_cast<float4 const*>(p.k + at);
        vv = *reinterpret_cast<float4 const*>(p.v + at);
      }
      *reinterpret_cast<uint2*>(ks + key * ldk + d) = make_uint2(ops::pack(kv.x, kv.y), ops::pack(kv.z, kv.w));
      std::uint32_t const v01 = ops::pack(vv.x, vv.y), v23 = ops::pack(vv.z, vv.w);
      vts[(d + 0) * ldv + key] = static_cast<std::uint16_t>(v01 & 0xFFFFu);
      vts[(d + 1) * ldv + key] = static_cast<std::uint16_t>(v01 >> 16);
      vts[(d + 2) * ldv + key] = static_cast<std::uint16_t>(v23 & 0xFFFFu);
      vts[(d + 3) * ldv + key] = static_cast<std::uint16_t>(v23 >> 16);
    }
    __syncthreads();

    float s[32];
#pragma unroll
    for (int i = 0; i < 32; ++i) s[i] = 0.0f;
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk)
#pragma unroll
      for (int j = 0; j < 8; ++j) {
        std::uint16_t const* kr = ks + (8 * j + g) * ldk + 16 * kk + 2 * c;
        std::uint32_t const b[2] = {*reinterpret_cast<std::uint32_t const*>(kr),
                                    *reinterpret_cast<std::uint32_t const*>(kr + 8)};
        ops::run(*reinterpret_cast<float(*)[4]>(s + 4 * j), qf[kk], b);
      }
    detail::scale_and_mask<MK>(s, p, cov == tile_coverage::partial || keys < flash_bk, t0 + row0, k_lo, keys);
    float alpha[2];
    detail::online_softmax(s, m, l, alpha);
    detail::rescale(o, alpha);
#pragma unroll
    for (int kk = 0; kk < flash_bk / 16; ++kk) {
      std::uint32_t a[4];
      detail::p_fragment(s, kk, a);
#pragma unroll
      for (int i = 0; i < D / 8; ++i) {
        std::uint16_t const* vr = vts + (8 * i + g) * ldv + 16 * kk + 2 * c;
        std::uint32_t const b[2] = {*reinterpret_cast<std::uint32_t const*>(vr),
                                    *reinterpret_cast<std::uint32_t const*>(vr + 8)};
        ops::run(*reinterpret_cast<float(*)[4]>(o + 4 * i), a, b);
      }
    }
  }
  detail::epilogue<D>(p, o, m, l, t0, row0, h);
}

}  // namespace kernels::attention
SWITCHYARD_NAMESPACE_END
