#pragma once
// The AVX2 block GEMV tiles (machines without AVX-512): q8_0, the nibble formats (q4_0, int4
// groups) and mxfp4, computed from the packed blocks with f32 arithmetic, as block_gemv_avx512.hpp does
// with 8-lane vectors. Needs AVX2, FMA and F16C (every AVX2 CPU in use has all three).
#include <cstdint>
#include <type_traits>

#include "switchyard/core/simd/simd.hpp"
#include "switchyard/linear/host/block_gemv_common.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace host::detail {

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
inline constexpr bool block_gemv_avx2 = true;

// Nibble formats: 8 code bytes widened to int32 lanes at a time; low nibbles are elements
// c..c+7, high nibbles B/2 + c..; the zero point is applied per block through sum(x).
template <int T, int R, class F>
SWITCHYARD_FORCE_INLINE void nibble_tile_avx2(float const* x, index_t ldx, F const* const* rows, float const* xsum,
                                              index_t kbs, float (&out)[R][T]) {
  constexpr int B = format::traits<F>::block_elems, H = B / 2;
  static_assert(H % 8 == 0);
  __m256i const low = _mm256_set1_epi32(0x0F);
  __m256 acc[R][T];
  float corr[R][T] = {};
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) acc[r][t] = _mm256_setzero_ps();
  for (index_t kb = 0; kb < kbs; ++kb) {
    __m256 s[R][T];
    for (int r = 0; r < R; ++r)
      for (int t = 0; t < T; ++t) s[r][t] = _mm256_setzero_ps();
    for (int c = 0; c < H; c += 8) {
      __m256 xl[T], xh[T];
      for (int t = 0; t < T; ++t) {
        xl[t] = _mm256_loadu_ps(x + t * ldx + kb * B + c);
        xh[t] = _mm256_loadu_ps(x + t * ldx + kb * B + H + c);
      }
      for (int r = 0; r < R; ++r) {
        std::uint8_t const* q = nibble_format<F>::codes(rows[r][kb]);
        __m256i const v = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<__m128i const*>(q + c)));
        __m256 const lo = _mm256_cvtepi32_ps(_mm256_and_si256(v, low));
        __m256 const hi = _mm256_cvtepi32_ps(_mm256_srli_epi32(v, 4));
        for (int t = 0; t < T; ++t) s[r][t] = _mm256_fmadd_ps(hi, xh[t], _mm256_fmadd_ps(lo, xl[t], s[r][t]));
      }
    }
    for (int r = 0; r < R; ++r) {
      F const& blk = rows[r][kb];
      float const d = f16_scale(nibble_format<F>::scale(blk)), dz = d * static_cast<float>(nibble_format<F>::zero(blk));
      __m256 const dv = _mm256_set1_ps(d);
      for (int t = 0; t < T; ++t) {
        acc[r][t] = _mm256_fmadd_ps(dv, s[r][t], acc[r][t]);
        corr[r][t] += dz * xsum[t * kbs + kb];
      }
    }
  }
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) out[r][t] = simd::avx2::reduce_add(acc[r][t]) - corr[r][t];
}

// q8_0: 32 int8 codes in four 8-lane pieces; one scale FMA per block.
template <int T, int R>
SWITCHYARD_FORCE_INLINE void q8_0_tile_avx2(float const* x, index_t ldx, format::q8_0 const* const* rows, float const*,
                                            index_t kbs, float (&out)[R][T]) {
  __m256 acc[R][T];
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) acc[r][t] = _mm256_setzero_ps();
  for (index_t kb = 0; kb < kbs; ++kb)
    for (int r = 0; r < R; ++r) {
      format::q8_0 const& blk = rows[r][kb];
      __m256 w[4];
      for (int j = 0; j < 4; ++j) w[j] = simd::avx2::load_as_f32(blk.q + 8 * j);
      __m256 const dv = _mm256_set1_ps(f16_scale(blk.d));
      for (int t = 0; t < T; ++t) {
        float const* xt = x + t * ldx + kb * 32;
        __m256 s = _mm256_mul_ps(w[0], _mm256_loadu_ps(xt));
        for (int j = 1; j < 4; ++j) s = _mm256_fmadd_ps(w[j], _mm256_loadu_ps(xt + 8 * j), s);
        acc[r][t] = _mm256_fmadd_ps(dv, s, acc[r][t]);
      }
    }
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) out[r][t] = simd::avx2::reduce_add(acc[r][t]);
}

