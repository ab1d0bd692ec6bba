#pragma once
// The device dense layers' view of a weight matrix (device_matrix<W>), the kernel choice
// (linear_path) and the host-side checks every launch makes. The matrix has the host's layout --
// [rows, cols] row-major, block formats blocked along cols -- so the bytes a host linear<W> reads
// serve the device unchanged.
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "switchyard/core/error.hpp"
#include "switchyard/kernels/common/cuda_check.cuh"
#include "switchyard/kernels/common/device_format.cuh"
#include "switchyard/kernels/expert/gemv.cuh"

SWITCHYARD_NAMESPACE_BEGIN
namespace kernels::linear {

// A weight matrix on the device in the host's layout: [rows, cols] row-major, block formats
// blocked along cols (cols counts elements, a multiple of the format's block).
template <class W>
struct device_matrix {
  W const* data = nullptr;
  int rows = 0, cols = 0;
  float const* row_scales = nullptr;    // int8 / fp8 codes: one f32 scale per row (optional)
  float const* block_scales = nullptr;  // fp8 e4m3: 128 x 128 block scales, [ceil(rows/128), ceil(cols/128)] (DeepSeek-V3 weight_scale_inv)
};

// Which kernel a gemm call runs: automatic picks by T (linear_path_for), the others force one.
enum class linear_path { automatic, gemv, mma };

inline char const* name(linear_path p) noexcept {
  switch (p) {
    case linear_path::gemv: return "gemv";
    case linear_path::mma: return "mma";
    default: return "automatic";
  }
}

// Formats whose codes take per-row or 128 x 128 block scales (as in the MoE layer: int8 and fp8
// codes; block formats carry their own scales).
template <class W>
inline constexpr bool takes_scales = expert::takes_block_scales<W>;

// The alignment (bytes) a matrix's first element needs: the decoder's widest load (16 bytes for
// f32 / bf16 / f16 rows, 8 for fp8 and int8 codes), or the block's own alignment for block
// formats, whose rows are read with 2-byte (q8_0, q4_0, int4 groups) or 4-byte (sparse24) loads.
// Rows after the first are aligned as well because cols is a multiple of row_align.
template <class W>
inline constexpr std::size_t weight_alignment =
    device_format<W>::block_elems == 1 ? (8 * sizeof(W) < 16 ? 8 * sizeof(W) : 16) : alignof(W);

namespace detail {

inline bool aligned(void const* p, std::size_t a) { return reinterpret_cast<std::uintptr_t>(p) % a == 0; }

// The checks a weight matrix must pass before any kernel reads it (`where` names the caller).
template <class W>
void check_matrix(device_matrix<W> const& w, char const* where) {
  static_assert(check_device_format<W>());
  constexpr int align = device_format<W>::row_align;
  require(w.data != nullptr, where, "the weight matrix is null");
  require(w.rows > 0 && w.cols > 0, where, "the weight matrix is [", w.rows, ", ", w.cols, "]: both must be positive");
  require(w.cols % align == 0, where, format::traits<W>::name, " rows are read ", align,
          " elements at a time (the format's block or 8), but cols = ", w.cols, " is not a multiple of ", align);
  require(aligned(w.data, weight_alignment<W>), where, "the weight matrix must be ", weight_alignment<W>,
          "-byte aligned for ", format::traits<W>::name);
  require(takes_scales<W> || (!w.row_scales && !w.block_scales), where, "scales are for int8 and fp8 codes; ",
          format::traits<W>::name, " carries its own");
  require(!(w.row_scales && w.block_scales), where, "per-row scales and block scales together: give one kind");
}

inline void check_launch(char const* where, char const* what) {
  cudaError_t const status = cudaGetLastError();
  if (status != cudaSuccess)
    switchyard::detail::fail<cuda_error>(where, "launching ", what, " failed: ", cudaGetErrorName(status), " (",
                                         cudaGetErrorString(status), ")");
}

}  // namespace detail
}  // namespace kernels::linear
SWITCHYARD_NAMESPACE_END
