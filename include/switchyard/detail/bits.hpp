#pragma once
// Bit-level helpers usable in constant expressions and in CUDA device code.
// std::bit_cast is not __device__ under nvcc; __builtin_bit_cast is what it and
// cuda::std::bit_cast are built on, and g++, clang and nvcc all accept it in constexpr code.
#include <cstdint>

#include "switchyard/config.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace detail {

template <class To, class From>
SWITCHYARD_HOST_DEVICE constexpr To bit_cast(From const& from) noexcept {
  static_assert(sizeof(To) == sizeof(From), "switchyard::detail::bit_cast: sizes differ");
  return __builtin_bit_cast(To, from);
}

SWITCHYARD_HOST_DEVICE constexpr std::uint32_t float_bits(float f) noexcept {
  return bit_cast<std::uint32_t>(f);
}
SWITCHYARD_HOST_DEVICE constexpr float float_from_bits(std::uint32_t u) noexcept {
  return bit_cast<float>(u);
}

// Index of the highest set bit of a non-zero value (0 for 1).
SWITCHYARD_HOST_DEVICE constexpr int highest_bit(std::uint32_t v) noexcept {
  int p = 0;
  while (v >>= 1) ++p;
  return p;
}

// Shifts `v` right by `s` (s >= 1) and rounds the dropped bits to nearest, ties to even.
SWITCHYARD_HOST_DEVICE constexpr std::uint32_t shift_right_rne(std::uint32_t v, int s) noexcept {
  if (s >= 32) return 0;  // v < 2^32 <= half of 2^s's unit: rounds to 0
  std::uint32_t const kept = v >> s;
  std::uint32_t const rest = v & ((std::uint32_t{1} << s) - 1u);
  std::uint32_t const half = std::uint32_t{1} << (s - 1);
  return kept + ((rest > half || (rest == half && (kept & 1u))) ? 1u : 0u);
}

}  // namespace detail
SWITCHYARD_NAMESPACE_END
