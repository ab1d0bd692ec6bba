#pragma once
// The contracts of the core block. Concepts select overloads and document; the check_*()
// batteries repeat each requirement as a static_assert with a message, because nvcc reports a
// failed concept only as "no instance of function template" without saying which part failed.
#include <concepts>
#include <cstddef>
#include <type_traits>

#include "switchyard/core/format/traits.hpp"

SWITCHYARD_NAMESPACE_BEGIN

template <class>
inline constexpr bool dependent_false = false;

namespace detail {
template <class T, class = void>
struct is_complete : std::false_type {};
template <class T>
struct is_complete<T, std::void_t<decltype(sizeof(T))>> : std::true_type {};
}  // namespace detail

// A weight or activation format: format::traits<F> exists and describes blocks.
template <class F>
concept format_type = detail::is_complete<format::traits<F>>::value && requires {
  typename format::traits<F>::storage;
  { format::traits<F>::block_elems } -> std::convertible_to<int>;
  { format::traits<F>::block_bytes } -> std::convertible_to<int>;
  { format::traits<F>::name } -> std::convertible_to<char const*>;
} && requires(typename format::traits<F>::storage const* in, float* out, float const* src,
              typename format::traits<F>::storage* dst) {
  format::traits<F>::dequantize(in, out);
  format::traits<F>::quantize(src, dst);
};

// A format whose blocks hold one element (f32, bf16, f16, fp8): usable element-wise.
template <class F>
concept scalar_format = format_type<F> && format::traits<F>::block_elems == 1;

template <class F>
consteval bool check_format() {
  static_assert(detail::is_complete<format::traits<F>>::value,
                "switchyard: this type is not a format; specialize switchyard::format::traits<F>");
  if constexpr (detail::is_complete<format::traits<F>>::value) {
    static_assert(requires { typename format::traits<F>::storage; },
                  "switchyard: format::traits<F> needs a member type 'storage'");
    static_assert(requires { format::traits<F>::block_elems; },
                  "switchyard: format::traits<F> needs 'static constexpr int block_elems'");
    static_assert(requires { format::traits<F>::block_bytes; },
                  "switchyard: format::traits<F> needs 'static constexpr int block_bytes'");
    static_assert(format_type<F>,
                  "switchyard: format::traits<F> needs dequantize(storage const*, float*) and "
                  "quantize(float const*, storage*)");
  }
  return true;
}

template <class F>
consteval bool check_scalar_format() {
  check_format<F>();
  static_assert(!format_type<F> || scalar_format<F>,
                "switchyard: this operation takes an element-wise format (f32, bf16, f16, fp8), "
                "not a block-quantized one");
  return true;
}

SWITCHYARD_NAMESPACE_END
