#pragma once
// Weight formats as the CUDA kernels read them: device_format<W>::decode8 turns eight
// consecutive weights of a row (starting at element k0, a multiple of 8) into floats in
// registers. The packed bytes are read straight from global memory; nothing is dequantized into
// a copy (the Marlin idea, without its reordered layout: the kernels take the host's layout, so
// one weight file serves both backends). Values equal the host's dequantize() bit for bit (same
// f32 operations: scale * (code - zero)).
//
//   format            row layout                              reads per 8 weights
//   f32               8 x 32 bit                              two 16-byte loads
//   bf16, f16         8 x 16 bit                              one 16-byte load
//   fp8 e4m3 / e5m2   8 x 8 bit                               one 8-byte load
//   int8 codes        8 x 8 bit                               one 8-byte load
//   q8_0              34-byte blocks of 32: f16 d, int8 q[32]  d + four 2-byte loads
//   q4_0              18-byte blocks of 32: f16 d, qs[16]      d + four 2-byte loads (nibbles)
//   int4_group<G, A>  4 + G/2 bytes: f16 s, u8 z, pad, qs     s, z + four 2-byte loads
//   sparse24<E>       36-byte blocks of 32: E v[16], u32 pos   two 4-byte loads (4 values) + pos
//
// The blocks of q8_0, q4_0 and int4 groups are only 2-byte aligned (ggml's packing), hence the
// 2-byte loads; sparse24 blocks (36 bytes) are 4-byte aligned, hence 4-byte loads. A format
// without a specialization here is refused at compile time by check_device_format<W>().
#include <cstdint>

#include <cuda_fp16.h>

#include "switchyard/core/format/bf16.hpp"
#include "switchyard/core/format/f16.hpp"
#include "switchyard/core/format/fp8.hpp"
#include "switchyard/core/format/gguf.hpp"
#include "switchyard/core/format/int4.hpp"
#include "switchyard/core/format/sparse24.hpp"
#include "switchyard/core/format/traits.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace kernels {

template <class W>
struct device_format {
  static constexpr bool supported = false;
};

namespace detail {
__device__ __forceinline__ float bf16_bits_to_float(std::uint32_t bits16) { return __uint_as_float(bits16 << 16); }
__device__ __forceinline__ float f16_bits_to_float(std::uint16_t bits) {
  return __half2float(__ushort_as_half(bits));
}
// Eight 4-bit codes: the low (hi == false) or high nibbles of bytes qs[0..8), qs 2-byte aligned.
__device__ __forceinline__ void nibbles8(std::uint8_t const* qs, bool hi, float zero, float scale, float (&out)[8]) {
  auto const* p = reinterpret_cast<std::uint16_t const*>(qs);
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    std::uint32_t const two = p[i];
    std::uint32_t const a = hi ? (two >> 4) & 0x0F : two & 0x0F;
    std::uint32_t const b = hi ? (two >> 12) & 0x0F : (two >> 8) & 0x0F;
    out[2 * i] = scale * (static_cast<float>(a) - zero);
    out[2 * i + 1] = scale * (static_cast<float>(b) - zero);
  }
}
}  // namespace detail

// f32 weights (the host's weight_store keeps some matrices in f32: MLA's kv_b, router gates): the
// value is the stored float; the dense layers (linear/) read them like any other format.
template <>
struct device_format<float> {
  static constexpr bool supported = true;
  static constexpr int block_elems = 1;
  static constexpr int row_align = 8;
  __device__ __forceinline__ static void decode8(float const* row, int k0, float (&out)[8]) {
    float4 const lo = *reinterpret_cast<float4 const*>(row + k0);
    float4 const hi = *reinterpret_cast<float4 const*>(row + k0 + 4);
    out[0] = lo.x, out[1] = lo.y, out[2] = lo.z, out[3] = lo.w;
    out[4] = hi.x, out[5] = hi.y, out[6] = hi.z, out[7] = hi.w;
  }
};

