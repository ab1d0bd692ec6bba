#pragma once
// Prefill attention on the device: the host's attention::flash_attention
// (include/switchyard/attention/flash_attention.hpp) for f32 q / k / v / out in its layouts,
//   q [T, Hq, D], k [S, Hkv, D], v [S, Hkv, D], out [T, Hq, D]   (contiguous, on the device)
// query t at position first_query_position + t (default S - T), GQA / MQA (Hq a multiple of
// Hkv), head dims 64 and 128, the host's mask policies (mask.cuh: causal, sliding window,
// StreamingLLM sinks + window, block-sparse, none) with masked tiles skipped whole, and optional
// learned sinks (gpt-oss) per query head. Products in bf16 on tensor cores, f32 accumulation and
// softmax.
//
//   namespace ka = switchyard::kernels::attention;
//   ka::flash_shape shape{.tokens = T, .keys = S, .q_heads = 32, .kv_heads = 8, .head_dim = 128};
//   std::size_t bytes = ka::flash_workspace_bytes(shape, path);       // 0 unless wgmma runs
//   ka::flash_attention(q, k, v, out, shape, ka::from_host(at::causal_mask{}), scale,
//                       /*sinks*/ nullptr, workspace, bytes, stream, path);
//
// Paths (flash_path_for says which one a call takes, so tests and callers can see a fallback):
//   mma     flash_mma.cuh: mma.sync.m16n8k16, any sm_80+ device;
//   wgmma   flash_wgmma.cuh: wgmma + TMA from a packed bf16 copy of K and V in the workspace,
//           where this build has sm_90a code for the device (cudaFuncAttributes::ptxVersion
//           >= 90 and the driver's tensor-map encoder); elsewhere the request runs mma;
//   automatic: mma, until a Hopper run has validated the wgmma kernel (docs/cuda.md).
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include <cuda_runtime_api.h>

#include "switchyard/core/error.hpp"
#include "switchyard/kernels/attention/flash_mma.cuh"
#include "switchyard/kernels/attention/flash_wgmma.cuh"
#include "switchyard/kernels/common/cuda_check.cuh"
#include "switchyard/kernels/common/tensor_map.cuh"
#include "switchyard/kernels/common/workspace.cuh"

