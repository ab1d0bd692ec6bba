#pragma once
// Turns checkpoint tensors into the views the blocks take, in the model's weight format W. A
// tensor already in W (and aligned for it) is used in place, straight from the mapped file; any
// other is converted once into a buffer the store owns: widened to f32 row by row, then narrowed
// (bf16, f16) or quantized (block formats, round-to-nearest) to W. With W = format::mixed every
// matrix keeps the format it is stored in (an any_matrix of its weight_kind; only dtypes that are
// no weight_kind, such as f64 or fp8, are widened to f32, exactly or nearly so). Norm weights,
// biases and router gates become f32, as the blocks take them.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "switchyard/core/buffer.hpp"
#include "switchyard/core/error.hpp"
#include "switchyard/core/format/gguf.hpp"
#include "switchyard/core/format/mxfp4.hpp"
#include "switchyard/core/format/sparse24.hpp"
#include "switchyard/core/format/traits.hpp"
#include "switchyard/core/tensor_view.hpp"
#include "switchyard/io/tensor_entry.hpp"
#include "switchyard/linear/any_weight.hpp"
#include "switchyard/norm/rms_norm.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace model {

// The checkpoint dtype that holds W's bytes exactly.
template <class W>
constexpr io::dtype dtype_of() {
  if constexpr (std::is_same_v<W, float>) return io::dtype::f32;
  else if constexpr (std::is_same_v<W, format::bf16>) return io::dtype::bf16;
  else if constexpr (std::is_same_v<W, format::f16>) return io::dtype::f16;
  else if constexpr (std::is_same_v<W, format::q8_0>) return io::dtype::q8_0;
  else if constexpr (std::is_same_v<W, format::q4_0>) return io::dtype::q4_0;
  else if constexpr (std::is_same_v<W, format::q4_K>) return io::dtype::q4_K;
  else if constexpr (std::is_same_v<W, format::q6_K>) return io::dtype::q6_K;
  else if constexpr (std::is_same_v<W, format::q5_0>) return io::dtype::q5_0;
  else if constexpr (std::is_same_v<W, format::q5_K>) return io::dtype::q5_K;
  else if constexpr (std::is_same_v<W, format::q4_1>) return io::dtype::q4_1;
  else if constexpr (std::is_same_v<W, format::q5_1>) return io::dtype::q5_1;
  else if constexpr (std::is_same_v<W, format::q2_K>) return io::dtype::q2_K;
  else if constexpr (std::is_same_v<W, format::q3_K>) return io::dtype::q3_K;
  else if constexpr (std::is_same_v<W, format::iq4_nl>) return io::dtype::iq4_nl;
  else if constexpr (std::is_same_v<W, format::iq4_xs>) return io::dtype::iq4_xs;
  else if constexpr (std::is_same_v<W, format::mxfp4>) return io::dtype::mxfp4;
  else static_assert(sizeof(W) == 0, "no checkpoint dtype for this weight format");
}
// Whether checkpoint dtype d holds W's bytes as they are (never for 2:4 sparse weights, which are
// only converted to).
template <class W>
constexpr bool holds_as_is(io::dtype d) {
  if constexpr (format::is_sparse24<W>) return false;
  else return d == dtype_of<W>();
}

// The weight_kind that holds a checkpoint dtype's bytes as they are, if any.
inline std::optional<weight_kind> kind_of_dtype(io::dtype d) {
  switch (d) {
    case io::dtype::f32: return weight_kind::f32;
    case io::dtype::bf16: return weight_kind::bf16;
    case io::dtype::f16: return weight_kind::f16;
    case io::dtype::q8_0: return weight_kind::q8_0;
    case io::dtype::q4_0: return weight_kind::q4_0;
    case io::dtype::q5_0: return weight_kind::q5_0;
    case io::dtype::q4_K: return weight_kind::q4_K;
    case io::dtype::q5_K: return weight_kind::q5_K;
    case io::dtype::q4_1: return weight_kind::q4_1;
    case io::dtype::q5_1: return weight_kind::q5_1;
    case io::dtype::q2_K: return weight_kind::q2_K;
    case io::dtype::q3_K: return weight_kind::q3_K;
    case io::dtype::iq4_nl: return weight_kind::iq4_nl;
    case io::dtype::iq4_xs: return weight_kind::iq4_xs;
    case io::dtype::q6_K: return weight_kind::q6_K;
    case io::dtype::mxfp4: return weight_kind::mxfp4;
    default: return std::nullopt;
  }
}

