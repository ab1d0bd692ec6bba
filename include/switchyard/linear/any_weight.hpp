#pragma once
// Weights whose format is chosen at run time, one per matrix. GGUF files made by llama-quantize
// mix formats: its Q4_K_M keeps attention V and some FFN down matrices in q6_K, attention output
// in q5_K (8+ experts), attention K/V in q8_0 (4+ experts), and falls back to q5_0 where a row is
// not a whole number of 256-blocks. Converting those to one format loses precision and changes
// the bytes read, so a model can hold each matrix as stored:
//
//   format::mixed   the weight "format" W of a block whose matrices each have their own
//                   (gqa_attention<format::mixed>, glu_experts<format::mixed>, causal_lm<...>);
//   any_matrix      such a matrix: a weight_kind and its bytes, [rows, cols] (cols in elements);
//   any_bank        a stack of experts' matrices in one kind, [experts, rows, cols];
//   weight_matrix_t<W>, weight_bank_t<W>
//                   the view a block takes for W: matrix_view<W const> / tensor_view<W const, 3>
//                   for a compiled format, any_matrix / any_bank for format::mixed.
//
// linear<format::mixed> (linear/mixed_linear.hpp) turns an any_matrix into one linear<F> and
// dispatches once per call, never per element; the kernels are linear<F>'s.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "switchyard/core/concepts.hpp"
#include "switchyard/core/dispatch.hpp"
#include "switchyard/core/error.hpp"
#include "switchyard/core/format/gguf.hpp"
#include "switchyard/core/format/iq4.hpp"
#include "switchyard/core/format/mxfp4.hpp"
#include "switchyard/core/format/q2_q3_K.hpp"
#include "switchyard/core/format/traits.hpp"
#include "switchyard/core/tensor_view.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace format {

// "Each matrix in the format it is stored in." Not a storage format (no block (de)quantizers):
// blocks take it as W, and their views become any_matrix / any_bank. Block counts are in
// elements (block_elems 1): an any_matrix's cols are elements whatever its kind.
struct mixed {};
namespace detail {
inline constexpr char mixed_name[] = "mixed";
}
template <>
struct traits<mixed> {
  using storage = mixed;
  static constexpr int block_elems = 1, block_bytes = 0;
  static constexpr bool is_scalar = false;
  static constexpr char const* name = detail::mixed_name;
};

}  // namespace format

// The formats an any_matrix may be in: every one linear<F> computes that GGUF files hold.
enum class weight_kind : std::uint8_t {
  f32, bf16, f16, q8_0, q4_0, q4_1, q5_0, q5_1, q2_K, q3_K, q4_K, q5_K, q6_K, iq4_nl, iq4_xs, mxfp4
};

using weight_kinds = type_list<tagged<weight_kind::f32, float>, tagged<weight_kind::bf16, format::bf16>,
                               tagged<weight_kind::f16, format::f16>, tagged<weight_kind::q8_0, format::q8_0>,
                               tagged<weight_kind::q4_0, format::q4_0>, tagged<weight_kind::q4_1, format::q4_1>,
                               tagged<weight_kind::q5_0, format::q5_0>, tagged<weight_kind::q5_1, format::q5_1>,
                               tagged<weight_kind::q2_K, format::q2_K>, tagged<weight_kind::q3_K, format::q3_K>,
                               tagged<weight_kind::q4_K, format::q4_K>, tagged<weight_kind::q5_K, format::q5_K>,
                               tagged<weight_kind::q6_K, format::q6_K>, tagged<weight_kind::iq4_nl, format::iq4_nl>,
                               tagged<weight_kind::iq4_xs, format::iq4_xs>, tagged<weight_kind::mxfp4, format::mxfp4>>;

namespace detail {
template <class F, class E, class... Rest>
constexpr weight_kind kind_in(type_list<E, Rest...>) {
  if constexpr (std::is_same_v<F, typename E::type>) return E::tag;
  else {
    static_assert(sizeof...(Rest) > 0, "switchyard: this format is not a weight_kind (linear/any_weight.hpp)");
    return kind_in<F>(type_list<Rest...>{});
  }
}
}  // namespace detail

template <class F>
constexpr weight_kind kind_of() {
  return detail::kind_in<F>(weight_kinds{});
}

constexpr char const* name(weight_kind k) {
  switch (k) {
    case weight_kind::f32: return "f32";
    case weight_kind::bf16: return "bf16";
    case weight_kind::f16: return "f16";
    case weight_kind::q8_0: return "q8_0";
    case weight_kind::q4_0: return "q4_0";
    case weight_kind::q5_0: return "q5_0";
    case weight_kind::q4_1: return "q4_1";
    case weight_kind::q5_1: return "q5_1";
    case weight_kind::q2_K: return "q2_K";
    case weight_kind::q3_K: return "q3_K";
    case weight_kind::q4_K: return "q4_K";
    case weight_kind::q5_K: return "q5_K";
    case weight_kind::q6_K: return "q6_K";
    case weight_kind::iq4_nl: return "iq4_nl";
    case weight_kind::iq4_xs: return "iq4_xs";
    case weight_kind::mxfp4: return "mxfp4";
  }
  return "?";
}

