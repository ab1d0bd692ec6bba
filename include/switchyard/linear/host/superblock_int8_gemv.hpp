#pragma once
// Decode GEMV for q2_K, q3_K and iq4_xs against int8 activations rounded per 256 (one scale per
// super-block, as ggml pairs them with q8_K), with the sub-block scales applied in integers:
//   q2_K    sum = d dx sum_j s_j (u . xq)_j  -  dmin dx sum_j m_j sum(xq)_j      (u = 0..3)
//   q3_K    sum = d dx sum_j s_j ((u . xq)_j - 4 sum(xq)_j)                       (u = 0..7, s_j signed)
//   iq4_xs  sum = d dx sum_j s_j ((u . xq)_j - 128 sum(xq)_j)                     (u = code book + 128)
// over the 16 (q2_K, q3_K) or 8 (iq4_xs) sub-blocks j of a super-block. One float conversion and
// FMA per super-block and token, where unpacked_int8_gemv.hpp's generic kernel converted and
// scaled every 64 elements and rebuilt the sub-block scales in scalar code each time: that kept
// these formats at 10-52% of the read bandwidth (bench/NOTES.md, 2026-12-07), compute-bound, as
// their few bytes per weight (2.6-4.25 bits) leave ~10 cycles per super-block and row.
//
// The activations are stored permuted per super-block to match the codes as they lie in memory,
// so unpacking is a shift and a mask with no byte shuffles:
//   low2 (q2_K, q3_K): qs[32 h + i] holds quarter k of half h at bits 2k; vector k of the
//     permuted super-block is, byte j, element 128 (j / 32) + 32 k + j % 32 -- the codes
//     (qs >> 2k) & 3 of one 64-byte load. q3_K's high bit of that element is bit 4 (j / 32) + k of
//     hmask[j % 32].
//   nibbles32 (iq4_xs): qs[16 j + i] holds element i (low nibble) and i + 16 (high) of sub-block
//     j; vector 2 w + hi is, byte j, element 32 (4 w + j / 16) + 16 hi + j % 16 -- the low or high
//     nibbles of the 64-byte load w.
// Each sub-block's 16 (or 32) elements stay together, so the activations' per-sub-block sums are
// those of the unpermuted codes.
//
// q2_K / q3_K multiply with vpmaddubsw (codes <= 7 against int8: no saturation) and apply the
// 16-bit scales with vpmaddwd; iq4_xs's codes reach 241, so it takes vpdpbusd and a vpmulld.
// AVX2 builds take int8_gemv_avx2.hpp's kernels instead; without either, these formats run
// unpacked_int8_rows_portable (same integer sums).
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "switchyard/core/format/gguf.hpp"
#include "switchyard/core/format/iq4.hpp"
#include "switchyard/core/format/q2_q3_K.hpp"
#include "switchyard/core/tensor_view.hpp"
#include "switchyard/linear/host/block_gemv_common.hpp"
#include "switchyard/linear/host/int8_activations.hpp"
#include "switchyard/linear/host/int8_gemv_avx512.hpp"

#if defined(__BMI2__)
#include <immintrin.h>
#endif

