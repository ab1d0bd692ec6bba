#pragma once
// int4 per group of G consecutive weights (G = 32, 64, 128: AWQ / GPTQ-style checkpoints), two
// codes per byte, element i in the low nibble of qs[i] and element i + G/2 in the high nibble:
//   symmetric   int4_group<G, false>: f16 s,       x = s (q - 8)
//   asymmetric  int4_group<G, true>:  f16 s, u8 z, x = s (q - z)   (z: the group's zero point, 0..15)
// quantize() is round-to-nearest: symmetric maps the largest |x| to +-7 (so 8 codes each side
// minus one, q4_0 keeps -8 for the extreme; here -8 stays unused and the range is symmetric),
// asymmetric spreads [min, max] (0 always inside) over 0..15.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "switchyard/core/format/f16.hpp"
#include "switchyard/core/format/traits.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace format {

template <int G, bool Asymmetric>
struct int4_group {
  static_assert(G >= 2 && G % 2 == 0 && G <= 1024, "int4 groups hold an even number of weights");
  static constexpr int elems = G;
  static constexpr bool asymmetric = Asymmetric;
  f16 s;
  std::uint8_t z;  // zero point (asymmetric); 8 for symmetric groups
  std::uint8_t pad = 0;
  std::uint8_t qs[G / 2];
};

template <int G>
using int4_sym = int4_group<G, false>;
template <int G>
using int4_asym = int4_group<G, true>;

namespace detail {
inline constexpr char int4_sym_name[] = "int4_sym";
inline constexpr char int4_asym_name[] = "int4_asym";
}  // namespace detail

template <int G, bool A>
struct traits<int4_group<G, A>> {
  using storage = int4_group<G, A>;
  static constexpr int block_elems = G, block_bytes = static_cast<int>(sizeof(storage));
  static constexpr bool is_scalar = false;
  static constexpr char const* name = A ? detail::int4_asym_name : detail::int4_sym_name;
  static void dequantize(storage const* b, float* out) noexcept {
    float const s = b->s.to_float();
    int const z = A ? b->z : 8;
    for (int i = 0; i < G / 2; ++i) {
      out[i] = s * static_cast<float>((b->qs[i] & 0x0F) - z);
      out[i + G / 2] = s * static_cast<float>((b->qs[i] >> 4) - z);
    }
  }
  static void decode(storage const* b, float* out) noexcept { dequantize(b, out); }
  static void quantize(float const* x, storage* b) noexcept {
    int q[G];
    float s;
    int z;
    if constexpr (A) {
      float lo = 0.0f, hi = 0.0f;
      for (int i = 0; i < G; ++i) lo = std::min(lo, x[i]), hi = std::max(hi, x[i]);
      s = (hi - lo) / 15.0f;
      b->s = f16(s);
      s = b->s.to_float();  // codes against the scale actually stored
      z = s > 0.0f ? std::clamp(static_cast<int>(std::nearbyint(-lo / s)), 0, 15) : 8;
    } else {
      float amax = 0.0f;
      for (int i = 0; i < G; ++i) amax = std::max(amax, std::fabs(x[i]));
      b->s = f16(amax / 7.0f);
      s = b->s.to_float();
      z = 8;
    }
    for (int i = 0; i < G; ++i) q[i] = s > 0.0f ? std::clamp(static_cast<int>(std::nearbyint(x[i] / s)) + z, 0, 15) : z;
    b->z = static_cast<std::uint8_t>(z);
    b->pad = 0;
    for (int i = 0; i < G / 2; ++i) b->qs[i] = static_cast<std::uint8_t>(q[i] | (q[i + G / 2] << 4));
  }
};

}  // namespace format
SWITCHYARD_NAMESPACE_END
