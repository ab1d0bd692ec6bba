#pragma once
// A model's matrices on the device, uploaded once from the loaders' matrix_slices (the same
// weight_source the host build reads: HF safetensors or GGUF with llama.cpp's naming).
//
// Each matrix keeps its file format where the device computes it -- f32, bf16, f16, e4m3, q8_0,
// q4_0 (linear::gemm's formats; embed_rows for the embedding) -- and any other format (the
// K-quants, iq4, q4_1, q5_*, mxfp4, e5m2, f64) is widened to bf16 on upload, or refused with
// unsupported_config naming the tensor when the caller asks for exact formats. The format is a
// run-time tag (any_matrix); gemm() below is the one place that turns the tag into a
// linear::gemm<W> instance.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <cuda_runtime_api.h>

#include "switchyard/core/error.hpp"
#include "switchyard/core/format/bf16.hpp"
#include "switchyard/core/format/f16.hpp"
#include "switchyard/core/format/fp8.hpp"
#include "switchyard/core/format/gguf.hpp"
#include "switchyard/device/memory.cuh"
#include "switchyard/io/dtype.hpp"
#include "switchyard/kernels/common/cuda_check.cuh"
#include "switchyard/kernels/linear/linear.cuh"
#include "switchyard/model/weight_store.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace device {

// The formats the device multiplies in.
enum class dformat { f32, bf16, f16, e4m3, q8_0, q4_0 };

inline io::dtype dtype_of(dformat f) {
  switch (f) {
    case dformat::f32: return io::dtype::f32;
    case dformat::bf16: return io::dtype::bf16;
    case dformat::f16: return io::dtype::f16;
    case dformat::e4m3: return io::dtype::e4m3;
    case dformat::q8_0: return io::dtype::q8_0;
    case dformat::q4_0: return io::dtype::q4_0;
  }
  return io::dtype::f32;
}
inline char const* name(dformat f) { return io::info(dtype_of(f)).name.data(); }

// The device format that holds a checkpoint dtype as it is, if any.
inline std::optional<dformat> kept_as(io::dtype d) {
  switch (d) {
    case io::dtype::f32: return dformat::f32;
    case io::dtype::bf16: return dformat::bf16;
    case io::dtype::f16: return dformat::f16;
    case io::dtype::e4m3: return dformat::e4m3;
    case io::dtype::q8_0: return dformat::q8_0;
    case io::dtype::q4_0: return dformat::q4_0;
    default: return std::nullopt;
  }
}

// A [rows, cols] matrix on the device in one of the formats (cols in elements; block formats hold
// cols / 32 blocks per row). Views: the model owns the bytes.
struct any_matrix {
  dformat format = dformat::f32;
  void const* data = nullptr;
  int rows = 0, cols = 0;
  float const* row_scales = nullptr;    // none of the loaders' formats has them yet
  float const* block_scales = nullptr;

  std::size_t row_bytes() const {
    io::dtype_info const d = io::info(dtype_of(format));
    return static_cast<std::size_t>(cols / d.block_elems * d.block_bytes);
  }
  // Rows [r0, r0 + n) as a matrix of their own (rows of every format are independent).
  any_matrix rows_view(int r0, int n) const {
    any_matrix m = *this;
    m.data = static_cast<std::byte const*>(data) + static_cast<std::size_t>(r0) * row_bytes();
    m.rows = n;
    return m;
  }
};

namespace detail {
template <class W>
kernels::linear::device_matrix<W> typed(any_matrix const& m) {
  return {static_cast<W const*>(m.data), m.rows, m.cols, m.row_scales, m.block_scales};
}
// f(typed matrix) for the matrix's format.
template <class F>
decltype(auto) with_format(any_matrix const& m, F&& f) {
  switch (m.format) {
    case dformat::f32: return f(typed<float>(m));
    case dformat::bf16: return f(typed<format::bf16>(m));
    case dformat::f16: return f(typed<format::f16>(m));
    case dformat::e4m3: return f(typed<format::e4m3>(m));
    case dformat::q8_0: return f(typed<format::q8_0>(m));
    case dformat::q4_0: return f(typed<format::q4_0>(m));
  }
  return f(typed<float>(m));
}
}  // namespace detail

// y[T, rows] (+)= x[T, cols] W^T + bias, the matrix's format's linear::gemm.
inline void gemm(any_matrix const& w, float const* x, int ldx, int T, float const* bias, float* y, int ldy,
                 bool accumulate, cudaStream_t stream,
                 kernels::linear::linear_path path = kernels::linear::linear_path::automatic) {
  if (T == 0) return;
  detail::with_format(w, [&](auto const& m) { kernels::linear::gemm(x, ldx, T, m, bias, y, ldy, accumulate, stream, path); });
}

// out[t] = table[tokens[t]] widened to f32.
inline void embed(any_matrix const& table, std::int32_t const* tokens, int T, float* out, cudaStream_t stream) {
  if (T == 0) return;
  detail::with_format(table, [&](auto const& m) { kernels::linear::embed_rows(m, tokens, T, out, stream); });
}

// Uploads matrices and vectors once, owning the device copies.
class weight_uploader {
 public:
  // exact: refuse a matrix the device would have to widen (load_options::exact_formats).
  // all_bf16: every matrix to bf16 (load_options::weights = bf16).
  explicit weight_uploader(bool exact, bool all_bf16 = false) : exact_(exact), all_bf16_(all_bf16) {}

  bool exact() const noexcept { return exact_; }
  bool all_bf16() const noexcept { return all_bf16_; }
  std::size_t bytes() const noexcept { return bytes_; }

