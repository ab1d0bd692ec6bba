#pragma once
// The vector operations of the int8 GEMM's tile (int8_gemm_tile.hpp), one struct per instruction
// set, so that the tile is written once and every path runs the same arithmetic:
//   int8_zmm            AVX512-VNNI: 16 rows per vector, vpdpbusd / vpdpwssd
//   int8_ymm<true>      AVX-VNNI (or AVX512-VNNI on ymm): 8 rows per vector
//   int8_ymm<false>     AVX2 without VNNI: vpdpbusd emulated exactly with vpmaddubsw + vpmaddwd
//   int8_scalar         anywhere: 8 rows as plain arrays
// vi: G int32 lanes (or 4 G bytes); vf: G floats. dot<Small>(acc, u, x): acc + the sum of the 4
// products of unsigned bytes u and signed bytes x per lane (Small: every u <= 63 -- q4_0 and q4_K's
// 0..15, q5_K's 0..31, q6_K's 0..63 -- which lets the AVX2 emulation take one vpmaddubsw:
// 2 x 63 x 128 = 16128 cannot saturate its int16 sums; q8_0's offset codes up to 255 could, and
// take two). dot16: acc + the sum of the 2 products of int16 pairs per lane.
#include <cstdint>
#include <cstring>

#include "switchyard/core/tensor_view.hpp"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define SWITCHYARD_INT8_GEMM_YMM 1
#if defined(__AVXVNNI__) || (defined(__AVX512VNNI__) && defined(__AVX512VL__))
#define SWITCHYARD_INT8_GEMM_YMM_VNNI 1
#endif
#endif
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VNNI__)
#define SWITCHYARD_INT8_GEMM_ZMM 1
#endif

SWITCHYARD_NAMESPACE_BEGIN
namespace host::detail {

struct int8_scalar {
  static constexpr int G = 8;
  struct vi {
    std::int32_t v[G];
  };
  struct vf {
    float v[G];
  };
  static vi zero_i() noexcept { return vi{}; }
  static vf zero_f() noexcept { return vf{}; }
  static vi load_i(void const* p) noexcept {
    vi r;
    std::memcpy(r.v, p, sizeof r.v);
    return r;
  }
  static vi bcast_i(void const* p) noexcept {
    std::int32_t x;
    std::memcpy(&x, p, 4);
    vi r;
    for (auto& l : r.v) l = x;
    return r;
  }
  template <bool Small>
  static vi dot(vi acc, vi u, vi x) noexcept {
    for (int l = 0; l < G; ++l) {
      std::uint8_t ub[4];
      std::int8_t xb[4];
      std::memcpy(ub, &u.v[l], 4);
      std::memcpy(xb, &x.v[l], 4);
      for (int i = 0; i < 4; ++i) acc.v[l] += std::int32_t{ub[i]} * std::int32_t{xb[i]};
    }
    return acc;
  }
  static vi dot16(vi acc, vi a, vi b) noexcept {
    for (int l = 0; l < G; ++l) {
      std::int16_t ah[2], bh[2];
      std::memcpy(ah, &a.v[l], 4);
      std::memcpy(bh, &b.v[l], 4);
      acc.v[l] += std::int32_t{ah[0]} * bh[0] + std::int32_t{ah[1]} * bh[1];
    }
    return acc;
  }
  static vi mullo(vi a, vi b) noexcept {
    for (int l = 0; l < G; ++l) a.v[l] *= b.v[l];
    return a;
  }
  static vi add(vi a, vi b) noexcept {
    for (int l = 0; l < G; ++l) a.v[l] += b.v[l];
    return a;
  }
  static vf cvt(vi a) noexcept {
    vf r;
    for (int l = 0; l < G; ++l) r.v[l] = static_cast<float>(a.v[l]);
    return r;
  }
  static vf load_f(void const* p) noexcept {
    vf r;
    std::memcpy(r.v, p, sizeof r.v);
    return r;
  }
  static vf bcast_f(float x) noexcept {
    vf r;
    for (auto& l : r.v) l = x;
    return r;
  }
  static vf mul(vf a, vf b) noexcept {
    for (int l = 0; l < G; ++l) a.v[l] *= b.v[l];
    return a;
  }
  static vf fma(vf a, vf b, vf c) noexcept {  // a b + c
    for (int l = 0; l < G; ++l) c.v[l] += a.v[l] * b.v[l];
    return c;
  }
  static vf fnma(vf a, vf b, vf c) noexcept {  // c - a b
    for (int l = 0; l < G; ++l) c.v[l] -= a.v[l] * b.v[l];
    return c;
  }
  static void store_f(float* p, vf a) noexcept { std::memcpy(p, a.v, sizeof a.v); }
};

#if defined(SWITCHYARD_INT8_GEMM_YMM)
template <bool Vnni>
struct int8_ymm {
  static constexpr int G = 8;
  using vi = __m256i;
  using vf = __m256;
  static SWITCHYARD_FORCE_INLINE vi zero_i() noexcept { return _mm256_setzero_si256(); }
  static SWITCHYARD_FORCE_INLINE vf zero_f() noexcept { return _mm256_setzero_ps(); }
  static SWITCHYARD_FORCE_INLINE vi load_i(void const* p) noexcept { return _mm256_loadu_si256(static_cast<__m256i const*>(p)); }
  static SWITCHYARD_FORCE_INLINE vi bcast_i(void const* p) noexcept {
    std::int32_t x;
    std::memcpy(&x, p, 4);
    return _mm256_set1_epi32(x);
  }
  template <bool Small>
  static SWITCHYARD_FORCE_INLINE vi dot(vi acc, vi u, vi x) noexcept {
    if constexpr (Vnni) {
#if defined(__AVXVNNI__)
      return _mm256_dpbusd_avx_epi32(acc, u, x);
#elif defined(SWITCHYARD_INT8_GEMM_YMM_VNNI)
      return _mm256_dpbusd_epi32(acc, u, x);
#else
      static_assert(!Vnni, "no VNNI in this translation unit");
      return acc;
#endif
    } else if constexpr (Small) {
      return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, x), _mm256_set1_epi16(1)));
    } else {
      // u = 16 hi + lo with both nibbles <= 15: two unsaturated vpmaddubsw, recombined in int32.
      __m256i const low = _mm256_set1_epi8(0x0F);
      __m256i const lo = _mm256_maddubs_epi16(_mm256_and_si256(u, low), x);
      __m256i const hi = _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(u, 4), low), x);
      return _mm256_add_epi32(acc, _mm256_add_epi32(_mm256_madd_epi16(lo, _mm256_set1_epi16(1)),
                                                    _mm256_madd_epi16(hi, _mm256_set1_epi16(16))));
    }
  }
  static SWITCHYARD_FORCE_INLINE vi dot16(vi acc, vi a, vi b) noexcept { return _mm256_add_epi32(acc, _mm256_madd_epi16(a, b)); }
  static SWITCHYARD_FORCE_INLINE vi mullo(vi a, vi b) noexcept { return _mm256_mullo_epi32(a, b); }
  static SWITCHYARD_FORCE_INLINE vi add(vi a, vi b) noexcept { return _mm256_add_epi32(a, b); }
  static SWITCHYARD_FORCE_INLINE vf cvt(vi a) noexcept { return _mm256_cvtepi32_ps(a); }
  static SWITCHYARD_FORCE_INLINE vf load_f(void const* p) noexcept { return _mm256_loadu_ps(static_cast<float const*>(p)); }
  static SWITCHYARD_FORCE_INLINE vf bcast_f(float x) noexcept { return _mm256_set1_ps(x); }
  static SWITCHYARD_FORCE_INLINE vf mul(vf a, vf b) noexcept { return _mm256_mul_ps(a, b); }
  static SWITCHYARD_FORCE_INLINE vf fma(vf a, vf b, vf c) noexcept { return _mm256_fmadd_ps(a, b, c); }
  static SWITCHYARD_FORCE_INLINE vf fnma(vf a, vf b, vf c) noexcept { return _mm256_fnmadd_ps(a, b, c); }
  static SWITCHYARD_FORCE_INLINE void store_f(float* p, vf a) noexcept { _mm256_storeu_ps(p, a); }
};
#endif

