#pragma once
// Decode attention over the paged KV cache on the device, split along the keys and merged
// (flash-decoding): the host's attention::paged_attention (include/switchyard/attention/
// paged_attention.hpp) over the host's own cache layout (paged_kv_cache.hpp), so a cache the host
// wrote can be uploaded byte for byte and read here:
//   per block and KV head h, at (block * kv_heads + h) * head_elems elements of the pool:
//     K^T [key_dim][block_size], then V [block_size][value_stride] (value_stride = value_dim
//     rounded up to 32; absent with value_is_key_prefix: V is K's first value_dim entries);
//   scaled formats (int8, e4m3): f32 scales at ((block * kv_heads + h) * 2 + which) * block_size
//     + slot, which = 0 for K, 1 for V (V's are K's with value_is_key_prefix).
// Element formats: f32, bf16, f16, int8 and fp8 e4m3, widened in registers; scales multiply the
// scores (K) and the probabilities (V), never the elements, as on the host.
//
//   q   [B n, Hq, key_dim] f32     n new query tokens per sequence, already in the cache (query i
//                                  of sequence b sits at position length[b] - n + i)
//   out [B n, Hq, value_dim] f32
//   block_tables [B, table_stride] int32, lengths [B] int32 (device)
//
// Work: one block per (split, sequence x KV head, group of 8 query rows); the rows of a KV head
// are its G = Hq / Hkv query heads times n tokens, so every cached byte is read once per group
// of 8 rows. A split is a range of the sequence's cache blocks (blocks nb s / splits ..
// nb (s + 1) / splits, the host's rule); its keys go by in tiles of 128 (one per thread): scores
// in f32 (q pre-scaled by scale log2 e), the mask (a tile it does not cover is skipped whole),
// the online softmax in base 2, P.V with each thread owning value columns. Each split leaves
// (max, sum, unnormalized output) per row in the workspace; the merge kernel rescales the splits
// to their common max -- including the learned sink's logit where there is one, added once per
// row, never per split -- and normalizes. Arithmetic is f32 throughout, like the host's, so the
// two agree to rounding (tolerance::attention).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include <cuda_runtime_api.h>

#include "switchyard/attention/paged_kv_cache.hpp"
#include "switchyard/core/error.hpp"
#include "switchyard/core/format/bf16.hpp"
#include "switchyard/core/format/f16.hpp"
#include "switchyard/core/format/fp8.hpp"
#include "switchyard/kernels/attention/mask.cuh"
#include "switchyard/kernels/common/cuda_check.cuh"
#include "switchyard/kernels/common/workspace.cuh"

SWITCHYARD_NAMESPACE_BEGIN
namespace kernels::attention {

// A KV element widened to f32 on the device (the host's kv_to_float).
template <class E>
__device__ __forceinline__ float kv_load(E const* p) {
  if constexpr (std::is_same_v<E, float>) return *p;
  else if constexpr (std::is_same_v<E, std::int8_t>) return static_cast<float>(*p);
  else if constexpr (std::is_same_v<E, format::bf16>) return __uint_as_float(static_cast<std::uint32_t>(p->bits) << 16);
  else return p->to_float();
}

// The device view of a paged cache with the host's layout. Sizes (in elements and scales) come
// from kv_layout(), the host cache's own arithmetic.
template <class E>
struct device_kv_cache {
  E const* data = nullptr;
  float const* scales = nullptr;  // scaled formats only
  int kv_heads = 0, key_dim = 0, value_dim = 0, block_size = 0, blocks = 0;
  bool value_is_key_prefix = false;
  int value_stride = 0;
  std::int64_t head_elems = 0;

