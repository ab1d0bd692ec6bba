#pragma once
// What makes a type a weight/activation format: traits with the block shape and a pair of
// block (de)quantizers. Scalar formats (f32, bf16, f16, fp8) are blocks of one element; the
// block-quantized formats of later issues (int4 per group, GGUF q4_K, ...) specialize the same
// traits with larger blocks, so every kernel can be written against one contract.
#include <cstdint>
#include <type_traits>

#include "switchyard/core/format/bf16.hpp"
#include "switchyard/core/format/f16.hpp"
#include "switchyard/core/format/fp8.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace format {

// The 32-bit IEEE float, named like the other formats.
using f32 = float;

// Specialize for each format. Left undefined so that `format<F>` is false (rather than a hard
// error) for a type that has none; check_format<F>() then says which member is missing.
template <class F>
struct traits;

// Traits shared by all one-element formats. `storage` is what a block is made of in memory.
template <class Scalar, char const* Name>
struct scalar_traits {
  using storage = Scalar;
  static constexpr int block_elems = 1;
  static constexpr int block_bytes = sizeof(Scalar);
  static constexpr bool is_scalar = true;
  static constexpr char const* name = Name;

  SWITCHYARD_HOST_DEVICE static constexpr float to_float(Scalar v) noexcept {
    if constexpr (std::is_same_v<Scalar, float>) return v;
    else if constexpr (std::is_same_v<Scalar, std::int8_t>) return static_cast<float>(v);
    else return v.to_float();
  }
  SWITCHYARD_HOST_DEVICE static constexpr Scalar from_float(float v) noexcept {
    if constexpr (std::is_same_v<Scalar, float>) {
      return v;
    } else if constexpr (std::is_same_v<Scalar, std::int8_t>) {
      // Round half away from zero, saturate to the symmetric range -127..127 (NaN -> 0).
      float const r = v >= 0.0f ? v + 0.5f : v - 0.5f;
      return static_cast<std::int8_t>(!(r == r) ? 0.0f : (r > 127.0f ? 127.0f : (r < -127.0f ? -127.0f : r)));
    } else {
      return Scalar(v);
    }
  }
  // Block (de)quantization: the contract every format fulfils.
  SWITCHYARD_HOST_DEVICE static constexpr void dequantize(Scalar const* block, float* out) noexcept {
    out[0] = to_float(block[0]);
  }
  SWITCHYARD_HOST_DEVICE static constexpr void quantize(float const* in, Scalar* block) noexcept {
    block[0] = from_float(in[0]);
  }
};

namespace detail {
inline constexpr char f32_name[] = "f32";
inline constexpr char bf16_name[] = "bf16";
inline constexpr char f16_name[] = "f16";
inline constexpr char e4m3_name[] = "fp8_e4m3";
inline constexpr char e5m2_name[] = "fp8_e5m2";
inline constexpr char int8_name[] = "int8";
}  // namespace detail

template <> struct traits<float> : scalar_traits<float, detail::f32_name> {};
template <> struct traits<bf16> : scalar_traits<bf16, detail::bf16_name> {};
template <> struct traits<f16> : scalar_traits<f16, detail::f16_name> {};
template <> struct traits<e4m3> : scalar_traits<e4m3, detail::e4m3_name> {};
template <> struct traits<e5m2> : scalar_traits<e5m2, detail::e5m2_name> {};
// int8 codes: the storage of per-channel / per-tensor scaled weights (linear/scaled_linear.hpp)
// and of int8 KV caches; the value is the code, the scale lives beside it.
template <> struct traits<std::int8_t> : scalar_traits<std::int8_t, detail::int8_name> {};

// Element-wise conversion of a scalar format to f32, for generic code.
template <class Scalar>
SWITCHYARD_HOST_DEVICE constexpr float to_float(Scalar v) noexcept {
  return traits<Scalar>::to_float(v);
}

}  // namespace format
SWITCHYARD_NAMESPACE_END