  // The format a matrix of these slices gets on the device: their one dtype where the device
  // computes it (and `allowed` says so: expert banks have no f32 kernels), else bf16; refused
  // when exact formats were asked for.
  dformat choose(std::span<model::matrix_slice const> parts, bool f32_allowed = true) const {
    if (all_bf16_) return dformat::bf16;
    std::optional<dformat> f = kept_as(parts[0].dtype);
    for (auto const& s : parts)
      if (s.dtype != parts[0].dtype) f.reset();
    if (f && (*f != dformat::f32 || f32_allowed)) return *f;
    require<unsupported_config>(!exact_, "device::load", "tensor '", parts[0].name, "' (", io::info(parts[0].dtype).name,
                                parts.size() > 1 ? ", with the tensors stacked beside it" : "",
                                ") has no device kernel in its format; load_options::exact_formats refuses widening it to bf16");
    return dformat::bf16;
  }

  // A matrix [rows, cols] in its own format (or widened, as choose() says).
  any_matrix matrix(model::matrix_slice const& s, index_t rows, index_t cols) {
    check_shape(s, rows, cols);
    return stacked(std::span<model::matrix_slice const>(&s, 1), cols, choose(std::span<model::matrix_slice const>(&s, 1)));
  }

  // Slices stacked row-wise [sum rows, cols] in format f (each converted where its dtype is not f).
  any_matrix stacked(std::span<model::matrix_slice const> parts, index_t cols, dformat f) {
    io::dtype_info const d = io::info(dtype_of(f));
    require<unsupported_config>(cols % d.block_elems == 0, "device::load", "tensor '", parts[0].name, "' has ", cols,
                                " columns, not a whole number of ", name(f), " blocks");
    index_t rows = 0;
    for (auto const& s : parts) {
      check_shape(s, s.rows, cols);
      rows += s.rows;
    }
    std::size_t const row_bytes = static_cast<std::size_t>(cols / d.block_elems * d.block_bytes);
    std::vector<std::byte> host(row_bytes * static_cast<std::size_t>(rows));
    std::vector<float> wide(static_cast<std::size_t>(cols));
    std::byte* at = host.data();
    for (auto const& s : parts) {
      if (s.dtype == dtype_of(f)) {
        std::memcpy(at, s.data.data(), row_bytes * static_cast<std::size_t>(s.rows));
        at += row_bytes * static_cast<std::size_t>(s.rows);
        continue;
      }
      require<unsupported_config>(f == dformat::bf16 || f == dformat::f32, "device::load", "tensor '", s.name,
                                  "' cannot be converted to ", name(f));
      for (index_t r = 0; r < s.rows; ++r, at += row_bytes) {
        model::detail::widen_row(s, r, wide.data());
        if (f == dformat::f32) {
          std::memcpy(at, wide.data(), row_bytes);
        } else {
          for (index_t i = 0; i < cols; ++i) {
            format::bf16 const b(wide[static_cast<std::size_t>(i)]);
            std::memcpy(at + 2 * i, &b.bits, 2);
          }
        }
      }
    }
    any_matrix m;
    m.format = f;
    m.data = upload(host.data(), host.size());
    m.rows = static_cast<int>(rows);
    m.cols = static_cast<int>(cols);
    return m;
  }

  // A matrix widened to f32 (router gates, MLA's kv_b). through_bf16: its values rounded to bf16
  // first (MLA's kv_b of a bf16 model, which the host keeps in bf16: mla_kv_b_t).
  float const* matrix_f32(model::matrix_slice const& s, index_t rows, index_t cols, bool through_bf16 = false) {
    check_shape(s, rows, cols);
    std::vector<float> host(static_cast<std::size_t>(rows * cols));
    for (index_t r = 0; r < rows; ++r) model::detail::widen_row(s, r, host.data() + r * cols);
    if (through_bf16)
      for (auto& v : host) v = format::bf16(v).to_float();
    return floats(host);
  }
  // A vector of n elements widened to f32 (norms, biases, sinks).
  float const* vector(model::matrix_slice const& s, index_t n) {
    require<format_error>(s.rows * s.cols == n, "device::load", "tensor '", s.name, "' has ", s.rows * s.cols,
                          " elements but ", n, " are expected");
    std::vector<float> host(static_cast<std::size_t>(n));
    for (index_t r = 0; r < s.rows; ++r) model::detail::widen_row(s, r, host.data() + r * s.cols);
    return floats(host);
  }
  float const* floats(std::span<float const> host) {
    return static_cast<float const*>(upload(host.data(), host.size_bytes()));
  }

 private:
  static void check_shape(model::matrix_slice const& s, index_t rows, index_t cols) {
    require<format_error>(s.rows == rows && s.cols == cols, "device::load", "tensor '", s.name, "' is [", s.rows, ", ",
                          s.cols, "] but the config needs [", rows, ", ", cols, "]");
  }
  void const* upload(void const* host, std::size_t n) {
    device_bytes b(n == 0 ? 1 : n);
    if (n > 0) SWITCHYARD_CUDA_CHECK(cudaMemcpy(b.get(), host, n, cudaMemcpyHostToDevice));
    bytes_ += n;
    void const* p = b.get();
    owned_.push_back(std::move(b));
    return p;
  }

  bool exact_, all_bf16_;
  std::size_t bytes_ = 0;
  std::vector<device_bytes> owned_;
};

}  // namespace device
SWITCHYARD_NAMESPACE_END
