#pragma once
// Appending tokens to a paged KV cache on the device: what the host's
// attention::paged_kv_cache<E>::append writes (include/switchyard/attention/paged_kv_cache.hpp),
// byte for byte, into a device pool with the host's layout (paged_decode.cuh's device_kv_cache),
// so the device decode reads a cache the device wrote exactly as it reads one the host wrote:
//   K^T [key_dim][block_size] per block and KV head: element d of a token in slot s at d bs + s;
//   V   [block_size][value_stride]: the token's row, padded with zero codes up to value_stride;
//       absent with value_is_key_prefix (MLA's latent cache): only K is written;
//   int8 / e4m3: one f32 scale per token and head for K (and V), absmax / 127 (448), 1 where the
//       absmax is 0 or not finite; each element stored as encode(x / scale) -- the host's
//       store_scale and kv_format<E>::encode, the same IEEE division and rounding (rintf is the
//       host's nearbyint, round half to even; the bf16 / f16 / e4m3 conversions are the host's own
//       host-device code). Plain formats store encode(x) (the host divides by 1.0f, which changes
//       nothing).
// Unlike the host, the device does not allocate: the block tables are the caller's (blocks taken
// from the host cache's pool or any allocator with the same numbering, then uploaded), so the
// append is one kernel launch with no host synchronization and can be captured in a CUDA graph.
// A token with a negative position is skipped (the padding rows of a captured batch), and so is
// one whose table entry or block is out of range (there is no way to report an error from inside
// a graph; the host-side checks cover what the host can see).
//
// Work: one block of 128 threads per (token, KV head); threads over the head vector's elements.
// The absmax is a max (exact in any order), so the parallel reduction equals the host's loop.
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include <cuda_runtime_api.h>

#include "switchyard/attention/paged_kv_cache.hpp"
#include "switchyard/core/error.hpp"
#include "switchyard/core/format/bf16.hpp"
#include "switchyard/core/format/f16.hpp"
#include "switchyard/core/format/fp8.hpp"
#include "switchyard/kernels/attention/paged_decode.cuh"
#include "switchyard/kernels/common/cuda_check.cuh"
#include "switchyard/kernels/common/warp.cuh"

SWITCHYARD_NAMESPACE_BEGIN
namespace kernels::attention {

// A writable view of a device pool: device_kv_cache<E>'s fields with non-const data and scales.
template <class E>
struct device_kv_cache_out {
  E* data = nullptr;
  float* scales = nullptr;  // scaled formats only
  int kv_heads = 0, key_dim = 0, value_dim = 0, block_size = 0, blocks = 0;
  bool value_is_key_prefix = false;
  int value_stride = 0;
  std::int64_t head_elems = 0;

