#pragma once
// Index checks usable from host and device code. On the host a failed check throws
// switchyard::index_error with a message naming what was indexed; in device code it traps
// (a kernel cannot throw), which the CUDA launcher reports as a launch failure.
#include <cstdint>

#include "switchyard/config.hpp"
#if !SWITCHYARD_DEVICE_PASS
#include "switchyard/core/error.hpp"
#endif

SWITCHYARD_NAMESPACE_BEGIN

using index_t = std::int64_t;

namespace detail {

SWITCHYARD_HOST_DEVICE inline void check_index(bool ok, char const* what, int dim, index_t index,
                                               index_t extent) {
  if (ok) return;
#if SWITCHYARD_DEVICE_PASS
  (void)what, (void)dim, (void)index, (void)extent;
  __trap();
#else
  fail<index_error>("tensor_view", what, ": index ", index, " out of range [0, ", extent,
                    ") in dimension ", dim);
#endif
}

}  // namespace detail
SWITCHYARD_NAMESPACE_END
