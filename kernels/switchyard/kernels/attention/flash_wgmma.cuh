#pragma once
// Flash attention prefill on Hopper (sm_90a): warpgroup products (wgmma.mma_async m64n64k16)
// with K and V tiles brought in by the bulk tensor copy engine (TMA), double-buffered.
//
// The inputs are f32 (the API's), which TMA cannot convert, so a pack kernel first writes bf16
// copies into the caller's workspace -- K as [Hkv][Sp][D] and V transposed, [Hkv][D][Sp] (Sp = S
// rounded up to 64, the padding zero) -- as the host packs K^T once per call. Each copy is read
// by the G query heads of its group, so packing costs one pass over K and V.
//
// A block is one warpgroup (128 threads) over 64 query rows of one head. Q is rounded to bf16
// and stored once, 128-byte swizzled, as D / 64 K-major tiles [64 rows][64 d]. Per kept key tile
// (the mask's coverage decides, as on sm_80; skipped tiles are never loaded): thread 0 has
// already started the tile's TMA copies into one of two stages (K: D / 64 tiles [64 keys][64 d];
// V^T: D / 64 tiles [64 d][64 keys], all 128-byte swizzled, completion counted on the stage's
// mbarrier) and starts the next kept tile's into the other stage; S = Q K^T is D / 16 wgmma
// from shared-memory descriptors; the online softmax runs in registers (the accumulators have
// mma.sync's m16n8 layout, tile.cuh); P, re-packed to bf16 in registers, is wgmma's A operand
// from registers, V^T's tiles the B operand, into the output accumulators (D / 64 arrays of 32).
//
// Written without a Hopper GPU to run it: opt-in (attention_path::wgmma) until a GPU run has
// validated it; tests/cuda/test_attention_cuda_wgmma.cu runs it against the host on any sm_90a
// device and fails if a wgmma request ran anything else.
#include <cstdint>

#include <cuda.h>

#include "switchyard/kernels/attention/tile.cuh"
#include "switchyard/kernels/common/sm90.cuh"

