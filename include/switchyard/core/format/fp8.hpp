#pragma once
// The two OCP FP8 formats (OCP 8-bit Floating Point Specification v1.0, used by NVIDIA Hopper and
// PyTorch's float8_e4m3fn / float8_e5m2):
//   e4m3 ("fn"): bias 7, no infinities, NaN = S.1111.111, largest finite 448, least subnormal 2^-9.
//   e5m2:        bias 15, IEEE-like with infinities, largest finite 57344, least subnormal 2^-16.
// f32 -> fp8 rounds to nearest even and follows PyTorch's tensor cast (checked on torch 2.15
// against every rounding case, tests/host/test_formats.cpp):
//   e4m3: saturates: anything that rounds above 448, and +-inf, become +-448; NaN -> NaN;
//   e5m2: overflows: anything that rounds above 57344 becomes +-inf; NaN -> NaN.
// (Older torch scalar code turned e4m3 overflow into NaN; the tensor cast no longer does.)
// saturate() clamps for both formats, which is what quantizers want for e5m2 too.
#include <cstdint>

#include "switchyard/core/format/minifloat.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace format {

struct e4m3 {
  std::uint8_t bits = 0;

  static constexpr char const* name = "fp8_e4m3";
  static constexpr float max_finite = 448.0f;

  e4m3() = default;
  SWITCHYARD_HOST_DEVICE constexpr explicit e4m3(float f) noexcept : bits(from_float_bits(f)) {}
  SWITCHYARD_HOST_DEVICE static constexpr e4m3 from_bits(std::uint8_t b) noexcept {
    e4m3 r;
    r.bits = b;
    return r;
  }
  // The conversion already saturates; named for symmetry with e5m2::saturate.
  SWITCHYARD_HOST_DEVICE static constexpr e4m3 saturate(float f) noexcept { return e4m3(f); }
  SWITCHYARD_HOST_DEVICE constexpr explicit operator float() const noexcept { return to_float(); }
  SWITCHYARD_HOST_DEVICE constexpr float to_float() const noexcept {
    std::uint32_t const sign = static_cast<std::uint32_t>(bits & 0x80u) << 24;
    std::uint32_t const magnitude = bits & 0x7Fu;
    if (magnitude == 0x7Fu) return ::switchyard::detail::float_from_bits(sign | 0x7FC00000u);
    return ::switchyard::detail::float_from_bits(sign | detail::widen_magnitude<4, 3>(magnitude));
  }
  SWITCHYARD_HOST_DEVICE static constexpr std::uint8_t from_float_bits(float f) noexcept {
    std::uint32_t const u = ::switchyard::detail::float_bits(f);
    std::uint32_t const sign = (u >> 24) & 0x80u;
    std::uint32_t const a = u & 0x7FFFFFFFu;
    if (a > 0x7F800000u) return static_cast<std::uint8_t>(sign | 0x7Fu);
    std::uint32_t const code = detail::round_magnitude<4, 3>(a);  // inf gives a code past 0x7E
    return static_cast<std::uint8_t>(sign | (code > 0x7Eu ? 0x7Eu : code));
  }
  friend SWITCHYARD_HOST_DEVICE constexpr bool operator==(e4m3 a, e4m3 b) noexcept {
    return a.bits == b.bits;
  }
};

struct e5m2 {
  std::uint8_t bits = 0;

  static constexpr char const* name = "fp8_e5m2";
  static constexpr float max_finite = 57344.0f;

  e5m2() = default;
  SWITCHYARD_HOST_DEVICE constexpr explicit e5m2(float f) noexcept : bits(from_float_bits(f)) {}
  SWITCHYARD_HOST_DEVICE static constexpr e5m2 from_bits(std::uint8_t b) noexcept {
    e5m2 r;
    r.bits = b;
    return r;
  }
  // Clamps finite values and infinities to +-57344 before rounding; NaN stays NaN.
  SWITCHYARD_HOST_DEVICE static constexpr e5m2 saturate(float f) noexcept {
    std::uint32_t const u = ::switchyard::detail::float_bits(f);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) return from_bits(static_cast<std::uint8_t>(((u >> 24) & 0x80u) | 0x7Fu));
    return e5m2(f > max_finite ? max_finite : (f < -max_finite ? -max_finite : f));
  }
  SWITCHYARD_HOST_DEVICE constexpr explicit operator float() const noexcept { return to_float(); }
  SWITCHYARD_HOST_DEVICE constexpr float to_float() const noexcept {
    std::uint32_t const sign = static_cast<std::uint32_t>(bits & 0x80u) << 24;
    std::uint32_t const magnitude = bits & 0x7Fu;
    if (magnitude >= 0x7Cu)  // inf (0x7C) or NaN (0x7D..0x7F), payload kept
      return ::switchyard::detail::float_from_bits(sign | 0x7F800000u | ((magnitude & 0x3u) << 21));
    return ::switchyard::detail::float_from_bits(sign | detail::widen_magnitude<5, 2>(magnitude));
  }
  SWITCHYARD_HOST_DEVICE static constexpr std::uint8_t from_float_bits(float f) noexcept {
    std::uint32_t const u = ::switchyard::detail::float_bits(f);
    std::uint32_t const sign = (u >> 24) & 0x80u;
    std::uint32_t const a = u & 0x7FFFFFFFu;
    if (a > 0x7F800000u) return static_cast<std::uint8_t>(sign | 0x7Fu);
    std::uint32_t const code = detail::round_magnitude<5, 2>(a);
    return static_cast<std::uint8_t>(sign | (code >= 0x7Cu ? 0x7Cu : code));
  }
  friend SWITCHYARD_HOST_DEVICE constexpr bool operator==(e5m2 a, e5m2 b) noexcept {
    return a.bits == b.bits;
  }
};

static_assert(sizeof(e4m3) == 1 && sizeof(e5m2) == 1);

}  // namespace format
SWITCHYARD_NAMESPACE_END
