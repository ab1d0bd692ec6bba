#pragma once
// Decode GEMV against int8 activations on AVX2 machines without AVX512-VNNI (Zen 2 / Zen 3,
// Intel client cores), for every GGUF block type: q8_0, q4_0, q4_1, q5_0, q5_1, iq4_nl (blocks of
// 32) and q2_K, q3_K, q4_K, q5_K, q6_K, iq4_xs (super-blocks of 256), with q8_0 / q8_K activations
// as llama.cpp computes them there.
//
// Why: without VNNI the int8 paths fell back to portable scalar sums and the f32 path decoded
// most of these formats into floats one element at a time: on an AVX2 build, 0.5-5% of the read
// bandwidth for everything but q8_0 / q4_0 / mxfp4, and 11-13% for the K types of a Q4_K_M file
// (bench/NOTES.md, 2026-12-07).
//
// The product of 32 codes and 32 activations is one vpmaddubsw (unsigned x signed bytes, pairs
// summed to int16) and one vpmaddwd (pairs of int16 to int32, times 1 or the sub-block scale):
//   unsigned codes (<= 63: 2 x 63 x 127 cannot saturate int16): u . xq directly, the format's
//     offset Z taken out as Z sum(xq) of the group;
//   signed values (q8_0, the iq4 code books; |v| <= 128): |v| . (xq with v's sign), vpsignb.
// Blocks of 32: one int32 vector per block, converted and scaled by d dx. Super-blocks: the
// integer sub-block scales go into vpmaddwd, so a super-block takes one conversion per token; the
// offsets and mins come from the activations' sums per sub-block of 16.
//
// Codes are unpacked in element order, 32 at a time, so the activations need no rearranging.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "switchyard/core/format/gguf.hpp"
#include "switchyard/core/format/iq4.hpp"
#include "switchyard/core/format/q2_q3_K.hpp"
#include "switchyard/core/tensor_view.hpp"
#include "switchyard/core/thread_pool.hpp"
#include "switchyard/linear/host/block_gemv_common.hpp"
#include "switchyard/linear/host/gemv.hpp"
#include "switchyard/linear/host/int8_activations.hpp"
#include "switchyard/linear/host/int8_gemv_avx512.hpp"
#include "switchyard/linear/host/superblock_int8_gemv.hpp"

#if defined(SWITCHYARD_INT8_GEMV_YMM)  // int8_gemv_avx512.hpp: AVX2 + FMA + F16C without AVX512-VNNI
#include <immintrin.h>
#endif