SWITCHYARD_NAMESPACE_BEGIN
namespace kernels::attention {

inline constexpr int wg_tile_bytes = 64 * 128;  // one [64][64] bf16 tile
// Dynamic shared memory of the wgmma kernel for head_dim D: Q, two stages of K and V^T, two
// barriers, and room to align to 1024 bytes.
constexpr int flash_wgmma_smem_bytes(int D) { return (D / 64) * wg_tile_bytes * 5 + 64 + 1024; }

namespace detail {

// d (64 x 64, f32) += A (64 x 16, bf16, in registers: the m16n8k16 A fragment of each warp's 16
// rows) B^T (B: 64 x 16 K-major in shared memory).
__device__ __forceinline__ void wgmma_m64n64k16_bf16_rs(float (&d)[32], std::uint32_t const (&a)[4],
                                                        std::uint64_t desc_b) {
#if defined(SWITCHYARD_SM90A)
  asm volatile(
      "{\n"
      ".reg .pred p;\n"
      "setp.eq.u32 p, 1, 1;\n"
      "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 "
      "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
      "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, "
      "{%32, %33, %34, %35}, %36, p, 1, 1, 0;\n"
      "}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]),
        "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]),
        "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]),
        "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc_b));
#else
  (void)d, (void)a, (void)desc_b;
  __trap();
#endif
}

template <int N>
__device__ __forceinline__ void fence_regs(float (&d)[N]) {
#pragma unroll
  for (int i = 0; i < N; ++i) asm volatile("" : "+f"(d[i])::"memory");
}

}  // namespace detail

// The packed bf16 copies: kp [Hkv][Sp][D], vt [Hkv][D][Sp] (Sp = ceil(S / 64) * 64, zeros past
// S). Grid (Sp / 32, Hkv), 256 threads: 32 keys per block through a shared-memory transpose so
// both writes are coalesced.
template <int D>
__global__ void __launch_bounds__(256)
    flash_pack_kernel(float const* __restrict__ k, float const* __restrict__ v, std::uint16_t* __restrict__ kp,
                      std::uint16_t* __restrict__ vt, int S, int Sp, int Hkv) {
  __shared__ float tile[32][D + 1];
  int const s0 = blockIdx.x * 32, h = blockIdx.y, tid = threadIdx.x;
  using ops = mma::bf16_operands;
  for (int idx = tid; idx < 32 * D; idx += 256) {
    int const key = idx / D, d = idx % D, s = s0 + key;
    float kv = 0.0f, vv = 0.0f;
    if (s < S) {
      std::int64_t const at = (static_cast<std::int64_t>(s) * Hkv + h) * D + d;
      kv = k[at], vv = v[at];
    }
    kp[(static_cast<std::int64_t>(h) * Sp + s) * D + d] = static_cast<std::uint16_t>(ops::pack(kv, 0.0f) & 0xFFFFu);
    tile[key][d] = vv;
  }
  __syncthreads();
  for (int idx = tid; idx < 32 * D; idx += 256) {
    int const d = idx / 32, key = idx % 32;
    vt[(static_cast<std::int64_t>(h) * D + d) * Sp + s0 + key] =
        static_cast<std::uint16_t>(ops::pack(tile[key][d], 0.0f) & 0xFFFFu);
  }
}

// kmap: 2D map over kp viewed as [Hkv Sp, D]; vmap: over vt viewed as [Hkv D, Sp]; both boxes
// 64 x 64 with the 128-byte swizzle. Grid (ceil(T / 64), Hq), 128 threads, dynamic shared
// memory flash_wgmma_smem_bytes(D).
template <int D, mask_kind MK>
__global__ void __launch_bounds__(flash_threads)
    flash_wgmma_kernel(flash_params p, const __grid_constant__ CUtensorMap kmap, const __grid_constant__ CUtensorMap vmap,
                       int Sp) {
  static_assert(D % 64 == 0 && D <= 128, "switchyard::kernels::attention: wgmma prefill head_dim must be 64 or 128");
  constexpr int nd = D / 64;  // 64-wide tiles along d
  extern __shared__ std::uint8_t flash_wg_smem[];
  std::uint32_t const base = sm90::smem_addr(flash_wg_smem);
  std::uint8_t* const qs = flash_wg_smem + (1024u - base % 1024u) % 1024u;
  // Stage st: K tiles, then V^T tiles, at qs + (1 + 2 st) nd tiles.
  auto kv_stage = [qs](int st) { return qs + (1 + 2 * st) * nd * wg_tile_bytes; };
  std::uint64_t* const bars = reinterpret_cast<std::uint64_t*>(qs + 5 * nd * wg_tile_bytes);
  using ops = mma::bf16_operands;

  int const tid = threadIdx.x, warp_id = tid / 32;
  int const h = blockIdx.y, hkv = h / (p.Hq / p.Hkv);
  int const t0 = blockIdx.x * flash_bq, row0 = 16 * warp_id;
  int const q_lo = p.q0 + t0, q_hi = p.q0 + min(t0 + flash_bq, p.T) - 1;
  int const tiles = (p.S + flash_bk - 1) / flash_bk;
#if defined(SWITCHYARD_SM90A)
  detail::record_path(p, flash_tag_wgmma);  // elsewhere the first wgmma traps and nothing is recorded
#endif

  if (tid == 0) {
    sm90::mbarrier_init(&bars[0], 1);
    sm90::mbarrier_init(&bars[1], 1);
  }
  // Q: row r, 16-byte chunk j of tile jt at chunk j ^ (r % 8) of its 128-byte row.
  for (int idx = tid; idx < flash_bq * D / 8; idx += flash_threads) {
    int const r = idx / (D / 8), chunk = idx % (D / 8), jt = chunk / 8, j = chunk % 8;
    int const t = t0 + r;
    uint4 val = make_uint4(0, 0, 0, 0);
    if (t < p.T) {
      float const* src = p.q + (static_cast<std::int64_t>(t) * p.Hq + h) * D + 8 * chunk;
      float4 const lo = *reinterpret_cast<float4 const*>(src), hi = *reinterpret_cast<float4 const*>(src + 4);
      val = make_uint4(ops::pack(lo.x, lo.y), ops::pack(lo.z, lo.w), ops::pack(hi.x, hi.y), ops::pack(hi.z, hi.w));
    }
    *reinterpret_cast<uint4*>(qs + jt * wg_tile_bytes + r * 128 + ((j ^ (r % 8)) * 16)) = val;
  }
  sm90::fence_async_shared();
  __syncthreads();

  // The next tile at or after kt that the mask keeps (tiles counts every tile once).
  auto next_kept = [&](int kt) {
    for (; kt < tiles; ++kt) {
      int const k_lo = kt * flash_bk;
      if (detail::tile_cover<MK>(p, q_lo, q_hi, k_lo, min(flash_bk, p.S - k_lo), true) != tile_coverage::none) break;
    }
    return kt;
  };
  auto issue = [&](int kt, int stage) {  // thread 0 only
    std::uint8_t* const st = kv_stage(stage);
    sm90::mbarrier_arrive_expect_tx(&bars[stage], 2 * nd * wg_tile_bytes);
#pragma unroll
    for (int jt = 0; jt < nd; ++jt) {
      sm90::tma_load_2d(st + jt * wg_tile_bytes, &kmap, 64 * jt, hkv * Sp + kt * flash_bk, &bars[stage]);
      sm90::tma_load_2d(st + (nd + jt) * wg_tile_bytes, &vmap, kt * flash_bk, hkv * D + 64 * jt, &bars[stage]);
    }
  };

  float o[D / 2];
#pragma unroll
  for (int i = 0; i < D / 2; ++i) o[i] = 0.0f;
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};

