#pragma once
// The portable fallback of the SIMD layer: an 8-lane "vector" held in a plain array. Every
// operation is a fixed-length loop that compilers unroll and often vectorize for whatever the
// target has (SSE2 on any x86-64), so the fallback is slow only where nothing faster exists.
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "switchyard/core/cpu_features.hpp"
#include "switchyard/core/format/traits.hpp"
#include "switchyard/detail/madd.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace simd {

struct scalar {
  static constexpr char const* name = "scalar";
  static constexpr int lanes = 8;
  static constexpr int registers = 16;  // vector registers, for tile shapes
  static bool supported(cpu_features const& f) noexcept { (void)f; return true; }
  struct vf {
    float v[lanes];
  };

  static SWITCHYARD_FORCE_INLINE vf zero() noexcept { return set1(0.0f); }
  static SWITCHYARD_FORCE_INLINE vf set1(float x) noexcept {
    vf r;
    for (int i = 0; i < lanes; ++i) r.v[i] = x;
    return r;
  }
  static SWITCHYARD_FORCE_INLINE vf load(float const* p) noexcept {
    vf r;
    for (int i = 0; i < lanes; ++i) r.v[i] = p[i];
    return r;
  }
  // Loads `lanes` elements of any element-wise format, widened to f32.
  template <class T>
  static SWITCHYARD_FORCE_INLINE vf load_as_f32(T const* p) noexcept {
    vf r;
    for (int i = 0; i < lanes; ++i) {
      if constexpr (std::is_integral_v<T>) r.v[i] = static_cast<float>(p[i]);
      else r.v[i] = format::to_float(p[i]);
    }
    return r;
  }
  static SWITCHYARD_FORCE_INLINE void store(float* p, vf a) noexcept {
    for (int i = 0; i < lanes; ++i) p[i] = a.v[i];
  }
  static SWITCHYARD_FORCE_INLINE vf add(vf a, vf b) noexcept {
    for (int i = 0; i < lanes; ++i) a.v[i] += b.v[i];
    return a;
  }
  static SWITCHYARD_FORCE_INLINE vf mul(vf a, vf b) noexcept {
    for (int i = 0; i < lanes; ++i) a.v[i] *= b.v[i];
    return a;
  }
  static SWITCHYARD_FORCE_INLINE vf div(vf a, vf b) noexcept {
    for (int i = 0; i < lanes; ++i) a.v[i] /= b.v[i];
    return a;
  }
  static SWITCHYARD_FORCE_INLINE vf sub(vf a, vf b) noexcept {
    for (int i = 0; i < lanes; ++i) a.v[i] -= b.v[i];
    return a;
  }
  static SWITCHYARD_FORCE_INLINE vf max(vf a, vf b) noexcept {
    for (int i = 0; i < lanes; ++i) a.v[i] = a.v[i] < b.v[i] ? b.v[i] : a.v[i];
    return a;
  }
  static SWITCHYARD_FORCE_INLINE float reduce_max(vf a) noexcept {
    float m = a.v[0];
    for (int i = 1; i < lanes; ++i) m = a.v[i] > m ? a.v[i] : m;
    return m;
  }
  // 2^x; -inf and anything below -127 give 0. The reference for the vector ISAs' exp2.
  static SWITCHYARD_FORCE_INLINE vf exp2(vf a) noexcept {
    for (int i = 0; i < lanes; ++i) a.v[i] = std::exp2(a.v[i] < -127.0f ? -150.0f : a.v[i]);
    return a;
  }
  // a * b + c, fused where the target has FMA (detail::madd: the same rounding in every kernel)
  static SWITCHYARD_FORCE_INLINE vf fma(vf a, vf b, vf c) noexcept {
    for (int i = 0; i < lanes; ++i) c.v[i] = ::switchyard::detail::madd(a.v[i], b.v[i], c.v[i]);
    return c;
  }
  static SWITCHYARD_FORCE_INLINE float reduce_add(vf a) noexcept {
    // Pairwise, in the same tree order as the vector ISAs' horizontal sums.
    for (int w = lanes / 2; w > 0; w /= 2)
      for (int i = 0; i < w; ++i) a.v[i] += a.v[i + w];
    return a.v[0];
  }
};

}  // namespace simd
SWITCHYARD_NAMESPACE_END