  __device__ __forceinline__ E const* key_block(int block, int h) const {
    return data + (static_cast<std::int64_t>(block) * kv_heads + h) * head_elems;
  }
  __device__ __forceinline__ E const* value_block(int block, int h) const {
    return key_block(block, h) + static_cast<std::int64_t>(key_dim) * block_size;
  }
  __device__ __forceinline__ float const* key_scales(int block, int h) const {
    return scales + (static_cast<std::int64_t>(block) * kv_heads + h) * 2 * block_size;
  }
  __device__ __forceinline__ float const* value_scales(int block, int h) const {
    return value_is_key_prefix ? key_scales(block, h) : key_scales(block, h) + block_size;
  }
};

struct kv_layout {
  int value_stride;
  std::int64_t head_elems, data_elems, scale_elems;
};

// The host cache's layout for a configuration (paged_kv_cache's constructor, same arithmetic).
template <class E>
kv_layout layout_of(switchyard::attention::kv_cache_config const& c) {
  int const vs = static_cast<int>((c.value_dim + 31) / 32 * 32);
  std::int64_t const he = c.key_dim * c.block_size + (c.value_is_key_prefix ? 0 : c.block_size * vs);
  bool const scaled = switchyard::attention::kv_format<E>::scaled;
  return {vs, he, c.blocks * c.kv_heads * he, scaled ? c.blocks * c.kv_heads * 2 * c.block_size : 0};
}

// A device view over `data` / `scales` (device copies of a host cache's pool and scales, or a
// device-resident pool with the same layout).
template <class E>
device_kv_cache<E> make_device_cache(switchyard::attention::kv_cache_config const& c, E const* data,
                                     float const* scales) {
  kv_layout const l = layout_of<E>(c);
  return {.data = data, .scales = scales, .kv_heads = static_cast<int>(c.kv_heads), .key_dim = static_cast<int>(c.key_dim),
          .value_dim = static_cast<int>(c.value_dim), .block_size = static_cast<int>(c.block_size),
          .blocks = static_cast<int>(c.blocks), .value_is_key_prefix = c.value_is_key_prefix,
          .value_stride = l.value_stride, .head_elems = l.head_elems};
}

inline constexpr int decode_threads = 128;  // keys per tile: one per thread
inline constexpr int decode_rows = 8;       // query rows per block
inline constexpr int decode_max_key_dim = 1024;
inline constexpr int decode_max_value_dim = 512;  // 4 value columns per thread
inline constexpr int decode_min_keys_per_split = 256;  // the host's min_keys_per_split

struct decode_params {
  float const* q;
  int const* tables;
  int table_stride;
  int const* lengths;
  int B, n, Hq, Hkv, splits;
  float qscale;  // scale * log2(e)
  device_mask mask;
  float* pm;  // [B Hkv splits rows]: running max (base 2) per split and row
  float* pl;  // same: running sum
  float* po;  // [B Hkv splits rows, value_dim]: unnormalized output
  int* stats;  // [2] or null: the split count of the split kernel's grid and the one the merge used
};

template <class E, mask_kind MK>
__global__ void __launch_bounds__(decode_threads, 1) paged_decode_split_kernel(device_kv_cache<E> cache, decode_params p) {
  constexpr int RG = decode_rows, NT = decode_threads, NC = decode_max_value_dim / NT;
  extern __shared__ float decode_smem[];
  float* const qs = decode_smem;                // [RG][Dk]
  float* const sc = qs + RG * cache.key_dim;    // [RG][NT] scores, then probabilities x V scale
  float* const vsc = sc + RG * NT;              // [NT] V scales of the tile's keys
  float* const alpha_s = vsc + NT;              // [RG]
  int* const page = reinterpret_cast<int*>(alpha_s + RG);  // [NT] cache block of each key

  int const tid = threadIdx.x, lane = tid % 32, warp_id = tid / 32;
  int const split = blockIdx.x, b = blockIdx.y / p.Hkv, h = blockIdx.y % p.Hkv;
  int const G = p.Hq / p.Hkv, rows = p.n * G, r0 = blockIdx.z * RG;
  int const Dk = cache.key_dim, Dv = cache.value_dim, bs = cache.block_size;
  int const len = p.lengths[b];
  int const nb = (len + bs - 1) / bs;
  int const blk_lo = static_cast<int>(static_cast<std::int64_t>(nb) * split / p.splits);
  int const blk_hi = static_cast<int>(static_cast<std::int64_t>(nb) * (split + 1) / p.splits);
  int const u_end = min(blk_hi * bs, len);
  int const* table = p.tables + static_cast<std::int64_t>(b) * p.table_stride;
  if (p.stats != nullptr && split == 0 && blockIdx.y == 0 && blockIdx.z == 0 && tid == 0)
    p.stats[0] = static_cast<int>(gridDim.x);  // the splits this launch runs

  // This block's rows: r0 + r, r < RG; row rr is token rr / G, query head h G + rr % G.
  for (int idx = tid; idx < RG * Dk; idx += NT) {
    int const r = idx / Dk, d = idx % Dk, rr = r0 + r;
    float v = 0.0f;
    if (rr < rows) v = p.q[(static_cast<std::int64_t>(b * p.n + rr / G) * p.Hq + h * G + rr % G) * Dk + d] * p.qscale;
    qs[idx] = v;
  }
  int const last_row = min(r0 + RG, rows) - 1;
  int const q_lo = len - p.n + r0 / G, q_hi = len - p.n + last_row / G;

  float m_r[2] = {-INFINITY, -INFINITY}, l_r[2] = {0.0f, 0.0f};  // rows warp_id, warp_id + 4 (lane-uniform)
  float o[RG][NC];
#pragma unroll
  for (int r = 0; r < RG; ++r)
#pragma unroll
    for (int cc = 0; cc < NC; ++cc) o[r][cc] = 0.0f;
  __syncthreads();

  for (int u0 = blk_lo * bs; u0 < u_end; u0 += NT) {
    int const keys = min(NT, u_end - u0);
    if (mask_rules<MK>::coverage(p.mask, q_lo, q_hi, u0, u0 + keys - 1) == tile_coverage::none) continue;
    // Scores: thread tid owns key u0 + tid.
    {
      int const u = u0 + tid;
      float acc[RG];
#pragma unroll
      for (int r = 0; r < RG; ++r) acc[r] = -INFINITY;
      if (tid < keys) {
        int const blk = table[u / bs], slot = u % bs;
        page[tid] = blk;
        E const* kt = cache.key_block(blk, h) + slot;
#pragma unroll
        for (int r = 0; r < RG; ++r) acc[r] = 0.0f;
        for (int d = 0; d < Dk; ++d) {
          float const kv = kv_load(kt + static_cast<std::int64_t>(d) * bs);
#pragma unroll
          for (int r = 0; r < RG; ++r) acc[r] = fmaf(qs[r * Dk + d], kv, acc[r]);
        }
        float ks = 1.0f, vs = 1.0f;
        if constexpr (switchyard::attention::kv_format<E>::scaled) {
          ks = cache.key_scales(blk, h)[slot];
          vs = cache.value_scales(blk, h)[slot];
        }
        vsc[tid] = vs;
#pragma unroll
        for (int r = 0; r < RG; ++r) {
          int const rr = r0 + r;
          bool const kept = rr < rows && mask_rules<MK>::keep(p.mask, len - p.n + rr / G, u);
          acc[r] = kept ? acc[r] * ks : -INFINITY;
        }
      }
#pragma unroll
      for (int r = 0; r < RG; ++r) sc[r * NT + tid] = acc[r];
    }
    __syncthreads();
    // Online softmax: warp w owns rows w and w + 4.
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      int const r = warp_id + 4 * i;
      float s[NT / 32];
      float mx = -INFINITY;
#pragma unroll
      for (int j = 0; j < NT / 32; ++j) {
        s[j] = sc[r * NT + lane + 32 * j];
        mx = fmaxf(mx, s[j]);
      }
#pragma unroll
      for (int off = 16; off > 0; off >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xFFFFFFFFu, mx, off));
      float const m_new = fmaxf(m_r[i], mx);
      float const base = m_new == -INFINITY ? 0.0f : m_new;
      float const alpha = exp2f(m_r[i] - base);
      float sum = 0.0f;
#pragma unroll
      for (int j = 0; j < NT / 32; ++j) {
        int const key = lane + 32 * j;
        float const e = exp2f(s[j] - base);
        sum += e;
        sc[r * NT + key] = key < keys ? e * vsc[key] : 0.0f;
      }
#pragma unroll
      for (int off = 16; off > 0; off >>= 1) sum += __shfl_xor_sync(0xFFFFFFFFu, sum, off);
      l_r[i] = l_r[i] * alpha + sum;
      m_r[i] = m_new;
      if (lane == 0) alpha_s[r] = alpha;
    }
    __syncthreads();
    // P.V: thread tid owns value columns tid + NT cc.
#pragma unroll
    for (int r = 0; r < RG; ++r) {
      float const a = alpha_s[r];
#pragma unroll
      for (int cc = 0; cc < NC; ++cc) o[r][cc] *= a;
    }
    for (int j = 0; j < keys; ++j) {
      int const u = u0 + j, blk = page[j], slot = u % bs;
      float v[NC];
      if (cache.value_is_key_prefix) {
        E const* kt = cache.key_block(blk, h) + slot;
#pragma unroll
        for (int cc = 0; cc < NC; ++cc) {
          int const d = tid + NT * cc;
          v[cc] = d < Dv ? kv_load(kt + static_cast<std::int64_t>(d) * bs) : 0.0f;
        }
      } else {
        E const* vr = cache.value_block(blk, h) + static_cast<std::int64_t>(slot) * cache.value_stride;
#pragma unroll
        for (int cc = 0; cc < NC; ++cc) {
          int const d = tid + NT * cc;
          v[cc] = d < Dv ? kv_load(vr + d) : 0.0f;
        }
      }
#pragma unroll
      for (int r = 0; r < RG; ++r) {
        float const pr = sc[r * NT + j];
#pragma unroll
        for (int cc = 0; cc < NC; ++cc) o[r][cc] = fmaf(pr, v[cc], o[r][cc]);
      }
    }
    __syncthreads();  // sc, vsc, page are refilled by the next tile
  }

  // The split's partial result per row.
  std::int64_t const part0 = ((static_cast<std::int64_t>(b) * p.Hkv + h) * p.splits + split) * rows;
  if (lane == 0)
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      int const rr = r0 + warp_id + 4 * i;
      if (rr < rows) p.pm[part0 + rr] = m_r[i], p.pl[part0 + rr] = l_r[i];
    }
