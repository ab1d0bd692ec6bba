#pragma once
// The AVX-512 block GEMV tiles: q8_0, the nibble formats (q4_0, int4 groups), q4_K, q6_K and mxfp4,
// computed from the packed blocks with f32 arithmetic (block_kernels.hpp dispatches here).
#include <cstdint>
#include <type_traits>

#include "switchyard/core/simd/simd.hpp"
#include "switchyard/linear/host/block_gemv_common.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace host::detail {

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)
inline constexpr bool block_gemv_avx512 = true;

// Rows of a nibble format: widen 16 code bytes to 16 int32 lanes, split the nibbles with an and
// and a shift, convert, and multiply by the matching halves of x; one scale FMA per block.
template <int T, int R, class F>
SWITCHYARD_FORCE_INLINE void nibble_tile_avx512(float const* x, index_t ldx, F const* const* rows, float const* xsum,
                                                index_t kbs, float (&out)[R][T]) {
  constexpr int B = format::traits<F>::block_elems, H = B / 2;
  static_assert(H % 16 == 0);
  __m512i const low = _mm512_set1_epi32(0x0F);
  __m512 acc[R][T];
  float corr[R][T] = {};
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) acc[r][t] = _mm512_setzero_ps();
  for (index_t kb = 0; kb < kbs; ++kb) {
    __m512 s[R][T];
    for (int r = 0; r < R; ++r)
      for (int t = 0; t < T; ++t) s[r][t] = _mm512_setzero_ps();
    for (int c = 0; c < H; c += 16) {
      __m512 xl[T], xh[T];
      for (int t = 0; t < T; ++t) {
        xl[t] = _mm512_loadu_ps(x + t * ldx + kb * B + c);
        xh[t] = _mm512_loadu_ps(x + t * ldx + kb * B + H + c);
      }
      for (int r = 0; r < R; ++r) {
        std::uint8_t const* q = nibble_format<F>::codes(rows[r][kb]);
        __m512i const v = _mm512_maskz_cvtepu8_epi32(0xFFFF, _mm_loadu_si128(reinterpret_cast<__m128i const*>(q + c)));
        __m512 const lo = _mm512_maskz_cvtepi32_ps(0xFFFF, _mm512_maskz_and_epi32(0xFFFF, v, low));
        __m512 const hi = _mm512_maskz_cvtepi32_ps(0xFFFF, _mm512_maskz_srli_epi32(0xFFFF, v, 4));
        for (int t = 0; t < T; ++t) s[r][t] = _mm512_fmadd_ps(hi, xh[t], _mm512_fmadd_ps(lo, xl[t], s[r][t]));
      }
    }
    for (int r = 0; r < R; ++r) {
      F const& blk = rows[r][kb];
      float const d = f16_scale(nibble_format<F>::scale(blk)), dz = d * static_cast<float>(nibble_format<F>::zero(blk));
      __m512 const dv = _mm512_set1_ps(d);
      for (int t = 0; t < T; ++t) {
        acc[r][t] = _mm512_fmadd_ps(dv, s[r][t], acc[r][t]);
        corr[r][t] += dz * xsum[t * kbs + kb];
      }
    }
  }
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) out[r][t] = simd::avx512::reduce_add(acc[r][t]) - corr[r][t];
}

