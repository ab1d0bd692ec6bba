#pragma once
// Rotary position embedding on the device, the host's switchyard::attention::rotary_embedding
// (include/switchyard/attention/rope.hpp) applied in place to x [T, heads, head_dim] f32:
// token t at position first_position + t (or positions[t]), pairs (i, i + rotary_dim / 2)
// (rotate_half) or (2i, 2i + 1) (interleaved), dimensions past rotary_dim untouched. The
// frequencies are the host object's own (inv_freq, uploaded once: linear and YaRN scaling are
// folded into them), and the attention factor scales cos and sin as on the host, so the angle is
// the same f32 product on both sides and only cos / sin differ (CUDA's cosf / sinf, 2 ulp, with
// the full-range argument reduction: no fast-math intrinsics).
#include <cstdint>

#include <cuda_runtime_api.h>

#include "switchyard/attention/rope.hpp"
#include "switchyard/core/error.hpp"
#include "switchyard/kernels/common/cuda_check.cuh"

SWITCHYARD_NAMESPACE_BEGIN
namespace kernels::norm {

// What the kernel needs from a rotary_embedding, with inv_freq on the device.
struct device_rope {
  float const* inv_freq = nullptr;  // [rotary_dim / 2], device
  int head_dim = 0, rotary_dim = 0;
  bool interleaved = false;
  float attention_factor = 1.0f;
};

inline constexpr int rope_threads = 128;

// One block per token, threads over (head, pair).
__global__ void __launch_bounds__(rope_threads)
    rope_kernel(float* x, int heads, device_rope r, std::int64_t first_position, std::int64_t const* positions) {
  std::int64_t const t = blockIdx.x;
  float const p = static_cast<float>(positions ? positions[t] : first_position + t);
  int const half = r.rotary_dim / 2;
  float* xt = x + t * heads * r.head_dim;
  for (int i = threadIdx.x; i < heads * half; i += rope_threads) {
    int const h = i / half, j = i % half;
    float const angle = __fmul_rn(r.inv_freq[j], p);  // one f32 rounding, as the host
    float const c = __fmul_rn(cosf(angle), r.attention_factor), s = __fmul_rn(sinf(angle), r.attention_factor);
    float* v = xt + h * r.head_dim;
    int const ia = r.interleaved ? 2 * j : j, ib = r.interleaved ? 2 * j + 1 : j + half;
    float const a = v[ia], b = v[ib];
    // a' = a cos - b sin, b' = b cos + a sin, each product rounded before the sum as the host's
    // (which the host compiler may contract; the tolerance allows for either).
    v[ia] = __fsub_rn(__fmul_rn(a, c), __fmul_rn(b, s));
    v[ib] = __fadd_rn(__fmul_rn(b, c), __fmul_rn(a, s));
  }
}

// x [T, heads, head_dim] f32 on the device, in place; positions (device, [T]) or null for
// first_position + t.
inline void rope(float* x, std::int64_t T, int heads, device_rope const& r, std::int64_t first_position,
                 std::int64_t const* positions = nullptr, cudaStream_t stream = nullptr) {
  require(r.inv_freq != nullptr && r.head_dim > 0 && r.rotary_dim > 0 && r.rotary_dim <= r.head_dim &&
              r.rotary_dim % 2 == 0 && heads > 0,
          "kernels::norm::rope", "needs inv_freq, head_dim > 0, an even rotary_dim in (0, head_dim] and heads > 0");
  require(first_position >= 0 && T >= 0 && T < (std::int64_t{1} << 31), "kernels::norm::rope",
          "positions must be >= 0 and T in [0, 2^31)");
  if (T == 0) return;
  rope_kernel<<<static_cast<unsigned>(T), rope_threads, 0, stream>>>(x, heads, r, first_position, positions);
  SWITCHYARD_CUDA_CHECK(cudaGetLastError());
}

// The device description of a host rotary_embedding, inv_freq at `device_inv_freq` (the caller
// uploads e.inv_freq() there, rotary_dim / 2 floats).
inline device_rope describe(switchyard::attention::rotary_embedding const& e, float const* device_inv_freq) {
  return {.inv_freq = device_inv_freq,
          .head_dim = static_cast<int>(e.head_dim()),
          .rotary_dim = static_cast<int>(e.rotary_dim()),
          .interleaved = e.config().layout == switchyard::attention::rope_layout::interleaved,
          .attention_factor = e.attention_factor()};
}

}  // namespace kernels::norm
SWITCHYARD_NAMESPACE_END