#pragma unroll
  for (int r = 0; r < RG; ++r) {
    int const rr = r0 + r;
    if (rr >= rows) continue;
#pragma unroll
    for (int cc = 0; cc < NC; ++cc) {
      int const d = tid + NT * cc;
      if (d < Dv) p.po[(part0 + rr) * Dv + d] = o[r][cc];
    }
  }
}

// One block per (sequence, KV head, row): the host's merge (paged_attention.hpp), the sink's
// logit (base 2) in the common max and once in the sum.
__global__ void __launch_bounds__(decode_threads)
    paged_decode_merge_kernel(decode_params p, float const* __restrict__ sinks, float* __restrict__ out, int Dv) {
  int const G = p.Hq / p.Hkv, rows = p.n * G;
  int const rr = blockIdx.x % rows, bh = blockIdx.x / rows, b = bh / p.Hkv, h = bh % p.Hkv;
  std::int64_t const part0 = static_cast<std::int64_t>(bh) * p.splits * rows;
  float* dst = out + (static_cast<std::int64_t>(b * p.n + rr / G) * p.Hq + h * G + rr % G) * Dv;
  if (p.stats != nullptr && blockIdx.x == 0 && threadIdx.x == 0) p.stats[1] = p.splits;  // the splits merged
  float mx = -INFINITY;
  for (int s = 0; s < p.splits; ++s) mx = fmaxf(mx, p.pm[part0 + s * rows + rr]);
  if (mx == -INFINITY) {  // no key visible: 0, sink or not
    for (int d = threadIdx.x; d < Dv; d += decode_threads) dst[d] = 0.0f;
    return;
  }
  float top = mx, lsum = 0.0f;
  if (sinks != nullptr) {
    float const sink2 = sinks[h * G + rr % G] * 1.4426950408889634f;
    top = fmaxf(mx, sink2);
    lsum = exp2f(sink2 - top);
  }
  for (int s = 0; s < p.splits; ++s) {
    float const w = exp2f(p.pm[part0 + s * rows + rr] - top);
    if (w != 0.0f) lsum += p.pl[part0 + s * rows + rr] * w;
  }
  float const inv = 1.0f / lsum;
  for (int d = threadIdx.x; d < Dv; d += decode_threads) {
    float acc = 0.0f;
    for (int s = 0; s < p.splits; ++s) {
      float const w = exp2f(p.pm[part0 + s * rows + rr] - top);
      if (w != 0.0f) acc += p.po[(part0 + s * rows + rr) * Dv + d] * w;
    }
    dst[d] = acc * inv;
  }
}