#if defined(SWITCHYARD_INT8_GEMM_ZMM)
struct int8_zmm {
  static constexpr int G = 16;
  using vi = __m512i;
  using vf = __m512;
  static SWITCHYARD_FORCE_INLINE vi zero_i() noexcept { return _mm512_setzero_si512(); }
  static SWITCHYARD_FORCE_INLINE vf zero_f() noexcept { return _mm512_setzero_ps(); }
  static SWITCHYARD_FORCE_INLINE vi load_i(void const* p) noexcept { return _mm512_loadu_si512(p); }
  static SWITCHYARD_FORCE_INLINE vi bcast_i(void const* p) noexcept {
    std::int32_t x;
    std::memcpy(&x, p, 4);
    return _mm512_set1_epi32(x);
  }
  template <bool>
  static SWITCHYARD_FORCE_INLINE vi dot(vi acc, vi u, vi x) noexcept { return _mm512_dpbusd_epi32(acc, u, x); }
  static SWITCHYARD_FORCE_INLINE vi dot16(vi acc, vi a, vi b) noexcept { return _mm512_dpwssd_epi32(acc, a, b); }
  static SWITCHYARD_FORCE_INLINE vi mullo(vi a, vi b) noexcept { return _mm512_mullo_epi32(a, b); }
  static SWITCHYARD_FORCE_INLINE vi add(vi a, vi b) noexcept { return _mm512_add_epi32(a, b); }
  static SWITCHYARD_FORCE_INLINE vf cvt(vi a) noexcept { return _mm512_cvtepi32_ps(a); }
  static SWITCHYARD_FORCE_INLINE vf load_f(void const* p) noexcept { return _mm512_loadu_ps(p); }
  static SWITCHYARD_FORCE_INLINE vf bcast_f(float x) noexcept { return _mm512_set1_ps(x); }
  static SWITCHYARD_FORCE_INLINE vf mul(vf a, vf b) noexcept { return _mm512_mul_ps(a, b); }
  static SWITCHYARD_FORCE_INLINE vf fma(vf a, vf b, vf c) noexcept { return _mm512_fmadd_ps(a, b, c); }
  static SWITCHYARD_FORCE_INLINE vf fnma(vf a, vf b, vf c) noexcept { return _mm512_fnmadd_ps(a, b, c); }
  static SWITCHYARD_FORCE_INLINE void store_f(float* p, vf a) noexcept { _mm512_storeu_ps(p, a); }
  static SWITCHYARD_FORCE_INLINE void store_i(void* p, vi a) noexcept { _mm512_storeu_si512(p, a); }
};
#endif

}  // namespace host::detail
SWITCHYARD_NAMESPACE_END
