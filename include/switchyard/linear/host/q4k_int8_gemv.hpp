#pragma once
// Decode GEMV for q4_K and q5_K weights against int8 activations rounded per 256 (one scale per
// super block, as ggml pairs both with q8_K), so that the products are integer dot products:
//   sum_i (d sc_j q_i - dmin m_j) x_i  ~=  dx (d sum_j sc_j sum_{i in j} q_i xq_i
//                                               - dmin sum_j m_j sum_{i in j} xq_i)
// over a super block of 8 sub-blocks j of 32 (6-bit scales sc_j and mins m_j, 4-bit codes q_i;
// q5_K: the same with a fifth bit per code, bit j of qh[i], so codes 0..31 -- still unsigned bytes
// for vpdpbusd).
// Within a super block everything up to the two products with d dx and dmin dx is integer: one
// conversion and one FMA per super block and token for each of the two sums.
//
// 512-bit kernel (AVX512-VNNI + BW): a super block's 128 code bytes are two zmm loads. Bytes
// 32h .. 32h + 31 hold, in their low nibbles, elements 64h .. 64h + 31 (sub-block 2h) and in their
// high nibbles elements 64h + 32 .. 64h + 63 (sub-block 2h + 1). So the low nibbles of the first
// load are sub-blocks 0 and 2, its high nibbles 1 and 3, and likewise 4, 6 / 5, 7 for the second.
// The activations are laid out once per call in that order (q4k_int8_lanes), so each vpmaddubsw
// reads 64 contiguous bytes; its 32 words are 16 of one sub-block then 16 of another, and a
// vpdpwssd multiplies them by the sub-blocks' scales (a dword permute of the 8 scales, each in both
// words of its lane) and accumulates: two uops per 64 codes where vpdpbusd then vpmulld took three
// (vpmulld is two on Intel; port 0 is what this loop runs out of, bench/NOTES.md 2026-12-08).
// q5_K's fifth bits: qh's 32 bytes broadcast to both halves of a zmm; one byte-test per code
// vector against bit (first sub-block) / bit (second sub-block) gives the mask of codes to add 16.
//
// Without AVX512-VNNI and BW the same integer sums run in portable code (f32 sums in another
// order: equal within f32 rounding).
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include <type_traits>

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

// The 8 scales and 8 mins of a q4_K block (6 bits each, packed in 12 bytes as
// format::detail::q4_K_scale_min reads them one at a time), as 8 bytes each: four at once per
// 32-bit word. Sub-blocks 0-3 keep their 6 low bits in bytes 0-3 (scales) and 4-7 (mins);
// sub-blocks 4-7 take 4 bits from bytes 8-11 and their top 2 bits from bits 6-7 of bytes 0-7.
// (q5_K packs its scales the same way.)
template <class B>
SWITCHYARD_FORCE_INLINE void q4_K_unpack_scales(B const& b, std::uint64_t& sc, std::uint64_t& m) noexcept {
  std::uint32_t w[3];
  std::memcpy(w, b.scales, 12);
  constexpr std::uint32_t six = 0x3f3f3f3f, four = 0x0f0f0f0f, two = 0x03030303;
  std::uint32_t const sc_lo = w[0] & six, m_lo = w[1] & six;
  std::uint32_t const sc_hi = (w[2] & four) | (((w[0] >> 6) & two) << 4);
  std::uint32_t const m_hi = ((w[2] >> 4) & four) | (((w[1] >> 6) & two) << 4);
  sc = sc_lo | (std::uint64_t{sc_hi} << 32);
  m = m_lo | (std::uint64_t{m_hi} << 32);
}

// Activation data of the q4_K kernels for T token rows of K elements (K / 256 super blocks): per
// super block its 256 rounded activations in the kernel's order (sub-blocks 0, 2, 1, 3, 4, 6,
// 5, 7) and the 8 sub-block sums of xq. (The super blocks' scales dx are int8_activations::scale,
// one per group of 256: the kernels read them there.)
struct q4k_int8_lanes {
  index_t blocks = 0;  // per token row
  std::vector<std::int8_t> q;
  std::vector<std::int16_t> sums;  // |sum| <= 32 * 128: words, for vpmaddwd