struct decode_shape {
  int sequences = 0;       // B
  int queries = 1;         // n per sequence
  int q_heads = 0;         // Hq
  int max_length = 0;      // the longest sequence (host-known bound; picks the split count)
  int table_stride = 0;    // entries per row of block_tables
  int splits = 0;          // 0: chosen by decode_splits()
};

// Splits per sequence: enough blocks to fill the device about four times over, no split shorter
// than decode_min_keys_per_split keys (the host's rule, with SMs for threads).
inline int decode_splits(decode_shape const& s, int kv_heads, int block_size) {
  if (s.splits > 0) return s.splits;
  int dev = 0, sms = 1;
  if (cudaGetDevice(&dev) != cudaSuccess || cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess) {
    (void)cudaGetLastError();
    sms = 1;
  }
  int const nb = std::max(1, (s.max_length + block_size - 1) / block_size);
  int const groups = (s.queries * (s.q_heads / kv_heads) + decode_rows - 1) / decode_rows;
  int const items = s.sequences * kv_heads * groups;
  int const by_work = (4 * sms + items - 1) / items;
  int const by_size = std::max(1, nb * block_size / decode_min_keys_per_split);
  return std::clamp(std::min(by_work, by_size), 1, nb);
}

template <class E>
std::size_t decode_workspace_bytes(decode_shape const& s, device_kv_cache<E> const& c) {
  int const splits = decode_splits(s, c.kv_heads, c.block_size);
  std::size_t const rows = static_cast<std::size_t>(s.sequences) * c.kv_heads * splits * s.queries * (s.q_heads / c.kv_heads);
  workspace_carver w;
  w.take<float>(rows);
  w.take<float>(rows);
  w.take<float>(rows * c.value_dim);
  return w.bytes();
}