SWITCHYARD_NAMESPACE_BEGIN
namespace host {
namespace detail {

template <class F>
inline constexpr bool int8_ymm_format =
    std::is_same_v<F, format::q8_0> || std::is_same_v<F, format::q4_0> || std::is_same_v<F, format::q4_1> ||
    std::is_same_v<F, format::q5_0> || std::is_same_v<F, format::q5_1> || std::is_same_v<F, format::iq4_nl> ||
    std::is_same_v<F, format::q2_K> || std::is_same_v<F, format::q3_K> || std::is_same_v<F, format::q4_K> ||
    std::is_same_v<F, format::q5_K> || std::is_same_v<F, format::q6_K> || std::is_same_v<F, format::iq4_xs>;

}  // namespace detail

// Whether this build runs format F's int8-activation GEMV as integer dot products: every
// int8 format with AVX512-VNNI, the GGUF block types above with AVX2 (int4 groups keep their f32
// AVX2 kernel there). model::load's automatic activation choice follows it.
template <class F>
inline constexpr bool int8_gemv_native_for =
#if defined(SWITCHYARD_INT8_GEMV_ZMM)
    true;
#elif defined(SWITCHYARD_INT8_GEMV_YMM)
    detail::int8_ymm_format<F>;
#else
    false;
#endif

namespace detail {

#if defined(SWITCHYARD_INT8_GEMV_YMM)

// At or below this many activation bytes per call, one row at a time prefetches far ahead
// (prefetch_far; int8_zmm_far_budget's role in the 512-bit kernels).
inline constexpr index_t int8_ymm_far_budget = 8 * 1024;

// 32 codes times 32 activations, pairs summed to int16.
SWITCHYARD_FORCE_INLINE __m256i dot16_unsigned(__m256i u, std::int8_t const* x) {
  return _mm256_maddubs_epi16(u, _mm256_loadu_si256(reinterpret_cast<__m256i const*>(x)));
}
// (vpsignb cannot negate -128: right because int8_activations rounds to -127..127.)
SWITCHYARD_FORCE_INLINE __m256i dot16_signed(__m256i v, std::int8_t const* x) {
  return _mm256_maddubs_epi16(_mm256_sign_epi8(v, v), _mm256_sign_epi8(_mm256_loadu_si256(reinterpret_cast<__m256i const*>(x)), v));
}
// 16 nibble bytes as 32 codes in element order: low nibbles (elements 0..15), then high ones.
SWITCHYARD_FORCE_INLINE __m256i nibbles32(std::uint8_t const* qs) {
  __m128i const v = _mm_loadu_si128(reinterpret_cast<__m128i const*>(qs)), m = _mm_set1_epi8(0x0F);
  return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(v, 4), m), _mm_and_si128(v, m));
}
// Byte i = 0xFF where bit i of `bits` is set.
SWITCHYARD_FORCE_INLINE __m256i bits_to_bytes(std::uint32_t bits) {
  __m256i const spread = _mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int>(bits)),
                                             _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2,
                                                              2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
  __m256i const bit = _mm256_set1_epi64x(static_cast<long long>(0x8040201008040201ull));
  return _mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit);
}
// q5_0 / q5_1: the nibbles with bit i of qh as element i's fifth bit.
SWITCHYARD_FORCE_INLINE __m256i nibbles32_fifth(std::uint8_t const* qs, std::uint8_t const* qh_bytes) {
  std::uint32_t qh;
  std::memcpy(&qh, qh_bytes, 4);
  return _mm256_or_si256(nibbles32(qs), _mm256_and_si256(bits_to_bytes(qh), _mm256_set1_epi8(16)));
}
SWITCHYARD_FORCE_INLINE __m256i iq4_values32(__m256i codes) {
  __m128i const t = _mm_loadu_si128(reinterpret_cast<__m128i const*>(format::detail::iq4_values));
  return _mm256_shuffle_epi8(_mm256_set_m128i(t, t), codes);
}
SWITCHYARD_FORCE_INLINE float reduce8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}

// Blocks of 32: codes (unsigned, value = d (u - Z) + m) or signed values (value = d v).
template <class F>
struct ymm_block32;
template <>
struct ymm_block32<format::q8_0> {
  static constexpr bool is_signed = true, mins = false;
  static constexpr int Z = 0;
  static __m256i codes(format::q8_0 const& b) { return _mm256_loadu_si256(reinterpret_cast<__m256i const*>(b.q)); }
};
template <>
struct ymm_block32<format::q4_0> {
  static constexpr bool is_signed = false, mins = false;
  static constexpr int Z = 8;
  static __m256i codes(format::q4_0 const& b) { return nibbles32(b.qs); }
};
template <>
struct ymm_block32<format::q4_1> {
  static constexpr bool is_signed = false, mins = true;
  static constexpr int Z = 0;
  static __m256i codes(format::q4_1 const& b) { return nibbles32(b.qs); }
};
template <>
struct ymm_block32<format::q5_0> {
  static constexpr bool is_signed = false, mins = false;
  static constexpr int Z = 16;
  static __m256i codes(format::q5_0 const& b) { return nibbles32_fifth(b.qs, b.qh); }
};
template <>
struct ymm_block32<format::q5_1> {
  static constexpr bool is_signed = false, mins = true;
  static constexpr int Z = 0;
  static __m256i codes(format::q5_1 const& b) { return nibbles32_fifth(b.qs, b.qh); }
};
template <>
struct ymm_block32<format::iq4_nl> {
  static constexpr bool is_signed = true, mins = false;
  static constexpr int Z = 0;
  static __m256i codes(format::iq4_nl const& b) { return iq4_values32(nibbles32(b.qs)); }
};