  void build(int8_activations const& xa) {
    blocks = xa.cols / 256;
    q.resize(static_cast<std::size_t>(xa.rows * xa.cols));
    sums.resize(static_cast<std::size_t>(xa.rows * blocks * 8));
    static constexpr int order[8] = {0, 2, 1, 3, 4, 6, 5, 7};
    for (index_t t = 0; t < xa.rows; ++t)
      for (index_t kb = 0; kb < blocks; ++kb) {
        std::int8_t const* src = xa.q.data() + t * xa.cols + kb * 256;
        std::int8_t* dst = q.data() + t * xa.cols + kb * 256;
        for (int s = 0; s < 8; ++s) std::memcpy(dst + 32 * s, src + 32 * order[s], 32);
        std::int16_t* sm = sums.data() + (t * blocks + kb) * 8;
        for (int j = 0; j < 8; ++j) {
          std::int32_t s = 0;
          for (int i = 0; i < 32; ++i) s += src[32 * j + i];
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
// Rows [n0, n1) of W [N, kbs] against T token rows: one weight row at a time (one sequential
// stream), prefetched 3 KiB ahead while the activations stay small (as the other int8 GEMVs).
template <int T, class F = format::q4_K>
void q4k_int8_zmm_rows(q4k_int8_lanes const& xa, float const* dxs, index_t cols, F const* w, index_t ldw,
                       index_t kbs, float const* bias, float* y, index_t ldy, index_t n0, index_t n1) {
  static_assert(std::is_same_v<F, format::q4_K> || std::is_same_v<F, format::q5_K>);
  __m512i const low = _mm512_set1_epi8(0x0F);
  // Lanes 0-7 of a vpdpbusd result belong to the first sub-block of its pair, 8-15 to the second.
  __m512i const pick[4] = {_mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2, 2, 2, 2, 2, 2),
                           _mm512_setr_epi32(1, 1, 1, 1, 1, 1, 1, 1, 3, 3, 3, 3, 3, 3, 3, 3),
                           _mm512_setr_epi32(4, 4, 4, 4, 4, 4, 4, 4, 6, 6, 6, 6, 6, 6, 6, 6),
                           _mm512_setr_epi32(5, 5, 5, 5, 5, 5, 5, 5, 7, 7, 7, 7, 7, 7, 7, 7)};
  // q5_K: per code vector p, the qh bit of its first sub-block (bytes 0-31) and second (32-63).
  auto bits = [](int a, int b) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi8(static_cast<char>(1 << a))),
                              _mm256_set1_epi8(static_cast<char>(1 << b)), 1);
  };
  __m512i const fifth[4] = {bits(0, 2), bits(1, 3), bits(4, 6), bits(5, 7)};
  __m512i const sixteen = _mm512_set1_epi8(16);
  bool const far = T * cols <= int8_zmm_far_budget;
  for (index_t n = n0; n < n1; ++n) {
    F const* row = w + n * ldw;
    __m512 acc[T];
    __m128 mins[T];
    for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps(), mins[t] = _mm_setzero_ps();
    for (index_t kb = 0; kb < kbs; ++kb) {
      F const& b = row[kb];
      if (far) prefetch_far(&b);
      std::uint64_t sc, mn;
      q4_K_unpack_scales(b, sc, mn);
      // Scales < 64 as both words of a dword lane (vpdpwssd's pairs), mins as words.
      __m512i const sc32 = _mm512_cvtepu8_epi32(_mm_cvtsi64_si128(static_cast<long long>(sc)));
      __m512i const sc_words = _mm512_or_si512(sc32, _mm512_slli_epi32(sc32, 16));
      __m128i const m16 = _mm_cvtepu8_epi16(_mm_cvtsi64_si128(static_cast<long long>(mn)));
      float const d = f16_scale(b.d), dmin = f16_scale(b.dmin);
      __m512i const v0 = _mm512_loadu_si512(b.qs), v1 = _mm512_loadu_si512(b.qs + 64);
      __m512i c[4] = {_mm512_and_si512(v0, low), _mm512_and_si512(_mm512_srli_epi16(v0, 4), low),
                      _mm512_and_si512(v1, low), _mm512_and_si512(_mm512_srli_epi16(v1, 4), low)};
      if constexpr (std::is_same_v<F, format::q5_K>) {
        __m512i const qh = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<__m256i const*>(b.qh)));
        for (int p = 0; p < 4; ++p) c[p] = _mm512_mask_add_epi8(c[p], _mm512_test_epi8_mask(qh, fifth[p]), c[p], sixteen);
      }
      __m512i s[4];
      for (int p = 0; p < 4; ++p) s[p] = _mm512_permutexvar_epi32(pick[p], sc_words);
      for (int t = 0; t < T; ++t) {
        std::int8_t const* xq = xa.q.data() + t * cols + kb * 256;
        // Codes <= 31 against int8: vpmaddubsw's words stay within 2 * 31 * 128 (no saturation);
        // vpdpwssd applies the sub-blocks' scales and accumulates.
        __m512i isum = _mm512_setzero_si512();
        for (int p = 0; p < 4; ++p)
          isum = _mm512_dpwssd_epi32(isum, _mm512_maddubs_epi16(c[p], _mm512_loadu_si512(xq + 64 * p)), s[p]);
        std::size_t const g = static_cast<std::size_t>(t * kbs + kb);
        float const dx = dxs[g];
        acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_set1_ps(d * dx), acc[t]);
        __m128i const ms = _mm_madd_epi16(m16, _mm_loadu_si128(reinterpret_cast<__m128i const*>(xa.sums.data() + 8 * g)));
        mins[t] = _mm_fmadd_ps(_mm_cvtepi32_ps(ms), _mm_set1_ps(dmin * dx), mins[t]);
      }
    }
    for (int t = 0; t < T; ++t)
      y[t * ldy + n] = (_mm512_reduce_add_ps(acc[t]) - _mm512_reduce_add_ps(_mm512_zextps128_ps512(mins[t]))) +
                       (bias ? bias[n] : 0.0f);
  }
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#endif

