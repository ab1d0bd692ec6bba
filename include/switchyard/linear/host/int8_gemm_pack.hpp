#pragma once
// Weight panels of the int8-activation prefill GEMM (int8_gemm.hpp): G weight rows of a block
// format repacked, once per call and per group of rows, so that one vector load holds 4 codes of
// each of G rows -- the int32 lanes of vpdpbusd are output rows, and the 4 activation bytes they
// multiply are one broadcast per token. Why this layout:
//   - lanes = rows: a block's int32 sums come out one per row, so the block's scales (one per
//     row) apply as one vector multiply-add per block and token, shared by G rows -- instead of a
//     horizontal sum per row and block, which is what the decode kernels' lanes = elements layout
//     costs (they read each block once, the GEMM reads it for every token);
//   - codes unpacked to bytes (nibbles split, q8_0's signed codes offset to unsigned): the inner
//     loop is loads and vpdpbusd only, the unpacking is paid once per block instead of per token.
// The packing costs about one pass over the weights per call, amortized over the call's rows
// (prefill: T > gemv_max_rows), as block_gemm's f32 panels are, at a quarter of their bytes.
//
// Layout of one panel (G rows; rows past the matrix's end are zero codes with zero scales):
//   32-element formats (q8_0, q4_0), per block kb, block_bytes = 36 G:
//     u8  codes[8][G][4]   chunk j, row r: unsigned codes of elements 4j .. 4j + 3
//                          (q8_0: q + 128; q4_0: the nibble, 0..15)
//     f32 d[G]             the block's scale per row
//   q4_K and q5_K, per super block kb (256 elements, 8 sub-blocks of 32), block_bytes = 312 G:
//     u8  codes[8][8][G][4]  sub-block s, chunk j, row r: codes of elements 32 s + 4j ..
//                            (q4_K: the nibbles, 0..15; q5_K: with the fifth bit, 0..31)
//     f32 d[G], dmin[G]
//     i32 sc[8][G]           6-bit sub-block scales
//     i32 mins[4][G]         int16 pairs (m_{2p} low, m_{2p+1} high), for vpdpwssd against the
//                            activations' sub-block sums paired the same way
//   q6_K, per super block kb (256 elements, 16 sub-blocks of 16), block_bytes = 324 G:
//     u8  codes[16][4][G][4] sub-block s, chunk j, row r: codes q of elements 16 s + 4j .. (0..63,
//                            the value is d sc_s (q - 32): the -32 is in the activations' seeds)
//     f32 d[G]
//     i32 sc[16][G]          int8 sub-block scales
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "switchyard/core/format/gguf.hpp"
#include "switchyard/core/tensor_view.hpp"
#include "switchyard/linear/host/block_gemv_common.hpp"
#include "switchyard/linear/host/q4k_int8_gemv.hpp"

#if defined(__AVX512F__) && defined(__AVX512BW__)
#include <immintrin.h>
#define SWITCHYARD_INT8_GEMM_PACK_ZMM 1
#endif