template <class F, int T>
void int8_ymm_rows32(int8_activations const& xa, F const* w, index_t ldw, index_t kbs, float const* bias, float* y,
                     index_t ldy, index_t n0, index_t n1) {
  using C = ymm_block32<F>;
  __m256i const ones = _mm256_set1_epi16(1);
  bool const far = T * xa.cols <= int8_ymm_far_budget;
  for (index_t n = n0; n < n1; ++n) {
    F const* row = w + n * ldw;
    __m256 acc[T];
    float corr[T] = {};
    for (int t = 0; t < T; ++t) acc[t] = _mm256_setzero_ps();
    for (index_t kb = 0; kb < kbs; ++kb) {
      F const& b = row[kb];
      if (far) prefetch_far(&b);
      __m256i const u = C::codes(b);
      float const d = f16_scale(b.d);
      [[maybe_unused]] float m = 0.0f;
      if constexpr (C::mins) m = f16_scale(b.m);
      for (int t = 0; t < T; ++t) {
        std::int8_t const* xq = xa.q.data() + t * xa.cols + kb * 32;
        __m256i const p = C::is_signed ? dot16_signed(u, xq) : dot16_unsigned(u, xq);
        std::size_t const g = static_cast<std::size_t>(t * kbs + kb);
        float const dx = xa.scale[g];
        acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_madd_epi16(p, ones)), _mm256_set1_ps(d * dx), acc[t]);
        if constexpr (C::mins || C::Z != 0) corr[t] += (m - static_cast<float>(C::Z) * d) * dx * static_cast<float>(xa.sum[g]);
      }
    }
    for (int t = 0; t < T; ++t) y[t * ldy + n] = reduce8(acc[t]) + corr[t] + (bias ? bias[n] : 0.0f);
  }
}

// Super-blocks, 32 elements (chunk c) at a time. The 16-bit scales of a chunk covering two
// sub-blocks of 16 (2c, 2c + 1), from the 16 scales as int16 laid out [s0..7 | s0..7] (lo) or
// [s8..15 | s8..15] (hi): one vpshufb taking word 2c % 8 into the low lane, 2c % 8 + 1 into the high.
inline constexpr auto ymm_scale16_index = [] {
  struct table {
    alignas(32) std::int8_t b[4][32];
  } t{};
  for (int c = 0; c < 4; ++c)
    for (int i = 0; i < 32; ++i) t.b[c][i] = static_cast<std::int8_t>(2 * (2 * c + i / 16) + i % 2);
  return t;
}();
struct ymm_scales16 {
  __m256i lo, hi;
  explicit ymm_scales16(__m256i s16)
      : lo(_mm256_permute2x128_si256(s16, s16, 0x00)), hi(_mm256_permute2x128_si256(s16, s16, 0x11)) {}
  SWITCHYARD_FORCE_INLINE __m256i chunk(int c) const {
    return _mm256_shuffle_epi8(c < 4 ? lo : hi, _mm256_load_si256(reinterpret_cast<__m256i const*>(ymm_scale16_index.b[c % 4])));
  }
};
// Sub-blocks of 32 (q4_K, q5_K, iq4_xs): chunk c's scale is word c of the 8 (int16), in every lane.
inline constexpr auto ymm_word_index = [] {
  struct table {
    alignas(16) std::int8_t b[8][16];
  } t{};
  for (int c = 0; c < 8; ++c)
    for (int i = 0; i < 16; ++i) t.b[c][i] = static_cast<std::int8_t>(2 * c + i % 2);
  return t;
}();
SWITCHYARD_FORCE_INLINE __m256i scale16_of(__m128i words, int c) {
  __m128i const v = _mm_shuffle_epi8(words, _mm_load_si128(reinterpret_cast<__m128i const*>(ymm_word_index.b[c])));
  return _mm256_set_m128i(v, v);
}