template <>
struct device_format<format::bf16> {
  static constexpr bool supported = true;
  static constexpr int block_elems = 1;
  static constexpr int row_align = 8;  // elements per row must be a multiple (16-byte loads)
  __device__ __forceinline__ static void decode8(format::bf16 const* row, int k0, float (&out)[8]) {
    uint4 const v = *reinterpret_cast<uint4 const*>(row + k0);
    std::uint32_t const w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      out[2 * i] = detail::bf16_bits_to_float(w[i] & 0xFFFFu);
      out[2 * i + 1] = detail::bf16_bits_to_float(w[i] >> 16);
    }
  }
};

template <>
struct device_format<format::f16> {
  static constexpr bool supported = true;
  static constexpr int block_elems = 1;
  static constexpr int row_align = 8;
  __device__ __forceinline__ static void decode8(format::f16 const* row, int k0, float (&out)[8]) {
    uint4 const v = *reinterpret_cast<uint4 const*>(row + k0);
    std::uint32_t const w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      out[2 * i] = detail::f16_bits_to_float(static_cast<std::uint16_t>(w[i] & 0xFFFFu));
      out[2 * i + 1] = detail::f16_bits_to_float(static_cast<std::uint16_t>(w[i] >> 16));
    }
  }
};

// fp8: widened by the format's own exact bit manipulation (the host's to_float), so results equal
// the host's. Unscaled like the host's glu_experts<e4m3>, or with per-channel scales applied in
// the epilogues (moe_weights::*_scales), as for int8 codes.
template <class Fp8>
struct device_fp8_format {
  static constexpr bool supported = true;
  static constexpr int block_elems = 1;
  static constexpr int row_align = 8;
  __device__ __forceinline__ static void decode8(Fp8 const* row, int k0, float (&out)[8]) {
    uint2 const v = *reinterpret_cast<uint2 const*>(row + k0);
    std::uint32_t const w[2] = {v.x, v.y};
#pragma unroll
    for (int i = 0; i < 8; ++i)
      out[i] = Fp8::from_bits(static_cast<std::uint8_t>(w[i / 4] >> (8 * (i % 4)))).to_float();
  }
};
template <>
struct device_format<format::e4m3> : device_fp8_format<format::e4m3> {};
template <>
struct device_format<format::e5m2> : device_fp8_format<format::e5m2> {};

// int8 codes (W8A16): the value is the code; the per-channel scale is applied by the kernels'
// epilogues (moe_weights::*_scales), once per output rather than once per weight.
template <>
struct device_format<std::int8_t> {
  static constexpr bool supported = true;
  static constexpr int block_elems = 1;
  static constexpr int row_align = 8;
  __device__ __forceinline__ static void decode8(std::int8_t const* row, int k0, float (&out)[8]) {
    uint2 const v = *reinterpret_cast<uint2 const*>(row + k0);
    std::uint32_t const w[2] = {v.x, v.y};
#pragma unroll
    for (int i = 0; i < 8; ++i) out[i] = static_cast<float>(static_cast<std::int8_t>(w[i / 4] >> (8 * (i % 4))));
  }
};

template <>
struct device_format<format::q8_0> {
  static constexpr bool supported = true;
  static constexpr int block_elems = 32;
  static constexpr int row_align = 32;
  __device__ __forceinline__ static void decode8(format::q8_0 const* row, int k0, float (&out)[8]) {
    format::q8_0 const* b = row + k0 / 32;
    float const d = detail::f16_bits_to_float(b->d.bits);
    auto const* p = reinterpret_cast<std::uint16_t const*>(b->q + k0 % 32);
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      std::uint32_t const two = p[i];
      out[2 * i] = d * static_cast<float>(static_cast<std::int8_t>(two & 0xFFu));
      out[2 * i + 1] = d * static_cast<float>(static_cast<std::int8_t>(two >> 8));
    }
  }
};