// q8_0: 32 int8 codes widened in two halves; one scale FMA per block.
template <int T, int R>
SWITCHYARD_FORCE_INLINE void q8_0_tile_avx512(float const* x, index_t ldx, format::q8_0 const* const* rows, float const*,
                                              index_t kbs, float (&out)[R][T]) {
  __m512 acc[R][T];
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) acc[r][t] = _mm512_setzero_ps();
  for (index_t kb = 0; kb < kbs; ++kb) {
    __m512 x0[T], x1[T];
    for (int t = 0; t < T; ++t) {
      x0[t] = _mm512_loadu_ps(x + t * ldx + kb * 32);
      x1[t] = _mm512_loadu_ps(x + t * ldx + kb * 32 + 16);
    }
    if constexpr (R > 1)
      for (int r = 0; r < R; ++r) prefetch_ahead<R>(rows[r], rows[1] - rows[0], kbs, kb);
    for (int r = 0; r < R; ++r) {
      format::q8_0 const& blk = rows[r][kb];
      __m512 const w0 = simd::avx512::load_as_f32(blk.q), w1 = simd::avx512::load_as_f32(blk.q + 16);
      __m512 const dv = _mm512_set1_ps(f16_scale(blk.d));
      for (int t = 0; t < T; ++t)
        acc[r][t] = _mm512_fmadd_ps(dv, _mm512_fmadd_ps(w1, x1[t], _mm512_mul_ps(w0, x0[t])), acc[r][t]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) out[r][t] = simd::avx512::reduce_add(acc[r][t]);
}

// mxfp4: 16 code bytes widened to int32 lanes; vpermps maps each lane's low 4 bits (the low
// nibble as it stands, the high one after a shift) straight to its doubled E2M1 value, so a code
// costs no conversion. The block's power-of-two scale multiplies the block's sum, as q8_0's does:
// applied after the sum rather than to the weights, it never makes a product subnormal.
template <int T, int R>
SWITCHYARD_FORCE_INLINE void mxfp4_tile_avx512(float const* x, index_t ldx, format::mxfp4 const* const* rows, float const*,
                                               index_t kbs, float (&out)[R][T]) {
  __m512 const lut = _mm512_loadu_ps(mxfp4_lanes);
  __m512 acc[R][T];
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) acc[r][t] = _mm512_setzero_ps();
  for (index_t kb = 0; kb < kbs; ++kb) {
    __m512 xl[T], xh[T];
    for (int t = 0; t < T; ++t) {
      xl[t] = _mm512_loadu_ps(x + t * ldx + kb * 32);
      xh[t] = _mm512_loadu_ps(x + t * ldx + kb * 32 + 16);
    }
    if constexpr (R > 1)
      for (int r = 0; r < R; ++r) prefetch_ahead<R>(rows[r], rows[1] - rows[0], kbs, kb);
    for (int r = 0; r < R; ++r) {
      format::mxfp4 const& blk = rows[r][kb];
      __m512i const v = _mm512_maskz_cvtepu8_epi32(0xFFFF, _mm_loadu_si128(reinterpret_cast<__m128i const*>(blk.qs)));
      __m512 const lo = _mm512_maskz_permutexvar_ps(0xFFFF, v, lut);
      __m512 const hi = _mm512_maskz_permutexvar_ps(0xFFFF, _mm512_maskz_srli_epi32(0xFFFF, v, 4), lut);
      __m512 const dv = _mm512_set1_ps(format::e8m0_half(blk.e));
      for (int t = 0; t < T; ++t)
        acc[r][t] = _mm512_fmadd_ps(dv, _mm512_fmadd_ps(hi, xh[t], _mm512_mul_ps(lo, xl[t])), acc[r][t]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) out[r][t] = simd::avx512::reduce_add(acc[r][t]);
}

// q4_K: eight sub-blocks of 32 with x ~ a_j q - c_j; per sub-block s_j = sum q x (vector), then
// acc += a_j s_j and the min term c_j sum(x_j) from per-32 sums of x (xsum, once per call).
// Byte i of qs[32p .. 32p+31] holds element 64p + i (low nibble) and 64p + 32 + i (high).
template <int T, int R>
SWITCHYARD_FORCE_INLINE void q4_K_tile_avx512(float const* x, index_t ldx, format::q4_K const* const* rows,
                                              float const* xsum, index_t kbs, float (&out)[R][T]) {
  __m512i const low = _mm512_set1_epi32(0x0F);
  __m512 acc[R][T];
  float corr[R][T] = {};
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) acc[r][t] = _mm512_setzero_ps();
  index_t const groups = kbs * 8;
  for (index_t kb = 0; kb < kbs; ++kb) {
    float d[R], dmin[R];
    for (int r = 0; r < R; ++r) d[r] = f16_scale(rows[r][kb].d), dmin[r] = f16_scale(rows[r][kb].dmin);
    for (int p = 0; p < 4; ++p) {
      __m512 s0[R][T], s1[R][T];
      for (int r = 0; r < R; ++r)
        for (int t = 0; t < T; ++t) s0[r][t] = s1[r][t] = _mm512_setzero_ps();
      for (int h = 0; h < 32; h += 16) {
        __m512 xl[T], xh[T];  // loaded once for all R rows
        for (int t = 0; t < T; ++t) {
          float const* xt = x + t * ldx + kb * 256 + 64 * p + h;
          xl[t] = _mm512_loadu_ps(xt), xh[t] = _mm512_loadu_ps(xt + 32);
        }
        for (int r = 0; r < R; ++r) {
          __m512i const v = _mm512_maskz_cvtepu8_epi32(
              0xFFFF, _mm_loadu_si128(reinterpret_cast<__m128i const*>(rows[r][kb].qs + 32 * p + h)));
          __m512 const lo = _mm512_maskz_cvtepi32_ps(0xFFFF, _mm512_maskz_and_epi32(0xFFFF, v, low));
          __m512 const hi = _mm512_maskz_cvtepi32_ps(0xFFFF, _mm512_maskz_srli_epi32(0xFFFF, v, 4));
          for (int t = 0; t < T; ++t) {
            s0[r][t] = _mm512_fmadd_ps(lo, xl[t], s0[r][t]);
            s1[r][t] = _mm512_fmadd_ps(hi, xh[t], s1[r][t]);
          }
        }
      }
      for (int r = 0; r < R; ++r) {
        std::uint8_t sc0, m0, sc1, m1;
        format::detail::q4_K_scale_min(rows[r][kb].scales, 2 * p, sc0, m0);
        format::detail::q4_K_scale_min(rows[r][kb].scales, 2 * p + 1, sc1, m1);
        __m512 const a0 = _mm512_set1_ps(d[r] * sc0), a1 = _mm512_set1_ps(d[r] * sc1);
        for (int t = 0; t < T; ++t) {
          acc[r][t] = _mm512_fmadd_ps(a1, s1[r][t], _mm512_fmadd_ps(a0, s0[r][t], acc[r][t]));
          float const* xs = xsum + t * groups + kb * 8 + 2 * p;
          corr[r][t] += dmin[r] * (static_cast<float>(m0) * xs[0] + static_cast<float>(m1) * xs[1]);
        }
      }
    }
  }
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) out[r][t] = simd::avx512::reduce_add(acc[r][t]) - corr[r][t];
}