SWITCHYARD_NAMESPACE_BEGIN
namespace host {
namespace detail {

enum class superblock_layout { low2, nibbles32 };

template <class F>
struct superblock_int8_format;
template <>
struct superblock_int8_format<format::q2_K> {
  static constexpr superblock_layout layout = superblock_layout::low2;
};
template <>
struct superblock_int8_format<format::q3_K> {
  static constexpr superblock_layout layout = superblock_layout::low2;
};
template <>
struct superblock_int8_format<format::iq4_xs> {
  static constexpr superblock_layout layout = superblock_layout::nibbles32;
};
template <class F>
concept superblock_int8_computable = requires { superblock_int8_format<F>::layout; };

// The element of the super-block that permuted byte p (0..255) holds.
constexpr int superblock_source(superblock_layout l, int p) noexcept {
  int const v = p / 64, j = p % 64;
  if (l == superblock_layout::low2) return 128 * (j / 32) + 32 * v + j % 32;
  return 32 * (4 * (v / 2) + j / 16) + 16 * (v % 2) + j % 16;
}
template <superblock_layout L>
inline constexpr std::array<std::uint8_t, 256> superblock_permutation = [] {
  std::array<std::uint8_t, 256> a{};
  for (int p = 0; p < 256; ++p) a[static_cast<std::size_t>(p)] = static_cast<std::uint8_t>(superblock_source(L, p));
  return a;
}();

// T token rows of int8 activations (rounded per 256), each super-block permuted for the layout,
// with the sums of xq per sub-block of 16 (unpermuted order).
struct superblock_int8_x {
  index_t blocks = 0;
  std::vector<std::int8_t> q;
  std::vector<std::int32_t> sums;

