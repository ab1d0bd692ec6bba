#pragma once
// AArch64 Advanced SIMD (NEON): 4 f32 lanes in a q register. NEON is architectural on AArch64,
// so this path needs no run-time check there.
#if defined(__ARM_NEON) && defined(__aarch64__)
#include <arm_neon.h>

#include <cstdint>
#include <type_traits>

#include "switchyard/core/cpu_features.hpp"
#include "switchyard/core/format/traits.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace simd {

struct neon {
  static constexpr char const* name = "neon";
  static constexpr int lanes = 4;
  static constexpr int registers = 32;  // vector registers, for tile shapes
  static bool supported(cpu_features const& f) noexcept { return f.neon; }
  using vf = float32x4_t;

  static SWITCHYARD_FORCE_INLINE vf zero() noexcept { return vdupq_n_f32(0.0f); }
  static SWITCHYARD_FORCE_INLINE vf set1(float x) noexcept { return vdupq_n_f32(x); }
  static SWITCHYARD_FORCE_INLINE vf load(float const* p) noexcept { return vld1q_f32(p); }
  template <class T>
  static SWITCHYARD_FORCE_INLINE vf load_as_f32(T const* p) noexcept {
    if constexpr (std::is_same_v<T, float>) {
      return vld1q_f32(p);
    } else if constexpr (std::is_same_v<T, format::bf16>) {
      return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(reinterpret_cast<std::uint16_t const*>(p)), 16));
    } else {
      float tmp[lanes];
      for (int i = 0; i < lanes; ++i) tmp[i] = format::to_float(p[i]);
      return vld1q_f32(tmp);
    }
  }
  static SWITCHYARD_FORCE_INLINE void store(float* p, vf a) noexcept { vst1q_f32(p, a); }
  static SWITCHYARD_FORCE_INLINE vf add(vf a, vf b) noexcept { return vaddq_f32(a, b); }
  static SWITCHYARD_FORCE_INLINE vf mul(vf a, vf b) noexcept { return vmulq_f32(a, b); }
  static SWITCHYARD_FORCE_INLINE vf fma(vf a, vf b, vf c) noexcept { return vfmaq_f32(c, a, b); }
  static SWITCHYARD_FORCE_INLINE float reduce_add(vf a) noexcept { return vaddvq_f32(a); }
};

}  // namespace simd
SWITCHYARD_NAMESPACE_END
#endif
