#pragma once
// GGUF / ggml block formats, byte for byte as ggml and the gguf Python package lay them out:
//
//   q8_0  32 weights: f16 d, int8 q[32]                       x = d q                 8.5 bits/weight
//   q4_0  32 weights: f16 d, u8 qs[16] (element i in the low  x = d (q - 8)           4.5
//         nibble of qs[i], element i + 16 in the high nibble)
//   q4_K  256 weights in 8 sub-blocks of 32: f16 d, f16 dmin, x = d sc_j q - dmin m_j  4.5
//         12 bytes of 6-bit (sc_j, m_j), u8 qs[128] (sub-block pair 2p/2p+1 in the low/high
//         nibbles of qs[32p .. 32p+31])
//   q6_K  256 weights in 16 sub-blocks of 16: u8 ql[128] (low 4 bits), u8 qh[64] (high 2 bits),
//         int8 scales[16], f16 d                              x = d s_j (q - 32)      6.5625
//
// Each is a struct of exactly the block's bytes; a weight matrix in such a format is a view of
// blocks, [rows, cols / block_elems]. dequantize() reproduces the gguf package's float32 results
// bit for bit (same operations in the same order, no contraction); quantize() of q8_0 and q4_0
// reproduces its bytes. The package has no quantizer for the K formats; ours is round-to-nearest
// with a per-sub-block least-squares refinement of scale and min (q4_K) or scale (q6_K), written
// from the formats' definitions (it does not claim ggml's bytes).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "switchyard/core/format/f16.hpp"
#include "switchyard/core/format/traits.hpp"
#include "switchyard/detail/no_contract.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace format {

struct q8_0 {
  static constexpr int elems = 32;
  f16 d;
  std::int8_t q[32];
};
struct q4_0 {
  static constexpr int elems = 32;
  f16 d;
  std::uint8_t qs[16];
};
struct q4_K {
  static constexpr int elems = 256;
  f16 d, dmin;
  std::uint8_t scales[12];
  std::uint8_t qs[128];
};
struct q6_K {
  static constexpr int elems = 256;
  std::uint8_t ql[128];
  std::uint8_t qh[64];
  std::int8_t scales[16];
  f16 d;
};
static_assert(sizeof(q8_0) == 34 && sizeof(q4_0) == 18 && sizeof(q4_K) == 144 && sizeof(q6_K) == 210,
              "GGUF blocks must have ggml's exact sizes (no padding)");

// Formats of llama-quantize's _K_M / _K_S mixes (attention output, some FFN down matrices):
// computed through the generic block kernels (traits<F>::decode), not SIMD tiles of their own.
//   q5_0  32 weights: f16 d, u8 qh[4] (bit e of the little-endian word: element e's 5th bit),
//         u8 qs[16] (low 4 bits as q4_0)                    x = d (q - 16)          5.5
//   q4_1  32 weights: f16 d, f16 m, u8 qs[16] (as q4_0)        x = d q + m             5
//   q5_1  32 weights: f16 d, f16 m, u8 qh[4], u8 qs[16] (as q5_0)  x = d q + m         6
//   q5_K  256 weights in 8 sub-blocks of 32: f16 d, f16 dmin, 12 bytes of 6-bit (sc_j, m_j) as
//         q4_K, u8 qh[32] (bit j of qh[i]: the 5th bit of sub-block j's element i), u8 qs[128]
//         (low 4 bits as q4_K)                               x = d sc_j q - dmin m_j  5.5
struct q5_0 {
  static constexpr int elems = 32;
  f16 d;
  std::uint8_t qh[4];
  std::uint8_t qs[16];
};
struct q4_1 {
  static constexpr int elems = 32;
  f16 d, m;
  std::uint8_t qs[16];
};
struct q5_1 {
  static constexpr int elems = 32;
  f16 d, m;
  std::uint8_t qh[4];
  std::uint8_t qs[16];
};
struct q5_K {
  static constexpr int elems = 256;
  f16 d, dmin;
  std::uint8_t scales[12];
  std::uint8_t qh[32];
  std::uint8_t qs[128];
};
static_assert(sizeof(q5_0) == 22 && sizeof(q5_K) == 176 && sizeof(q4_1) == 20 && sizeof(q5_1) == 24,
              "GGUF blocks must have ggml's exact sizes (no padding)");