  template <superblock_layout L>
  void build(int8_activations const& xa) {
    blocks = xa.cols / 256;
    q.resize(static_cast<std::size_t>(xa.rows * xa.cols));
    sums.resize(static_cast<std::size_t>(xa.rows * blocks * 16));
    auto const& perm = superblock_permutation<L>;
    for (index_t t = 0; t < xa.rows; ++t)
      for (index_t kb = 0; kb < blocks; ++kb) {
        std::int8_t const* src = xa.q.data() + t * xa.cols + kb * 256;
        std::int8_t* dst = q.data() + t * xa.cols + kb * 256;
        for (int p = 0; p < 256; ++p) dst[p] = src[perm[static_cast<std::size_t>(p)]];
        std::int32_t* s = sums.data() + (t * blocks + kb) * 16;
        for (int j = 0; j < 16; ++j) {
          std::int32_t v = 0;
          for (int i = 0; i < 16; ++i) v += src[16 * j + i];
          s[j] = v;
        }
      }
  }
};

// iq4_xs's 8 six-bit scales (0..63, before the -32) as the bytes of a 64-bit word: scale j has
// nibble j of scales_l as its low 4 bits and bits 2 j, 2 j + 1 of scales_h as its high 2. (pdep is
// fast on every AVX-512 CPU; the AVX2 kernels, which also run on Zen 1/2 where it is microcoded,
// use shifts instead: int8_gemv_avx2.hpp.)
inline std::uint64_t iq4_xs_scales8(format::iq4_xs const& b) noexcept {
  std::uint32_t lo;
  std::memcpy(&lo, b.scales_l, 4);
#if defined(__BMI2__)
  return _pdep_u64(lo, 0x0F0F0F0F0F0F0F0Full) | _pdep_u64(b.scales_h, 0x3030303030303030ull);
#else
  std::uint64_t v = 0;
  for (int j = 0; j < 8; ++j)
    v |= static_cast<std::uint64_t>(((lo >> (4 * j)) & 0x0F) | (((b.scales_h >> (2 * j)) & 3) << 4)) << (8 * j);
  return v;
#endif
}

#if defined(SWITCHYARD_INT8_GEMV_ZMM) || defined(SWITCHYARD_INT8_GEMV_YMM)
// q3_K's 16 six-bit scales (0..63, before the -32) as bytes: scale j takes its low nibble from
// byte j % 8 (the high nibble for j >= 8) and its high 2 bits from byte 8 + j % 4 at bits 2 (j / 4)
// (format::detail::q3_K_scale). The 12 bytes are loaded with the 4 code bytes before them, so the
// load stays inside the block; each int32 lane of 4 scales shifts the word s[8..11] by 2 (j / 4).
SWITCHYARD_FORCE_INLINE __m128i q3_K_scales_xmm(format::q3_K const& b) {
  static_assert(offsetof(format::q3_K, scales) >= 4 && offsetof(format::q3_K, scales) + 12 <= sizeof(format::q3_K));
  auto const* at = reinterpret_cast<unsigned char const*>(&b) + offsetof(format::q3_K, scales) - 4;
  __m128i const s = _mm_srli_si128(_mm_loadu_si128(reinterpret_cast<__m128i const*>(at)), 4);
  __m128i const nib = _mm_set1_epi8(0x0F);
  __m128i const lo = _mm_unpacklo_epi64(_mm_and_si128(s, nib), _mm_and_si128(_mm_srli_epi16(s, 4), nib));
  __m128i const hi = _mm_and_si128(_mm_srlv_epi32(_mm_shuffle_epi32(s, 0xAA), _mm_setr_epi32(0, 2, 4, 6)), _mm_set1_epi8(3));
  return _mm_or_si128(lo, _mm_slli_epi16(hi, 4));
}
#endif

#if defined(SWITCHYARD_INT8_GEMV_ZMM)
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push  // GCC 12's masked intrinsics: see int8_gemv_avx512.hpp
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

// Lane constants, built once per call.
struct superblock_zmm_consts {
  // vpshufb index: 16-bit lane m of low2 vector k takes sub-block 8 (m / 16) + 2 k + (m % 16) / 8;
  // with the 16 scales as words laid out [0..7, 0..7, 8..15, 8..15] per 128-bit lane
  // (low2_scales), that is word 2 k + (m % 16) / 8 of the lane. (vpermw would do it from one
  // layout, but Zen 4 runs word permutes several times slower than byte shuffles.)
  __m512i scale16[4];
  __m512i scale32[2];  // vpermd index: int32 lane l of nibbles32 vector pair w -> sub-block 4 w + l / 4
  __m512i pairs;       // vpermd index: lane k -> k / 2 (iq4_xs's scale of sub-block-of-16 k)
  superblock_zmm_consts() {
    alignas(64) std::int8_t i8[64];
    for (int k = 0; k < 4; ++k) {
      for (int b = 0; b < 64; ++b) i8[b] = static_cast<std::int8_t>(2 * (2 * k + (b % 32) / 16) + b % 2);
      scale16[k] = _mm512_load_si512(i8);
    }
    alignas(64) std::int32_t i32[16];
    for (int w = 0; w < 2; ++w) {
      for (int l = 0; l < 16; ++l) i32[l] = 4 * w + l / 4;
      scale32[w] = _mm512_load_si512(i32);
    }
    for (int k = 0; k < 16; ++k) i32[k] = k / 2;
    pairs = _mm512_load_si512(i32);
  }
};

// Where token t's data for super-block kb lie.
struct superblock_x_at {
  superblock_int8_x const& xp;
  int8_activations const& xa;
  index_t kbs;
  std::int8_t const* q(int t, index_t kb) const { return xp.q.data() + t * xa.cols + kb * 256; }
  std::int32_t const* sums(int t, index_t kb) const { return xp.sums.data() + (t * kbs + kb) * 16; }
  float dx(int t, index_t kb) const { return xa.scale[static_cast<std::size_t>(t * kbs + kb)]; }
};

// sum_k madd(maddubs(u_k, x_k), s_k) over the four 64-element vectors of a low2 super-block.
SWITCHYARD_FORCE_INLINE __m512i low2_dots(__m512i const (&u)[4], __m512i const (&s)[4], std::int8_t const* x) {
  __m512i isum = _mm512_madd_epi16(_mm512_maddubs_epi16(u[0], _mm512_loadu_si512(x)), s[0]);
  for (int k = 1; k < 4; ++k)
    isum = _mm512_add_epi32(isum, _mm512_madd_epi16(_mm512_maddubs_epi16(u[k], _mm512_loadu_si512(x + 64 * k)), s[k]));
  return isum;
}
// The four low2 vectors' per-16-bit-lane scales from the 16 sub-block scales as int16.
SWITCHYARD_FORCE_INLINE void low2_scales(__m256i s16, superblock_zmm_consts const& c, __m512i (&s)[4]) {
  __m512i const z = _mm512_castsi256_si512(s16);
  __m512i const lanes = _mm512_shuffle_i64x2(z, z, _MM_SHUFFLE(1, 1, 0, 0));
  for (int k = 0; k < 4; ++k) s[k] = _mm512_shuffle_epi8(lanes, c.scale16[k]);
}
SWITCHYARD_FORCE_INLINE void low2_codes(std::uint8_t const* qs, __m512i (&u)[4]) {
  __m512i const q = _mm512_loadu_si512(qs), three = _mm512_set1_epi8(3);
  u[0] = _mm512_and_si512(q, three);
  u[1] = _mm512_and_si512(_mm512_srli_epi16(q, 2), three);
  u[2] = _mm512_and_si512(_mm512_srli_epi16(q, 4), three);
  u[3] = _mm512_and_si512(_mm512_srli_epi16(q, 6), three);
}

template <class F>
struct superblock_zmm;

template <>
struct superblock_zmm<format::q2_K> {
  template <int T>
  static SWITCHYARD_FORCE_INLINE void add(format::q2_K const& b, superblock_zmm_consts const& c, superblock_x_at const& x,
                                          index_t kb, __m512 (&acc)[T]) {
    __m512i u[4];
    low2_codes(b.qs, u);
    __m128i const sc = _mm_loadu_si128(reinterpret_cast<__m128i const*>(b.scales)), nib = _mm_set1_epi8(0x0F);
    __m512i s[4];
    low2_scales(_mm256_cvtepu8_epi16(_mm_and_si128(sc, nib)), c, s);
    __m512i const m32 = _mm512_cvtepu8_epi32(_mm_and_si128(_mm_srli_epi16(sc, 4), nib));
    float const d = f16_scale(b.d), dmin = f16_scale(b.dmin);
    for (int t = 0; t < T; ++t) {
      __m512i const isum = low2_dots(u, s, x.q(t, kb));
      __m512i const imin = _mm512_mullo_epi32(m32, _mm512_loadu_si512(x.sums(t, kb)));
      float const dx = x.dx(t, kb);
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_set1_ps(d * dx), acc[t]);
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(imin), _mm512_set1_ps(-dmin * dx), acc[t]);
    }
  }
};