SWITCHYARD_NAMESPACE_BEGIN
namespace host::detail {

// The block formats the int8 GEMM takes.
template <class F>
inline constexpr bool int8_gemm_format =
    std::is_same_v<F, format::q8_0> || std::is_same_v<F, format::q4_0> || std::is_same_v<F, format::q4_K> ||
    std::is_same_v<F, format::q5_K> || std::is_same_v<F, format::q6_K>;

#if defined(SWITCHYARD_INT8_GEMM_PACK_ZMM)
// 16 vectors of 16 dwords, R[r] dword j, stored transposed: dword r of the 64 bytes at out + j ld
// is R[r] dword j (rows x chunks of 4 codes to chunks x rows, the panels' and AMX tiles' order).
SWITCHYARD_FORCE_INLINE void transpose_dwords_16x16(__m512i const (&R)[16], std::uint8_t* out, index_t ld) noexcept {
  __m512i e[4][4];  // e[k][g]: per 128-bit lane L, rows 4g .. 4g + 3 of dword 4L + k
  for (int g = 0; g < 4; ++g) {
    __m512i const t0 = _mm512_unpacklo_epi32(R[4 * g], R[4 * g + 1]), t1 = _mm512_unpackhi_epi32(R[4 * g], R[4 * g + 1]);
    __m512i const t2 = _mm512_unpacklo_epi32(R[4 * g + 2], R[4 * g + 3]), t3 = _mm512_unpackhi_epi32(R[4 * g + 2], R[4 * g + 3]);
    e[0][g] = _mm512_unpacklo_epi64(t0, t2);
    e[1][g] = _mm512_unpackhi_epi64(t0, t2);
    e[2][g] = _mm512_unpacklo_epi64(t1, t3);
    e[3][g] = _mm512_unpackhi_epi64(t1, t3);
  }
  for (int k = 0; k < 4; ++k) {
    __m512i const a = _mm512_shuffle_i32x4(e[k][0], e[k][1], 0x44), b = _mm512_shuffle_i32x4(e[k][0], e[k][1], 0xEE);
    __m512i const c = _mm512_shuffle_i32x4(e[k][2], e[k][3], 0x44), d = _mm512_shuffle_i32x4(e[k][2], e[k][3], 0xEE);
    // dword 4L + k for L = 0..3
    _mm512_storeu_si512(out + (0 + k) * ld, _mm512_shuffle_i32x4(a, c, 0x88));
    _mm512_storeu_si512(out + (4 + k) * ld, _mm512_shuffle_i32x4(a, c, 0xDD));
    _mm512_storeu_si512(out + (8 + k) * ld, _mm512_shuffle_i32x4(b, d, 0x88));
    _mm512_storeu_si512(out + (12 + k) * ld, _mm512_shuffle_i32x4(b, d, 0xDD));
  }
}

// q4_K / q5_K: the codes of elements 64 p .. 64 p + 63 of a super block, in element order, one
// byte each (sub-block 2p: the low nibbles of qs[32 p ..]; 2p + 1: the high ones; q5_K's fifth
// bit from qh).
template <class F>
SWITCHYARD_FORCE_INLINE __m512i kmins_codes64(F const& blk, int p) noexcept {
  __m256i const low = _mm256_set1_epi8(0x0F);
  __m256i const v = _mm256_loadu_si256(reinterpret_cast<__m256i const*>(blk.qs + 32 * p));
  __m256i lo = _mm256_and_si256(v, low), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low);
  if constexpr (std::is_same_v<F, format::q5_K>) {  // bit s of qh[i]: sub-block s's fifth bit
    __m256i const one = _mm256_set1_epi8(0x01);
    __m256i const h = _mm256_loadu_si256(reinterpret_cast<__m256i const*>(blk.qh));
    lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 2 * p), one), 4));
    hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 2 * p + 1), one), 4));
  }
  return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}
#endif

