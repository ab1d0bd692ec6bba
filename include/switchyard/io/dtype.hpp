#pragma once
// The element types a checkpoint tensor can hold, shared by the safetensors and GGUF readers, with
// the arithmetic every reader must do safely: bytes of a shape, with overflow checks.
#include <cstdint>
#include <limits>
#include <span>
#include <string_view>

#include "switchyard/config.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace io {

enum class dtype : std::uint8_t {
  f64, f32, f16, bf16, e4m3, e5m2,  // floating point
  i64, i32, i16, i8, u8, boolean,   // integers
  q8_0, q4_0, q4_K, q6_K,           // GGUF blocks (block_elems > 1)
  q5_0, q5_K, q4_1, q5_1,           // GGUF blocks of llama-quantize's mixes
  q2_K, q3_K, iq4_nl, iq4_xs,
  mxfp4,                            // GGUF block (ggml type 39); gpt-oss's experts
};

struct dtype_info {
  std::string_view name;  // switchyard's lower-case name
  std::int64_t block_elems;
  std::int64_t block_bytes;
};

constexpr dtype_info info(dtype t) noexcept {
  switch (t) {
    case dtype::f64: return {"f64", 1, 8};
    case dtype::f32: return {"f32", 1, 4};
    case dtype::f16: return {"f16", 1, 2};
    case dtype::bf16: return {"bf16", 1, 2};
    case dtype::e4m3: return {"fp8_e4m3", 1, 1};
    case dtype::e5m2: return {"fp8_e5m2", 1, 1};
    case dtype::i64: return {"i64", 1, 8};
    case dtype::i32: return {"i32", 1, 4};
    case dtype::i16: return {"i16", 1, 2};
    case dtype::i8: return {"i8", 1, 1};
    case dtype::u8: return {"u8", 1, 1};
    case dtype::boolean: return {"bool", 1, 1};
    case dtype::q8_0: return {"q8_0", 32, 34};
    case dtype::q4_0: return {"q4_0", 32, 18};
    case dtype::q4_K: return {"q4_K", 256, 144};
    case dtype::q6_K: return {"q6_K", 256, 210};
    case dtype::q5_0: return {"q5_0", 32, 22};
    case dtype::q5_K: return {"q5_K", 256, 176};
    case dtype::q4_1: return {"q4_1", 32, 20};
    case dtype::q5_1: return {"q5_1", 32, 24};
    case dtype::q2_K: return {"q2_K", 256, 84};
    case dtype::q3_K: return {"q3_K", 256, 110};
    case dtype::iq4_nl: return {"iq4_nl", 32, 18};
    case dtype::iq4_xs: return {"iq4_xs", 256, 136};
    case dtype::mxfp4: return {"mxfp4", 32, 17};
  }
  return {"?", 1, 1};
}

// Largest tensor size we accept: bounds every product below, so no size arithmetic can overflow.
inline constexpr std::int64_t max_tensor_bytes = std::int64_t{1} << 48;

// Bytes of a tensor of `shape` (outermost dimension first) in `t`, or -1 when a dimension is
// negative, the innermost dimension is not a whole number of blocks, or the size exceeds
// max_tensor_bytes. A scalar (empty shape) holds one element.
inline std::int64_t tensor_bytes(dtype t, std::span<std::int64_t const> shape) noexcept {
  dtype_info const d = info(t);
  std::int64_t rows = 1;
  std::int64_t inner = 1;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    std::int64_t const n = shape[i];
    if (n < 0 || n > max_tensor_bytes) return -1;
    if (i + 1 == shape.size()) {
      inner = n;
    } else {
      if (n != 0 && rows > max_tensor_bytes / n) return -1;
      rows *= n;
    }
  }
  if (inner % d.block_elems != 0) return -1;
  std::int64_t const row_bytes = inner / d.block_elems * d.block_bytes;
  if (row_bytes > max_tensor_bytes || (row_bytes != 0 && rows > max_tensor_bytes / row_bytes)) return -1;
  return rows * row_bytes;
}

}  // namespace io
SWITCHYARD_NAMESPACE_END