// Portable: the same integer sums per sub-block, in scalar code.
template <int T, class F = format::q4_K>
void q4k_int8_portable_rows(q4k_int8_lanes const& xa, float const* dxs, index_t cols, F const* w,
                            index_t ldw, index_t kbs, float const* bias, float* y, index_t ldy, index_t n0, index_t n1) {
  static constexpr int order[8] = {0, 2, 1, 3, 4, 6, 5, 7};  // sub-block at each 32-byte slot of xq
  for (index_t n = n0; n < n1; ++n) {
    F const* row = w + n * ldw;
    float res[T] = {}, corr[T] = {};
    for (index_t kb = 0; kb < kbs; ++kb) {
      F const& b = row[kb];
      std::uint64_t sc, mn;
      q4_K_unpack_scales(b, sc, mn);
      float const d = b.d.to_float(), dmin = b.dmin.to_float();
      for (int t = 0; t < T; ++t) {
        std::int8_t const* xq = xa.q.data() + t * cols + kb * 256;
        std::size_t const g = static_cast<std::size_t>(t * kbs + kb);
        std::int32_t isum = 0, msum = 0;
        for (int slot = 0; slot < 8; ++slot) {
          int const j = order[slot], h = j / 2;
          bool const high = j % 2 == 1;
          std::int32_t dot = 0;
          for (int i = 0; i < 32; ++i) {
            std::uint8_t const byte = b.qs[32 * h + i];
            int code = high ? byte >> 4 : byte & 0x0F;
            if constexpr (std::is_same_v<F, format::q5_K>) code |= ((b.qh[i] >> j) & 1) << 4;
            dot += code * xq[32 * slot + i];
          }
          isum += dot * static_cast<std::int32_t>((sc >> (8 * j)) & 0xFF);
          msum += xa.sums[8 * g + static_cast<std::size_t>(j)] * static_cast<std::int32_t>((mn >> (8 * j)) & 0xFF);
        }
        res[t] += static_cast<float>(isum) * (d * dxs[g]);
        corr[t] += static_cast<float>(msum) * (dmin * dxs[g]);
      }
    }
    for (int t = 0; t < T; ++t) y[t * ldy + n] = (res[t] - corr[t]) + (bias ? bias[n] : 0.0f);
  }
}

}  // namespace detail

// y [T, N] = x [T, K] W^T (+ bias) for q4_K or q5_K weights W [N, K / 256], T <= gemv_max_rows,
// activations rounded to int8 per 256.
template <class F>
void block_gemv_kquant_int8(matrix_view<float const> x, matrix_view<F const> w, float const* bias,
                            matrix_view<float> y, thread_pool& pool) {
  index_t const T = x.extent(0), N = w.extent(0), kbs = w.extent(1), cols = x.extent(1);
  if (T == 0 || N == 0) return;
  // The calling thread's scratch, named through references for the pool's tasks (as
  // block_gemv_int8 does).
  thread_local int8_activations xa_scratch;
  thread_local detail::q4k_int8_lanes lanes_scratch;
  int8_activations& xa = xa_scratch;
  detail::q4k_int8_lanes& lanes = lanes_scratch;
  xa.quantize(x, 256);
  lanes.build(xa);
  index_t const grain = std::max<index_t>(4, (64 * 1024) / std::max<index_t>(1, kbs * index_t{sizeof(F)}));
  auto run = [&]<int Tc>() {
    pool.parallel_for(0, N, grain, [&](index_t lo, index_t hi) {
#if defined(SWITCHYARD_INT8_GEMV_ZMM)
      detail::q4k_int8_zmm_rows<Tc, F>(lanes, xa.scale.data(), cols, w.data(), w.stride(0), kbs, bias, y.data(), y.stride(0), lo, hi);
#else
      detail::q4k_int8_portable_rows<Tc, F>(lanes, xa.scale.data(), cols, w.data(), w.stride(0), kbs, bias, y.data(), y.stride(0), lo, hi);
#endif
    });
  };
  dispatch_rows(T, run);
}

inline void block_gemv_q4K_int8(matrix_view<float const> x, matrix_view<format::q4_K const> w, float const* bias,
                                matrix_view<float> y, thread_pool& pool) {
  block_gemv_kquant_int8(x, w, bias, y, pool);
}

}  // namespace host
SWITCHYARD_NAMESPACE_END
