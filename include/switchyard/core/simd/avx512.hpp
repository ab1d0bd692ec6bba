#pragma once
// AVX-512 (F, BW, VL) + FMA: 16 f32 lanes in a zmm register. Compiled only when the translation
// unit targets these (-mavx512f -mavx512bw -mavx512vl, or -march=native on such a CPU).
// Several intrinsics are spelled in their zero-masked form (maskz_, mask all ones): GCC 12
// expands the plain forms through _mm512_undefined_*, which trips -Wmaybe-uninitialized in
// every including translation unit; the masked forms compile to the same instructions.
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && defined(__FMA__)
#include <immintrin.h>

#include <type_traits>

#include "switchyard/core/cpu_features.hpp"
#include "switchyard/core/format/traits.hpp"
#include "switchyard/core/simd/exp2_poly.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace simd {

struct avx512 {
  static constexpr char const* name = "avx512";
  static constexpr int lanes = 16;
  static constexpr int registers = 32;  // vector registers, for tile shapes
  static bool supported(cpu_features const& f) noexcept { return f.avx512f && f.avx512bw && f.avx512vl && f.fma; }
  using vf = __m512;

  static SWITCHYARD_FORCE_INLINE vf zero() noexcept { return _mm512_setzero_ps(); }
  static SWITCHYARD_FORCE_INLINE vf set1(float x) noexcept { return _mm512_set1_ps(x); }
  static SWITCHYARD_FORCE_INLINE vf load(float const* p) noexcept { return _mm512_loadu_ps(p); }
  template <class T>
  static SWITCHYARD_FORCE_INLINE vf load_as_f32(T const* p) noexcept {
    if constexpr (std::is_same_v<T, float>) {
      return _mm512_loadu_ps(p);
    } else if constexpr (std::is_same_v<T, format::bf16>) {
      __m256i const h = _mm256_loadu_si256(reinterpret_cast<__m256i const*>(p));
      return _mm512_castsi512_ps(_mm512_maskz_slli_epi32(0xFFFF, _mm512_maskz_cvtepu16_epi32(0xFFFF, h), 16));
    } else if constexpr (std::is_same_v<T, std::int8_t>) {
      return _mm512_maskz_cvtepi32_ps(0xFFFF, _mm512_maskz_cvtepi8_epi32(0xFFFF, _mm_loadu_si128(reinterpret_cast<__m128i const*>(p))));
    } else if constexpr (std::is_same_v<T, format::f16>) {
      return _mm512_maskz_cvtph_ps(0xFFFF, _mm256_loadu_si256(reinterpret_cast<__m256i const*>(p)));
    } else if constexpr (std::is_same_v<T, format::e5m2>) {
      // e5m2 is the top byte of an f16 (same exponent width and bias).
      __m256i const b = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<__m128i const*>(p)));
      return _mm512_maskz_cvtph_ps(0xFFFF, _mm256_slli_epi16(b, 8));
    } else if constexpr (std::is_same_v<T, format::e4m3>) {
      // e4m3's bits placed in an f16 (sign to bit 15, exponent and mantissa from bit 7) give the
      // same significand with the exponent biased 15 instead of 7: the f16 value times 2^8 is
      // exact for normals and subnormals alike. S.1111.111 (NaN, e4m3 has no infinities) is
      // patched to NaN.
      __m256i const b = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<__m128i const*>(p)));
      __m256i const mag = _mm256_and_si256(b, _mm256_set1_epi16(0x7F));
      __m256i const h = _mm256_or_si256(_mm256_slli_epi16(_mm256_and_si256(b, _mm256_set1_epi16(0x80)), 8),
                                        _mm256_slli_epi16(mag, 7));
      vf const v = _mm512_maskz_mul_ps(0xFFFF, _mm512_maskz_cvtph_ps(0xFFFF, h), _mm512_set1_ps(256.0f));
      __mmask16 const nan = _mm256_cmpeq_epi16_mask(mag, _mm256_set1_epi16(0x7F));
      return _mm512_mask_mov_ps(v, nan, _mm512_set1_ps(__builtin_nanf("")));
    } else {
      alignas(64) float tmp[lanes];
      for (int i = 0; i < lanes; ++i) tmp[i] = format::to_float(p[i]);
      return _mm512_load_ps(tmp);
    }
  }
  static SWITCHYARD_FORCE_INLINE void store(float* p, vf a) noexcept { _mm512_storeu_ps(p, a); }
  static SWITCHYARD_FORCE_INLINE vf add(vf a, vf b) noexcept { return _mm512_add_ps(a, b); }
  static SWITCHYARD_FORCE_INLINE vf mul(vf a, vf b) noexcept { return _mm512_mul_ps(a, b); }
  static SWITCHYARD_FORCE_INLINE vf div(vf a, vf b) noexcept { return _mm512_div_ps(a, b); }
  static SWITCHYARD_FORCE_INLINE vf fma(vf a, vf b, vf c) noexcept { return _mm512_fmadd_ps(a, b, c); }
  static SWITCHYARD_FORCE_INLINE vf sub(vf a, vf b) noexcept { return _mm512_maskz_sub_ps(0xFFFF, a, b); }
  static SWITCHYARD_FORCE_INLINE vf max(vf a, vf b) noexcept { return _mm512_maskz_max_ps(0xFFFF, a, b); }
  static SWITCHYARD_FORCE_INLINE float reduce_max(vf a) noexcept {
    vf s = _mm512_maskz_max_ps(0xFFFF, a, _mm512_maskz_shuffle_f32x4(0xFFFF, a, a, 0x4E));
    s = _mm512_maskz_max_ps(0xFFFF, s, _mm512_maskz_shuffle_f32x4(0xFFFF, s, s, 0xB1));
    __m128 q = _mm512_maskz_extractf32x4_ps(0xF, s, 0);
    q = _mm_max_ps(q, _mm_movehl_ps(q, q));
    q = _mm_max_ss(q, _mm_movehdup_ps(q));
    return _mm_cvtss_f32(q);
  }
  // 2^x within ~2 ulp (exp2_poly.hpp); vscalefps scales by 2^n with IEEE over- and underflow,
  // so -inf and very negative x give 0 without a clamp (the clamp keeps the polynomial finite).
  static SWITCHYARD_FORCE_INLINE vf exp2(vf x) noexcept {
    x = _mm512_maskz_max_ps(0xFFFF, x, _mm512_set1_ps(-160.0f));
    vf const n = _mm512_maskz_roundscale_ps(0xFFFF, x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    return _mm512_maskz_scalef_ps(0xFFFF, detail::exp2_poly<avx512>(_mm512_maskz_sub_ps(0xFFFF, x, n)), n);
  }
  static SWITCHYARD_FORCE_INLINE float reduce_add(vf a) noexcept {
    // Own tree with zero-masked shuffles: GCC 12's _mm512_reduce_add_ps, shuffle and even
    // castps512_ps256 expand through _mm512_undefined_* and trip -Wmaybe-uninitialized.
    vf s = _mm512_add_ps(a, _mm512_maskz_shuffle_f32x4(0xFFFF, a, a, 0x4E));  // lanes i + i+8
    s = _mm512_add_ps(s, _mm512_maskz_shuffle_f32x4(0xFFFF, s, s, 0xB1));     // i + i+4
    __m128 q = _mm512_maskz_extractf32x4_ps(0xF, s, 0);
    q = _mm_add_ps(q, _mm_movehl_ps(q, q));
    q = _mm_add_ss(q, _mm_movehdup_ps(q));
    return _mm_cvtss_f32(q);
  }
};

}  // namespace simd
SWITCHYARD_NAMESPACE_END
#endif