namespace detail {

inline constexpr char q8_0_name[] = "q8_0";
inline constexpr char q4_0_name[] = "q4_0";
inline constexpr char q4_K_name[] = "q4_K";
inline constexpr char q6_K_name[] = "q6_K";

// ggml's and numpy's roundf: half away from zero.
inline float round_away(float x) noexcept { return std::round(x); }

// q4_K's 12 scale bytes hold eight 6-bit scales and eight 6-bit mins (get_scale_min_k4).
inline void q4_K_scale_min(std::uint8_t const* s, int j, std::uint8_t& sc, std::uint8_t& m) noexcept {
  if (j < 4) {
    sc = s[j] & 63;
    m = s[j + 4] & 63;
  } else {
    sc = static_cast<std::uint8_t>((s[j + 4] & 0x0F) | ((s[j - 4] >> 6) << 4));
    m = static_cast<std::uint8_t>((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
  }
}
inline void q4_K_set_scale_min(std::uint8_t* s, int j, int sc, int m) noexcept {
  if (j < 4) {
    s[j] = static_cast<std::uint8_t>((s[j] & 0xC0) | sc);
    s[j + 4] = static_cast<std::uint8_t>((s[j + 4] & 0xC0) | m);
  } else {
    s[j + 4] = static_cast<std::uint8_t>((sc & 0x0F) | ((m & 0x0F) << 4));
    s[j - 4] = static_cast<std::uint8_t>((s[j - 4] & 0x3F) | ((sc >> 4) << 6));
    s[j] = static_cast<std::uint8_t>((s[j] & 0x3F) | ((m >> 4) << 6));
  }
}

// q4_K and q5_K values as the gguf package computes them (scale and min products rounded, then
// ds q - dm, no contraction): 8 sub-blocks of 32, low 4 bits of sub-block j in the low (j even)
// or high (j odd) nibbles of qs[32 (j / 2) ..], the 5th bit (q5_K; qh null for q4_K) in bit j of
// qh[i].
inline void dequantize_k_subblocks(f16 d16, f16 dmin16, std::uint8_t const* scales, std::uint8_t const* qs,
                                   std::uint8_t const* qh, float* out) noexcept {
  float const d = d16.to_float(), dmin = dmin16.to_float();
  for (int j = 0; j < 8; ++j) {
    std::uint8_t sc, m;
    q4_K_scale_min(scales, j, sc, m);
    float const ds = ::switchyard::detail::round_here(d * static_cast<float>(sc));
    float const dm = ::switchyard::detail::round_here(dmin * static_cast<float>(m));
    std::uint8_t const* q = qs + 32 * (j / 2);
    int const shift = (j % 2) * 4;
    for (int i = 0; i < 32; ++i) {
      int const code = ((q[i] >> shift) & 0x0F) | (qh ? ((qh[i] >> j) & 1) << 4 : 0);
      out[32 * j + i] = ::switchyard::detail::round_here(ds * static_cast<float>(code)) - dm;
    }
  }
}

// Least-squares fit of x ~ a q + b over fixed integer codes q (b = 0 when with_offset is false).
inline void fit_affine(float const* x, int const* q, int n, bool with_offset, float& a, float& b) noexcept {
  double sq = 0, sqq = 0, sx = 0, sqx = 0;
  for (int i = 0; i < n; ++i) sq += q[i], sqq += double(q[i]) * q[i], sx += x[i], sqx += double(q[i]) * x[i];
  if (!with_offset) {
    a = sqq > 0 ? static_cast<float>(sqx / sqq) : 0.0f;
    b = 0.0f;
    return;
  }
  double const det = n * sqq - sq * sq;
  if (det <= 0) {
    a = 0.0f;
    b = static_cast<float>(sx / n);
    return;
  }
  a = static_cast<float>((n * sqx - sq * sx) / det);
  b = static_cast<float>((sx - a * sq) / n);
}

// q4_0 / q5_0 codes as the gguf package rounds them: the signed value of largest magnitude (the
// first, on ties) maps to -half (8 or 16); codes trunc(x / d + half + 0.5) in 0 .. 2 half - 1.
inline void quantize_symmetric(float const* x, int half, f16& d16, std::uint8_t* q) noexcept {
  float mx = 0.0f, amax = 0.0f;
  for (int i = 0; i < 32; ++i)
    if (std::fabs(x[i]) > amax) amax = std::fabs(x[i]), mx = x[i];
  float const d = mx / -static_cast<float>(half), id = d != 0.0f ? 1.0f / d : 0.0f;
  for (int i = 0; i < 32; ++i) {
    float const v = std::trunc(::switchyard::detail::round_here(x[i] * id) + (static_cast<float>(half) + 0.5f));
    q[i] = static_cast<std::uint8_t>(std::clamp(v, 0.0f, static_cast<float>(2 * half - 1)));
  }
  d16 = f16(d);
}

// q4_K / q5_K super blocks (codes 0 .. max_code, 15 or 31): per sub-block of 32, codes from its
// [min(0, lo), hi] range, a least-squares refit of scale and min on those codes, then both 6-bit
// quantized against the block's super-scales d and dmin (stored with the 12 scale bytes); the
// final codes of the 256 elements go to `codes`.
inline void quantize_k_subblocks(float const* x, int max_code, f16& d16, f16& dmin16, std::uint8_t* scales,
                                 int* codes) noexcept {
  float scale[8], minv[8];
  float const steps = static_cast<float>(max_code);
  for (int j = 0; j < 8; ++j) {
    float const* xs = x + 32 * j;
    int* cs = codes + 32 * j;
    float lo = std::min(0.0f, *std::min_element(xs, xs + 32)), hi = *std::max_element(xs, xs + 32);
    float a = (hi - lo) / steps, off = lo;
    if (a > 0.0f) {
      for (int i = 0; i < 32; ++i) cs[i] = std::clamp(static_cast<int>(std::nearbyint((xs[i] - lo) / a)), 0, max_code);
      fit_affine(xs, cs, 32, true, a, off);
      if (!(a > 0.0f) || off > 0.0f) a = (hi - lo) / steps, off = lo;  // keep the min <= 0 form
    }
    scale[j] = a, minv[j] = -off;  // x ~ a q - minv
  }
  float const smax = *std::max_element(scale, scale + 8), mmax = *std::max_element(minv, minv + 8);
  std::memset(scales, 0, 12);
  d16 = f16(smax / 63.0f), dmin16 = f16(mmax / 63.0f);
  float const dq = d16.to_float(), dmq = dmin16.to_float();
  for (int j = 0; j < 8; ++j) {
    int const sc = dq > 0.0f ? std::clamp(static_cast<int>(std::nearbyint(scale[j] / dq)), 0, 63) : 0;
    int const m = dmq > 0.0f ? std::clamp(static_cast<int>(std::nearbyint(minv[j] / dmq)), 0, 63) : 0;
    q4_K_set_scale_min(scales, j, sc, m);
    float const a = dq * static_cast<float>(sc), mn = dmq * static_cast<float>(m);
    for (int i = 0; i < 32; ++i)
      codes[32 * j + i] =
          a > 0.0f ? std::clamp(static_cast<int>(std::nearbyint((x[32 * j + i] + mn) / a)), 0, max_code) : 0;
  }
}

// Low nibbles of q4_K / q5_K codes: sub-blocks 2p and 2p + 1 in the low / high nibbles of
// qs[32p ..]; q5_K's fifth bits (qh non-null) at bit j of qh[i].
inline void pack_k_codes(int const* codes, std::uint8_t* qs, std::uint8_t* qh) noexcept {
  std::memset(qs, 0, 128);
  if (qh) std::memset(qh, 0, 32);
  for (int j = 0; j < 8; ++j)
    for (int i = 0; i < 32; ++i) {
      int const c = codes[32 * j + i];
      qs[32 * (j / 2) + i] = static_cast<std::uint8_t>(qs[32 * (j / 2) + i] | ((c & 0x0F) << (4 * (j % 2))));
      if (qh) qh[i] = static_cast<std::uint8_t>(qh[i] | ((c >> 4) << j));
    }
}

}  // namespace detail

template <>
struct traits<q8_0> {
  using storage = q8_0;
  static constexpr int block_elems = 32, block_bytes = 34;
  static constexpr bool is_scalar = false;
  static constexpr char const* name = detail::q8_0_name;
  static void dequantize(q8_0 const* b, float* out) noexcept {
    float const d = b->d.to_float();
    for (int i = 0; i < 32; ++i) out[i] = static_cast<float>(b->q[i]) * d;
  }
  static void decode(q8_0 const* b, float* out) noexcept { dequantize(b, out); }
  static void quantize(float const* x, q8_0* b) noexcept {
    float amax = 0.0f;
    for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(x[i]));
    float const d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
    for (int i = 0; i < 32; ++i) b->q[i] = static_cast<std::int8_t>(detail::round_away(x[i] * id));
    b->d = f16(d);
  }
};

template <>
struct traits<q4_0> {
  using storage = q4_0;
  static constexpr int block_elems = 32, block_bytes = 18;
  static constexpr bool is_scalar = false;
  static constexpr char const* name = detail::q4_0_name;
  static void dequantize(q4_0 const* b, float* out) noexcept {
    float const d = b->d.to_float();
    for (int i = 0; i < 16; ++i) {
      out[i] = d * static_cast<float>((b->qs[i] & 0x0F) - 8);
      out[i + 16] = d * static_cast<float>((b->qs[i] >> 4) - 8);
    }
  }
  static void decode(q4_0 const* b, float* out) noexcept { dequantize(b, out); }
  static void quantize(float const* x, q4_0* b) noexcept {
    std::uint8_t q[32];
    detail::quantize_symmetric(x, 8, b->d, q);
    for (int i = 0; i < 16; ++i) b->qs[i] = static_cast<std::uint8_t>(q[i] | (q[i + 16] << 4));
  }
};

template <>
struct traits<q4_K> {
  using storage = q4_K;
  static constexpr int block_elems = 256, block_bytes = 144;
  static constexpr bool is_scalar = false;
  static constexpr char const* name = detail::q4_K_name;
  static void dequantize(q4_K const* b, float* out) noexcept {
    detail::dequantize_k_subblocks(b->d, b->dmin, b->scales, b->qs, nullptr, out);
  }
  // The kernels' decode: the same values, written so that compilers vectorize it (the exact
  // rounding order of dequantize() is for bit-compatibility; kernels may contract).
  static void decode(q4_K const* b, float* out) noexcept {
    float const d = b->d.to_float(), dmin = b->dmin.to_float();
    for (int p = 0; p < 4; ++p) {
      std::uint8_t sc0, m0, sc1, m1;
      detail::q4_K_scale_min(b->scales, 2 * p, sc0, m0);
      detail::q4_K_scale_min(b->scales, 2 * p + 1, sc1, m1);
      float const a0 = d * sc0, c0 = dmin * m0, a1 = d * sc1, c1 = dmin * m1;
      std::uint8_t const* q = b->qs + 32 * p;
      float* o = out + 64 * p;
      for (int i = 0; i < 32; ++i) {
        o[i] = a0 * static_cast<float>(q[i] & 0x0F) - c0;
        o[32 + i] = a1 * static_cast<float>(q[i] >> 4) - c1;
      }
    }
  }
  // Round-to-nearest with a least-squares refit per sub-block (detail::quantize_k_subblocks).
  static void quantize(float const* x, q4_K* b) noexcept {
    int codes[256];
    detail::quantize_k_subblocks(x, 15, b->d, b->dmin, b->scales, codes);
    detail::pack_k_codes(codes, b->qs, nullptr);
  }
};

template <>
struct traits<q6_K> {
  using storage = q6_K;
  static constexpr int block_elems = 256, block_bytes = 210;
  static constexpr bool is_scalar = false;
  static constexpr char const* name = detail::q6_K_name;
  // Element e = 128 h + 32 k + i (half h, quarter k, i < 32): low bits from ql[64 h + 32 (k & 1) + i]
  // (low nibble for k < 2, high for k >= 2), high bits from qh[32 h + i] >> 2 k; scale
  // scales[e / 16].
  static int code(q6_K const* b, int e) noexcept {
    int const h = e / 128, k = (e / 32) % 4, i = e % 32;
    int const lo = (b->ql[64 * h + 32 * (k & 1) + i] >> (k >= 2 ? 4 : 0)) & 0x0F;
    int const hi = (b->qh[32 * h + i] >> (2 * k)) & 0x03;
    return (lo | (hi << 4)) - 32;
  }
  static void dequantize(q6_K const* b, float* out) noexcept {
    float const d = b->d.to_float();
    for (int e = 0; e < 256; ++e) {
      float const ds = ::switchyard::detail::round_here(d * static_cast<float>(b->scales[e / 16]));
      out[e] = ds * static_cast<float>(code(b, e));
    }
  }
  // The kernels' decode (vectorizable; see q4_K::decode).
  static void decode(q6_K const* b, float* out) noexcept {
    float const d = b->d.to_float();
    float ds[16];
    for (int j = 0; j < 16; ++j) ds[j] = d * static_cast<float>(b->scales[j]);
    for (int h = 0; h < 2; ++h)
      for (int k = 0; k < 4; ++k) {
        std::uint8_t const* ql = b->ql + 64 * h + 32 * (k & 1);
        std::uint8_t const* qh = b->qh + 32 * h;
        int const lshift = k >= 2 ? 4 : 0, hshift = 2 * k, e0 = 128 * h + 32 * k;
        float const s0 = ds[e0 / 16], s1 = ds[e0 / 16 + 1];
        for (int i = 0; i < 32; ++i) {
          int const c = (((ql[i] >> lshift) & 0x0F) | (((qh[i] >> hshift) & 0x03) << 4)) - 32;
          out[e0 + i] = (i < 16 ? s0 : s1) * static_cast<float>(c);
        }
      }
  }
  static void quantize(float const* x, q6_K* b) noexcept {
    float scale[16];
    int codes[16];
    for (int j = 0; j < 16; ++j) {
      float const* xs = x + 16 * j;
      float amax = 0.0f, mx = 0.0f;
      for (int i = 0; i < 16; ++i)
        if (std::fabs(xs[i]) > amax) amax = std::fabs(xs[i]), mx = xs[i];
      float a = mx / -32.0f;  // codes -32..31: the extreme value takes -32
      if (a != 0.0f) {
        for (int i = 0; i < 16; ++i) codes[i] = std::clamp(static_cast<int>(std::nearbyint(xs[i] / a)), -32, 31);
        float off;
        detail::fit_affine(xs, codes, 16, false, a, off);
      }
      scale[j] = a;
    }
    float amax = 0.0f, smx = 0.0f;
    for (float s : scale)
      if (std::fabs(s) > amax) amax = std::fabs(s), smx = s;
    float const d = smx / -128.0f;
    b->d = f16(d);
    float const dq = b->d.to_float();
    std::memset(b->ql, 0, sizeof b->ql);
    std::memset(b->qh, 0, sizeof b->qh);
    for (int j = 0; j < 16; ++j) {
      int const s = dq != 0.0f ? std::clamp(static_cast<int>(std::nearbyint(scale[j] / dq)), -128, 127) : 0;
      b->scales[j] = static_cast<std::int8_t>(s);
      float const a = dq * static_cast<float>(s);
      for (int i = 0; i < 16; ++i) {
        int const e = 16 * j + i;
        int const c = (a != 0.0f ? std::clamp(static_cast<int>(std::nearbyint(x[e] / a)), -32, 31) : 0) + 32;
        int const h = e / 128, k = (e / 32) % 4, ii = e % 32;
        b->ql[64 * h + 32 * (k & 1) + ii] |= static_cast<std::uint8_t>((c & 0x0F) << (k >= 2 ? 4 : 0));
        b->qh[32 * h + ii] |= static_cast<std::uint8_t>((c >> 4) << (2 * k));
      }
    }
  }
};

namespace detail {
inline constexpr char q5_0_name[] = "q5_0";
inline constexpr char q4_1_name[] = "q4_1";
inline constexpr char q5_1_name[] = "q5_1";

// The 5-bit codes of a q5_0 / q5_1 block: low nibbles from qs (elements i and i + 16), fifth bits
// from the little-endian word qh.
inline int q5_code(std::uint8_t const* qs, std::uint8_t const* qh4, int e) noexcept {
  std::uint32_t qh;
  std::memcpy(&qh, qh4, 4);
  int const lo = e < 16 ? (qs[e] & 0x0F) : (qs[e - 16] >> 4);
  return lo | static_cast<int>(((qh >> e) & 1u) << 4);
}
inline void pack_q5(std::uint8_t const* q, std::uint8_t* qs, std::uint8_t* qh4) noexcept {
  std::uint32_t qh = 0;
  for (int i = 0; i < 16; ++i) {
    qs[i] = static_cast<std::uint8_t>((q[i] & 0x0F) | ((q[i + 16] & 0x0F) << 4));
    qh |= static_cast<std::uint32_t>(q[i] >> 4) << i;
    qh |= static_cast<std::uint32_t>(q[i + 16] >> 4) << (i + 16);
  }
  std::memcpy(qh4, &qh, 4);
}

// q4_1 / q5_1 as the gguf package quantizes: d = (max - min) / (2^bits - 1), codes
// trunc((x - min) / d + 0.5), every step rounded to f32 as numpy does.
inline void quantize_affine(float const* x, int max_code, f16& d16, f16& m16, std::uint8_t* q) noexcept {
  float const mx = *std::max_element(x, x + 32), mn = *std::min_element(x, x + 32);
  float const d = (mx - mn) / static_cast<float>(max_code), id = d != 0.0f ? 1.0f / d : 0.0f;
  for (int i = 0; i < 32; ++i) {
    float const v = std::trunc(::switchyard::detail::round_here((x[i] - mn) * id) + 0.5f);
    q[i] = static_cast<std::uint8_t>(std::clamp(v, 0.0f, static_cast<float>(max_code)));
  }
  d16 = f16(d), m16 = f16(mn);
}
inline constexpr char q5_K_name[] = "q5_K";
}  // namespace detail

// q5_0: dequantize is the gguf package's float32 result bit for bit (one product per element);
// quantize its bytes (the signed value of largest magnitude maps to -16, as q4_0's to -8).
template <>
struct traits<q5_0> {
  using storage = q5_0;
  static constexpr int block_elems = 32, block_bytes = 22;
  static constexpr bool is_scalar = false;
  static constexpr char const* name = detail::q5_0_name;
  static void dequantize(q5_0 const* b, float* out) noexcept {
    float const d = b->d.to_float();
    for (int e = 0; e < 32; ++e) out[e] = d * static_cast<float>(detail::q5_code(b->qs, b->qh, e) - 16);
  }
  static void decode(q5_0 const* b, float* out) noexcept { dequantize(b, out); }
  static void quantize(float const* x, q5_0* b) noexcept {
    std::uint8_t q[32];
    detail::quantize_symmetric(x, 16, b->d, q);
    detail::pack_q5(q, b->qs, b->qh);
  }
};

// q4_1 and q5_1 (llama-quantize's fallbacks for q4_K / q5_K rows that are not whole 256-blocks):
// dequantize and quantize as the gguf package does, x = d q + m (the product rounded first).
template <>
struct traits<q4_1> {
  using storage = q4_1;
  static constexpr int block_elems = 32, block_bytes = 20;
  static constexpr bool is_scalar = false;
  static constexpr char const* name = detail::q4_1_name;
  static void dequantize(q4_1 const* b, float* out) noexcept {
    float const d = b->d.to_float(), m = b->m.to_float();
    for (int i = 0; i < 16; ++i) {
      out[i] = ::switchyard::detail::round_here(d * static_cast<float>(b->qs[i] & 0x0F)) + m;
      out[i + 16] = ::switchyard::detail::round_here(d * static_cast<float>(b->qs[i] >> 4)) + m;
    }
  }
  static void decode(q4_1 const* b, float* out) noexcept { dequantize(b, out); }
  static void quantize(float const* x, q4_1* b) noexcept {
    std::uint8_t q[32];
    detail::quantize_affine(x, 15, b->d, b->m, q);
    for (int i = 0; i < 16; ++i) b->qs[i] = static_cast<std::uint8_t>(q[i] | (q[i + 16] << 4));
  }
};

template <>
struct traits<q5_1> {
  using storage = q5_1;
  static constexpr int block_elems = 32, block_bytes = 24;
  static constexpr bool is_scalar = false;
  static constexpr char const* name = detail::q5_1_name;
  static void dequantize(q5_1 const* b, float* out) noexcept {
    float const d = b->d.to_float(), m = b->m.to_float();
    for (int e = 0; e < 32; ++e)
      out[e] = ::switchyard::detail::round_here(d * static_cast<float>(detail::q5_code(b->qs, b->qh, e))) + m;
  }
  static void decode(q5_1 const* b, float* out) noexcept { dequantize(b, out); }
  static void quantize(float const* x, q5_1* b) noexcept {
    std::uint8_t q[32];
    detail::quantize_affine(x, 31, b->d, b->m, q);
    detail::pack_q5(q, b->qs, b->qh);
  }
};

// q5_K: q4_K with a fifth bit per code (qh). dequantize: the gguf package's rounding steps, as
// q4_K's; quantize: q4_K's fit with codes 0..31.
template <>
struct traits<q5_K> {
  using storage = q5_K;
  static constexpr int block_elems = 256, block_bytes = 176;
  static constexpr bool is_scalar = false;
  static constexpr char const* name = detail::q5_K_name;
  static void dequantize(q5_K const* b, float* out) noexcept {
    detail::dequantize_k_subblocks(b->d, b->dmin, b->scales, b->qs, b->qh, out);
  }
  // The kernels' decode (vectorizable; see q4_K::decode).
  static void decode(q5_K const* b, float* out) noexcept {
    float const d = b->d.to_float(), dmin = b->dmin.to_float();
    for (int p = 0; p < 4; ++p) {
      std::uint8_t sc0, m0, sc1, m1;
      detail::q4_K_scale_min(b->scales, 2 * p, sc0, m0);
      detail::q4_K_scale_min(b->scales, 2 * p + 1, sc1, m1);
      float const a0 = d * sc0, c0 = dmin * m0, a1 = d * sc1, c1 = dmin * m1;
      std::uint8_t const* q = b->qs + 32 * p;
      int const s0 = 2 * p, s1 = 2 * p + 1;
      float* o = out + 64 * p;
      for (int i = 0; i < 32; ++i) {
        int const lo = (q[i] & 0x0F) | (((b->qh[i] >> s0) & 1) << 4);
        int const hi = (q[i] >> 4) | (((b->qh[i] >> s1) & 1) << 4);
        o[i] = a0 * static_cast<float>(lo) - c0;
        o[32 + i] = a1 * static_cast<float>(hi) - c1;
      }
    }
  }
  static void quantize(float const* x, q5_K* b) noexcept {
    int codes[256];
    detail::quantize_k_subblocks(x, 31, b->d, b->dmin, b->scales, codes);
    detail::pack_k_codes(codes, b->qs, b->qh);
  }
};

}  // namespace format
SWITCHYARD_NAMESPACE_END
