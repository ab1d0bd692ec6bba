#pragma once
// MXFP4 (OCP microscaling FP4), the format of gpt-oss's expert weights, as ggml's block_mxfp4
// (GGUF type 39) lays it out:
//
//   mxfp4  32 weights: u8 e (E8M0), u8 qs[16] (element i in the low    x = 2^(e-128) k[q]   4.25 bits/weight
//          nibble of qs[i], element i + 16 in the high nibble, as q4_0)
//
// where q is an E2M1 code (sign bit 3, then two exponent bits and one mantissa bit) and k[q] its
// value doubled, {0, 1, 2, 3, 4, 6, 8, 12} and their negatives (ggml's kvalues_mxfp4): doubling
// makes the codes integers, so the scale is half the E8M0 one, 2^(e-127) / 2. Every value is
// exact in f32 (two significant bits times a power of two no smaller than 2^-128), so
// dequantize() equals the gguf package's floats whatever the order of operations. As in ggml and
// transformers, e = 255 is the scale 2^128 (halved: 2^127), not the OCP NaN, and e = 0 / 1 give
// f32 subnormals; e >= 253 with large codes overflows to +-inf.
//
// Hugging Face checkpoints (`<name>_blocks` u8 [..., G, 16], `<name>_scales` u8 [..., G]) hold the
// same codes and the same exponent byte in another order: byte i of a block has element 2i in its
// low nibble and 2i + 1 in its high one. mxfp4_from_hf() moves them into this layout.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "switchyard/core/format/traits.hpp"
#include "switchyard/detail/bits.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace format {

struct mxfp4 {
  static constexpr int elems = 32;
  std::uint8_t e;
  std::uint8_t qs[16];
};
static_assert(sizeof(mxfp4) == 17 && alignof(mxfp4) == 1, "mxfp4 blocks must have ggml's exact size (no padding)");

namespace detail {
inline constexpr char mxfp4_name[] = "mxfp4";
// E2M1 values doubled, by code. Code 8 (-0 in E2M1) is +0 here, as in ggml (transformers' table
// has -0.0): the same value, another sign of zero.
inline constexpr std::int8_t e2m1_doubled[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};
}  // namespace detail

// 2^(e - 128), the factor of the doubled codes, built from its bits (e = 0 and 1 are subnormal).
SWITCHYARD_HOST_DEVICE constexpr float e8m0_half(std::uint8_t e) noexcept {
  return ::switchyard::detail::float_from_bits(e < 2 ? std::uint32_t{0x00200000} << e : std::uint32_t(e - 1) << 23);
}

template <>
struct traits<mxfp4> {
  using storage = mxfp4;
  static constexpr int block_elems = 32, block_bytes = 17;
  static constexpr bool is_scalar = false;
  static constexpr char const* name = detail::mxfp4_name;
  // k[q] from a constant, magnitudes packed by nibble (0x..C8643210: nibble j is k[j]) and
  // selected by a shift, rather than from the table: the shift vectorizes where a lookup does not
  // (the portable GEMV, which decodes through here, runs 2x faster). Same values: k is an
  // integer, so k d is exact, and code 8 gives +0 as ggml's table does.
  static void dequantize(mxfp4 const* b, float* out) noexcept {
    float const d = e8m0_half(b->e);
    auto k = [](std::uint32_t c) {
      std::int32_t const mag = static_cast<std::int32_t>((std::uint32_t{0xC8643210} >> (4 * (c & 7u))) & 15u);
      std::int32_t const neg = -static_cast<std::int32_t>(c >> 3);  // all ones for codes 8..15
      return static_cast<float>((mag ^ neg) - neg);
    };
    std::uint8_t qs[16];  // a copy: out cannot alias it, so the loop vectorizes without checks
    std::memcpy(qs, b->qs, 16);
    for (int i = 0; i < 16; ++i) {
      out[i] = d * k(qs[i] & 0x0Fu);
      out[i + 16] = d * k(qs[i] >> 4u);
    }
  }
  static void decode(mxfp4 const* b, float* out) noexcept { dequantize(b, out); }
  // ggml's reference quantizer, to the byte: e = floor(log2 amax) - 2 + 127, so amax / 2^(e-127)
  // lies in [4, 8) and the E2M1 maximum 6 clamps the top of that range; each element then takes
  // the code of least |k d - x| in f32, the lowest code on ties (so ties go towards zero, and
  // code 8 is never written). log2 is rounded to f32 before the floor, as log2f and numpy do: an
  // amax a few ulps below 2^n counts as 2^n. Beyond ggml: e is clamped to 0..254 (amax below
  // 2^-125 or not finite), where ggml's cast to u8 wraps.
  static void quantize(float const* x, mxfp4* b) noexcept {
    float amax = 0.0f;
    for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(x[i]));  // NaNs ignored, as ggml
    int e = 0;
    if (amax > 0.0f) {
      float const l = static_cast<float>(std::log2(static_cast<double>(amax)));
      e = std::isfinite(l) ? static_cast<int>(std::clamp(std::floor(l) + 125.0f, 0.0f, 254.0f)) : 254;
    }
    b->e = static_cast<std::uint8_t>(e);
    float const d = e8m0_half(b->e);
    auto code = [d](float v) {
      int best = 0;
      float best_err = std::fabs(v);  // code 0
      for (int c = 1; c < 16; ++c) {
        float const err = std::fabs(static_cast<float>(detail::e2m1_doubled[c]) * d - v);
        if (err < best_err) best = c, best_err = err;
      }
      return best;
    };
    for (int i = 0; i < 16; ++i) b->qs[i] = static_cast<std::uint8_t>(code(x[i]) | (code(x[i + 16]) << 4));
  }
};

// One row of a Hugging Face MXFP4 tensor -- `groups` blocks of 16 bytes (`<name>_blocks`) and
// their `groups` exponent bytes (`<name>_scales`, E8M0 with bias 127) -- as mxfp4 blocks. Codes
// and exponent are copied unchanged (2^(s-127) E2M1 = 2^(s-128) doubled), only the nibbles move:
// HF element 2i / 2i + 1 sit in the low / high nibble of byte i, ours element i / i + 16 in the
// low / high nibble of byte i. The values are transformers' convert_moe_packed_tensors' exactly
// (its -0.0 for code 8 reads +0 here).
inline void mxfp4_from_hf(std::uint8_t const* blocks, std::uint8_t const* scales, std::size_t groups,
                          mxfp4* out) noexcept {
  for (std::size_t g = 0; g < groups; ++g) {
    std::uint8_t const* hf = blocks + 16 * g;
    auto element = [hf](int m) { return (hf[m / 2] >> (4 * (m % 2))) & 0x0F; };
    out[g].e = scales[g];
    for (int i = 0; i < 16; ++i) out[g].qs[i] = static_cast<std::uint8_t>(element(i) | (element(i + 16) << 4));
  }
}

}  // namespace format
SWITCHYARD_NAMESPACE_END
