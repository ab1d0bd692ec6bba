#pragma once
// A non-owning, typed view of a strided tensor: pointer + extents (static or dynamic per
// dimension) + strides in elements, tagged with the backend that owns the memory.
// Element access is bounds-checked when SWITCHYARD_BOUNDS_CHECKS is on (debug builds).
//
//   float* p = ...;
//   auto x = make_view(p, tokens, hidden);                 // dynamic [tokens, hidden], row-major
//   tensor_view<float, extents<dynamic, 128>> q(p, extents<dynamic, 128>(tokens));
//   x(t, h) = 1.0f;
#include <cstddef>
#include <type_traits>

#include "switchyard/core/backend.hpp"
#include "switchyard/core/extents.hpp"

SWITCHYARD_NAMESPACE_BEGIN

// Strides in elements, one per dimension (a plain aggregate so that it works in device code).
template <std::size_t Rank>
struct strides {
  index_t values[Rank > 0 ? Rank : 1];
  SWITCHYARD_HOST_DEVICE constexpr index_t operator[](std::size_t i) const noexcept { return values[i]; }
};

template <class T, class Extents, backend_tag Backend = backend::host>
class tensor_view {
 public:
  using element_type = T;
  using value_type = std::remove_cv_t<T>;
  using extents_type = Extents;
  using backend_type = Backend;
  static constexpr std::size_t rank = Extents::rank;

  SWITCHYARD_HOST_DEVICE constexpr tensor_view() noexcept : data_(nullptr), extents_(), strides_{} {}

  // Row-major (last dimension contiguous).
  SWITCHYARD_HOST_DEVICE constexpr tensor_view(T* data, Extents e) noexcept : data_(data), extents_(e), strides_{} {
    index_t s = 1;
    for (std::size_t i = rank; i-- > 0;) {
      strides_.values[i] = s;
      s *= extents_.extent(i);
    }
  }

  SWITCHYARD_HOST_DEVICE constexpr tensor_view(T* data, Extents e, strides<rank> s) noexcept
      : data_(data), extents_(e), strides_(s) {}

  // view<T> -> view<T const>, and static -> dynamic extents (dynamic -> static is checked).
  template <class U, class OtherExtents>
    requires(std::is_convertible_v<U (*)[], T (*)[]> && OtherExtents::rank == rank &&
             !std::is_same_v<tensor_view<U, OtherExtents, Backend>, tensor_view>)
  SWITCHYARD_HOST_DEVICE constexpr tensor_view(tensor_view<U, OtherExtents, Backend> const& other)
      : data_(other.data()), extents_(other.extents()), strides_{} {
    for (std::size_t i = 0; i < rank; ++i) strides_.values[i] = other.stride(i);
  }

  SWITCHYARD_HOST_DEVICE constexpr T* data() const noexcept { return data_; }
  SWITCHYARD_HOST_DEVICE constexpr Extents const& extents() const noexcept { return extents_; }
  SWITCHYARD_HOST_DEVICE constexpr index_t extent(std::size_t i) const noexcept { return extents_.extent(i); }
  SWITCHYARD_HOST_DEVICE constexpr index_t stride(std::size_t i) const noexcept { return strides_.values[i]; }
  SWITCHYARD_HOST_DEVICE constexpr strides<rank> const& all_strides() const noexcept { return strides_; }
  SWITCHYARD_HOST_DEVICE constexpr index_t size() const noexcept { return extents_.size(); }
  SWITCHYARD_HOST_DEVICE constexpr bool empty() const noexcept { return size() == 0; }

  // True when the elements are dense in row-major order (the last stride is 1, and so on).
  SWITCHYARD_HOST_DEVICE constexpr bool is_contiguous() const noexcept {
    index_t s = 1;
    for (std::size_t i = rank; i-- > 0;) {
      if (extent(i) != 1 && stride(i) != s) return false;
      s *= extent(i);
    }
    return true;
  }

  template <class... I>
    requires(sizeof...(I) == rank && (std::is_convertible_v<I, index_t> && ...))
  SWITCHYARD_HOST_DEVICE constexpr T& operator()(I... idx) const {
    index_t const index[] = {static_cast<index_t>(idx)..., 0};
    index_t offset = 0;
    for (std::size_t i = 0; i < rank; ++i) {
#if SWITCHYARD_BOUNDS_CHECKS
      detail::check_index(index[i] >= 0 && index[i] < extent(i), "element access", static_cast<int>(i),
                          index[i], extent(i));
#endif
      offset += index[i] * strides_.values[i];
    }
    return data_[offset];
  }

  // Pointer to the first element of row r (rank >= 2: the r-th slice along dimension 0).
  SWITCHYARD_HOST_DEVICE constexpr T* row(index_t r) const requires(rank >= 1) {
#if SWITCHYARD_BOUNDS_CHECKS
    detail::check_index(r >= 0 && r < extent(0), "row", 0, r, extent(0));
#endif
    return data_ + r * strides_.values[0];
  }

 private:
  T* data_;
  Extents extents_;
  strides<rank> strides_;
};

template <class T, backend_tag B = backend::host>
using vector_view = tensor_view<T, dextents<1>, B>;
template <class T, backend_tag B = backend::host>
using matrix_view = tensor_view<T, dextents<2>, B>;

// make_view(ptr, d0, d1, ...): a row-major host view with dynamic extents.
template <class T, class... I>
  requires(sizeof...(I) >= 1 && (std::is_convertible_v<I, index_t> && ...))
constexpr tensor_view<T, dextents<sizeof...(I)>> make_view(T* data, I... dims) {
  return tensor_view<T, dextents<sizeof...(I)>>(data, dextents<sizeof...(I)>(static_cast<index_t>(dims)...));
}

SWITCHYARD_NAMESPACE_END
