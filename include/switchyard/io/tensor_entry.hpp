#pragma once
// One tensor of a checkpoint as the readers hand it out: a name, an element type, a shape
// (outermost dimension first, as PyTorch and safetensors write it; GGUF's innermost-first order
// is reversed on reading) and a view of its bytes inside the mapped file.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "switchyard/io/dtype.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace io {

struct tensor_entry {
  std::string name;
  io::dtype dtype = io::dtype::f32;
  std::vector<std::int64_t> shape;
  std::span<std::byte const> data;

  std::int64_t numel() const noexcept {
    std::int64_t n = 1;
    for (auto d : shape) n *= d;  // bounded: the reader checked tensor_bytes
    return n;
  }
  std::string shape_string() const {
    std::string s = "[";
    for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + "]";
  }
};

}  // namespace io
SWITCHYARD_NAMESPACE_END
