#pragma once
// Every CUDA runtime call goes through SWITCHYARD_CUDA_CHECK, which turns a failure into a
// switchyard::cuda_error naming the call, the file and line, and CUDA's own message.
#include <cuda_runtime_api.h>

#include "switchyard/core/error.hpp"

SWITCHYARD_NAMESPACE_BEGIN

class cuda_error : public error {
 public:
  using error::error;
};

namespace detail {
inline void cuda_check(cudaError_t status, char const* call, char const* file, int line) {
  if (status == cudaSuccess) return;
  fail<cuda_error>("cuda", call, " failed at ", file, ":", line, ": ", cudaGetErrorName(status), " (",
                   cudaGetErrorString(status), ")");
}
}  // namespace detail

SWITCHYARD_NAMESPACE_END

#define SWITCHYARD_CUDA_CHECK(expr) ::switchyard::detail::cuda_check((expr), #expr, __FILE__, __LINE__)
