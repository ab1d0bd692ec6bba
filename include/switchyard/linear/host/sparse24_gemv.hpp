#pragma once
// Decode GEMV on 2:4 sparse weights (format::sparse24<E>): per block of 32 weights, the 16 kept
// values meet the 16 activations at their positions, gathered from x in registers:
//   AVX-512  one vpermt2ps picks the 16 activations from the block's 32 (two loads), indices
//            4 (k / 2) + pos_k decoded from the 32-bit position word by one shift per lane;
//   AVX2     per half block, two vpermps (one per 8 activations) and a blend.
// The indices and the widened values are shared by the T token rows. Half the multiply-adds of a
// dense GEMV and 36 instead of 64 bytes per 32 bf16 weights: the kernel is there to turn 2:4
// pruning into decode speed (bench_quant sparse). Other ISAs decode blocks through
// traits<sparse24<E>>::decode (block_kernels.hpp's generic path).
#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "switchyard/core/error.hpp"
#include "switchyard/core/format/sparse24.hpp"
#include "switchyard/core/tensor_view.hpp"
#include "switchyard/core/thread_pool.hpp"
#include "switchyard/linear/host/block_gemv_common.hpp"
#include "switchyard/linear/host/block_kernels.hpp"
#include "switchyard/linear/host/gemv.hpp"

#if (defined(__AVX512F__) && defined(__AVX512BW__)) || (defined(__AVX2__) && defined(__FMA__) && defined(__F16C__))
#include <immintrin.h>
#endif

SWITCHYARD_NAMESPACE_BEGIN
namespace host {
namespace detail {

// x's bytes per call above which R rows share each load of x, and at or below which one row at a
// time prefetches far ahead (as the int8 GEMVs: int8_gemv_avx512.hpp).
inline constexpr index_t sparse24_l1_budget = 16 * 1024, sparse24_far_budget = 8 * 1024;

template <class F>
inline constexpr bool is_sparse24 = format::is_sparse24<F>;

#if defined(__AVX512F__) && defined(__AVX512BW__)
inline constexpr bool sparse24_gemv_simd = true;

template <class E>
SWITCHYARD_FORCE_INLINE __m512 sparse24_values16(E const* v) {
  if constexpr (std::is_same_v<E, float>) return _mm512_loadu_ps(v);
  else if constexpr (std::is_same_v<E, format::bf16>)
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<__m256i const*>(v))), 16));
  else return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<__m256i const*>(v)));
}

// R rows of W at a time share each load of x: once x outgrows L1 (K = 14336 f32: 56 KiB), one row
// at a time re-read all of it from L2 per row -- 128 bytes of x per 36 of weights -- and ran at
// half the dense GEMV's speed (bench/NOTES.md).
template <class E, int T, int R>
SWITCHYARD_FORCE_INLINE void sparse24_pass(float const* x, index_t ldx, format::sparse24<E> const* const (&rowp)[R], index_t ldw,
                                           index_t kbs, bool far, float (&out)[R][T]) {
  __m512i const shifts = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  __m512i const base = _mm512_setr_epi32(0, 0, 4, 4, 8, 8, 12, 12, 16, 16, 20, 20, 24, 24, 28, 28);
  __m512i const three = _mm512_set1_epi32(3);
  __m512 acc[R][T];
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) acc[r][t] = _mm512_setzero_ps();
  for (index_t kb = 0; kb < kbs; ++kb) {
    __m512i idx[R];
    __m512 wv[R];
    for (int r = 0; r < R; ++r) {
      if (sizeof(format::sparse24<E>) >= 64 || kb % 2 == 0) {  // about one prefetch per cache line of a row
        if constexpr (R > 1) prefetch_ahead<R>(rowp[r], ldw, kbs, kb);
        else if (far) prefetch_far(rowp[r] + kb);
      }
      format::sparse24<E> const& b = rowp[r][kb];
      // (pos >> 2k) & 3 | base: base has no bits in 0..1, so one ternary-logic op (0xEA: A & B | C).
      idx[r] = _mm512_ternarylogic_epi32(_mm512_srlv_epi32(_mm512_set1_epi32(static_cast<int>(b.pos)), shifts), three, base, 0xEA);
      wv[r] = sparse24_values16(b.v);
    }
    for (int t = 0; t < T; ++t) {
      float const* xk = x + t * ldx + kb * 32;
      __m512 const lo = _mm512_loadu_ps(xk), hi = _mm512_loadu_ps(xk + 16);
      for (int r = 0; r < R; ++r) acc[r][t] = _mm512_fmadd_ps(wv[r], _mm512_permutex2var_ps(lo, idx[r], hi), acc[r][t]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) out[r][t] = _mm512_reduce_add_ps(acc[r][t]);
}
#elif defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
inline constexpr bool sparse24_gemv_simd = true;

template <class E>
SWITCHYARD_FORCE_INLINE __m256 sparse24_values8(E const* v) {
  if constexpr (std::is_same_v<E, float>) return _mm256_loadu_ps(v);
  else if constexpr (std::is_same_v<E, format::bf16>)
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<__m128i const*>(v))), 16));
  else return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<__m128i const*>(v)));
}