SWITCHYARD_NAMESPACE_BEGIN
namespace kernels::attention {

enum class attention_path { automatic, mma, wgmma };

inline char const* name(attention_path p) {
  constexpr char const* names[] = {"automatic", "mma", "wgmma"};
  return names[static_cast<int>(p)];
}

struct flash_shape {
  int tokens = 0;       // T
  int keys = 0;         // S
  int q_heads = 0;      // Hq
  int kv_heads = 0;     // Hkv
  int head_dim = 0;     // D (64 or 128)
  int first_query_position = -1;  // -1: S - T
};

namespace detail {

template <class F>
void dispatch_head_dim(int d, F&& f) {
  if (d == 64) f(std::integral_constant<int, 64>{});
  else if (d == 128) f(std::integral_constant<int, 128>{});
  else
    switchyard::detail::fail<unsupported_config>("kernels::attention", "head_dim = ", d,
                                                 " has no device prefill kernel; compiled: 64 128");
}

inline void validate(flash_shape const& s) {
  char const* where = "kernels::attention::flash_attention";
  require(s.tokens >= 0 && s.keys > 0 && s.q_heads > 0 && s.kv_heads > 0 && s.q_heads % s.kv_heads == 0, where,
          "need T >= 0, S > 0 and q_heads (", s.q_heads, ") a positive multiple of kv_heads (", s.kv_heads, ")");
  require(s.head_dim == 64 || s.head_dim == 128, where, "head_dim must be 64 or 128, got ", s.head_dim);
  int const q0 = s.first_query_position < 0 ? s.keys - s.tokens : s.first_query_position;
  require(q0 >= 0, where, "more queries (", s.tokens, ") than keys (", s.keys, ") and no first_query_position");
  require(s.keys < (1 << 30) && s.tokens < (1 << 30), where, "T and S must be below 2^30");
}

inline int padded_keys(int S) { return (S + flash_bk - 1) / flash_bk * flash_bk; }

}  // namespace detail

// Whether attention_path::wgmma runs the wgmma kernel on the current device: this build has
// sm_90a code for it (the kernel's PTX version, as kernels::moe decides).
inline bool flash_wgmma_available() {
  cudaFuncAttributes attr{};
  if (cudaFuncGetAttributes(&attr, flash_wgmma_kernel<128, mask_kind::causal>) != cudaSuccess) {
    (void)cudaGetLastError();
    return false;
  }
  return attr.ptxVersion >= 90;
}

// The kernel a call with this request runs: wgmma only where available, mma otherwise.
inline attention_path flash_path_for(attention_path requested) {
  return requested == attention_path::wgmma && flash_wgmma_available() ? attention_path::wgmma : attention_path::mma;
}

// Workspace of a call: the packed bf16 K and V^T of the wgmma path, nothing for mma.
inline std::size_t flash_workspace_bytes(flash_shape const& s, attention_path requested) {
  if (flash_path_for(requested) != attention_path::wgmma) return 0;
  workspace_carver w;
  std::size_t const n = static_cast<std::size_t>(s.kv_heads) * detail::padded_keys(s.keys) * s.head_dim;
  w.take<std::uint16_t>(n);
  w.take<std::uint16_t>(n);
  return w.bytes();
}

// sinks: [Hq] f32 on the device or null. stats: [3] counters on the device (tiles of 64 x 64,
// skipped, partial; the caller zeroes them) or null. Returns the path that ran.
inline attention_path flash_attention(float const* q, float const* k, float const* v, float* out, flash_shape const& s,
                                      device_mask const& mask, float scale, float const* sinks, void* workspace,
                                      std::size_t workspace_bytes, cudaStream_t stream = nullptr,
                                      attention_path requested = attention_path::automatic,
                                      unsigned long long* stats = nullptr) {
  detail::validate(s);
  char const* where = "kernels::attention::flash_attention";
  require(scale > 0.0f && scale < 1e30f, where, "scale must be finite and > 0, got ", scale);
  attention_path const path = flash_path_for(requested);
  std::size_t const need = flash_workspace_bytes(s, requested);
  require(workspace_bytes >= need && (need == 0 || workspace != nullptr), where, "the workspace has ", workspace_bytes,
          " bytes but the ", name(path), " path needs ", need);
  if (s.tokens == 0) return path;
  flash_params p{.q = q, .k = k, .v = v, .out = out, .T = s.tokens, .S = s.keys, .Hq = s.q_heads, .Hkv = s.kv_heads,
                 .q0 = s.first_query_position < 0 ? s.keys - s.tokens : s.first_query_position,
                 .qscale = scale * log2e, .sinks = sinks, .mask = mask, .stats = stats};
  dim3 const grid((s.tokens + flash_bq - 1) / flash_bq, s.q_heads);
  detail::dispatch_head_dim(s.head_dim, [&](auto d) {
    constexpr int D = decltype(d)::value;
    dispatch_mask(mask.kind, [&](auto mk) {
      constexpr mask_kind MK = decltype(mk)::value;
      if (path == attention_path::mma) {
        flash_mma_kernel<D, MK><<<grid, flash_threads, 0, stream>>>(p);
        SWITCHYARD_CUDA_CHECK(cudaGetLastError());
        return;
      }
      int const Sp = detail::padded_keys(s.keys);
      workspace_carver w(workspace);
      std::size_t const n = static_cast<std::size_t>(s.kv_heads) * Sp * D;
      std::uint16_t* kp = w.take<std::uint16_t>(n);
      std::uint16_t* vt = w.take<std::uint16_t>(n);
      flash_pack_kernel<D><<<dim3(Sp / 32, s.kv_heads), 256, 0, stream>>>(k, v, kp, vt, s.keys, Sp, s.kv_heads);
      SWITCHYARD_CUDA_CHECK(cudaGetLastError());
      auto const hk = static_cast<std::uint64_t>(s.kv_heads);
      CUtensorMap const kmap = make_bf16_tensor_map(kp, hk * Sp, D, 64, 64);
      CUtensorMap const vmap = make_bf16_tensor_map(vt, hk * D, Sp, 64, 64);
      constexpr int smem = flash_wgmma_smem_bytes(D);
      SWITCHYARD_CUDA_CHECK(
          cudaFuncSetAttribute(flash_wgmma_kernel<D, MK>, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
      flash_wgmma_kernel<D, MK><<<grid, flash_threads, smem, stream>>>(p, kmap, vmap, Sp);
      SWITCHYARD_CUDA_CHECK(cudaGetLastError());
    });
  });
  return path;
}

}  // namespace kernels::attention
SWITCHYARD_NAMESPACE_END
