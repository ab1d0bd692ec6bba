#pragma once
// An owning, 64-byte-aligned host buffer (a cache line, and the width of an AVX-512 register,
// so aligned vector loads never split lines). Allocation is bounded: sizes whose byte count
// overflows, or exceeds the caller's stated limit, are refused with allocation_error rather than
// attempted.
#include <cstddef>
#include <cstdint>
#include <limits>
#include <new>
#include <type_traits>
#include <utility>

#include "switchyard/core/error.hpp"
#include "switchyard/core/tensor_view.hpp"

SWITCHYARD_NAMESPACE_BEGIN

inline constexpr std::size_t buffer_alignment = 64;

template <class T, backend_tag Backend = backend::host>
class buffer {
  static_assert(std::is_same_v<Backend, backend::host>,
                "switchyard::buffer: only host buffers are defined here; device buffers come with "
                "the CUDA backend (switchyard/kernels)");
  static_assert(std::is_trivially_copyable_v<T> && std::is_trivially_destructible_v<T>,
                "switchyard::buffer holds trivially copyable elements only");

 public:
  buffer() noexcept = default;

  // `max_bytes` bounds what this call may allocate (a loader passes what the file can justify).
  explicit buffer(std::size_t count, std::size_t max_bytes = std::numeric_limits<std::size_t>::max())
      : size_(count) {
    require<allocation_error>(count <= std::numeric_limits<std::size_t>::max() / sizeof(T), "buffer",
                              count, " elements of ", sizeof(T), " bytes overflow size_t");
    std::size_t const bytes = count * sizeof(T);
    require<allocation_error>(bytes <= max_bytes, "buffer", "refusing to allocate ", bytes,
                              " bytes (limit ", max_bytes, ")");
    if (count == 0) return;
    void* p = ::operator new(bytes, std::align_val_t{buffer_alignment}, std::nothrow);
    require<allocation_error>(p != nullptr, "buffer", "out of memory allocating ", bytes, " bytes");
    data_ = static_cast<T*>(p);
  }

  buffer(buffer&& o) noexcept : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}
  buffer& operator=(buffer&& o) noexcept {
    if (this != &o) {
      release();
      data_ = std::exchange(o.data_, nullptr);
      size_ = std::exchange(o.size_, 0);
    }
    return *this;
  }
  buffer(buffer const&) = delete;
  buffer& operator=(buffer const&) = delete;
  ~buffer() { release(); }

  T* data() noexcept { return data_; }
  T const* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }
  T* begin() noexcept { return data_; }
  T* end() noexcept { return data_ + size_; }
  T const* begin() const noexcept { return data_; }
  T const* end() const noexcept { return data_ + size_; }
  T& operator[](std::size_t i) noexcept { return data_[i]; }
  T const& operator[](std::size_t i) const noexcept { return data_[i]; }

  // A row-major view of the buffer with the given dynamic extents; their product must fit.
  template <class... I>
  tensor_view<T, dextents<sizeof...(I)>, Backend> view(I... dims) {
    check_fits(static_cast<index_t>(dims)...);
    return {data_, dextents<sizeof...(I)>(static_cast<index_t>(dims)...)};
  }
  template <class... I>
  tensor_view<T const, dextents<sizeof...(I)>, Backend> view(I... dims) const {
    check_fits(static_cast<index_t>(dims)...);
    return {data_, dextents<sizeof...(I)>(static_cast<index_t>(dims)...)};
  }

 private:
  template <class... I>
  void check_fits(I... dims) const {
    index_t n = 1;
    ((n *= dims), ...);
    require(((dims >= 0) && ...) && static_cast<std::size_t>(n) <= size_, "buffer::view",
            "extents need ", n, " elements but the buffer holds ", size_);
  }
  void release() noexcept {
    if (data_) ::operator delete(data_, std::align_val_t{buffer_alignment});
    data_ = nullptr;
  }

  T* data_ = nullptr;
  std::size_t size_ = 0;
};

SWITCHYARD_NAMESPACE_END
