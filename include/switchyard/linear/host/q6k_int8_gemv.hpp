#pragma once
// Decode GEMV for q6_K weights against int8 activations rounded per 256 (one scale per super
// block, as ggml pairs q6_K with q8_K), so that the products are integer dot products:
//   sum_e d s_j (q_e - 32) x_e  ~=  d dx sum_j s_j (sum_{e in j} q_e xq_e - 32 sum_{e in j} xq_e)
// over a super block of 16 sub-blocks j of 16 (int8 scales s_j, 6-bit codes q_e in 0..63, which
// are unsigned bytes for vpdpbusd; the -32 is taken out as 32 times the sub-block's sum of xq).
// Llama-quantize's mixes keep the LM head and some FFN down matrices in q6_K, so this is a good
// part of a Q4_K_M model's decode bytes.
//
// 512-bit kernel (AVX512-VNNI + BW): half h of a block (elements 128h .. 128h + 127) has its low
// nibbles in ql[64h .. 64h + 63] (element 128h + i: low nibble of byte i for i < 64, high nibble of
// byte i - 64 above) and its high 2 bits in qh[32h .. 32h + 31] (bits 2k of byte i for element
// 128h + 32k + i). So one zmm load of ql and one ymm load of qh, broadcast to both halves and
// shifted per half, rebuild 64 codes in element order. A vpmaddubsw against 64 contiguous
// activations gives 32 words, words 8j .. 8j + 7 belonging to sub-block j of the 64, and a
// vpdpwssd multiplies them by their scales and accumulates: two uops per 64 codes, where vpdpbusd
// then vpmulld by the scales took three (vpmulld is two on Intel) -- port 0 is what this loop
// runs out of on AVX-512 cores (bench/NOTES.md, 2026-12-08).
//
// Without AVX512-VNNI and BW the same integer sums run in portable code.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "switchyard/core/format/gguf.hpp"
#include "switchyard/core/tensor_view.hpp"
#include "switchyard/core/thread_pool.hpp"
#include "switchyard/linear/host/block_gemv_common.hpp"
#include "switchyard/linear/host/gemv.hpp"
#include "switchyard/linear/host/int8_activations.hpp"
#include "switchyard/linear/host/int8_gemv_avx512.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace host {
namespace detail {

// Per token row and super block, the 16 sub-block sums of the rounded activations (|sum| <= 16 *
// 128: words, for vpmaddwd / vpdpwssd).
struct q6k_int8_sums {
  std::vector<std::int16_t> sums;
  void build(int8_activations const& xa) {
    index_t const blocks = xa.cols / 256;
    sums.resize(static_cast<std::size_t>(xa.rows * blocks * 16));
    for (index_t t = 0; t < xa.rows; ++t)
      for (index_t kb = 0; kb < blocks; ++kb) {
        std::int8_t const* src = xa.q.data() + t * xa.cols + kb * 256;
        std::int16_t* sm = sums.data() + (t * blocks + kb) * 16;
        for (int j = 0; j < 16; ++j) {
          std::int32_t s = 0;
          for (int i = 0; i < 16; ++i) s += src[16 * j + i];
          sm[j] = static_cast<std::int16_t>(s);
        }
      }
  }
};

#if defined(SWITCHYARD_INT8_GEMV_ZMM)
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push  // GCC 12's _mm512_inserti64x4 / masked intrinsics: see int8_gemv_avx512.hpp
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
template <int T>
void q6k_int8_zmm_rows(int8_activations const& xa, q6k_int8_sums const& xs, format::q6_K const* w, index_t ldw,
                       index_t kbs, float const* bias, float* y, index_t ldy, index_t n0, index_t n1) {
  index_t const cols = xa.cols;
  __m512i const low = _mm512_set1_epi8(0x0F), bits45 = _mm512_set1_epi8(0x30);
  // Quarter k of a half has its high bits at bits 2k of qh: moved to bits 4-5 by a left shift of
  // 4 - 2k (quarters 0, 1) or a right shift of 2k - 4 (quarters 2, 3), per 256-bit half.
  __m512i const sh01 = _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(2), 1);
  __m512i const sh23 = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(2), 1);
  // 16-bit lane m of the v-th 64-element vector (elements 2m, 2m + 1 after vpmaddubsw) belongs to
  // sub-block 4v + m / 8: dword lane l takes scale 4v + l / 4, its two words both that scale.
  __m512i pick[4];
  for (int v = 0; v < 4; ++v)
    pick[v] = _mm512_setr_epi32(4 * v, 4 * v, 4 * v, 4 * v, 4 * v + 1, 4 * v + 1, 4 * v + 1, 4 * v + 1, 4 * v + 2, 4 * v + 2,
                                4 * v + 2, 4 * v + 2, 4 * v + 3, 4 * v + 3, 4 * v + 3, 4 * v + 3);
  bool const far = T * cols <= int8_zmm_far_budget;
  for (index_t n = n0; n < n1; ++n) {
    format::q6_K const* row = w + n * ldw;
    __m512 acc[T];
    for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();
    for (index_t kb = 0; kb < kbs; ++kb) {
      format::q6_K const& b = row[kb];
      if (far) prefetch_far(&b);
      __m512i c[4];
      for (int h = 0; h < 2; ++h) {
        __m512i const ql = _mm512_loadu_si512(b.ql + 64 * h);
        __m512i const qh = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<__m256i const*>(b.qh + 32 * h)));
        // (ql & 0x0F) | hi in one vpternlog (0xEA: A & B | C).
        c[2 * h] = _mm512_ternarylogic_epi32(ql, low, _mm512_and_si512(_mm512_sllv_epi16(qh, sh01), bits45), 0xEA);
        c[2 * h + 1] = _mm512_ternarylogic_epi32(_mm512_srli_epi16(ql, 4), low,
                                                 _mm512_and_si512(_mm512_srlv_epi16(qh, sh23), bits45), 0xEA);
      }
      __m128i const sc8 = _mm_loadu_si128(reinterpret_cast<__m128i const*>(b.scales));
      __m512i const sc32 = _mm512_cvtepi8_epi32(sc8);
      __m512i const sc_words = _mm512_or_si512(_mm512_and_si512(sc32, _mm512_set1_epi32(0xFFFF)), _mm512_slli_epi32(sc32, 16));
      __m512i s[4];
      for (int v = 0; v < 4; ++v) s[v] = _mm512_permutexvar_epi32(pick[v], sc_words);
      // -32 s_j as words (|32 s_j| <= 4096), against the sub-block sums of xq in the low half.
      __m512i const corr = _mm512_zextsi256_si512(_mm256_slli_epi16(_mm256_sub_epi16(_mm256_setzero_si256(), _mm256_cvtepi8_epi16(sc8)), 5));
      float const d = f16_scale(b.d);
      for (int t = 0; t < T; ++t) {
        std::int8_t const* xq = xa.q.data() + t * cols + kb * 256;
        std::size_t const g = static_cast<std::size_t>(t * kbs + kb);
        // Codes <= 63 against int8: each vpmaddubsw word is at most 2 * 63 * 128 (no saturation);
        // vpdpwssd applies the scales and adds, -32 sum_j s_j sum(xq_j) riding in the first.
        __m512i isum = _mm512_dpwssd_epi32(
            _mm512_setzero_si512(), corr,
            _mm512_zextsi256_si512(_mm256_loadu_si256(reinterpret_cast<__m256i const*>(xs.sums.data() + 16 * g))));
        for (int v = 0; v < 4; ++v)
          isum = _mm512_dpwssd_epi32(isum, _mm512_maddubs_epi16(c[v], _mm512_loadu_si512(xq + 64 * v)), s[v]);
        acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_set1_ps(d * xa.scale[g]), acc[t]);
      }
    }
    for (int t = 0; t < T; ++t) y[t * ldy + n] = _mm512_reduce_add_ps(acc[t]) + (bias ? bias[n] : 0.0f);
  }
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#endif