// A [rows, cols] matrix (cols in elements) somewhere in a checkpoint: a whole tensor or one
// expert's slice of a stacked one.
struct matrix_slice {
  std::string name;
  io::dtype dtype = io::dtype::f32;
  index_t rows = 0, cols = 0;
  std::span<std::byte const> data;
};

inline matrix_slice as_matrix(io::tensor_entry const& t) {
  require<format_error>(t.shape.size() == 2 || t.shape.size() == 1, "model::weights", "tensor '", t.name, "' is ",
                        t.shape_string(), ", not a matrix or vector");
  index_t const rows = t.shape.size() == 2 ? t.shape[0] : 1;
  return {t.name, t.dtype, rows, t.shape.back(), t.data};
}

namespace detail {

// Row r of a slice, widened to f32.
inline void widen_row(matrix_slice const& s, index_t r, float* out) {
  io::dtype_info const d = io::info(s.dtype);
  std::int64_t const row_bytes = s.cols / d.block_elems * d.block_bytes;
  std::byte const* p = s.data.data() + r * row_bytes;
  auto blocks = [&]<class B>() {
    for (index_t b = 0; b < s.cols / B::elems; ++b) {
      B blk;
      std::memcpy(&blk, p + b * static_cast<index_t>(sizeof(B)), sizeof(B));
      format::traits<B>::dequantize(&blk, out + b * B::elems);
    }
  };
  auto scalars = [&]<class T>() {
    for (index_t i = 0; i < s.cols; ++i) {
      T v;
      std::memcpy(&v, p + i * static_cast<index_t>(sizeof(T)), sizeof(T));
      if constexpr (std::is_arithmetic_v<T>) out[i] = static_cast<float>(v);
      else out[i] = format::to_float(v);
    }
  };
  switch (s.dtype) {
    case io::dtype::f32: scalars.template operator()<float>(); break;
    case io::dtype::f64: scalars.template operator()<double>(); break;
    case io::dtype::bf16: scalars.template operator()<format::bf16>(); break;
    case io::dtype::f16: scalars.template operator()<format::f16>(); break;
    case io::dtype::e4m3: scalars.template operator()<format::e4m3>(); break;
    case io::dtype::e5m2: scalars.template operator()<format::e5m2>(); break;
    case io::dtype::q8_0: blocks.template operator()<format::q8_0>(); break;
    case io::dtype::q4_0: blocks.template operator()<format::q4_0>(); break;
    case io::dtype::q4_K: blocks.template operator()<format::q4_K>(); break;
    case io::dtype::q6_K: blocks.template operator()<format::q6_K>(); break;
    case io::dtype::mxfp4: blocks.template operator()<format::mxfp4>(); break;
    case io::dtype::q5_0: blocks.template operator()<format::q5_0>(); break;
    case io::dtype::q5_K: blocks.template operator()<format::q5_K>(); break;
    case io::dtype::q4_1: blocks.template operator()<format::q4_1>(); break;
    case io::dtype::q5_1: blocks.template operator()<format::q5_1>(); break;
    case io::dtype::q2_K: blocks.template operator()<format::q2_K>(); break;
    case io::dtype::q3_K: blocks.template operator()<format::q3_K>(); break;
    case io::dtype::iq4_nl: blocks.template operator()<format::iq4_nl>(); break;
    case io::dtype::iq4_xs: blocks.template operator()<format::iq4_xs>(); break;
    default:
      switchyard::detail::fail<format_error>("model::weights", "tensor '", s.name, "' has dtype ", io::info(s.dtype).name,
                                             ", which is not a weight format");
  }
}

// Row r of a slice into W storage (cols / block_elems blocks).
template <class W>
void convert_row(matrix_slice const& s, index_t r, W* out, std::vector<float>& scratch) {
  constexpr index_t B = format::traits<W>::block_elems;
  if (holds_as_is<W>(s.dtype)) {
    std::memcpy(out, s.data.data() + r * (s.cols / B) * index_t(sizeof(W)), static_cast<std::size_t>(s.cols / B) * sizeof(W));
    return;
  }
  scratch.resize(static_cast<std::size_t>(s.cols));
  widen_row(s, r, scratch.data());
  for (index_t b = 0; b < s.cols / B; ++b) format::traits<W>::quantize(scratch.data() + b * B, out + b);
}

}  // namespace detail

