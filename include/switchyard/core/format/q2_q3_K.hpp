#pragma once
// ggml's 2- and 3-bit K formats, byte for byte, as llama-quantize writes them into its Q2_K /
// Q3_K_S/M/L mixes (and for attention V or FFN down in lower mixes):
//
//   q2_K  256 weights in 16 sub-blocks of 16: u8 scales[16] (4-bit scale | 4-bit min << 4),
//         u8 qs[64] (2-bit codes), f16 d, f16 dmin     x = (d sc_j) q - (dmin m_j)   2.625 bits
//   q3_K  256 weights in 16 sub-blocks of 16: u8 hmask[32] (high bit of each code, set = no
//         offset), u8 qs[64] (low 2 bits), 12 bytes of 6-bit scales, f16 d
//                                                        x = (d (s_j - 32)) (q - 4 h)  3.4375
//
// Code layout (both): element e = 128 h + 32 k + i (half h, quarter k, i < 32) has its two low
// bits at bits 2k of qs[32 h + i]; its sub-block is e / 16. q3_K's high bit of element e is bit
// e / 32 of hmask[e % 32]. dequantize() reproduces the gguf package's float32 values bit for bit
// (scale products rounded, then the code product, then the min); the package has no quantizer
// for these, ours is round-to-nearest with a least-squares refit per sub-block, from the formats'
// definitions.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "switchyard/core/format/f16.hpp"
#include "switchyard/core/format/gguf.hpp"
#include "switchyard/core/format/traits.hpp"
#include "switchyard/detail/no_contract.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace format {

struct q2_K {
  static constexpr int elems = 256;
  std::uint8_t scales[16];
  std::uint8_t qs[64];
  f16 d, dmin;
};
struct q3_K {
  static constexpr int elems = 256;
  std::uint8_t hmask[32];
  std::uint8_t qs[64];
  std::uint8_t scales[12];
  f16 d;
};
static_assert(sizeof(q2_K) == 84 && sizeof(q3_K) == 110, "GGUF blocks must have ggml's exact sizes (no padding)");

namespace detail {
inline constexpr char q2_K_name[] = "q2_K";
inline constexpr char q3_K_name[] = "q3_K";

// The two low bits of element e (shared by q2_K and q3_K).
inline int low2(std::uint8_t const* qs, int e) noexcept {
  int const h = e / 128, k = (e / 32) % 4, i = e % 32;
  return (qs[32 * h + i] >> (2 * k)) & 3;
}
inline void set_low2(std::uint8_t* qs, int e, int c) noexcept {
  int const h = e / 128, k = (e / 32) % 4, i = e % 32;
  qs[32 * h + i] = static_cast<std::uint8_t>(qs[32 * h + i] | ((c & 3) << (2 * k)));
}

// q3_K's 6-bit scale j (0..63, before the -32): low 4 bits from scales[j % 8] (low nibble for
// j < 8, high for j >= 8), high 2 bits from scales[8 + j % 4] at bits 2 (j / 4).
inline int q3_K_scale(std::uint8_t const* s, int j) noexcept {
  int const lo = (s[j % 8] >> (j < 8 ? 0 : 4)) & 0x0F;
  int const hi = (s[8 + j % 4] >> (2 * (j / 4))) & 0x03;
  return lo | (hi << 4);
}
inline void set_q3_K_scale(std::uint8_t* s, int j, int v) noexcept {
  s[j % 8] = static_cast<std::uint8_t>(s[j % 8] | ((v & 0x0F) << (j < 8 ? 0 : 4)));
  s[8 + j % 4] = static_cast<std::uint8_t>(s[8 + j % 4] | (((v >> 4) & 0x03) << (2 * (j / 4))));
}
}  // namespace detail