// mxfp4: vpshufb looks up 16 codes' doubled E2M1 values (int8) at once, from the 16-byte table
// in a register, for the low nibbles (elements 0..15) and the high ones (16..31); then 8 at a
// time to int32 and f32 -- fewer operations than an 8-lane vpermps of floats plus a sign fix.
template <int T, int R>
SWITCHYARD_FORCE_INLINE void mxfp4_tile_avx2(float const* x, index_t ldx, format::mxfp4 const* const* rows, float const*,
                                             index_t kbs, float (&out)[R][T]) {
  __m128i const table = _mm_loadu_si128(reinterpret_cast<__m128i const*>(format::detail::e2m1_doubled));
  __m128i const low = _mm_set1_epi8(0x0F);
  __m256 acc[R][T];
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) acc[r][t] = _mm256_setzero_ps();
  for (index_t kb = 0; kb < kbs; ++kb)
    for (int r = 0; r < R; ++r) {
      format::mxfp4 const& blk = rows[r][kb];
      __m128i const q = _mm_loadu_si128(reinterpret_cast<__m128i const*>(blk.qs));
      __m128i const lo = _mm_shuffle_epi8(table, _mm_and_si128(q, low));
      __m128i const hi = _mm_shuffle_epi8(table, _mm_and_si128(_mm_srli_epi16(q, 4), low));
      __m256 const w[4] = {_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(lo)),
                           _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_unpackhi_epi64(lo, lo))),
                           _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(hi)),
                           _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_unpackhi_epi64(hi, hi)))};
      __m256 const dv = _mm256_set1_ps(format::e8m0_half(blk.e));
      for (int t = 0; t < T; ++t) {
        float const* xt = x + t * ldx + kb * 32;
        __m256 s = _mm256_mul_ps(w[0], _mm256_loadu_ps(xt));
        for (int j = 1; j < 4; ++j) s = _mm256_fmadd_ps(w[j], _mm256_loadu_ps(xt + 8 * j), s);
        acc[r][t] = _mm256_fmadd_ps(dv, s, acc[r][t]);
      }
    }
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) out[r][t] = simd::avx2::reduce_add(acc[r][t]);
}

// Rows [n0, n1): one at a time (16 registers leave no room for several rows' accumulators).
template <int T, class F>
void fast_rows_avx2(float const* x, index_t ldx, F const* w, index_t ldw, float const* xsum, float const* bias, float* y,
                    index_t ldy, index_t kbs, index_t n0, index_t n1) {
  for (index_t n = n0; n < n1; ++n) {
    F const* rows[1] = {w + n * ldw};
    float out[1][T];
    if constexpr (std::is_same_v<F, format::q8_0>) q8_0_tile_avx2<T, 1>(x, ldx, rows, xsum, kbs, out);
    else if constexpr (std::is_same_v<F, format::mxfp4>) mxfp4_tile_avx2<T, 1>(x, ldx, rows, xsum, kbs, out);
    else nibble_tile_avx2<T, 1>(x, ldx, rows, xsum, kbs, out);
    for (int t = 0; t < T; ++t) y[t * ldy + n] = out[0][t] + (bias ? bias[n] : 0.0f);
  }
}
#else
inline constexpr bool block_gemv_avx2 = false;
#endif

}  // namespace host::detail
SWITCHYARD_NAMESPACE_END