// f.template operator()<F>() for the format of kind k.
template <class Fn>
decltype(auto) with_weight_kind(weight_kind k, Fn&& f) {
  return dispatch_type(weight_kinds{}, k, {"any_matrix", "weight kind", "format"}, std::forward<Fn>(f));
}

// One matrix [rows, cols] (cols in elements, a whole number of the kind's blocks), row-major
// with contiguous rows of whole blocks. A view: the bytes belong to the caller or a loaded model.
struct any_matrix {
  weight_kind kind = weight_kind::f32;
  void const* bytes = nullptr;
  index_t rows = 0, cols = 0;

  any_matrix() = default;
  any_matrix(weight_kind k, void const* p, index_t r, index_t c) : kind(k), bytes(p), rows(r), cols(c) {}
  // A compiled format's view, as a matrix of its kind.
  template <class F>
  any_matrix(matrix_view<F const> m)  // NOLINT(google-explicit-constructor): a view is a matrix of its kind
      : kind(kind_of<F>()), bytes(m.data()), rows(m.extent(0)), cols(m.extent(1) * format::traits<F>::block_elems) {
    require(m.data() == nullptr || m.extent(0) <= 1 || m.stride(0) == m.extent(1), "any_matrix",
            "rows must be contiguous and packed (stride(0) == blocks per row)");
  }

  index_t extent(int d) const noexcept { return d == 0 ? rows : cols; }
  void const* data() const noexcept { return bytes; }
  std::size_t row_bytes() const {
    return with_weight_kind(kind, [&]<class F>() {
      return static_cast<std::size_t>(cols / format::traits<F>::block_elems) * sizeof(F);
    });
  }
  // The view of format F (the kind must be F's).
  template <class F>
  matrix_view<F const> as() const {
    require(kind == kind_of<F>(), "any_matrix", "the matrix is ", name(kind), ", not ", name(kind_of<F>()));
    return make_view(static_cast<F const*>(bytes), rows, cols / format::traits<F>::block_elems);
  }
  // Rows [r0, r0 + n).
  any_matrix row_range(index_t r0, index_t n) const {
    return {kind, static_cast<std::byte const*>(bytes) + static_cast<std::size_t>(r0) * row_bytes(), n, cols};
  }
  // Row r widened to f32 (cols floats): the embedding lookup.
  void dequantize_row(index_t r, float* out) const {
    with_weight_kind(kind, [&]<class F>() {
      constexpr index_t B = format::traits<F>::block_elems;
      auto const* row = static_cast<F const*>(bytes) + r * (cols / B);
      for (index_t b = 0; b < cols / B; ++b) format::traits<F>::dequantize(row + b, out + b * B);
    });
  }
};

// Experts' matrices stacked in one kind: [experts, rows, cols], expert e's rows after e - 1's.
struct any_bank {
  any_matrix all;  // [experts * rows, cols]
  index_t count = 0;

  any_bank() = default;
  any_bank(any_matrix stacked, index_t experts) : all(stacked), count(experts) {
    require(experts > 0 && stacked.rows % experts == 0, "any_bank", stacked.rows, " rows do not split into ", experts,
            " experts");
  }
  index_t extent(int d) const noexcept { return d == 0 ? count : d == 1 ? all.rows / count : all.cols; }
  void const* data() const noexcept { return all.bytes; }
  bool is_contiguous() const noexcept { return true; }
  any_matrix expert(index_t e) const { return all.row_range(e * extent(1), extent(1)); }
};

// The views a block takes for weight format W.
template <class W>
struct weight_views {
  using matrix = matrix_view<W const>;
  using bank = tensor_view<W const, dextents<3>>;
};
template <>
struct weight_views<format::mixed> {
  using matrix = any_matrix;
  using bank = any_bank;
};
template <class W>
using weight_matrix_t = typename weight_views<W>::matrix;
template <class W>
using weight_bank_t = typename weight_views<W>::bank;

// check_format<W>() for a block's weight format, which may also be format::mixed.
template <class W>
consteval bool check_weight_format() {
  if constexpr (std::is_same_v<W, format::mixed>) return true;
  else return check_format<W>();
}

// Columns in elements, whatever the view counts.
template <class F>
index_t weight_cols(matrix_view<F const> const& m) noexcept {
  return m.extent(1) * format::traits<F>::block_elems;
}
inline index_t weight_cols(any_matrix const& m) noexcept { return m.cols; }

// Expert e's [rows, cols] matrix of a bank.
template <class F>
matrix_view<F const> bank_expert(tensor_view<F const, dextents<3>> const& b, index_t e) {
  return make_view(b.data() + e * b.extent(1) * b.extent(2), b.extent(1), b.extent(2));
}
inline any_matrix bank_expert(any_bank const& b, index_t e) { return b.expert(e); }

// Rows [r0, r0 + n) of a block's weight matrix (a view of the same bytes).
template <class F>
matrix_view<F const> weight_rows(matrix_view<F const> const& m, index_t r0, index_t n) {
  return make_view(m.data() + r0 * m.stride(0), n, m.extent(1));
}
inline any_matrix weight_rows(any_matrix const& m, index_t r0, index_t n) { return m.row_range(r0, n); }

SWITCHYARD_NAMESPACE_END
