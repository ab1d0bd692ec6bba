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
// Paths (flash_path_for says which one a call takes, so tests and callers can see a fallback;
// the kernels also write a tag of what ran into the optional stats array):
//   mma     flash_mma.cuh: mma.sync.m16n8k16, any sm_80+ device;
//   wgmma   flash_wgmma.cuh: wgmma + TMA from a packed bf16 copy of K and V in the workspace,
//           where the code the driver runs here is sm_90a code (sm90::sm90a_code_available());
//           on other code the request runs mma; on sm_90a code without the driver's tensor-map
//           encoder it is refused (unsupported_config);
//   automatic: mma, until a Hopper run has validated the wgmma kernel (docs/cuda.md).
// flash_prepare + flash_launch split a call into its host-side setup and its launches.
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

// Whether attention_path::wgmma runs the wgmma kernel on the current device: the code the driver
// runs here is sm_90a code (sm90::sm90a_code_available(): exact, where the kernels' version
// numbers cannot tell 90 from 90a) and the driver has the tensor-map encoder.
inline bool flash_wgmma_available() { return sm90::sm90a_code_available() && tensor_map_encoder_available(); }

// The kernel a call with this request runs. automatic and mma: mma. wgmma: the wgmma kernel on
// sm_90a code; mma on any other code (the request is a preference there, and the path that ran
// is reported); refused (unsupported_config) on sm_90a code whose driver has no tensor-map
// encoder, rather than silently running mma where the wgmma kernel was expected.
inline attention_path flash_path_for(attention_path requested) {
  if (requested != attention_path::wgmma || !sm90::sm90a_code_available()) return attention_path::mma;
  if (!tensor_map_encoder_available())
    switchyard::detail::fail<unsupported_config>(
        "kernels::attention::flash_attention", "attention_path::wgmma was requested on sm_90a code, but the CUDA "
        "driver has no cuTensorMapEncodeTiled (a CUDA 12 or later driver is needed); ask for mma or automatic");
  return attention_path::wgmma;
}

namespace detail {
inline std::size_t wgmma_workspace_bytes(flash_shape const& s) {
  workspace_carver w;
  std::size_t const n = static_cast<std::size_t>(s.kv_heads) * padded_keys(s.keys) * s.head_dim;
  w.take<std::uint16_t>(n);
  w.take<std::uint16_t>(n);
  return w.bytes();
}
}  // namespace detail

// Workspace of a call: the packed bf16 K and V^T of the wgmma path, nothing for mma.
inline std::size_t flash_workspace_bytes(flash_shape const& s, attention_path requested) {
  return flash_path_for(requested) == attention_path::wgmma ? detail::wgmma_workspace_bytes(s) : 0;
}

// A call with everything but the launches decided: validation, the path, the tensor maps of the
// workspace's packed K and V^T, the kernel's shared-memory attribute. flash_prepare builds it;
// flash_launch only launches (no driver queries), so a caller that repeats a call -- a benchmark,
// a CUDA graph capture -- prepares once. The pointers given to flash_prepare are the ones used.
struct flash_call {
  attention_path path = attention_path::mma;
  flash_params p{};
  int head_dim = 0, padded_keys = 0;
  dim3 grid{};
  std::uint16_t* kp = nullptr;  // wgmma: the packed copies in the workspace
  std::uint16_t* vt = nullptr;
  CUtensorMap kmap{}, vmap{};
};

