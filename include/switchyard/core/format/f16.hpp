#pragma once
// IEEE 754 binary16 (1 sign, 5 exponent, 10 mantissa bits, bias 15).
// f32 -> f16 rounds to nearest even with subnormals, overflows to infinity at 65520 and keeps
// NaN a quiet NaN with its sign and top payload bits (as F16C's vcvtps2ph and PyTorch do).
#include <cstdint>

#include "switchyard/core/format/minifloat.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace format {

struct f16 {
  std::uint16_t bits = 0;

  static constexpr char const* name = "f16";

  f16() = default;
  SWITCHYARD_HOST_DEVICE constexpr explicit f16(float f) noexcept : bits(from_float_bits(f)) {}
  SWITCHYARD_HOST_DEVICE static constexpr f16 from_bits(std::uint16_t b) noexcept {
    f16 r;
    r.bits = b;
    return r;
  }
  SWITCHYARD_HOST_DEVICE constexpr explicit operator float() const noexcept { return to_float(); }
  SWITCHYARD_HOST_DEVICE constexpr float to_float() const noexcept {
    std::uint32_t const sign = static_cast<std::uint32_t>(bits & 0x8000u) << 16;
    std::uint32_t const magnitude = bits & 0x7FFFu;
    if (magnitude >= 0x7C00u)  // inf or NaN: the payload moves to the top of the f32 mantissa
      return ::switchyard::detail::float_from_bits(sign | 0x7F800000u | ((magnitude & 0x3FFu) << 13));
    return ::switchyard::detail::float_from_bits(sign | detail::widen_magnitude<5, 10>(magnitude));
  }
  SWITCHYARD_HOST_DEVICE static constexpr std::uint16_t from_float_bits(float f) noexcept {
    std::uint32_t const u = ::switchyard::detail::float_bits(f);
    std::uint32_t const sign = (u >> 16) & 0x8000u;
    std::uint32_t const a = u & 0x7FFFFFFFu;
    if (a > 0x7F800000u) return static_cast<std::uint16_t>(sign | 0x7E00u | ((a >> 13) & 0x3FFu));
    std::uint32_t const code = detail::round_magnitude<5, 10>(a);
    return static_cast<std::uint16_t>(sign | (code >= 0x7C00u ? 0x7C00u : code));
  }
  friend SWITCHYARD_HOST_DEVICE constexpr bool operator==(f16 a, f16 b) noexcept {
    return a.bits == b.bits;
  }
};

static_assert(sizeof(f16) == 2);

}  // namespace format
SWITCHYARD_NAMESPACE_END