// sum_j s_j bsum_j over the 16 sub-blocks of 16 (s as 16 int16), as int32 lanes.
SWITCHYARD_FORCE_INLINE __m256i scaled_sums16(__m256i s16, std::int32_t const* sums) {
  __m256i const lo = _mm256_mullo_epi32(_mm256_cvtepi16_epi32(_mm256_castsi256_si128(s16)),
                                        _mm256_loadu_si256(reinterpret_cast<__m256i const*>(sums)));
  __m256i const hi = _mm256_mullo_epi32(_mm256_cvtepi16_epi32(_mm256_extracti128_si256(s16, 1)),
                                        _mm256_loadu_si256(reinterpret_cast<__m256i const*>(sums + 8)));
  return _mm256_add_epi32(lo, hi);
}

// Per token row and super-block: sums of xq per sub-block of 16 and of 32.
struct ymm_int8_sums {
  std::vector<std::int32_t> s16, s32;
  void build(int8_activations const& xa) {
    index_t const blocks = xa.cols / 256;
    s16.resize(static_cast<std::size_t>(xa.rows * blocks * 16));
    s32.resize(static_cast<std::size_t>(xa.rows * blocks * 8));
    for (index_t t = 0; t < xa.rows; ++t)
      for (index_t kb = 0; kb < blocks; ++kb) {
        std::int8_t const* src = xa.q.data() + t * xa.cols + kb * 256;
        std::size_t const g = static_cast<std::size_t>(t * blocks + kb);
        for (int j = 0; j < 16; ++j) {
          std::int32_t v = 0;
          for (int i = 0; i < 16; ++i) v += src[16 * j + i];
          s16[16 * g + static_cast<std::size_t>(j)] = v;
        }
        for (int j = 0; j < 8; ++j) s32[8 * g + static_cast<std::size_t>(j)] = s16[16 * g + 2 * j] + s16[16 * g + 2 * j + 1];
      }
  }
};

struct ymm_x_at {
  int8_activations const& xa;
  ymm_int8_sums const& xs;
  index_t kbs;
  std::int8_t const* q(int t, index_t kb) const { return xa.q.data() + t * xa.cols + kb * 256; }
  std::int32_t const* sums(int t, index_t kb) const { return xs.s16.data() + (t * kbs + kb) * 16; }
  std::int32_t const* sums32(int t, index_t kb) const { return xs.s32.data() + (t * kbs + kb) * 8; }
  float dx(int t, index_t kb) const { return xa.scale[static_cast<std::size_t>(t * kbs + kb)]; }
};

template <class F>
struct ymm_superblock;

template <>
struct ymm_superblock<format::q2_K> {
  template <int T>
  static SWITCHYARD_FORCE_INLINE void add(format::q2_K const& b, ymm_x_at const& x, index_t kb, __m256 (&acc)[T]) {
    __m128i const sc = _mm_loadu_si128(reinterpret_cast<__m128i const*>(b.scales)), nib = _mm_set1_epi8(0x0F);
    __m256i const s16 = _mm256_cvtepu8_epi16(_mm_and_si128(sc, nib));
    __m256i const m16 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(sc, 4), nib));
    ymm_scales16 const s(s16);
    __m256i const q0 = _mm256_loadu_si256(reinterpret_cast<__m256i const*>(b.qs));
    __m256i const q1 = _mm256_loadu_si256(reinterpret_cast<__m256i const*>(b.qs + 32)), three = _mm256_set1_epi8(3);
    float const d = f16_scale(b.d), dmin = f16_scale(b.dmin);
    for (int t = 0; t < T; ++t) {
      std::int8_t const* xq = x.q(t, kb);
      __m256i isum = _mm256_setzero_si256();
      for (int c = 0; c < 8; ++c) {
        __m256i const u = _mm256_and_si256(_mm256_srli_epi16(c < 4 ? q0 : q1, 2 * (c % 4)), three);
        isum = _mm256_add_epi32(isum, _mm256_madd_epi16(dot16_unsigned(u, xq + 32 * c), s.chunk(c)));
      }
      __m256i const imin = scaled_sums16(m16, x.sums(t, kb));
      float const dx = x.dx(t, kb);
      acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(d * dx), acc[t]);
      acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(imin), _mm256_set1_ps(-dmin * dx), acc[t]);
    }
  }
};