  int kt = next_kept(0);
  if (tid == 0 && kt < tiles) issue(kt, 0);
  for (int it = 0; kt < tiles; ++it) {
    int const stage = it % 2;
    int const nxt = next_kept(kt + 1);
    if (tid == 0 && nxt < tiles) issue(nxt, stage ^ 1);  // that stage was released at the end of the last step
    int const k_lo = kt * flash_bk, keys = min(flash_bk, p.S - k_lo);
    tile_coverage const cov = detail::tile_cover<MK>(p, q_lo, q_hi, k_lo, keys, false);
    sm90::mbarrier_wait(&bars[stage], static_cast<std::uint32_t>((it / 2) % 2));
    std::uint8_t const* const kst = kv_stage(stage);
    std::uint8_t const* const vst = kst + nd * wg_tile_bytes;

    float s[32];
#pragma unroll
    for (int i = 0; i < 32; ++i) s[i] = 0.0f;
    sm90::wgmma_fence();
    detail::fence_regs(s);
#pragma unroll
    for (int jt = 0; jt < nd; ++jt)
#pragma unroll
      for (int kk = 0; kk < 4; ++kk)
        sm90::wgmma_m64n64k16_bf16(s, sm90::desc_k_major_sw128(qs + jt * wg_tile_bytes + 32 * kk),
                                   sm90::desc_k_major_sw128(kst + jt * wg_tile_bytes + 32 * kk), jt + kk > 0);
    sm90::wgmma_commit();
    sm90::wgmma_wait_all();
    detail::fence_regs(s);

    detail::scale_and_mask<MK>(s, p, cov == tile_coverage::partial || keys < flash_bk, t0 + row0, k_lo, keys);
    float alpha[2];
    detail::online_softmax(s, m, l, alpha);
    detail::rescale(o, alpha);

    std::uint32_t a[4][4];
#pragma unroll
    for (int kk = 0; kk < 4; ++kk) detail::p_fragment(s, kk, a[kk]);
    sm90::wgmma_fence();
    detail::fence_regs(o);
#pragma unroll
    for (int jt = 0; jt < nd; ++jt)
#pragma unroll
      for (int kk = 0; kk < 4; ++kk)
        detail::wgmma_m64n64k16_bf16_rs(*reinterpret_cast<float(*)[32]>(o + 32 * jt), a[kk],
                                        sm90::desc_k_major_sw128(vst + jt * wg_tile_bytes + 32 * kk));
    sm90::wgmma_commit();
    sm90::wgmma_wait_all();
    detail::fence_regs(o);
    __syncthreads();  // every warp is done with this stage before thread 0 refills it
    kt = nxt;
  }
  detail::epilogue<D>(p, o, m, l, t0, row0, h);
}

}  // namespace kernels::attention
SWITCHYARD_NAMESPACE_END