template <>
struct traits<q2_K> {
  using storage = q2_K;
  static constexpr int block_elems = 256, block_bytes = 84;
  static constexpr bool is_scalar = false;
  static constexpr char const* name = detail::q2_K_name;
  static void dequantize(q2_K const* b, float* out) noexcept {
    float const d = b->d.to_float(), dmin = b->dmin.to_float();
    for (int e = 0; e < 256; ++e) {
      int const j = e / 16;
      float const dl = ::switchyard::detail::round_here(d * static_cast<float>(b->scales[j] & 0x0F));
      float const ml = ::switchyard::detail::round_here(dmin * static_cast<float>(b->scales[j] >> 4));
      out[e] = ::switchyard::detail::round_here(dl * static_cast<float>(detail::low2(b->qs, e))) - ml;
    }
  }
  static void decode(q2_K const* b, float* out) noexcept { dequantize(b, out); }
  // Per sub-block of 16: codes 0..3 over [min(0, lo), hi], refit, then scale and min as 4 bits of
  // the block's d and dmin.
  static void quantize(float const* x, q2_K* b) noexcept {
    float scale[16], minv[16];
    int codes[16];
    for (int j = 0; j < 16; ++j) {
      float const* xs = x + 16 * j;
      float const lo = std::min(0.0f, *std::min_element(xs, xs + 16)), hi = *std::max_element(xs, xs + 16);
      float a = (hi - lo) / 3.0f, off = lo;
      if (a > 0.0f) {
        for (int i = 0; i < 16; ++i) codes[i] = std::clamp(static_cast<int>(std::nearbyint((xs[i] - lo) / a)), 0, 3);
        detail::fit_affine(xs, codes, 16, true, a, off);
        if (!(a > 0.0f) || off > 0.0f) a = (hi - lo) / 3.0f, off = lo;
      }
      scale[j] = a, minv[j] = -off;
    }
    float const d = *std::max_element(scale, scale + 16) / 15.0f, dmin = *std::max_element(minv, minv + 16) / 15.0f;
    b->d = f16(d), b->dmin = f16(dmin);
    std::memset(b->qs, 0, sizeof b->qs);
    float const dq = b->d.to_float(), dmq = b->dmin.to_float();
    for (int j = 0; j < 16; ++j) {
      int const sc = dq > 0.0f ? std::clamp(static_cast<int>(std::nearbyint(scale[j] / dq)), 0, 15) : 0;
      int const m = dmq > 0.0f ? std::clamp(static_cast<int>(std::nearbyint(minv[j] / dmq)), 0, 15) : 0;
      b->scales[j] = static_cast<std::uint8_t>(sc | (m << 4));
      float const a = dq * static_cast<float>(sc), mn = dmq * static_cast<float>(m);
      for (int i = 0; i < 16; ++i) {
        int const e = 16 * j + i;
        detail::set_low2(b->qs, e, a > 0.0f ? std::clamp(static_cast<int>(std::nearbyint((x[e] + mn) / a)), 0, 3) : 0);
      }
    }
  }
};

template <>
struct traits<q3_K> {
  using storage = q3_K;
  static constexpr int block_elems = 256, block_bytes = 110;
  static constexpr bool is_scalar = false;
  static constexpr char const* name = detail::q3_K_name;
  static int code(q3_K const* b, int e) noexcept {  // -4..3
    int const h = (b->hmask[e % 32] >> (e / 32)) & 1;
    return detail::low2(b->qs, e) - (h ? 0 : 4);
  }
  static void dequantize(q3_K const* b, float* out) noexcept {
    float const d = b->d.to_float();
    for (int e = 0; e < 256; ++e) {
      float const dl = ::switchyard::detail::round_here(d * static_cast<float>(detail::q3_K_scale(b->scales, e / 16) - 32));
      out[e] = dl * static_cast<float>(code(b, e));
    }
  }
  static void decode(q3_K const* b, float* out) noexcept { dequantize(b, out); }
  // Per sub-block of 16: symmetric codes -4..3 (the signed value of largest magnitude at -4),
  // refit, then 6-bit signed scales against d (the largest scale at -32).
  static void quantize(float const* x, q3_K* b) noexcept {
    float scale[16];
    int codes[16];
    for (int j = 0; j < 16; ++j) {
      float const* xs = x + 16 * j;
      float mx = 0.0f, amax = 0.0f;
      for (int i = 0; i < 16; ++i)
        if (std::fabs(xs[i]) > amax) amax = std::fabs(xs[i]), mx = xs[i];
      float a = mx / -4.0f;
      if (a != 0.0f) {
        for (int i = 0; i < 16; ++i) codes[i] = std::clamp(static_cast<int>(std::nearbyint(xs[i] / a)), -4, 3);
        float off;
        detail::fit_affine(xs, codes, 16, false, a, off);
      }
      scale[j] = a;
    }
    float smx = 0.0f, samax = 0.0f;
    for (float s : scale)
      if (std::fabs(s) > samax) samax = std::fabs(s), smx = s;
    b->d = f16(smx / -32.0f);
    float const dq = b->d.to_float();
    std::memset(b->hmask, 0, sizeof b->hmask);
    std::memset(b->qs, 0, sizeof b->qs);
    std::memset(b->scales, 0, sizeof b->scales);
    for (int j = 0; j < 16; ++j) {
      int const s = dq != 0.0f ? std::clamp(static_cast<int>(std::nearbyint(scale[j] / dq)), -32, 31) : 0;
      detail::set_q3_K_scale(b->scales, j, s + 32);
      float const a = dq * static_cast<float>(s);
      for (int i = 0; i < 16; ++i) {
        int const e = 16 * j + i;
        int const c = a != 0.0f ? std::clamp(static_cast<int>(std::nearbyint(x[e] / a)), -4, 3) : 0;
        int const h = c >= 0 ? 1 : 0;  // set: no offset
        detail::set_low2(b->qs, e, c + (h ? 0 : 4));
        b->hmask[e % 32] = static_cast<std::uint8_t>(b->hmask[e % 32] | (h << (e / 32)));
      }
    }
  }
};

}  // namespace format
SWITCHYARD_NAMESPACE_END