template <>
struct superblock_zmm<format::q3_K> {
  template <int T>
  static SWITCHYARD_FORCE_INLINE void add(format::q3_K const& b, superblock_zmm_consts const& c, superblock_x_at const& x,
                                          index_t kb, __m512 (&acc)[T]) {
    __m512i u[4];
    low2_codes(b.qs, u);
    // hmask in both halves, the upper one shifted by 4: bit k of byte j is then the high bit of
    // vector k's byte j.
    __m512i const hm = _mm512_srlv_epi16(
        _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<__m256i const*>(b.hmask))),
        _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(4), 1));
    __m512i const four = _mm512_set1_epi8(4);
    for (int k = 0; k < 4; ++k)
      u[k] = _mm512_mask_add_epi8(u[k], _mm512_test_epi8_mask(hm, _mm512_set1_epi8(static_cast<char>(1 << k))), u[k], four);
    __m128i const sc = q3_K_scales_xmm(b);
    __m512i s[4];
    low2_scales(_mm256_sub_epi16(_mm256_cvtepu8_epi16(sc), _mm256_set1_epi16(32)), c, s);
    __m512i const s32 = _mm512_sub_epi32(_mm512_cvtepu8_epi32(sc), _mm512_set1_epi32(32));
    float const d = f16_scale(b.d);
    for (int t = 0; t < T; ++t) {
      __m512i const corr = _mm512_mullo_epi32(s32, _mm512_loadu_si512(x.sums(t, kb)));
      __m512i const isum = _mm512_sub_epi32(low2_dots(u, s, x.q(t, kb)), _mm512_slli_epi32(corr, 2));
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_set1_ps(d * x.dx(t, kb)), acc[t]);
    }
  }
};

