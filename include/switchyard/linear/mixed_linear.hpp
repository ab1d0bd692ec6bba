#pragma once
// linear<format::mixed>: a dense layer whose weight format is the matrix's own, chosen at run time
// (linear/any_weight.hpp). It holds the one linear<F> for the matrix's kind in a variant and
// dispatches once per call (one switch on the variant's index), so the cost over linear<F> is a
// branch per projection, not per element; every kernel is linear<F>'s.
//
// Activations are asked for per layer and given per matrix: int8 goes to the formats with an
// integer path (q8_0, q4_0, q4_K) and bf16 to the element-wise ones; the others compute with f32
// activations. So a mixed model asks once ("int8 where the format has it") instead of refusing
// the file.
#include <type_traits>
#include <variant>

#include "switchyard/linear/any_weight.hpp"
#include "switchyard/linear/linear.hpp"

SWITCHYARD_NAMESPACE_BEGIN

namespace detail {
template <class List>
struct linear_variant;
template <class... Es>
struct linear_variant<type_list<Es...>> {
  using type = std::variant<linear<typename Es::type>...>;
};

// The activation format linear<F> gets when a mixed layer asks for `a`.
template <class F>
constexpr activations activations_for_format(activations a) noexcept {
  if (a == activations::int8) return linear<F>::takes_int8 ? activations::int8 : activations::f32;
  if (a == activations::bf16) return format::traits<F>::block_elems == 1 ? activations::bf16 : activations::f32;
  return a;
}
}  // namespace detail

template <>
class linear<format::mixed> {
 public:
  using weight_format = format::mixed;
  static constexpr index_t block_elems = 1;
  // Accepts int8 (given to the matrices whose format has an integer path).
  static constexpr bool takes_int8 = true;

  explicit linear(any_matrix weight, vector_view<float const> bias = {}, activations act = activations::f32,
                  summation sum = summation::batch_invariant)
      : impl_(with_weight_kind(weight.kind, [&]<class F>() -> impl {
          return impl(std::in_place_type<linear<F>>, weight.template as<F>(), bias,
                      detail::activations_for_format<F>(act), sum);
        })),
        kind_(weight.kind), act_(act) {}

  index_t in_features() const noexcept {
    return std::visit([](auto const& l) { return l.in_features(); }, impl_);
  }
  index_t out_features() const noexcept {
    return std::visit([](auto const& l) { return l.out_features(); }, impl_);
  }
  weight_kind kind() const noexcept { return kind_; }
  // What the layer asked for; activation_format_used() is what this matrix's format computes with.
  activations activation_format() const noexcept { return act_; }
  activations activation_format_used() const noexcept {
    return std::visit([](auto const& l) { return l.activation_format(); }, impl_);
  }

  // x [T, in] -> y [T, out]; y must not overlap x.
  template <simd::isa Isa = simd::native>
  void operator()(matrix_view<float const> x, matrix_view<float> y, thread_pool& pool = thread_pool::shared()) const {
    std::visit([&](auto const& l) { l.template operator()<Isa>(x, y, pool); }, impl_);
  }

 private:
  using impl = typename detail::linear_variant<weight_kinds>::type;
  impl impl_;
  weight_kind kind_;
  activations act_;
};

SWITCHYARD_NAMESPACE_END
