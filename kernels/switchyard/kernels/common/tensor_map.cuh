#pragma once
// Host side of the bulk tensor copy engine (TMA): a CUtensorMap describing a row-major bf16
// matrix for boxed copies with the 128-byte swizzle (sm90.cuh, grouped_wgmma.cuh). The encoder
// is a driver function; it is looked up through the runtime (cudaGetDriverEntryPointByVersion)
// so that nothing links libcuda directly.
#include <cstdint>

#include <cuda.h>
#include <cudaTypedefs.h>
#include <cuda_runtime_api.h>

#include "switchyard/core/error.hpp"
#include "switchyard/kernels/common/cuda_check.cuh"

SWITCHYARD_NAMESPACE_BEGIN
namespace kernels {

namespace detail {
// The driver's cuTensorMapEncodeTiled, or null where the driver has none.
inline PFN_cuTensorMapEncodeTiled_v12000 tensor_map_encoder() {
  using encode_fn = PFN_cuTensorMapEncodeTiled_v12000;
  static encode_fn const encode = [] {
    void* fn = nullptr;
    cudaDriverEntryPointQueryResult found{};
    if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &fn, 12000, cudaEnableDefault, &found) != cudaSuccess ||
        found != cudaDriverEntryPointSuccess) {
      (void)cudaGetLastError();
      fn = nullptr;
    }
    return reinterpret_cast<encode_fn>(fn);
  }();
  return encode;
}
}  // namespace detail

// Whether the driver has the encoder make_bf16_tensor_map needs (a CUDA 12 or later driver).
inline bool tensor_map_encoder_available() { return detail::tensor_map_encoder() != nullptr; }

// A 2D map over `base` [rows, cols] bf16 (rows contiguous, cols % 8 == 0, base 16-byte aligned),
// boxes of box_cols (innermost, <= 64: one 128-byte swizzle span) x box_rows. Rows past `rows`
// read as zeros.
inline CUtensorMap make_bf16_tensor_map(void const* base, std::uint64_t rows, std::uint64_t cols, std::uint32_t box_rows,
                                        std::uint32_t box_cols) {
  char const* where = "kernels::make_bf16_tensor_map";
  auto const encode = detail::tensor_map_encoder();
  require(encode != nullptr, where, "the CUDA driver has no cuTensorMapEncodeTiled (a CUDA 12 or later driver is needed)");
  require(reinterpret_cast<std::uintptr_t>(base) % 16 == 0 && cols % 8 == 0 && box_cols * 2 <= 128, where,
          "a [", rows, ", ", cols, "] bf16 matrix at ", base, " with ", box_rows, " x ", box_cols,
          " boxes: needs 16-byte alignment, cols % 8 == 0 and boxes at most 64 wide");
  CUtensorMap map{};
  cuuint64_t const dims[2] = {cols, rows};
  cuuint64_t const strides[1] = {cols * 2};  // bytes between rows
  cuuint32_t const box[2] = {box_cols, box_rows};
  cuuint32_t const element_strides[2] = {1, 1};
  CUresult const status =
      encode(&map, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 2, const_cast<void*>(base), dims, strides, box, element_strides,
             CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
             CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  if (status != CUDA_SUCCESS)
    switchyard::detail::fail<cuda_error>(where, "cuTensorMapEncodeTiled failed (CUresult ", static_cast<int>(status),
                                         ") for a [", rows, ", ", cols, "] bf16 matrix with ", box_rows, " x ", box_cols,
                                         " boxes");
  return map;
}

}  // namespace kernels
SWITCHYARD_NAMESPACE_END
