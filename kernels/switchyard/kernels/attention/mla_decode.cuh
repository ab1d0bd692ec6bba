#pragma once
// DeepSeek-V2/V3 multi-head latent attention, absorbed decode, on the device: the host's
// mla_attention decode branch (include/switchyard/attention/mla_attention.hpp) from the
// projected, rotated queries to the per-head attention output (before o_proj):
//   q_lat_h = W_uk_h^T q_nope_h          absorb kernel (W_uk_h: rows h (nope + v) .. + nope of
//                                        kv_b_proj, [nope, rank])
//   lat_h   = attention(q = [q_lat_h, q_pe_h], latent cache)   paged_decode.cuh: MQA over the
//                                        latent cache (one KV head, key [c, k_pe] = rank + rope,
//                                        value = its first rank entries, value_is_key_prefix)
//   out_h   = W_uv_h lat_h                output kernel (W_uv_h: the next v rows of kv_b_proj)
// so the cache is the host's latent cache (latent_cache_config) and is streamed once per group
// of 8 query rows (heads x tokens), and kv_b_proj is the host's [heads (nope + v), rank] matrix in
// f32 (mla_kv_b_t widens it to f32 for block formats; bf16 / f16 models upload it widened).
//
//   q   [B n, heads, nope + rope] f32   (the block's st.q: nope part, then the rotated rope part)
//   out [B n, heads, v_head_dim] f32
#include <cstddef>
#include <cstdint>

#include <cuda_runtime_api.h>

#include "switchyard/core/error.hpp"
#include "switchyard/kernels/attention/paged_decode.cuh"
#include "switchyard/kernels/common/warp.cuh"
#include "switchyard/kernels/common/workspace.cuh"