class weight_store {
 public:
  // `release`: called with the bytes of every checkpoint tensor once it has been copied or
  // converted here (weight_source::release_pages), so the file's pages need not stay resident
  // beside the copy. Empty: nothing is released.
  using releaser = std::function<void(std::span<std::byte const>)>;
  weight_store() = default;
  explicit weight_store(releaser release) : release_(std::move(release)) {}
  // The source behind the releaser may go away after the build: forget it.
  void stop_releasing() noexcept { release_ = nullptr; }

  // A matrix [rows, cols] in W (any_matrix for format::mixed): see typed_matrix / stored_matrix.
  template <class W>
  weight_matrix_t<W> matrix(matrix_slice const& s, index_t rows, index_t cols) {
    if constexpr (std::is_same_v<W, format::mixed>) {
      return stored_matrix(std::span<matrix_slice const>(&s, 1), rows, cols);
    } else {
      return typed_matrix<W>(s, rows, cols);
    }
  }

  // Expert banks [experts, rows, cols] from slices of rows each (expert after expert, in bank row
  // order: gate rows then up rows per expert for gate_up), always an owned copy.
  template <class W>
  weight_bank_t<W> bank(std::span<matrix_slice const> parts, index_t experts, index_t cols) {
    if constexpr (std::is_same_v<W, format::mixed>) {
      index_t rows = 0;
      for (auto const& s : parts) rows += s.rows;
      return any_bank(stored_matrix(parts, rows, cols), experts);
    } else {
      constexpr index_t B = format::traits<W>::block_elems;
      index_t rows = 0;
      for (auto const& s : parts) rows += s.rows;
      W const* p = stack<W>(parts, cols);
      require<format_error>(experts > 0 && rows % experts == 0, "model::weights", rows, " rows do not split into ",
                            experts, " experts");
      return tensor_view<W const, dextents<3>>(p, dextents<3>(experts, rows / experts, cols / B));
    }
  }

  // A matrix [rows, cols] in W: in place when the checkpoint holds W at a W-aligned address,
  // else converted.
  template <class W>
  matrix_view<W const> typed_matrix(matrix_slice const& s, index_t rows, index_t cols) {
    constexpr index_t B = format::traits<W>::block_elems;
    check_shape(s, rows, cols);
    require<unsupported_config>(cols % B == 0, "model::weights", "tensor '", s.name, "' has ", cols,
                                " columns, not a whole number of ", format::traits<W>::name, " blocks of ", B);
    if (holds_as_is<W>(s.dtype) && reinterpret_cast<std::uintptr_t>(s.data.data()) % alignof(W) == 0)
      return make_view(reinterpret_cast<W const*>(s.data.data()), rows, cols / B);
    W* dst = allocate<W>(rows * (cols / B));
    fill(s, dst);
    release(s);
    return make_view(static_cast<W const*>(dst), rows, cols / B);
  }

  // Several slices stacked row-wise into one owned [sum rows, cols] W matrix (expert banks:
  // gate rows then up rows, expert after expert).
  template <class W>
  W* stack(std::span<matrix_slice const> parts, index_t cols) {
    constexpr index_t B = format::traits<W>::block_elems;
    index_t rows = 0;
    for (auto const& s : parts) {
      check_shape(s, s.rows, cols);
      rows += s.rows;
    }
    require<unsupported_config>(cols % B == 0, "model::weights", "tensor '", parts.empty() ? "" : parts[0].name,
                                "' has ", cols, " columns, not a whole number of ", format::traits<W>::name,
                                " blocks of ", B);
    W* dst = allocate<W>(rows * (cols / B));
    W* at = dst;
    for (auto const& s : parts) {
      fill(s, at);
      release(s);
      at += s.rows * (cols / B);
    }
    return dst;
  }