template <>
struct ymm_superblock<format::q3_K> {
  template <int T>
  static SWITCHYARD_FORCE_INLINE void add(format::q3_K const& b, ymm_x_at const& x, index_t kb, __m256 (&acc)[T]) {
    __m256i const s16 = _mm256_sub_epi16(_mm256_cvtepu8_epi16(q3_K_scales_xmm(b)), _mm256_set1_epi16(32));
    ymm_scales16 const s(s16);
    __m256i const q0 = _mm256_loadu_si256(reinterpret_cast<__m256i const*>(b.qs));
    __m256i const q1 = _mm256_loadu_si256(reinterpret_cast<__m256i const*>(b.qs + 32));
    __m256i const hm = _mm256_loadu_si256(reinterpret_cast<__m256i const*>(b.hmask));
    __m256i const three = _mm256_set1_epi8(3), one = _mm256_set1_epi8(1);
    float const d = f16_scale(b.d);
    for (int t = 0; t < T; ++t) {
      std::int8_t const* xq = x.q(t, kb);
      __m256i isum = _mm256_setzero_si256();
      for (int c = 0; c < 8; ++c) {
        __m256i const low = _mm256_and_si256(_mm256_srli_epi16(c < 4 ? q0 : q1, 2 * (c % 4)), three);
        __m256i const high = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hm, c), one), 2);
        isum = _mm256_add_epi32(isum, _mm256_madd_epi16(dot16_unsigned(_mm256_or_si256(low, high), xq + 32 * c), s.chunk(c)));
      }
      isum = _mm256_sub_epi32(isum, _mm256_slli_epi32(scaled_sums16(s16, x.sums(t, kb)), 2));  // Z = 4
      acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(d * x.dx(t, kb)), acc[t]);
    }
  }
};

// q4_K / q5_K: 8 sub-blocks of 32, 6-bit scales and mins; codes in the low (even sub-block) or
// high (odd) nibbles of qs[32 (j / 2) ..], q5_K's fifth bit j in qh[i].
template <class F>
struct ymm_superblock_k4 {
  template <int T>
  static SWITCHYARD_FORCE_INLINE void add(F const& b, ymm_x_at const& x, index_t kb, __m256 (&acc)[T]) {
    // The 8 scales and 8 mins (format::detail::q4_K_scale_min) four at a time from 32-bit words:
    // j < 4 from bytes j (scale) and j + 4 (min), low 6 bits; j >= 4 low 4 bits from byte j + 4
    // (scale: low nibble, min: high nibble), high 2 bits from the top of bytes j - 4 / j.
    std::uint32_t w0, w1, w2;
    std::memcpy(&w0, b.scales, 4);
    std::memcpy(&w1, b.scales + 4, 4);
    std::memcpy(&w2, b.scales + 8, 4);
    std::uint32_t constexpr six = 0x3F3F3F3Fu, four = 0x0F0F0F0Fu, two = 0x03030303u;
    std::uint32_t const sc_lo = w0 & six, sc_hi = (w2 & four) | (((w0 >> 6) & two) << 4);
    std::uint32_t const mn_lo = w1 & six, mn_hi = ((w2 >> 4) & four) | (((w1 >> 6) & two) << 4);
    __m128i const sc8 = _mm_cvtepu8_epi16(_mm_cvtsi64_si128(static_cast<long long>(sc_lo | (std::uint64_t{sc_hi} << 32))));
    __m256i const mn8 = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128(static_cast<long long>(mn_lo | (std::uint64_t{mn_hi} << 32))));
    __m256i const nib = _mm256_set1_epi8(0x0F);
    [[maybe_unused]] __m256i qh;
    if constexpr (std::is_same_v<F, format::q5_K>) qh = _mm256_loadu_si256(reinterpret_cast<__m256i const*>(b.qh));
    float const d = f16_scale(b.d), dmin = f16_scale(b.dmin);
    for (int t = 0; t < T; ++t) {
      std::int8_t const* xq = x.q(t, kb);
      __m256i isum = _mm256_setzero_si256();
      for (int p = 0; p < 4; ++p) {
        __m256i const q = _mm256_loadu_si256(reinterpret_cast<__m256i const*>(b.qs + 32 * p));
        for (int h = 0; h < 2; ++h) {
          int const c = 2 * p + h;
          __m256i u = _mm256_and_si256(h ? _mm256_srli_epi16(q, 4) : q, nib);
          if constexpr (std::is_same_v<F, format::q5_K>)
            u = _mm256_or_si256(u, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, c), _mm256_set1_epi8(1)), 4));
          isum = _mm256_add_epi32(isum, _mm256_madd_epi16(dot16_unsigned(u, xq + 32 * c), scale16_of(sc8, c)));
        }
      }
      __m256i const msum = _mm256_mullo_epi32(mn8, _mm256_loadu_si256(reinterpret_cast<__m256i const*>(x.sums32(t, kb))));
      float const dx = x.dx(t, kb);
      acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(d * dx), acc[t]);
      acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(msum), _mm256_set1_ps(-dmin * dx), acc[t]);
    }
  }
};
template <>
struct ymm_superblock<format::q4_K> : ymm_superblock_k4<format::q4_K> {};
template <>
struct ymm_superblock<format::q5_K> : ymm_superblock_k4<format::q5_K> {};