template <class E, int T, int R>
SWITCHYARD_FORCE_INLINE void sparse24_pass(float const* x, index_t ldx, format::sparse24<E> const* const (&rowp)[R], index_t ldw,
                                           index_t kbs, bool far, float (&out)[R][T]) {
  // Kept value k (0..7) of a half block: group k / 2 of the half, so activation 4 ((k % 4) / 2) +
  // pos_k of the half's first (k < 4) or second 8.
  __m256i const shifts = _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14);
  __m256i const base = _mm256_setr_epi32(0, 0, 4, 4, 0, 0, 4, 4);
  __m256i const three = _mm256_set1_epi32(3);
  __m256 acc[R][T];
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) acc[r][t] = _mm256_setzero_ps();
  for (index_t kb = 0; kb < kbs; ++kb) {
    if (sizeof(format::sparse24<E>) >= 64 || kb % 2 == 0)  // about one prefetch per cache line of a row
      for (int r = 0; r < R; ++r) {
        if constexpr (R > 1) prefetch_ahead<R>(rowp[r], ldw, kbs, kb);
        else if (far) prefetch_far(rowp[r] + kb);
      }
    for (int h = 0; h < 2; ++h) {
      __m256i idx[R];
      __m256 wv[R];
      for (int r = 0; r < R; ++r) {
        format::sparse24<E> const& b = rowp[r][kb];
        idx[r] = _mm256_add_epi32(
            _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32(static_cast<int>(b.pos >> (16 * h))), shifts), three), base);
        wv[r] = sparse24_values8(b.v + 8 * h);
      }
      for (int t = 0; t < T; ++t) {
        float const* xk = x + t * ldx + kb * 32 + 16 * h;
        __m256 const a = _mm256_loadu_ps(xk), c = _mm256_loadu_ps(xk + 8);
        for (int r = 0; r < R; ++r) {
          __m256 const xv = _mm256_blend_ps(_mm256_permutevar8x32_ps(a, idx[r]), _mm256_permutevar8x32_ps(c, idx[r]), 0xF0);
          acc[r][t] = _mm256_fmadd_ps(wv[r], xv, acc[r][t]);
        }
      }
    }
  }
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) {
      __m128 s = _mm_add_ps(_mm256_castps256_ps128(acc[r][t]), _mm256_extractf128_ps(acc[r][t], 1));
      s = _mm_add_ps(s, _mm_movehl_ps(s, s));
      out[r][t] = _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
    }
}
#else
inline constexpr bool sparse24_gemv_simd = false;
#endif

#if (defined(__AVX512F__) && defined(__AVX512BW__)) || (defined(__AVX2__) && defined(__FMA__) && defined(__F16C__))
// Rows [n0, n1): one row at a time (one weight stream, prefetched far ahead) while x is small,
// else R rows per pass.
template <class E, int T>
void sparse24_rows(float const* x, index_t ldx, format::sparse24<E> const* w, index_t ldw, float const* bias, float* y,
                   index_t ldy, index_t kbs, index_t n0, index_t n1) {
  constexpr int R = rows_at_once<T>;
  index_t const x_bytes = T * kbs * 32 * index_t{sizeof(float)};
  bool const far = x_bytes <= sparse24_far_budget;
  auto pass = [&]<int Rc>(index_t n) {
    format::sparse24<E> const* rowp[Rc];
    for (int r = 0; r < Rc; ++r) rowp[r] = w + (n + r) * ldw;
    float out[Rc][T];
    sparse24_pass<E, T, Rc>(x, ldx, rowp, ldw, kbs, far, out);
    for (int r = 0; r < Rc; ++r)
      for (int t = 0; t < T; ++t) y[t * ldy + n + r] = out[r][t] + (bias ? bias[n + r] : 0.0f);
  };
  index_t n = n0;
  if (x_bytes > sparse24_l1_budget)
    for (; n + R <= n1; n += R) pass.template operator()<R>(n);
  for (; n < n1; ++n) pass.template operator()<1>(n);
}
#endif

}  // namespace detail

// y [T, N] = x [T, K] W^T (+ bias), W [N, K / 32] sparse24 blocks, T <= gemv_max_rows (without
// AVX-512 or AVX2: block_gemv's generic path).
template <class E>
void sparse24_gemv(matrix_view<float const> x, matrix_view<format::sparse24<E> const> w, float const* bias,
                   matrix_view<float> y, thread_pool& pool) {
  index_t const T = x.extent(0), N = w.extent(0), kbs = w.extent(1);
  require(T <= gemv_max_rows && x.extent(1) == kbs * 32 && y.extent(0) == T && y.extent(1) == N, "host::sparse24_gemv",
          "takes x [T <= ", gemv_max_rows, ", ", kbs * 32, "] and y [T, ", N, "], got x [", x.extent(0), ", ", x.extent(1),
          "] and y [", y.extent(0), ", ", y.extent(1), "]");
  if (T == 0 || N == 0) return;
  index_t const grain = std::max<index_t>(4, (64 * 1024) / std::max<index_t>(1, kbs * index_t{sizeof(format::sparse24<E>)}));
#if (defined(__AVX512F__) && defined(__AVX512BW__)) || (defined(__AVX2__) && defined(__FMA__) && defined(__F16C__))
  auto run = [&]<int Tc>() {
    pool.parallel_for(0, N, grain, [&](index_t lo, index_t hi) {
      detail::sparse24_rows<E, Tc>(x.data(), x.stride(0), w.data(), w.stride(0), bias, y.data(), y.stride(0), kbs, lo, hi);
    });
  };
  dispatch_rows(T, run);
#else
  (void)grain;
  block_gemv(x, w, bias, y, pool);  // blocks decoded through traits<sparse24<E>>
#endif
}

}  // namespace host
SWITCHYARD_NAMESPACE_END
