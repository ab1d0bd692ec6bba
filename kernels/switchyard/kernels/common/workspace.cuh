#pragma once
// Carving one caller-owned device workspace into typed arrays. The same code sizes the workspace
// (base == nullptr: only the total is computed) and carves it (base != nullptr), so the query
// function and the launch can never disagree about the layout. Every array starts on a 256-byte
// boundary (CUB's temporary storage and 16-byte vector loads both want it).
#include <cstddef>
#include <cstdint>

#include "switchyard/core/error.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace kernels {

class workspace_carver {
 public:
  static constexpr std::size_t alignment = 256;
  explicit workspace_carver(void* base = nullptr) : base_(static_cast<char*>(base)) {}

  template <class T>
  T* take(std::size_t count) {
    std::size_t const at = used_;
    used_ += (count * sizeof(T) + alignment - 1) / alignment * alignment;
    return base_ ? reinterpret_cast<T*>(base_ + at) : nullptr;
  }
  std::size_t bytes() const noexcept { return used_; }

 private:
  char* base_;
  std::size_t used_ = 0;
};

}  // namespace kernels
SWITCHYARD_NAMESPACE_END