template <>
struct device_format<format::q4_0> {
  static constexpr bool supported = true;
  static constexpr int block_elems = 32;
  static constexpr int row_align = 32;
  __device__ __forceinline__ static void decode8(format::q4_0 const* row, int k0, float (&out)[8]) {
    format::q4_0 const* b = row + k0 / 32;
    int const i = k0 % 32;
    detail::nibbles8(b->qs + i % 16, i >= 16, 8.0f, detail::f16_bits_to_float(b->d.bits), out);
  }
};

template <int G, bool A>
struct device_format<format::int4_group<G, A>> {
  static_assert(G % 16 == 0, "switchyard::kernels: int4 groups on the device need G a multiple of 16");
  static constexpr bool supported = true;
  static constexpr int block_elems = G;
  static constexpr int row_align = G;
  __device__ __forceinline__ static void decode8(format::int4_group<G, A> const* row, int k0, float (&out)[8]) {
    format::int4_group<G, A> const* b = row + k0 / G;
    int const i = k0 % G;
    float const zero = A ? static_cast<float>(b->z) : 8.0f;
    detail::nibbles8(b->qs + i % (G / 2), i >= G / 2, zero, detail::f16_bits_to_float(b->s.bits), out);
  }
};

// 2:4 sparse blocks (core/format/sparse24.hpp): eight weights are two groups of four, i.e. four
// kept values (v[2g .. 2g + 3] for the first group g = (k0 % 32) / 4) and one byte of pos (two
// nibbles, each the two positions of its group's values, lower first). Every weight of the two
// groups is written by a select over constant indices, so `out` stays in registers (a store to
// out[position] would index the array at run time and put it in local memory). The tensor-core
// path for these weights does not decode at all (expert/grouped_mma_sparse24.cuh); this is the
// GEMV's and mma_bf16's reader, the device's correctness baseline for the format.
template <class E>
  requires(std::is_same_v<E, format::bf16> || std::is_same_v<E, format::f16>)
struct device_format<format::sparse24<E>> {
  static constexpr bool supported = true;
  static constexpr int block_elems = 32;
  static constexpr int row_align = 32;
  __device__ __forceinline__ static float value(std::uint32_t bits16) {
    if constexpr (std::is_same_v<E, format::bf16>) return detail::bf16_bits_to_float(bits16);
    else return detail::f16_bits_to_float(static_cast<std::uint16_t>(bits16));
  }
  __device__ __forceinline__ static void decode8(format::sparse24<E> const* row, int k0, float (&out)[8]) {
    format::sparse24<E> const* b = row + k0 / 32;
    int const g0 = (k0 % 32) / 4;  // 0, 2, 4 or 6
    auto const* words = reinterpret_cast<std::uint32_t const*>(b->v);
    std::uint32_t const w[2] = {words[g0], words[g0 + 1]};  // v[2 g0], v[2 g0 + 1] | v[2 g0 + 2], v[2 g0 + 3]
    std::uint32_t const pos = b->pos >> (4 * g0);
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      std::uint32_t const lo = (pos >> (4 * h)) & 3, hi = (pos >> (4 * h + 2)) & 3;
      float const v_lo = value(w[h] & 0xFFFFu), v_hi = value(w[h] >> 16);
#pragma unroll
      for (std::uint32_t q = 0; q < 4; ++q) out[4 * h + q] = q == lo ? v_lo : q == hi ? v_hi : 0.0f;
    }
  }
};

// One static_assert per requirement, with a message (nvcc does not explain concept failures).
template <class W>
consteval bool check_device_format() {
  static_assert(device_format<W>::supported,
                "switchyard::kernels: no device decoder for this weight format; specialize "
                "switchyard::kernels::device_format (kernels/switchyard/kernels/common/device_format.cuh)");
  return true;
}

}  // namespace kernels
SWITCHYARD_NAMESPACE_END