// sinks: [Hq] f32 on the device or null. stats: [4] on the device (tiles of 64 x 64 visited,
// skipped, partial -- the caller zeroes them -- and the tag of the kernel that ran, flash_tag_*)
// or null.
inline flash_call flash_prepare(float const* q, float const* k, float const* v, float* out, flash_shape const& s,
                                device_mask const& mask, float scale, float const* sinks, void* workspace,
                                std::size_t workspace_bytes, attention_path requested = attention_path::automatic,
                                unsigned long long* stats = nullptr) {
  detail::validate(s);
  char const* where = "kernels::attention::flash_attention";
  require(scale > 0.0f && scale < 1e30f, where, "scale must be finite and > 0, got ", scale);
  flash_call c;
  c.path = flash_path_for(requested);
  std::size_t const need = c.path == attention_path::wgmma ? detail::wgmma_workspace_bytes(s) : 0;
  require(workspace_bytes >= need && (need == 0 || workspace != nullptr), where, "the workspace has ", workspace_bytes,
          " bytes but the ", name(c.path), " path needs ", need);
  c.p = flash_params{.q = q, .k = k, .v = v, .out = out, .T = s.tokens, .S = s.keys, .Hq = s.q_heads,
                     .Hkv = s.kv_heads, .q0 = s.first_query_position < 0 ? s.keys - s.tokens : s.first_query_position,
                     .qscale = scale * log2e, .sinks = sinks, .mask = mask, .stats = stats};
  c.head_dim = s.head_dim;
  c.grid = dim3((s.tokens + flash_bq - 1) / flash_bq, s.q_heads);
  if (c.path != attention_path::wgmma || s.tokens == 0) return c;
  int const Sp = c.padded_keys = detail::padded_keys(s.keys);
  workspace_carver w(workspace);
  std::size_t const n = static_cast<std::size_t>(s.kv_heads) * Sp * s.head_dim;
  c.kp = w.take<std::uint16_t>(n);
  c.vt = w.take<std::uint16_t>(n);
  auto const hk = static_cast<std::uint64_t>(s.kv_heads);
  c.kmap = make_bf16_tensor_map(c.kp, hk * Sp, s.head_dim, 64, 64);
  c.vmap = make_bf16_tensor_map(c.vt, hk * s.head_dim, Sp, 64, 64);
  detail::dispatch_head_dim(s.head_dim, [&](auto d) {
    constexpr int D = decltype(d)::value;
    dispatch_mask(mask.kind, [&](auto mk) {
      SWITCHYARD_CUDA_CHECK(cudaFuncSetAttribute(flash_wgmma_kernel<D, decltype(mk)::value>,
                                                 cudaFuncAttributeMaxDynamicSharedMemorySize,
                                                 flash_wgmma_smem_bytes(D)));
    });
  });
  return c;
}

// The launches of a prepared call (the wgmma path: the pack kernel, then the attention kernel).
// Returns the path that ran.
inline attention_path flash_launch(flash_call const& c, cudaStream_t stream = nullptr) {
  if (c.p.T == 0) return c.path;
  detail::dispatch_head_dim(c.head_dim, [&](auto d) {
    constexpr int D = decltype(d)::value;
    dispatch_mask(c.p.mask.kind, [&](auto mk) {
      constexpr mask_kind MK = decltype(mk)::value;
      if (c.path == attention_path::mma) {
        flash_mma_kernel<D, MK><<<c.grid, flash_threads, 0, stream>>>(c.p);
        SWITCHYARD_CUDA_CHECK(cudaGetLastError());
        return;
      }
      flash_pack_kernel<D><<<dim3(c.padded_keys / 32, c.p.Hkv), 256, 0, stream>>>(c.p.k, c.p.v, c.kp, c.vt, c.p.S,
                                                                                  c.padded_keys, c.p.Hkv);
      SWITCHYARD_CUDA_CHECK(cudaGetLastError());
      flash_wgmma_kernel<D, MK><<<c.grid, flash_threads, flash_wgmma_smem_bytes(D), stream>>>(c.p, c.kmap, c.vmap,
                                                                                              c.padded_keys);
      SWITCHYARD_CUDA_CHECK(cudaGetLastError());
    });
  });
  return c.path;
}

// flash_prepare and flash_launch in one call. Returns the path that ran.
inline attention_path flash_attention(float const* q, float const* k, float const* v, float* out, flash_shape const& s,
                                      device_mask const& mask, float scale, float const* sinks, void* workspace,
                                      std::size_t workspace_bytes, cudaStream_t stream = nullptr,
                                      attention_path requested = attention_path::automatic,
                                      unsigned long long* stats = nullptr) {
  return flash_launch(flash_prepare(q, k, v, out, s, mask, scale, sinks, workspace, workspace_bytes, requested, stats),
                      stream);
}

}  // namespace kernels::attention
SWITCHYARD_NAMESPACE_END