// q6_K: element 128 h + 32 k + i has its low 4 bits in ql[64 h + 32 (k & 1) + i] (high nibble for
// k >= 2) and its high 2 bits in qh[32 h + i] >> 2k; one int8 scale per 16 elements, i.e. per
// vector: codes are rebuilt in int32 lanes, offset by -32, converted and scaled as a vector.
template <int T, int R>
SWITCHYARD_FORCE_INLINE void q6_K_tile_avx512(float const* x, index_t ldx, format::q6_K const* const* rows, float const*,
                                              index_t kbs, float (&out)[R][T]) {
  __m512i const m4 = _mm512_set1_epi32(0x0F), m2 = _mm512_set1_epi32(0x03), off = _mm512_set1_epi32(32);
  __m512 acc[R][T];
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) acc[r][t] = _mm512_setzero_ps();
  auto widen = [](std::uint8_t const* p) {
    return _mm512_maskz_cvtepu8_epi32(0xFFFF, _mm_loadu_si128(reinterpret_cast<__m128i const*>(p)));
  };
  for (index_t kb = 0; kb < kbs; ++kb)
    for (int h = 0; h < 2; ++h)
      for (int half = 0; half < 32; half += 16) {
        __m512 xv[4][T];  // the four k-rows of x, loaded once for all R rows
        for (int k = 0; k < 4; ++k)
          for (int t = 0; t < T; ++t) xv[k][t] = _mm512_loadu_ps(x + t * ldx + kb * 256 + 128 * h + 32 * k + half);
        for (int r = 0; r < R; ++r) {
          format::q6_K const& blk = rows[r][kb];
          float const d = f16_scale(blk.d);
          __m512i const l0 = widen(blk.ql + 64 * h + half), l1 = widen(blk.ql + 64 * h + 32 + half);
          __m512i const hh = widen(blk.qh + 32 * h + half);
          __m512i code[4];
          code[0] = _mm512_maskz_or_epi32(0xFFFF, _mm512_maskz_and_epi32(0xFFFF, l0, m4),
                                          _mm512_maskz_slli_epi32(0xFFFF, _mm512_maskz_and_epi32(0xFFFF, hh, m2), 4));
          code[1] = _mm512_maskz_or_epi32(
              0xFFFF, _mm512_maskz_and_epi32(0xFFFF, l1, m4),
              _mm512_maskz_slli_epi32(0xFFFF, _mm512_maskz_and_epi32(0xFFFF, _mm512_maskz_srli_epi32(0xFFFF, hh, 2), m2), 4));
          code[2] = _mm512_maskz_or_epi32(
              0xFFFF, _mm512_maskz_srli_epi32(0xFFFF, l0, 4),
              _mm512_maskz_slli_epi32(0xFFFF, _mm512_maskz_and_epi32(0xFFFF, _mm512_maskz_srli_epi32(0xFFFF, hh, 4), m2), 4));
          code[3] = _mm512_maskz_or_epi32(0xFFFF, _mm512_maskz_srli_epi32(0xFFFF, l1, 4),
                                          _mm512_maskz_slli_epi32(0xFFFF, _mm512_maskz_srli_epi32(0xFFFF, hh, 6), 4));
          for (int k = 0; k < 4; ++k) {
            int const e0 = 128 * h + 32 * k + half;
            __m512 const w = _mm512_maskz_mul_ps(
                0xFFFF, _mm512_maskz_cvtepi32_ps(0xFFFF, _mm512_maskz_sub_epi32(0xFFFF, code[k], off)),
                _mm512_set1_ps(d * static_cast<float>(blk.scales[e0 / 16])));
            for (int t = 0; t < T; ++t) acc[r][t] = _mm512_fmadd_ps(w, xv[k][t], acc[r][t]);
          }
        }
      }
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) out[r][t] = simd::avx512::reduce_add(acc[r][t]);
}