template <class F, int G>
struct int8_panel {
  static_assert(int8_gemm_format<F>);
  // Super blocks of 256 with integer sub-block scales (q4_K, q5_K: 8 of 32 with mins; q6_K: 16 of
  // 16, symmetric around code 32).
  static constexpr bool q6 = std::is_same_v<F, format::q6_K>;
  static constexpr bool k_mins = std::is_same_v<F, format::q4_K> || std::is_same_v<F, format::q5_K>;
  static constexpr bool k_quant = k_mins || q6;
  static constexpr int subs = q6 ? 16 : 8;    // sub-blocks per super block
  static constexpr int chunks = q6 ? 4 : 8;   // 4-element chunks per sub-block
  static constexpr index_t block_bytes = q6 ? 324 * G : (k_quant ? 312 * G : 36 * G);
  // Offsets within a block record.
  static constexpr index_t scales = k_quant ? 256 * G : 32 * G;  // d (then dmin, sc, mins for q4_K / q5_K)
  static constexpr index_t dmins = 260 * G, subscales = q6 ? 260 * G : 264 * G, mins = 296 * G;
  // Activations are rounded per this many elements (one scale per weight block: q8_0 x q8_0 and
  // the k-quants x q8_K as ggml pairs them).
  static constexpr index_t group = format::traits<F>::block_elems;
  // The offset the unsigned codes carry (the seed of each block's sum is -offset * sum(xq)); the
  // k-quants subtract their mins (q4_K, q5_K) or seed each sub-block with -32 sum(xq) (q6_K).
  static constexpr std::int32_t offset = std::is_same_v<F, format::q8_0> ? 128 : (k_quant ? 0 : 8);
  // int32 per token and block the tile reads from the activations' aux: the seed (32-element
  // blocks), 4 int16 pairs of sub-block sums (q4_K, q5_K), 16 sub-block seeds (q6_K).
  static constexpr int aux_per_block = q6 ? 16 : (k_quant ? 4 : 1);
  // Codes at most 63 (every format but q8_0): the AVX2 path without VNNI may take one vpmaddubsw
  // per 4 bytes, whose int16 pair sums stay within 2 x 63 x 128 < 32767 (no saturation).
  static constexpr bool small_codes = !std::is_same_v<F, format::q8_0>;

  static index_t bytes(index_t kbs) noexcept { return kbs * block_bytes; }

  // rows (1..G) rows of w starting at `w`, row stride ldw blocks, kbs blocks each, into dst.
  static void pack(F const* w, index_t ldw, index_t rows, index_t kbs, std::uint8_t* dst) noexcept {
#if defined(SWITCHYARD_INT8_GEMM_PACK_ZMM)
    if constexpr (q6 && G == 16) {
      pack_q6_zmm(w, ldw, rows, kbs, dst);
      return;
    } else if constexpr (k_mins && G == 16) {
      pack_kmins_zmm(w, ldw, rows, kbs, dst);
      return;
    }
#endif
    for (index_t kb = 0; kb < kbs; ++kb) {
      std::uint8_t* b = dst + kb * block_bytes;
      if (rows < G) std::memset(b, 0, static_cast<std::size_t>(block_bytes));
      for (index_t r = 0; r < rows; ++r) pack_block(w[r * ldw + kb], r, b);
    }
  }

