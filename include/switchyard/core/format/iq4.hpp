#pragma once
// ggml's 4-bit non-linear formats, byte for byte, as llama-quantize writes them (IQ4_NL, IQ4_XS
// files, and the fallback of IQ mixes for rows that are not whole 256-blocks):
//
//   iq4_nl  32 weights: f16 d, u8 qs[16] (codes as q4_0's nibbles)   x = d v[q]          4.5 bits
//   iq4_xs  256 weights in 8 sub-blocks of 32: f16 d, u16 scales_h (2 high bits per sub-block),
//           u8 scales_l[4] (4 low bits per sub-block), u8 qs[128] (nibbles as iq4_nl, per
//           sub-block)                                             x = (d (s_j - 32)) v[q]  4.25
//
// v: the 16-entry non-uniform code book below (denser near zero, where weights are). dequantize()
// reproduces the gguf package's float32 values bit for bit; the package has no quantizer for
// these, ours picks the nearest code-book entry for a scale fitted per block (least squares).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "switchyard/core/format/f16.hpp"
#include "switchyard/core/format/traits.hpp"
#include "switchyard/detail/no_contract.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace format {

struct iq4_nl {
  static constexpr int elems = 32;
  f16 d;
  std::uint8_t qs[16];
};
struct iq4_xs {
  static constexpr int elems = 256;
  f16 d;
  std::uint16_t scales_h;
  std::uint8_t scales_l[4];
  std::uint8_t qs[128];
};
static_assert(sizeof(iq4_nl) == 18 && sizeof(iq4_xs) == 136, "GGUF blocks must have ggml's exact sizes (no padding)");

namespace detail {
inline constexpr char iq4_nl_name[] = "iq4_nl";
inline constexpr char iq4_xs_name[] = "iq4_xs";
inline constexpr std::int8_t iq4_values[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

// Code of element i of a 32-element group whose nibbles are qs[0..15] (low: i < 16).
inline int iq4_code(std::uint8_t const* qs, int i) noexcept { return i < 16 ? (qs[i] & 0x0F) : (qs[i - 16] >> 4); }

// The nearest code-book entry to y.
inline int iq4_nearest(float y) noexcept {
  int best = 0;
  float err = std::fabs(y - iq4_values[0]);
  for (int c = 1; c < 16; ++c) {
    float const e = std::fabs(y - iq4_values[c]);
    if (e < err) err = e, best = c;
  }
  return best;
}

// A scale for 32 values and their codes: the largest magnitude onto the book's end of its sign,
// then codes by nearest entry and a least-squares refit of the scale to those codes.
inline float iq4_fit(float const* x, int* codes) noexcept {
  float mx = 0.0f, amax = 0.0f;
  for (int i = 0; i < 32; ++i)
    if (std::fabs(x[i]) > amax) amax = std::fabs(x[i]), mx = x[i];
  if (amax == 0.0f) {
    for (int i = 0; i < 32; ++i) codes[i] = iq4_nearest(0.0f);
    return 0.0f;
  }
  float const d0 = mx < 0.0f ? mx / static_cast<float>(iq4_values[0]) : mx / static_cast<float>(iq4_values[15]);
  double sxv = 0, svv = 0;
  for (int i = 0; i < 32; ++i) {
    codes[i] = iq4_nearest(x[i] / d0);
    double const v = iq4_values[codes[i]];
    sxv += double(x[i]) * v, svv += v * v;
  }
  return svv > 0 ? static_cast<float>(sxv / svv) : d0;
}
}  // namespace detail

template <>
struct traits<iq4_nl> {
  using storage = iq4_nl;
  static constexpr int block_elems = 32, block_bytes = 18;
  static constexpr bool is_scalar = false;
  static constexpr char const* name = detail::iq4_nl_name;
  static void dequantize(iq4_nl const* b, float* out) noexcept {
    float const d = b->d.to_float();
    for (int i = 0; i < 32; ++i) out[i] = d * static_cast<float>(detail::iq4_values[detail::iq4_code(b->qs, i)]);
  }
  static void decode(iq4_nl const* b, float* out) noexcept { dequantize(b, out); }
  static void quantize(float const* x, iq4_nl* b) noexcept {
    int codes[32];
    b->d = f16(detail::iq4_fit(x, codes));
    float const d = b->d.to_float();
    for (int i = 0; i < 32; ++i) codes[i] = d != 0.0f ? detail::iq4_nearest(x[i] / d) : detail::iq4_nearest(0.0f);
    for (int i = 0; i < 16; ++i) b->qs[i] = static_cast<std::uint8_t>(codes[i] | (codes[i + 16] << 4));
  }
};

template <>
struct traits<iq4_xs> {
  using storage = iq4_xs;
  static constexpr int block_elems = 256, block_bytes = 136;
  static constexpr bool is_scalar = false;
  static constexpr char const* name = detail::iq4_xs_name;
  static int scale(iq4_xs const* b, int j) noexcept {  // -32..31
    int const lo = (b->scales_l[j / 2] >> (4 * (j % 2))) & 0x0F;
    int const hi = (b->scales_h >> (2 * j)) & 0x03;
    return (lo | (hi << 4)) - 32;
  }
  static void dequantize(iq4_xs const* b, float* out) noexcept {
    float const d = b->d.to_float();
    for (int j = 0; j < 8; ++j) {
      float const dl = ::switchyard::detail::round_here(d * static_cast<float>(scale(b, j)));
      for (int i = 0; i < 32; ++i)
        out[32 * j + i] = dl * static_cast<float>(detail::iq4_values[detail::iq4_code(b->qs + 16 * j, i)]);
    }
  }
  static void decode(iq4_xs const* b, float* out) noexcept { dequantize(b, out); }
  // A scale per sub-block (iq4_nl's fit), then 6-bit signed multiples of d (the largest at -32).
  static void quantize(float const* x, iq4_xs* b) noexcept {
    float s[8];
    int codes[32];
    float smx = 0.0f, samax = 0.0f;
    for (int j = 0; j < 8; ++j) {
      s[j] = detail::iq4_fit(x + 32 * j, codes);
      if (std::fabs(s[j]) > samax) samax = std::fabs(s[j]), smx = s[j];
    }
    b->d = f16(smx / -32.0f);
    float const d = b->d.to_float();
    b->scales_h = 0;
    std::memset(b->scales_l, 0, sizeof b->scales_l);
    for (int j = 0; j < 8; ++j) {
      int const l = d != 0.0f ? std::clamp(static_cast<int>(std::nearbyint(s[j] / d)), -32, 31) : 0;
      int const u = l + 32;
      b->scales_l[j / 2] = static_cast<std::uint8_t>(b->scales_l[j / 2] | ((u & 0x0F) << (4 * (j % 2))));
      b->scales_h = static_cast<std::uint16_t>(b->scales_h | (((u >> 4) & 0x03) << (2 * j)));
      float const dl = d * static_cast<float>(l);
      for (int i = 0; i < 32; ++i)
        codes[i] = dl != 0.0f ? detail::iq4_nearest(x[32 * j + i] / dl) : detail::iq4_nearest(0.0f);
      for (int i = 0; i < 16; ++i) b->qs[16 * j + i] = static_cast<std::uint8_t>(codes[i] | (codes[i + 16] << 4));
    }
  }
};

}  // namespace format
SWITCHYARD_NAMESPACE_END
