#pragma once
// Architecture tags for CUDA kernels (CUTLASS-style dispatch policies): a kernel template takes
// one, and the launcher picks it from the device's compute capability.
#include "switchyard/config.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace kernels {

struct sm80 {
  static constexpr int compute_capability = 80;  // Ampere: mma.sync, cp.async
};
struct sm90a {
  static constexpr int compute_capability = 90;  // Hopper: wgmma, TMA (arch-specific "a" target)
};

}  // namespace kernels
SWITCHYARD_NAMESPACE_END
