#pragma once
// AVX2 + FMA: 8 f32 lanes in a ymm register. Compiled only when the translation unit targets
// AVX2 and FMA (-mavx2 -mfma, or -march=native on such a CPU).
#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>

#include <type_traits>

#include "switchyard/core/cpu_features.hpp"
#include "switchyard/core/format/traits.hpp"
#include "switchyard/core/simd/exp2_poly.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace simd {

struct avx2 {
  static constexpr char const* name = "avx2";
  static constexpr int lanes = 8;
  static constexpr int registers = 16;  // vector registers, for tile shapes
  static bool supported(cpu_features const& f) noexcept { return f.avx2 && f.fma; }
  using vf = __m256;

  static SWITCHYARD_FORCE_INLINE vf zero() noexcept { return _mm256_setzero_ps(); }
  static SWITCHYARD_FORCE_INLINE vf set1(float x) noexcept { return _mm256_set1_ps(x); }
  static SWITCHYARD_FORCE_INLINE vf load(float const* p) noexcept { return _mm256_loadu_ps(p); }
  template <class T>
  static SWITCHYARD_FORCE_INLINE vf load_as_f32(T const* p) noexcept {
    if constexpr (std::is_same_v<T, float>) {
      return _mm256_loadu_ps(p);
    } else if constexpr (std::is_same_v<T, format::bf16>) {
      // bf16 is the top half of an f32: widen each u16 to u32 and shift it into place.
      __m128i const h = _mm_loadu_si128(reinterpret_cast<__m128i const*>(p));
      return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    } else if constexpr (std::is_same_v<T, std::int8_t>) {
      return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<__m128i const*>(p))));
#if defined(__F16C__)
    } else if constexpr (std::is_same_v<T, format::f16>) {
      return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<__m128i const*>(p)));
    } else if constexpr (std::is_same_v<T, format::e5m2>) {
      // e5m2 is the top byte of an f16 (same exponent width and bias).
      __m128i const b = _mm_cvtepu8_epi16(_mm_loadl_epi64(reinterpret_cast<__m128i const*>(p)));
      return _mm256_cvtph_ps(_mm_slli_epi16(b, 8));
    } else if constexpr (std::is_same_v<T, format::e4m3>) {
      // As in avx512.hpp: e4m3 bits placed in an f16, times 2^8; S.1111.111 patched to NaN.
      __m128i const b = _mm_cvtepu8_epi16(_mm_loadl_epi64(reinterpret_cast<__m128i const*>(p)));
      __m128i const mag = _mm_and_si128(b, _mm_set1_epi16(0x7F));
      __m128i const h = _mm_or_si128(_mm_slli_epi16(_mm_and_si128(b, _mm_set1_epi16(0x80)), 8), _mm_slli_epi16(mag, 7));
      vf const v = _mm256_mul_ps(_mm256_cvtph_ps(h), _mm256_set1_ps(256.0f));
      vf const nan = _mm256_castsi256_ps(_mm256_cvtepi16_epi32(_mm_cmpeq_epi16(mag, _mm_set1_epi16(0x7F))));
      return _mm256_blendv_ps(v, _mm256_set1_ps(__builtin_nanf("")), nan);
#endif
    } else {
      alignas(32) float tmp[lanes];
      for (int i = 0; i < lanes; ++i) tmp[i] = format::to_float(p[i]);
      return _mm256_load_ps(tmp);
    }
  }
  static SWITCHYARD_FORCE_INLINE void store(float* p, vf a) noexcept { _mm256_storeu_ps(p, a); }
  static SWITCHYARD_FORCE_INLINE vf add(vf a, vf b) noexcept { return _mm256_add_ps(a, b); }
  static SWITCHYARD_FORCE_INLINE vf mul(vf a, vf b) noexcept { return _mm256_mul_ps(a, b); }
  static SWITCHYARD_FORCE_INLINE vf div(vf a, vf b) noexcept { return _mm256_div_ps(a, b); }
  static SWITCHYARD_FORCE_INLINE vf fma(vf a, vf b, vf c) noexcept { return _mm256_fmadd_ps(a, b, c); }
  static SWITCHYARD_FORCE_INLINE vf sub(vf a, vf b) noexcept { return _mm256_sub_ps(a, b); }
  static SWITCHYARD_FORCE_INLINE vf max(vf a, vf b) noexcept { return _mm256_max_ps(a, b); }
  static SWITCHYARD_FORCE_INLINE float reduce_max(vf a) noexcept {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  // 2^x within ~2 ulp (exp2_poly.hpp); x below -127 (and -inf) gives 0. Clamping to [-127, 127]
  // keeps n + 127 a valid biased exponent; n = -127 builds the bit pattern of +0.
  static SWITCHYARD_FORCE_INLINE vf exp2(vf x) noexcept {
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-127.0f)), _mm256_set1_ps(127.0f));
    vf const n = _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    vf const p = detail::exp2_poly<avx2>(_mm256_sub_ps(x, n));
    __m256i const e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
  }
  static SWITCHYARD_FORCE_INLINE float reduce_add(vf a) noexcept {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));  // lanes i + i+4
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));                                           // i + i+2
    s = _mm_add_ss(s, _mm_movehdup_ps(s));                                            // 0 + 1
    return _mm_cvtss_f32(s);
  }
};

}  // namespace simd
SWITCHYARD_NAMESPACE_END
#endif