SWITCHYARD_NAMESPACE_BEGIN
namespace kernels::attention {

struct mla_decode_shape {
  int sequences = 0, queries = 1;  // B, n
  int heads = 0, rank = 0, rope_dim = 0, nope_dim = 0, v_head_dim = 0;
  int max_length = 0, table_stride = 0, splits = 0;  // as decode_shape
};

// qa[t, h] = [W_uk_h^T q_nope[t, h], q_pe[t, h]]. One block per (t, h), threads over the rank.
__global__ void __launch_bounds__(128)
    mla_absorb_kernel(float const* __restrict__ q, float const* __restrict__ kv_b, float* __restrict__ qa, int H,
                      int R, int rd, int nope, int vd) {
  extern __shared__ float mla_qn[];  // [nope]
  std::int64_t const th = blockIdx.x;
  int const h = static_cast<int>(th % H);
  float const* qr = q + th * (nope + rd);
  for (int i = threadIdx.x; i < nope; i += 128) mla_qn[i] = qr[i];
  __syncthreads();
  float* dst = qa + th * (R + rd);
  float const* w = kv_b + static_cast<std::int64_t>(h) * (nope + vd) * R;
  for (int r = threadIdx.x; r < R; r += 128) {
    float acc = 0.0f;
    for (int i = 0; i < nope; ++i) acc = fmaf(w[static_cast<std::int64_t>(i) * R + r], mla_qn[i], acc);
    dst[r] = acc;
  }
  for (int i = threadIdx.x; i < rd; i += 128) dst[R + i] = qr[nope + i];
}

// out[t, h, v] = W_uv_h[v, :] . lat[t, h, :]. One block per (t, h), a warp per output row.
__global__ void __launch_bounds__(128)
    mla_output_kernel(float const* __restrict__ lat, float const* __restrict__ kv_b, float* __restrict__ out, int H,
                      int R, int nope, int vd) {
  extern __shared__ float mla_lat[];  // [R]
  std::int64_t const th = blockIdx.x;
  int const h = static_cast<int>(th % H), lane = threadIdx.x % 32, warp_id = threadIdx.x / 32;
  for (int r = threadIdx.x; r < R; r += 128) mla_lat[r] = lat[th * R + r];
  __syncthreads();
  for (int v = warp_id; v < vd; v += 4) {
    float const* w = kv_b + (static_cast<std::int64_t>(h) * (nope + vd) + nope + v) * R;
    float acc = 0.0f;
    for (int r = lane; r < R; r += 32) acc = fmaf(w[r], mla_lat[r], acc);
    acc = warp::sum(acc);
    if (lane == 0) out[th * vd + v] = acc;
  }
}

namespace detail {
inline decode_shape mla_as_decode(mla_decode_shape const& s) {
  return {.sequences = s.sequences, .queries = s.queries, .q_heads = s.heads, .max_length = s.max_length,
          .table_stride = s.table_stride, .splits = s.splits};
}
}  // namespace detail

template <class E>
std::size_t mla_decode_workspace_bytes(mla_decode_shape const& s, device_kv_cache<E> const& c) {
  std::size_t const th = static_cast<std::size_t>(s.sequences) * s.queries * s.heads;
  workspace_carver w;
  w.take<float>(th * (s.rank + s.rope_dim));
  w.take<float>(th * s.rank);
  w.take<char>(decode_workspace_bytes(detail::mla_as_decode(s), c));
  return w.bytes();
}

// latent: a latent cache (kv_heads 1, key_dim rank + rope, value_dim rank, value_is_key_prefix).
// kv_b: [heads (nope + v), rank] f32 on the device. Causal over the cache, as the host's decode.
template <class E>
void mla_decode(device_kv_cache<E> const& latent, int const* block_tables, int const* lengths, float const* q,
                float const* kv_b, float* out, mla_decode_shape const& s, float scale, void* workspace,
                std::size_t workspace_bytes, cudaStream_t stream = nullptr) {
  char const* where = "kernels::attention::mla_decode";
  require(latent.kv_heads == 1 && latent.key_dim == s.rank + s.rope_dim && latent.value_dim == s.rank &&
              latent.value_is_key_prefix,
          where, "the cache is not a latent cache for rank ", s.rank, " + rope ", s.rope_dim,
          " (mla_attention::latent_cache_config)");
  require(s.sequences > 0 && s.queries > 0 && s.heads > 0 && s.rank > 0 && s.rope_dim > 0 && s.nope_dim > 0 &&
              s.v_head_dim > 0,
          where, "dimensions must be positive");
  std::size_t const need = mla_decode_workspace_bytes(s, latent);
  require(workspace != nullptr && workspace_bytes >= need, where, "the workspace has ", workspace_bytes,
          " bytes but needs ", need);
  std::size_t const th = static_cast<std::size_t>(s.sequences) * s.queries * s.heads;
  workspace_carver w(workspace);
  float* qa = w.take<float>(th * (s.rank + s.rope_dim));
  float* lat = w.take<float>(th * s.rank);
  decode_shape const ds = detail::mla_as_decode(s);
  std::size_t const dbytes = decode_workspace_bytes(ds, latent);
  char* dws = w.take<char>(dbytes);
  mla_absorb_kernel<<<static_cast<unsigned>(th), 128, s.nope_dim * sizeof(float), stream>>>(
      q, kv_b, qa, s.heads, s.rank, s.rope_dim, s.nope_dim, s.v_head_dim);
  SWITCHYARD_CUDA_CHECK(cudaGetLastError());
  paged_decode(latent, block_tables, lengths, qa, lat, ds, device_mask{.kind = mask_kind::causal}, scale, nullptr, dws,
               dbytes, stream);
  mla_output_kernel<<<static_cast<unsigned>(th), 128, s.rank * sizeof(float), stream>>>(lat, kv_b, out, s.heads,
                                                                                       s.rank, s.nope_dim, s.v_head_dim);
  SWITCHYARD_CUDA_CHECK(cudaGetLastError());
}

}  // namespace kernels::attention
SWITCHYARD_NAMESPACE_END