// q6_K: element 128 h + 32 k + i has its low 4 bits in ql[64 h + 32 (k % 2) + i] (high nibble
// for k >= 2) and its high 2 bits at bits 2k of qh[32 h + i]; codes 0..63 with Z = 32, int8 scales.
template <>
struct ymm_superblock<format::q6_K> {
  template <int T>
  static SWITCHYARD_FORCE_INLINE void add(format::q6_K const& b, ymm_x_at const& x, index_t kb, __m256 (&acc)[T]) {
    __m256i const s16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<__m128i const*>(b.scales)));
    ymm_scales16 const s(s16);
    __m256i const nib = _mm256_set1_epi8(0x0F), three = _mm256_set1_epi8(3);
    float const d = f16_scale(b.d);
    for (int t = 0; t < T; ++t) {
      std::int8_t const* xq = x.q(t, kb);
      __m256i isum = _mm256_setzero_si256();
      for (int h = 0; h < 2; ++h) {
        __m256i const qh = _mm256_loadu_si256(reinterpret_cast<__m256i const*>(b.qh + 32 * h));
        __m256i const l0 = _mm256_loadu_si256(reinterpret_cast<__m256i const*>(b.ql + 64 * h));
        __m256i const l1 = _mm256_loadu_si256(reinterpret_cast<__m256i const*>(b.ql + 64 * h + 32));
        for (int k = 0; k < 4; ++k) {
          __m256i const l = k % 2 ? l1 : l0;
          __m256i const low = _mm256_and_si256(k < 2 ? l : _mm256_srli_epi16(l, 4), nib);
          __m256i const high = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * k), three), 4);
          int const c = 4 * h + k;
          isum = _mm256_add_epi32(isum, _mm256_madd_epi16(dot16_unsigned(_mm256_or_si256(low, high), xq + 32 * c), s.chunk(c)));
        }
      }
      isum = _mm256_sub_epi32(isum, _mm256_slli_epi32(scaled_sums16(s16, x.sums(t, kb)), 5));  // Z = 32
      acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(d * x.dx(t, kb)), acc[t]);
    }
  }
};

