#pragma once
// bfloat16: the top 16 bits of an IEEE f32 (1 sign, 8 exponent, 7 mantissa bits).
// f32 -> bf16 rounds to nearest even (as PyTorch does) and overflows to infinity; every NaN stays
// a quiet NaN with its sign. bf16 -> f32 is exact.
#include <cstdint>

#include "switchyard/detail/bits.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace format {

struct bf16 {
  std::uint16_t bits = 0;

  static constexpr char const* name = "bf16";

  bf16() = default;
  SWITCHYARD_HOST_DEVICE constexpr explicit bf16(float f) noexcept : bits(from_float_bits(f)) {}
  SWITCHYARD_HOST_DEVICE static constexpr bf16 from_bits(std::uint16_t b) noexcept {
    bf16 r;
    r.bits = b;
    return r;
  }
  SWITCHYARD_HOST_DEVICE constexpr explicit operator float() const noexcept { return to_float(); }
  SWITCHYARD_HOST_DEVICE constexpr float to_float() const noexcept {
    return ::switchyard::detail::float_from_bits(static_cast<std::uint32_t>(bits) << 16);
  }
  SWITCHYARD_HOST_DEVICE static constexpr std::uint16_t from_float_bits(float f) noexcept {
    std::uint32_t const u = ::switchyard::detail::float_bits(f);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<std::uint16_t>((u >> 16) | 0x0040u);
    // Adding 0x7FFF plus the lowest kept bit rounds the dropped half-word to nearest even; the
    // encoding is monotonic, so this also rounds subnormals and carries into inf correctly.
    std::uint32_t const rounded = u + 0x7FFFu + ((u >> 16) & 1u);
    return static_cast<std::uint16_t>(rounded >> 16);
  }
  friend SWITCHYARD_HOST_DEVICE constexpr bool operator==(bf16 a, bf16 b) noexcept {
    return a.bits == b.bits;  // bitwise identity, not IEEE equality
  }
};

static_assert(sizeof(bf16) == 2);

}  // namespace format
SWITCHYARD_NAMESPACE_END