// Portable: the same integer sums per sub-block, in scalar code.
template <int T>
void q6k_int8_portable_rows(int8_activations const& xa, q6k_int8_sums const& xs, format::q6_K const* w, index_t ldw,
                            index_t kbs, float const* bias, float* y, index_t ldy, index_t n0, index_t n1) {
  index_t const cols = xa.cols;
  for (index_t n = n0; n < n1; ++n) {
    format::q6_K const* row = w + n * ldw;
    float res[T] = {};
    for (index_t kb = 0; kb < kbs; ++kb) {
      format::q6_K const& b = row[kb];
      float const d = b.d.to_float();
      for (int t = 0; t < T; ++t) {
        std::int8_t const* xq = xa.q.data() + t * cols + kb * 256;
        std::size_t const g = static_cast<std::size_t>(t * kbs + kb);
        std::int32_t isum = 0;
        for (int j = 0; j < 16; ++j) {
          std::int32_t dot = 0;
          for (int i = 0; i < 16; ++i) dot += (format::traits<format::q6_K>::code(&b, 16 * j + i) + 32) * xq[16 * j + i];
          isum += b.scales[j] * (dot - 32 * xs.sums[16 * g + static_cast<std::size_t>(j)]);
        }
        res[t] += static_cast<float>(isum) * (d * xa.scale[g]);
      }
    }
    for (int t = 0; t < T; ++t) y[t * ldy + n] = res[t] + (bias ? bias[n] : 0.0f);
  }
}

}  // namespace detail

// y [T, N] = x [T, K] W^T (+ bias) for q6_K weights W [N, K / 256], T <= gemv_max_rows,
// activations rounded to int8 per 256.
inline void block_gemv_q6K_int8(matrix_view<float const> x, matrix_view<format::q6_K const> w, float const* bias,
                                matrix_view<float> y, thread_pool& pool) {
  index_t const T = x.extent(0), N = w.extent(0), kbs = w.extent(1);
  if (T == 0 || N == 0) return;
  // The calling thread's scratch, named through references for the pool's tasks.
  thread_local int8_activations xa_scratch;
  thread_local detail::q6k_int8_sums sums_scratch;
  int8_activations& xa = xa_scratch;
  detail::q6k_int8_sums& xs = sums_scratch;
  xa.quantize(x, 256);
  xs.build(xa);
  index_t const grain = std::max<index_t>(4, (64 * 1024) / std::max<index_t>(1, kbs * index_t{sizeof(format::q6_K)}));
  auto run = [&]<int Tc>() {
    pool.parallel_for(0, N, grain, [&](index_t lo, index_t hi) {
#if defined(SWITCHYARD_INT8_GEMV_ZMM)
      detail::q6k_int8_zmm_rows<Tc>(xa, xs, w.data(), w.stride(0), kbs, bias, y.data(), y.stride(0), lo, hi);
#else
      detail::q6k_int8_portable_rows<Tc>(xa, xs, w.data(), w.stride(0), kbs, bias, y.data(), y.stride(0), lo, hi);
#endif
    });
  };
  dispatch_rows(T, run);
}

}  // namespace host
SWITCHYARD_NAMESPACE_END