// The split kernel and the merge. sinks: [Hq] on the device or null. stats: [2] int on the device
// or null: the kernels write the split count they ran with (the split kernel's grid, the merge's
// loop), so a caller can see on the device what ran. Returns the split count.
template <class E>
int paged_decode(device_kv_cache<E> const& cache, int const* block_tables, int const* lengths, float const* q,
                 float* out, decode_shape const& s, device_mask const& mask, float scale, float const* sinks,
                 void* workspace, std::size_t workspace_bytes, cudaStream_t stream = nullptr, int* stats = nullptr) {
  char const* where = "kernels::attention::paged_decode";
  require(s.sequences > 0 && s.queries > 0 && s.q_heads > 0 && s.q_heads % cache.kv_heads == 0, where,
          "need sequences > 0, queries > 0 and q_heads (", s.q_heads, ") a multiple of kv_heads (", cache.kv_heads, ")");
  require(cache.key_dim > 0 && cache.key_dim <= decode_max_key_dim && cache.value_dim > 0 &&
              cache.value_dim <= decode_max_value_dim,
          where, "key_dim (", cache.key_dim, ") must be in [1, ", decode_max_key_dim, "] and value_dim (",
          cache.value_dim, ") in [1, ", decode_max_value_dim, "]");
  require(s.max_length > 0 && s.table_stride >= (s.max_length + cache.block_size - 1) / cache.block_size, where,
          "table_stride (", s.table_stride, ") must hold the blocks of max_length (", s.max_length, ")");
  require(scale > 0.0f && scale < 1e30f, where, "scale must be finite and > 0, got ", scale);
  require(switchyard::attention::kv_format<E>::scaled == (cache.scales != nullptr) && cache.data != nullptr, where,
          "the cache needs its data, and scales exactly for int8 / e4m3 elements");
  // The grid: (splits, B Hkv, row groups) for the split kernel, B Hkv rows blocks for the merge.
  int const G = s.q_heads / cache.kv_heads, rows = s.queries * G;
  std::int64_t const seq_heads = std::int64_t{s.sequences} * cache.kv_heads;
  std::int64_t const groups = (std::int64_t{rows} + decode_rows - 1) / decode_rows;
  require(seq_heads <= 65535, where, "sequences x kv_heads (", s.sequences, " x ", cache.kv_heads, " = ", seq_heads,
          ") is the grid's y dimension and must be at most 65535: split the batch");
  require(groups <= 65535, where, "queries x q_heads / kv_heads (", s.queries, " x ", G, " = ", rows,
          " rows per KV head) makes ", groups, " groups of ", decode_rows,
          " rows, the grid's z dimension, which must be at most 65535: fewer queries per call");
  require(seq_heads * rows <= 0x7FFFFFFF, where, "the merge's grid (", seq_heads * rows, " blocks) exceeds 2^31 - 1");
  std::size_t const need = decode_workspace_bytes(s, cache);
  require(workspace != nullptr && workspace_bytes >= need, where, "the workspace has ", workspace_bytes,
          " bytes but needs ", need);
  int const splits = decode_splits(s, cache.kv_heads, cache.block_size);
  std::size_t const nrows = static_cast<std::size_t>(s.sequences) * cache.kv_heads * splits * rows;
  workspace_carver w(workspace);
  decode_params p{.q = q, .tables = block_tables, .table_stride = s.table_stride, .lengths = lengths,
                  .B = s.sequences, .n = s.queries, .Hq = s.q_heads, .Hkv = cache.kv_heads, .splits = splits,
                  .qscale = scale * 1.4426950408889634f, .mask = mask, .pm = nullptr, .pl = nullptr, .po = nullptr,
                  .stats = stats};
  p.pm = w.take<float>(nrows);
  p.pl = w.take<float>(nrows);
  p.po = w.take<float>(nrows * cache.value_dim);
  int const smem = static_cast<int>(sizeof(float)) * (decode_rows * cache.key_dim + decode_rows * decode_threads +
                                                      decode_threads + decode_rows + decode_threads);
  dim3 const grid(splits, static_cast<unsigned>(seq_heads), static_cast<unsigned>(groups));
  dispatch_mask(mask.kind, [&](auto mk) {
    constexpr mask_kind MK = decltype(mk)::value;
    if (smem > 48 * 1024)
      SWITCHYARD_CUDA_CHECK(cudaFuncSetAttribute(paged_decode_split_kernel<E, MK>,
                                                 cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
    paged_decode_split_kernel<E, MK><<<grid, decode_threads, smem, stream>>>(cache, p);
    SWITCHYARD_CUDA_CHECK(cudaGetLastError());
  });
  paged_decode_merge_kernel<<<static_cast<unsigned>(seq_heads * rows), decode_threads, 0, stream>>>(p, sinks, out,
                                                                                             cache.value_dim);
  SWITCHYARD_CUDA_CHECK(cudaGetLastError());
  return splits;
}

}  // namespace kernels::attention
SWITCHYARD_NAMESPACE_END