template <>
struct superblock_zmm<format::iq4_xs> {
  template <int T>
  static SWITCHYARD_FORCE_INLINE void add(format::iq4_xs const& b, superblock_zmm_consts const& c, superblock_x_at const& x,
                                          index_t kb, __m512 (&acc)[T]) {
    alignas(16) static constexpr std::uint8_t table[16] = {1, 24, 45, 63, 79, 93, 106, 118, 129, 141, 153, 166, 181, 197, 217, 241};
    __m512i const lut = _mm512_broadcast_i32x4(_mm_load_si128(reinterpret_cast<__m128i const*>(table)));
    __m512i const nib = _mm512_set1_epi8(0x0F);
    __m512i u[4];
    for (int w = 0; w < 2; ++w) {
      __m512i const q = _mm512_loadu_si512(b.qs + 64 * w);
      u[2 * w] = _mm512_shuffle_epi8(lut, _mm512_and_si512(q, nib));
      u[2 * w + 1] = _mm512_shuffle_epi8(lut, _mm512_and_si512(_mm512_srli_epi16(q, 4), nib));
    }
    __m512i const s8 = _mm512_castsi256_si512(_mm256_sub_epi32(
        _mm256_cvtepu8_epi32(_mm_cvtsi64_si128(static_cast<long long>(iq4_xs_scales8(b)))), _mm256_set1_epi32(32)));
    __m512i const s0 = _mm512_permutexvar_epi32(c.scale32[0], s8), s1 = _mm512_permutexvar_epi32(c.scale32[1], s8);
    __m512i const s16 = _mm512_permutexvar_epi32(c.pairs, s8);
    float const d = f16_scale(b.d);
    for (int t = 0; t < T; ++t) {
      std::int8_t const* xq = x.q(t, kb);
      __m512i const z = _mm512_setzero_si512();
      __m512i const d0 = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(z, u[0], _mm512_loadu_si512(xq)), u[1],
                                             _mm512_loadu_si512(xq + 64));
      __m512i const d1 = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(z, u[2], _mm512_loadu_si512(xq + 128)), u[3],
                                             _mm512_loadu_si512(xq + 192));
      __m512i const corr = _mm512_mullo_epi32(s16, _mm512_loadu_si512(x.sums(t, kb)));
      __m512i const isum = _mm512_sub_epi32(
          _mm512_add_epi32(_mm512_mullo_epi32(d0, s0), _mm512_mullo_epi32(d1, s1)), _mm512_slli_epi32(corr, 7));
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_set1_ps(d * x.dx(t, kb)), acc[t]);
    }
  }
};

// Rows [n0, n1) of y for T token rows.
template <class F, int T>
void superblock_int8_zmm_rows(int8_activations const& xa, superblock_int8_x const& xp, F const* w, index_t ldw,
                              index_t kbs, float const* bias, float* y, index_t ldy, index_t n0, index_t n1) {
  superblock_zmm_consts const c;
  superblock_x_at const x{xp, xa, kbs};
  bool const far = T * xa.cols <= int8_zmm_far_budget;
  for (index_t n = n0; n < n1; ++n) {
    F const* row = w + n * ldw;
    __m512 acc[T];
    for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();
    for (index_t kb = 0; kb < kbs; ++kb) {
      if (far) prefetch_far(row + kb);
      superblock_zmm<F>::template add<T>(row[kb], c, x, kb, acc);
    }
    for (int t = 0; t < T; ++t) y[t * ldy + n] = _mm512_reduce_add_ps(acc[t]) + (bias ? bias[n] : 0.0f);
  }
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#endif  // SWITCHYARD_INT8_GEMV_ZMM

}  // namespace detail
}  // namespace host
SWITCHYARD_NAMESPACE_END