 private:
#if defined(SWITCHYARD_INT8_GEMM_PACK_ZMM)
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push  // GCC 12's intrinsics start some vectors "undefined" (false positives)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
  // q4_K / q5_K, 16 rows at a time (the same bytes as pack_block): the scalar word-by-word build
  // was half the AMX GEMM's time at ~128 tokens per expert (bench/NOTES.md). Per row and 64
  // elements (sub-blocks 2p and 2p + 1: the low and high nibbles of qs[32 p ..]), one 32-byte load
  // gives the codes in element order; a 16 x 16 dword transpose then stores each chunk's 16 rows.
  static void pack_kmins_zmm(F const* w, index_t ldw, index_t rows, index_t kbs, std::uint8_t* dst) noexcept {
    for (index_t kb = 0; kb < kbs; ++kb) {
      std::uint8_t* b = dst + kb * block_bytes;
      if (rows < G) std::memset(b + scales, 0, static_cast<std::size_t>(block_bytes - scales));
      for (int p = 0; p < 4; ++p) {
        __m512i c[16];  // elements 64 p .. 64 p + 63 of each row
        for (int r = 0; r < 16; ++r) {
          if (r >= rows) {
            c[r] = _mm512_setzero_si512();
            continue;
          }
          c[r] = kmins_codes64(w[r * ldw + kb], p);
        }
        transpose_dwords_16x16(c, b + 16 * p * 4 * G, 4 * G);  // chunk 16 p
      }
      for (index_t r = 0; r < rows; ++r) put_kmins_scales(w[r * ldw + kb], r, b);
    }
  }
  // q6_K, 16 rows at a time (the zmm panels; the same bytes as pack_block): the scalar word-by-word
  // build cost 0.3-0.5 ns per weight, 4x q4_K's and as much as the GEMM itself at T = 128
  // (bench/NOTES.md). Per row and half block, one ql load and one qh broadcast rebuild 2 x 64
  // codes in element order (as q6k_int8_gemv.hpp does); per 64 elements, a 16 x 16 transpose of
  // dwords (rows x chunks) then gives each chunk's 16 rows as one 64-byte store.
  static void pack_q6_zmm(F const* w, index_t ldw, index_t rows, index_t kbs, std::uint8_t* dst) noexcept {
    __m512i const low = _mm512_set1_epi8(0x0F), two = _mm512_set1_epi8(0x03);
    __m512i const sh01 = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(2), 1);
    __m512i const sh23 = _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(6), 1);
    for (index_t kb = 0; kb < kbs; ++kb) {
      std::uint8_t* b = dst + kb * block_bytes;
      if (rows < G) std::memset(b + scales, 0, static_cast<std::size_t>(block_bytes - scales));
      for (int h = 0; h < 2; ++h) {
        __m512i c[2][16];  // elements 128 h + 64 u .. of each row
        for (int r = 0; r < 16; ++r) {
          if (r >= rows) {
            c[0][r] = c[1][r] = _mm512_setzero_si512();
            continue;
          }
          F const& blk = w[r * ldw + kb];
          __m512i const ql = _mm512_loadu_si512(blk.ql + 64 * h);
          __m512i const qh = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<__m256i const*>(blk.qh + 32 * h)));
          __m512i const hi01 = _mm512_slli_epi16(_mm512_and_si512(_mm512_srlv_epi16(qh, sh01), two), 4);
          __m512i const hi23 = _mm512_slli_epi16(_mm512_and_si512(_mm512_srlv_epi16(qh, sh23), two), 4);
          c[0][r] = _mm512_or_si512(_mm512_and_si512(ql, low), hi01);
          c[1][r] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), low), hi23);
        }
        for (int u = 0; u < 2; ++u) transpose_dwords_16x16(c[u], b + (128 * h + 64 * u) / 4 * 4 * G, 4 * G);  // chunk (128 h + 64 u) / 4
      }
      for (index_t r = 0; r < rows; ++r) {
        F const& blk = w[r * ldw + kb];
        put_f32(b, scales, r, f16_scale(blk.d));
        __m512i const sc = _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<__m128i const*>(blk.scales)));
        alignas(64) std::int32_t v[16];
        _mm512_store_si512(v, sc);
        for (int s = 0; s < 16; ++s) put_i32(b, subscales + 4 * G * s, r, v[s]);
      }
    }
  }
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#endif
  static void put_f32(std::uint8_t* b, index_t off, index_t r, float v) noexcept { std::memcpy(b + off + 4 * r, &v, 4); }
  static void put_i32(std::uint8_t* b, index_t off, index_t r, std::int32_t v) noexcept {
    std::memcpy(b + off + 4 * r, &v, 4);
  }
  // Chunk c's 4 codes of row r. Codes are built 4 at a time in 32-bit words (nibble masks,
  // q8_0's xor): byte-wise unpacking through a stack buffer compiled to byte inserts and
  // store-forwarding stalls, ~0.6 ns per weight -- as much as the q4_0 GEMM itself at T = 32.
  static void put_word(std::uint8_t* b, index_t c, index_t r, std::uint32_t u) noexcept { std::memcpy(b + c * 4 * G + 4 * r, &u, 4); }
  static std::uint32_t word(std::uint8_t const* p) noexcept {
    std::uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
  }

  // q4_K / q5_K: row r's d, dmin, 6-bit sub-block scales and the mins as int16 pairs.
  static void put_kmins_scales(F const& blk, index_t r, std::uint8_t* b) noexcept {
    put_f32(b, scales, r, f16_scale(blk.d));
    put_f32(b, dmins, r, f16_scale(blk.dmin));
    std::uint64_t sc, mn;
    q4_K_unpack_scales(blk, sc, mn);
    for (int s = 0; s < 8; ++s) put_i32(b, subscales + 4 * G * s, r, static_cast<std::int32_t>((sc >> (8 * s)) & 0xFF));
    for (int p = 0; p < 4; ++p) {
      auto const lo = static_cast<std::uint32_t>((mn >> (16 * p)) & 0xFF), hi = static_cast<std::uint32_t>((mn >> (16 * p + 8)) & 0xFF);
      put_i32(b, mins + 4 * G * p, r, static_cast<std::int32_t>(lo | (hi << 16)));
    }
  }

  static void pack_block(F const& blk, index_t r, std::uint8_t* b) noexcept {
    constexpr std::uint32_t low = 0x0F0F0F0Fu;
    if constexpr (std::is_same_v<F, format::q8_0>) {
      for (int c = 0; c < 8; ++c) put_word(b, c, r, word(reinterpret_cast<std::uint8_t const*>(blk.q) + 4 * c) ^ 0x80808080u);
      put_f32(b, scales, r, f16_scale(blk.d));
    } else if constexpr (std::is_same_v<F, format::q4_0>) {
      for (int c = 0; c < 4; ++c) {  // elements 4c.. in the low nibbles, 16 + 4c.. in the high
        std::uint32_t const v = word(blk.qs + 4 * c);
        put_word(b, c, r, v & low);
        put_word(b, 4 + c, r, (v >> 4) & low);
      }
      put_f32(b, scales, r, f16_scale(blk.d));
    } else if constexpr (k_mins) {
      for (int p = 0; p < 4; ++p)  // sub-blocks 2p (low nibbles) and 2p + 1 (high) share qs[32p ..]
        for (int c = 0; c < 8; ++c) {
          std::uint32_t const v = word(blk.qs + 32 * p + 4 * c);
          std::uint32_t lo = v & low, hi = (v >> 4) & low;
          if constexpr (std::is_same_v<F, format::q5_K>) {  // bit s of qh[i]: sub-block s's fifth bit
            std::uint32_t const h = word(blk.qh + 4 * c);
            lo |= ((h >> (2 * p)) & 0x01010101u) << 4;
            hi |= ((h >> (2 * p + 1)) & 0x01010101u) << 4;
          }
          put_word(b, 16 * p + c, r, lo);
          put_word(b, 16 * p + 8 + c, r, hi);
        }
      put_kmins_scales(blk, r, b);
    } else {
      // Element 128 h + 32 k + i: low 4 bits in ql[64 h + 32 (k & 1) + i] (low nibble for k < 2,
      // high above), high 2 bits at bit 2k of qh[32 h + i] (format::traits<q6_K>::code). Chunk c
      // = elements 4c .. 4c + 3 lies in one quarter: one word of ql and one of qh.
      for (int h = 0; h < 2; ++h)
        for (int k = 0; k < 4; ++k)
          for (int i = 0; i < 32; i += 4) {
            std::uint32_t const lo = (word(blk.ql + 64 * h + 32 * (k & 1) + i) >> (k >= 2 ? 4 : 0)) & low;
            std::uint32_t const hi = (word(blk.qh + 32 * h + i) >> (2 * k)) & 0x03030303u;
            put_word(b, (128 * h + 32 * k + i) / 4, r, lo | (hi << 4));
          }
      put_f32(b, scales, r, f16_scale(blk.d));
      for (int s = 0; s < 16; ++s) put_i32(b, subscales + 4 * G * s, r, std::int32_t{blk.scales[s]});
    }
  }
};

}  // namespace host::detail
SWITCHYARD_NAMESPACE_END