// iq4_xs: sub-block j of 32 has its code-book indices in the nibbles of qs[16 j ..] (low:
// elements 0..15), 6-bit scales minus 32; signed values.
template <>
struct ymm_superblock<format::iq4_xs> {
  template <int T>
  static SWITCHYARD_FORCE_INLINE void add(format::iq4_xs const& b, ymm_x_at const& x, index_t kb, __m256 (&acc)[T]) {
    // The 8 six-bit scales (iq4_xs_scales8, by shifts: pdep is microcoded on Zen 1/2) as int16.
    std::uint32_t scales_l;
    std::memcpy(&scales_l, b.scales_l, 4);
    __m256i const lo = _mm256_and_si256(
        _mm256_srlv_epi32(_mm256_set1_epi32(static_cast<int>(scales_l)), _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28)),
        _mm256_set1_epi32(0x0F));
    __m256i const hi = _mm256_and_si256(
        _mm256_srlv_epi32(_mm256_set1_epi32(b.scales_h), _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14)), _mm256_set1_epi32(3));
    __m256i const s32 = _mm256_sub_epi32(_mm256_or_si256(lo, _mm256_slli_epi32(hi, 4)), _mm256_set1_epi32(32));
    __m128i const s8 = _mm_packs_epi32(_mm256_castsi256_si128(s32), _mm256_extracti128_si256(s32, 1));
    float const d = f16_scale(b.d);
    __m256i v[8];
    for (int c = 0; c < 8; ++c) v[c] = iq4_values32(nibbles32(b.qs + 16 * c));
    for (int t = 0; t < T; ++t) {
      std::int8_t const* xq = x.q(t, kb);
      __m256i isum = _mm256_setzero_si256();
      for (int c = 0; c < 8; ++c) {
        isum = _mm256_add_epi32(isum, _mm256_madd_epi16(dot16_signed(v[c], xq + 32 * c), scale16_of(s8, c)));
      }
      acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(d * x.dx(t, kb)), acc[t]);
    }
  }
};

template <class F, int T>
void int8_ymm_rows256(int8_activations const& xa, ymm_int8_sums const& xs, F const* w, index_t ldw, index_t kbs,
                      float const* bias, float* y, index_t ldy, index_t n0, index_t n1) {
  ymm_x_at const x{xa, xs, kbs};
  bool const far = T * xa.cols <= int8_ymm_far_budget;
  for (index_t n = n0; n < n1; ++n) {
    F const* row = w + n * ldw;
    __m256 acc[T];
    for (int t = 0; t < T; ++t) acc[t] = _mm256_setzero_ps();
    for (index_t kb = 0; kb < kbs; ++kb) {
      if (far) prefetch_far(row + kb);
      ymm_superblock<F>::template add<T>(row[kb], x, kb, acc);
    }
    for (int t = 0; t < T; ++t) y[t * ldy + n] = reduce8(acc[t]) + (bias ? bias[n] : 0.0f);
  }
}

#endif  // SWITCHYARD_INT8_GEMV_YMM

}  // namespace detail

#if defined(SWITCHYARD_INT8_GEMV_YMM)
// y [T, N] = x [T, K] W^T (+ bias) for a GGUF block format, T <= gemv_max_rows, activations
// rounded to int8 per block (32) or super-block (256).
template <class F>
  requires detail::int8_ymm_format<F>
void block_gemv_int8_ymm(matrix_view<float const> x, matrix_view<F const> w, float const* bias, matrix_view<float> y,
                         thread_pool& pool) {
  constexpr int B = format::traits<F>::block_elems;
  index_t const T = x.extent(0), N = w.extent(0), kbs = w.extent(1);
  if (T == 0 || N == 0) return;
  thread_local int8_activations xa_scratch;  // the calling thread's, named through a reference (see block_gemv_int8)
  int8_activations& xa = xa_scratch;
  xa.quantize(x, B);
  index_t const grain = std::max<index_t>(4, (64 * 1024) / std::max<index_t>(1, kbs * index_t{sizeof(F)}));
  if constexpr (B == 32) {
    auto run = [&]<int Tc>() {
      pool.parallel_for(0, N, grain, [&](index_t lo, index_t hi) {
        detail::int8_ymm_rows32<F, Tc>(xa, w.data(), w.stride(0), kbs, bias, y.data(), y.stride(0), lo, hi);
      });
    };
    dispatch_rows(T, run);
  } else {
    thread_local detail::ymm_int8_sums sums_scratch;
    detail::ymm_int8_sums& xs = sums_scratch;
    xs.build(xa);
    auto run = [&]<int Tc>() {
      pool.parallel_for(0, N, grain, [&](index_t lo, index_t hi) {
        detail::int8_ymm_rows256<F, Tc>(xa, xs, w.data(), w.stride(0), kbs, bias, y.data(), y.stride(0), lo, hi);
      });
    };
    dispatch_rows(T, run);
  }
}
#endif

}  // namespace host
SWITCHYARD_NAMESPACE_END
