#pragma once
// Extents whose dimensions are each either known at compile time or dynamic, in one type
// (as CuTe's Int<N>/int, Eigen's Dynamic, std::mdspan's extents). A kernel can then unroll on a
// static head dimension while the token count stays a run-time value.
//
//   extents<dynamic, 128>  e(tokens);   // rank 2: tokens at run time, 128 at compile time
//   e.extent(0) == tokens; e.extent(1) == 128; decltype(e)::static_extent(1) == 128
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "switchyard/core/check.hpp"

SWITCHYARD_NAMESPACE_BEGIN

inline constexpr index_t dynamic = -1;

template <index_t... Es>
class extents {
  static_assert(((Es == dynamic || Es >= 0) && ...),
                "switchyard::extents: a static extent must be >= 0 (or switchyard::dynamic)");

 public:
  static constexpr std::size_t rank = sizeof...(Es);
  static constexpr std::size_t rank_dynamic = ((Es == dynamic ? 1 : 0) + ... + 0);

  SWITCHYARD_HOST_DEVICE static constexpr index_t static_extent(std::size_t i) noexcept {
    index_t const values[] = {Es..., 0};
    return values[i];
  }
  SWITCHYARD_HOST_DEVICE static constexpr bool is_static(std::size_t i) noexcept {
    return static_extent(i) != dynamic;
  }

  // All-static extents need no arguments; dynamic ones default to 0.
  SWITCHYARD_HOST_DEVICE constexpr extents() noexcept : dynamic_{} {}

  // Only the dynamic extents, in order (extents<dynamic, 128>{tokens}).
  template <class... I>
    requires(sizeof...(I) == rank_dynamic && rank_dynamic > 0 && rank_dynamic != rank &&
             (std::is_convertible_v<I, index_t> && ...))
  SWITCHYARD_HOST_DEVICE constexpr explicit extents(I... dyn) noexcept : dynamic_{static_cast<index_t>(dyn)...} {
    for (index_t v : dynamic_) detail::check_index(v >= 0, "extents", -1, v, INT64_MAX);
  }

  // Every extent, in order; the static ones must match their compile-time value.
  template <class... I>
    requires(sizeof...(I) == rank && rank > 0 && (std::is_convertible_v<I, index_t> && ...))
  SWITCHYARD_HOST_DEVICE constexpr explicit extents(I... all) : dynamic_{} {
    index_t const values[] = {static_cast<index_t>(all)...};
    std::size_t d = 0;
    for (std::size_t i = 0; i < rank; ++i) {
      detail::check_index(values[i] >= 0, "extents (negative extent)", static_cast<int>(i), values[i], INT64_MAX);
      if (is_static(i))
        detail::check_index(values[i] == static_extent(i), "extents (does not match the static extent)",
                            static_cast<int>(i), values[i], static_extent(i) + 1);
      else
        dynamic_[d++] = values[i];
    }
  }

  // From other extents of the same rank (static -> dynamic always; dynamic -> static checked).
  template <index_t... Os>
    requires(sizeof...(Os) == rank && !std::is_same_v<extents<Os...>, extents>)
  SWITCHYARD_HOST_DEVICE constexpr extents(extents<Os...> const& other) : dynamic_{} {
    std::size_t d = 0;
    for (std::size_t i = 0; i < rank; ++i) {
      index_t const v = other.extent(i);
      if (is_static(i))
        detail::check_index(v == static_extent(i), "extents (does not match the static extent)",
                            static_cast<int>(i), v, static_extent(i) + 1);
      else
        dynamic_[d++] = v;
    }
  }

  SWITCHYARD_HOST_DEVICE constexpr index_t extent(std::size_t i) const noexcept {
    if (is_static(i)) return static_extent(i);
    std::size_t d = 0;
    for (std::size_t j = 0; j < i; ++j) d += is_static(j) ? 0 : 1;
    return dynamic_[d];
  }

  SWITCHYARD_HOST_DEVICE constexpr index_t size() const noexcept {
    index_t n = 1;
    for (std::size_t i = 0; i < rank; ++i) n *= extent(i);
    return n;
  }

  friend SWITCHYARD_HOST_DEVICE constexpr bool operator==(extents const& a, extents const& b) noexcept {
    for (std::size_t i = 0; i < rank; ++i)
      if (a.extent(i) != b.extent(i)) return false;
    return true;
  }

 private:
  index_t dynamic_[rank_dynamic > 0 ? rank_dynamic : 1];
};

namespace detail {
template <std::size_t Rank, class Seq = decltype(std::make_index_sequence<Rank>{})>
struct dextents_impl;
template <std::size_t Rank, std::size_t... I>
struct dextents_impl<Rank, std::index_sequence<I...>> {
  using type = extents<((void)I, dynamic)...>;
};
}  // namespace detail

// All-dynamic extents of a given rank.
template <std::size_t Rank>
using dextents = typename detail::dextents_impl<Rank>::type;

SWITCHYARD_NAMESPACE_END
