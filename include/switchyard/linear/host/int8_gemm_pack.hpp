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
//   q4_K, per super block kb (256 elements, 8 sub-blocks of 32), block_bytes = 312 G:
//     u8  codes[8][8][G][4]  sub-block s, chunk j, row r: nibbles of elements 32 s + 4j ..
//     f32 d[G], dmin[G]
//     i32 sc[8][G]           6-bit sub-block scales
//     i32 mins[4][G]         int16 pairs (m_{2p} low, m_{2p+1} high), for vpdpwssd against the
//                            activations' sub-block sums paired the same way
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "switchyard/core/format/gguf.hpp"
#include "switchyard/core/tensor_view.hpp"
#include "switchyard/linear/host/block_gemv_common.hpp"
#include "switchyard/linear/host/q4k_int8_gemv.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace host::detail {

// The block formats the int8 GEMM takes.
template <class F>
inline constexpr bool int8_gemm_format =
    std::is_same_v<F, format::q8_0> || std::is_same_v<F, format::q4_0> || std::is_same_v<F, format::q4_K>;

template <class F, int G>
struct int8_panel {
  static_assert(int8_gemm_format<F>);
  static constexpr bool k_quant = std::is_same_v<F, format::q4_K>;
  static constexpr index_t block_bytes = k_quant ? 312 * G : 36 * G;
  // Offsets within a block record.
  static constexpr index_t scales = k_quant ? 256 * G : 32 * G;  // d (then dmin, sc, mins for q4_K)
  static constexpr index_t dmins = 260 * G, subscales = 264 * G, mins = 296 * G;
  // Activations are rounded per this many elements (one scale per weight block: q8_0 x q8_0 and
  // q4_K x q8_K as ggml pairs them).
  static constexpr index_t group = format::traits<F>::block_elems;
  // The offset the unsigned codes carry (the seed of each block's sum is -offset * sum(xq)); q4_K
  // subtracts its mins instead.
  static constexpr std::int32_t offset = std::is_same_v<F, format::q8_0> ? 128 : (k_quant ? 0 : 8);
  // Codes at most 15: the AVX2 path without VNNI may take one vpmaddubsw per 4 bytes (no overflow).
  static constexpr bool small_codes = !std::is_same_v<F, format::q8_0>;

  static index_t bytes(index_t kbs) noexcept { return kbs * block_bytes; }

  // rows (1..G) rows of w starting at `w`, row stride ldw blocks, kbs blocks each, into dst.
  static void pack(F const* w, index_t ldw, index_t rows, index_t kbs, std::uint8_t* dst) noexcept {
    for (index_t kb = 0; kb < kbs; ++kb) {
      std::uint8_t* b = dst + kb * block_bytes;
      if (rows < G) std::memset(b, 0, static_cast<std::size_t>(block_bytes));
      for (index_t r = 0; r < rows; ++r) pack_block(w[r * ldw + kb], r, b);
    }
  }

 private:
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
    } else {
      for (int p = 0; p < 4; ++p)  // sub-blocks 2p (low nibbles) and 2p + 1 (high) share qs[32p ..]
        for (int c = 0; c < 8; ++c) {
          std::uint32_t const v = word(blk.qs + 32 * p + 4 * c);
          put_word(b, 16 * p + c, r, v & low);
          put_word(b, 16 * p + 8 + c, r, (v >> 4) & low);
        }
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
  }
};

}  // namespace host::detail
SWITCHYARD_NAMESPACE_END
