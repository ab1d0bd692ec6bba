#pragma once
// Shared arithmetic of the narrow IEEE-like float formats (f16, fp8 e4m3 and e5m2):
// rounding an f32 magnitude to a format with E exponent and M mantissa bits, and widening
// such a code back to f32. Special values (NaN, infinity, overflow) differ per format and are
// handled by each format's own file; this file does only the part they share.
#include <cstdint>

#include "switchyard/detail/bits.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace format::detail {

// Rounds |x| (its f32 bits `a`, sign cleared, not NaN) to nearest-even in a format with E
// exponent bits, M mantissa bits and bias 2^(E-1)-1, with subnormals and an exponent field that
// is allowed to run past the format's top (callers map such codes to inf or NaN).
// Returns 0xFFFFFFFF for an infinite input: larger than any code, so it overflows everywhere.
template <int E, int M>
SWITCHYARD_HOST_DEVICE constexpr std::uint32_t round_magnitude(std::uint32_t a) noexcept {
  static_assert(E >= 2 && E <= 8 && M >= 1 && M <= 22, "unsupported minifloat shape");
  constexpr int bias = (1 << (E - 1)) - 1;
  int const f32_exponent = static_cast<int>(a >> 23);
  if (f32_exponent == 255) return 0xFFFFFFFFu;
  if (f32_exponent == 0) return 0;  // f32 subnormal: below half of every target's least subnormal
  std::uint32_t const mantissa = a & 0x7FFFFFu;
  int const target_exponent = f32_exponent - 127 + bias;
  if (target_exponent >= 1) {
    // Normal in the target: keep M mantissa bits; a carry out of the mantissa correctly
    // increments the exponent field, since the code is (exponent << M) | mantissa.
    std::uint32_t const code =
        (static_cast<std::uint32_t>(target_exponent) << M) | (mantissa >> (23 - M));
    std::uint32_t const rest = mantissa & ((1u << (23 - M)) - 1u);
    std::uint32_t const half = 1u << (22 - M);
    return code + ((rest > half || (rest == half && (code & 1u))) ? 1u : 0u);
  }
  // Subnormal in the target: the code counts units of 2^(1 - bias - M). The 24-bit significand
  // is worth 2^(target_exponent - 24 + M) such units.
  std::uint32_t const significand = mantissa | 0x800000u;
  return ::switchyard::detail::shift_right_rne(significand, 24 - M - target_exponent);
}

// Widens a finite, non-negative code of an (E, M) format to f32 bits; exact.
template <int E, int M>
SWITCHYARD_HOST_DEVICE constexpr std::uint32_t widen_magnitude(std::uint32_t code) noexcept {
  constexpr int bias = (1 << (E - 1)) - 1;
  std::uint32_t const exponent = code >> M;
  std::uint32_t const mantissa = code & ((1u << M) - 1u);
  if (exponent == 0) {
    if (mantissa == 0) return 0;
    // Subnormal: mantissa * 2^(1 - bias - M); normalize around its highest bit p.
    int const p = ::switchyard::detail::highest_bit(mantissa);
    std::uint32_t const f32_exponent = static_cast<std::uint32_t>(p + 1 - bias - M + 127);
    return (f32_exponent << 23) | ((mantissa << (23 - p)) & 0x7FFFFFu);
  }
  return ((exponent - bias + 127) << 23) | (mantissa << (23 - M));
}

}  // namespace format::detail
SWITCHYARD_NAMESPACE_END