// Rows [n0, n1) in tiles of rows_at_once<T>, then one at a time.
template <int T, class F>
void fast_rows_avx512(float const* x, index_t ldx, F const* w, index_t ldw, float const* xsum, float const* bias, float* y,
                      index_t ldy, index_t kbs, index_t n0, index_t n1) {
  auto tile = [&]<int R>(index_t n) {
    F const* rows[R];
    for (int r = 0; r < R; ++r) rows[r] = w + (n + r) * ldw;
    float out[R][T];
    if constexpr (std::is_same_v<F, format::q8_0>) q8_0_tile_avx512<T, R>(x, ldx, rows, xsum, kbs, out);
    else if constexpr (std::is_same_v<F, format::q4_K>) q4_K_tile_avx512<T, R>(x, ldx, rows, xsum, kbs, out);
    else if constexpr (std::is_same_v<F, format::q6_K>) q6_K_tile_avx512<T, R>(x, ldx, rows, xsum, kbs, out);
    else if constexpr (std::is_same_v<F, format::mxfp4>) mxfp4_tile_avx512<T, R>(x, ldx, rows, xsum, kbs, out);
    else nibble_tile_avx512<T, R>(x, ldx, rows, xsum, kbs, out);
    for (int r = 0; r < R; ++r)
      for (int t = 0; t < T; ++t) y[t * ldy + n + r] = out[r][t] + (bias ? bias[n + r] : 0.0f);
  };
  constexpr int R = rows_at_once<T>;
  index_t n = n0;
  // Several rows at once only when x outgrows L1 (24 KiB here): otherwise x is cheap to reload,
  // and one row at a time keeps the weights a single sequential stream for the prefetchers.
  // (q6_K's decode already fills the register file: it stays at one row.)
  if (!std::is_same_v<F, format::q6_K> && kbs * format::traits<F>::block_elems * T * index_t{sizeof(float)} > 24 * 1024)
    for (; n + R <= n1; n += R) tile.template operator()<R>(n);
  for (; n < n1; ++n) tile.template operator()<1>(n);
}
#else
inline constexpr bool block_gemv_avx512 = false;
#endif

}  // namespace host::detail
SWITCHYARD_NAMESPACE_END
