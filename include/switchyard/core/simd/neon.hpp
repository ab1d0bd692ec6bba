#pragma once
// AArch64 Advanced SIMD (NEON): 4 f32 lanes in a q register. NEON is architectural on AArch64,
// so this path needs no run-time check there.
#if defined(__ARM_NEON) && defined(__aarch64__)
#include <arm_neon.h>

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "switchyard/core/cpu_features.hpp"
#include "switchyard/core/format/traits.hpp"
#include "switchyard/core/simd/exp2_poly.hpp"

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
    } else if constexpr (std::is_same_v<T, std::int8_t>) {
      std::int32_t w;  // exactly `lanes` bytes: an 8-byte vld1_s8 would read past the end
      std::memcpy(&w, p, sizeof w);
      int8x8_t const b8 = vreinterpret_s8_s32(vdup_n_s32(w));
      return vcvtq_f32_s32(vmovl_s16(vget_low_s16(vmovl_s8(b8))));
    } else {
      float tmp[lanes];
      for (int i = 0; i < lanes; ++i) tmp[i] = format::to_float(p[i]);
      return vld1q_f32(tmp);
    }
  }
  static SWITCHYARD_FORCE_INLINE void store(float* p, vf a) noexcept { vst1q_f32(p, a); }
  static SWITCHYARD_FORCE_INLINE vf add(vf a, vf b) noexcept { return vaddq_f32(a, b); }
  static SWITCHYARD_FORCE_INLINE vf mul(vf a, vf b) noexcept { return vmulq_f32(a, b); }
  static SWITCHYARD_FORCE_INLINE vf div(vf a, vf b) noexcept { return vdivq_f32(a, b); }
  static SWITCHYARD_FORCE_INLINE vf fma(vf a, vf b, vf c) noexcept { return vfmaq_f32(c, a, b); }
  static SWITCHYARD_FORCE_INLINE float reduce_add(vf a) noexcept { return vaddvq_f32(a); }
  static SWITCHYARD_FORCE_INLINE vf sub(vf a, vf b) noexcept { return vsubq_f32(a, b); }
  static SWITCHYARD_FORCE_INLINE vf max(vf a, vf b) noexcept { return vmaxq_f32(a, b); }
  static SWITCHYARD_FORCE_INLINE float reduce_max(vf a) noexcept { return vmaxvq_f32(a); }
  // 2^x within ~2 ulp (exp2_poly.hpp); x below -127 gives 0 (see avx2.hpp for the clamp).
  static SWITCHYARD_FORCE_INLINE vf exp2(vf x) noexcept {
    x = vminq_f32(vmaxq_f32(x, vdupq_n_f32(-127.0f)), vdupq_n_f32(127.0f));
    vf const n = vrndnq_f32(x);
    vf const p = detail::exp2_poly<neon>(vsubq_f32(x, n));
    int32x4_t const e = vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(127)), 23);
    return vmulq_f32(p, vreinterpretq_f32_s32(e));
  }
};

}  // namespace simd
SWITCHYARD_NAMESPACE_END
#endif