  __device__ __forceinline__ E* key_block(int block, int h) const {
    return data + (static_cast<std::int64_t>(block) * kv_heads + h) * head_elems;
  }
  __device__ __forceinline__ E* value_block(int block, int h) const {
    return key_block(block, h) + static_cast<std::int64_t>(key_dim) * block_size;
  }
  // which: 0 for K, 1 for V (the host's store_scale index).
  __device__ __forceinline__ float* scale_slot(int block, int h, int which, int slot) const {
    return scales + ((static_cast<std::int64_t>(block) * kv_heads + h) * 2 + which) * block_size + slot;
  }
};

template <class E>
device_kv_cache_out<E> make_device_cache_out(switchyard::attention::kv_cache_config const& c, E* data, float* scales) {
  device_kv_cache<E> const in = make_device_cache<E>(c, data, scales);
  return {.data = data, .scales = scales, .kv_heads = in.kv_heads, .key_dim = in.key_dim, .value_dim = in.value_dim,
          .block_size = in.block_size, .blocks = in.blocks, .value_is_key_prefix = in.value_is_key_prefix,
          .value_stride = in.value_stride, .head_elems = in.head_elems};
}

// The read-only view of the same pool, for paged_decode / mla_decode.
template <class E>
device_kv_cache<E> as_input(device_kv_cache_out<E> const& c) {
  return {.data = c.data, .scales = c.scales, .kv_heads = c.kv_heads, .key_dim = c.key_dim, .value_dim = c.value_dim,
          .block_size = c.block_size, .blocks = c.blocks, .value_is_key_prefix = c.value_is_key_prefix,
          .value_stride = c.value_stride, .head_elems = c.head_elems};
}

// kv_format<E>::encode on the device: the same rounding as the host's.
template <class E>
__device__ __forceinline__ E kv_encode(float x) {
  if constexpr (std::is_same_v<E, float>) {
    return x;
  } else if constexpr (std::is_same_v<E, std::int8_t>) {
    float const r = rintf(x);  // nearbyint: round half to even
    return static_cast<std::int8_t>(r > 127.0f ? 127.0f : (r < -127.0f ? -127.0f : r));
  } else {
    return E(x);  // bf16, f16, e4m3: the host's own constexpr conversions
  }
}

inline constexpr int cache_write_threads = 128;

// The host's store_scale: absmax / max_value, or 1 where the absmax is 0 or not finite. Every
// thread of the block returns the same scale; thread 0 records it.
template <class E>
__device__ __forceinline__ float head_scale(float const* x, int n, float* record, float* red) {
  float amax = 0.0f;
  for (int d = static_cast<int>(threadIdx.x); d < n; d += cache_write_threads) amax = fmaxf(amax, fabsf(x[d]));
  amax = warp::max(amax);
  int const lane = static_cast<int>(threadIdx.x) % warp::size, w = static_cast<int>(threadIdx.x) / warp::size;
  __syncthreads();  // red is reused by the next call
  if (lane == 0) red[w] = amax;
  __syncthreads();
#pragma unroll
  for (int i = 0; i < cache_write_threads / warp::size; ++i) amax = fmaxf(amax, red[i]);
  float const s = amax > 0.0f && isfinite(amax) ? __fdiv_rn(amax, switchyard::attention::kv_format<E>::max_value) : 1.0f;
  if (threadIdx.x == 0) *record = s;
  return s;
}

template <class E>
__global__ void __launch_bounds__(cache_write_threads)
    append_kv_kernel(device_kv_cache_out<E> c, int const* __restrict__ tables, int table_stride,
                     int const* __restrict__ seq_of, int const* __restrict__ positions, float const* __restrict__ k,
                     int ldk, float const* __restrict__ v, int ldv) {
  constexpr bool scaled = switchyard::attention::kv_format<E>::scaled;
  __shared__ float red[cache_write_threads / warp::size];
  int const t = static_cast<int>(blockIdx.x), h = static_cast<int>(blockIdx.y), tid = static_cast<int>(threadIdx.x);
  int const pos = positions[t];
  if (pos < 0) return;  // a padding row (the whole block leaves together: no barrier is skipped)
  int const bs = c.block_size, entry = pos / bs, slot = pos % bs;
  if (entry >= table_stride) return;
  int const block = tables[static_cast<std::int64_t>(seq_of[t]) * table_stride + entry];
  if (block < 0 || block >= c.blocks) return;

  float const* kx = k + static_cast<std::int64_t>(t) * ldk + static_cast<std::int64_t>(h) * c.key_dim;
  E* const kt = c.key_block(block, h) + slot;
  float ks = 1.0f;
  if constexpr (scaled) ks = head_scale<E>(kx, c.key_dim, c.scale_slot(block, h, 0, slot), red);
  for (int d = tid; d < c.key_dim; d += cache_write_threads)
    kt[static_cast<std::int64_t>(d) * bs] = kv_encode<E>(scaled ? __fdiv_rn(kx[d], ks) : kx[d]);
  if (c.value_is_key_prefix) return;

  float const* vx = v + static_cast<std::int64_t>(t) * ldv + static_cast<std::int64_t>(h) * c.value_dim;
  E* const vr = c.value_block(block, h) + static_cast<std::int64_t>(slot) * c.value_stride;
  float vs = 1.0f;
  if constexpr (scaled) vs = head_scale<E>(vx, c.value_dim, c.scale_slot(block, h, 1, slot), red);
  for (int d = tid; d < c.value_stride; d += cache_write_threads)
    vr[d] = kv_encode<E>(d < c.value_dim ? (scaled ? __fdiv_rn(vx[d], vs) : vx[d]) : 0.0f);
}

// Writes T new tokens: token t goes to sequence seq_of[t] at position positions[t], i.e. cache
// block block_tables[seq_of[t] * table_stride + positions[t] / block_size], slot positions[t] %
// block_size. k: [T, kv_heads, key_dim] f32 with row stride ldk floats between tokens; v likewise
// ([T, kv_heads, value_dim], ldv; ignored, may be null, for value_is_key_prefix caches). A token
// with positions[t] < 0 is skipped. All pointers are device pointers; nothing is allocated and
// nothing waits on the device.
template <class E>
void append_kv(device_kv_cache_out<E> const& cache, int const* block_tables, int table_stride, int const* seq_of,
               int const* positions, float const* k, int ldk, float const* v, int ldv, int T, cudaStream_t stream) {
  char const* where = "kernels::attention::append_kv";
  require(T >= 0, where, "T (tokens) must be >= 0, got ", T);
  if (T == 0) return;
  require(cache.data != nullptr && switchyard::attention::kv_format<E>::scaled == (cache.scales != nullptr), where,
          "the cache needs its data, and scales exactly for int8 / e4m3 elements");
  require(cache.kv_heads > 0 && cache.kv_heads <= 65535 && cache.key_dim > 0 && cache.value_dim > 0 &&
              cache.block_size > 0,
          where, "the cache view is empty or malformed (kv_heads ", cache.kv_heads, ", key_dim ", cache.key_dim,
          ", value_dim ", cache.value_dim, ", block_size ", cache.block_size,
          "): make it with make_device_cache_out; kv_heads is the grid's y dimension (at most 65535)");
  require(block_tables != nullptr && table_stride > 0 && seq_of != nullptr && positions != nullptr, where,
          "need block_tables with table_stride > 0 (got ", table_stride, "), seq_of and positions");
  require(k != nullptr && static_cast<std::int64_t>(ldk) >= std::int64_t{cache.kv_heads} * cache.key_dim, where,
          "k must hold [T, kv_heads, key_dim] with ldk (", ldk, ") >= kv_heads x key_dim (",
          std::int64_t{cache.kv_heads} * cache.key_dim, ")");
  if (!cache.value_is_key_prefix)
    require(v != nullptr && static_cast<std::int64_t>(ldv) >= std::int64_t{cache.kv_heads} * cache.value_dim, where,
            "v must hold [T, kv_heads, value_dim] with ldv (", ldv, ") >= kv_heads x value_dim (",
            std::int64_t{cache.kv_heads} * cache.value_dim, ")");
  dim3 const grid(static_cast<unsigned>(T), static_cast<unsigned>(cache.kv_heads));
  append_kv_kernel<E><<<grid, cache_write_threads, 0, stream>>>(cache, block_tables, table_stride, seq_of, positions, k,
                                                                ldk, v, ldv);
  SWITCHYARD_CUDA_CHECK(cudaGetLastError());
}

}  // namespace kernels::attention
SWITCHYARD_NAMESPACE_END