  // A vector of n elements in T (f32 or a scalar weight format), always a copy (small).
  template <class T = float>
  vector_view<T const> vector(matrix_slice const& s, index_t n) {
    require<format_error>(s.rows * s.cols == n, "model::weights", "tensor '", s.name, "' has ", s.rows * s.cols,
                          " elements but ", n, " are expected");
    T* dst = allocate<T>(n);
    std::vector<float> row(static_cast<std::size_t>(s.cols));
    for (index_t r = 0; r < s.rows; ++r) {
      detail::widen_row(s, r, row.data());
      for (index_t i = 0; i < s.cols; ++i) dst[r * s.cols + i] = format::traits<T>::from_float(row[static_cast<std::size_t>(i)]);
    }
    release(s);
    return make_view(static_cast<T const*>(dst), n);
  }
  // A matrix widened to f32 (router gates).
  matrix_view<float const> matrix_f32(matrix_slice const& s, index_t rows, index_t cols) {
    check_shape(s, rows, cols);
    float* dst = allocate<float>(rows * cols);
    for (index_t r = 0; r < rows; ++r) detail::widen_row(s, r, dst + r * cols);
    release(s);
    return make_view(static_cast<float const*>(dst), rows, cols);
  }

  // Slices stacked row-wise [sum rows, cols] in the format they are stored in: one slice of a
  // weight_kind at an address aligned for it is used in place; several slices of one kind are
  // copied byte for byte; slices of other dtypes, or of kinds that differ (a gate in q4_K beside an
  // up in q5_K), are widened to f32, which holds every value exactly.
  any_matrix stored_matrix(std::span<matrix_slice const> parts, index_t rows, index_t cols) {
    require<format_error>(!parts.empty(), "model::weights", "no tensors to stack");
    if (parts.size() == 1) check_shape(parts[0], rows, cols);
    index_t total = 0;
    for (auto const& s : parts) {
      check_shape(s, s.rows, cols);
      total += s.rows;
    }
    require<format_error>(total == rows, "model::weights", "tensor '", parts[0].name, "' has ", total, " rows but the config needs ",
                          rows);
    std::optional<weight_kind> kind = kind_of_dtype(parts[0].dtype);
    for (auto const& s : parts)
      if (s.dtype != parts[0].dtype) kind.reset();
    if (!kind) {
      float* dst = allocate<float>(rows * cols);
      for (auto const& s : parts) {
        for (index_t r = 0; r < s.rows; ++r) detail::widen_row(s, r, dst + r * cols);
        dst += s.rows * cols;
        release(s);
      }
      return {weight_kind::f32, dst - rows * cols, rows, cols};
    }
    return with_weight_kind(*kind, [&]<class F>() -> any_matrix {
      if (parts.size() == 1 && reinterpret_cast<std::uintptr_t>(parts[0].data.data()) % alignof(F) == 0)
        return {*kind, parts[0].data.data(), rows, cols};
      return {*kind, stack<F>(parts, cols), rows, cols};
    });
  }

  std::size_t owned_bytes() const noexcept { return owned_bytes_; }

 private:
  static void check_shape(matrix_slice const& s, index_t rows, index_t cols) {
    require<format_error>(s.rows == rows && s.cols == cols, "model::weights", "tensor '", s.name, "' is [", s.rows, ", ",
                          s.cols, "] but the config needs [", rows, ", ", cols, "]");
  }
  void release(matrix_slice const& s) const {
    if (release_) release_(s.data);
  }
  template <class W>
  void fill(matrix_slice const& s, W* dst) {
    constexpr index_t B = format::traits<W>::block_elems;
    std::vector<float> scratch;
    for (index_t r = 0; r < s.rows; ++r) detail::convert_row(s, r, dst + r * (s.cols / B), scratch);
  }
  template <class T>
  T* allocate(index_t n) {
    auto b = std::make_unique<buffer<std::byte>>(static_cast<std::size_t>(n) * sizeof(T));
    owned_bytes_ += b->size();
    T* p = reinterpret_cast<T*>(b->data());
    buffers_.push_back(std::move(b));
    return p;
  }
  std::vector<std::unique_ptr<buffer<std::byte>>> buffers_;
  std::size_t owned_bytes_ = 0;
  releaser release_;
};

}  // namespace model
SWITCHYARD_NAMESPACE_END
