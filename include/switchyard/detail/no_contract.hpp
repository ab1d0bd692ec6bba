#pragma once
// round_here(x): x, rounded to f32 at this point and opaque to the optimizer, so that a following
// add cannot be contracted with the product that made x into one FMA. Bit-compatible
// quantizers need this: the gguf package (numpy) rounds x * id and then adds 8.5, and under
// -ffp-contract=fast GCC would fuse the two (one rounding instead of two) and change the bytes.
#include "switchyard/config.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace detail {

SWITCHYARD_HOST_DEVICE SWITCHYARD_FORCE_INLINE float round_here(float x) noexcept {
#if defined(__CUDA_ARCH__)
  return __fadd_rn(x, 0.0f);  // the _rn intrinsics are never contracted
#elif defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
  __asm__("" : "+x"(x));
  return x;
#elif defined(__GNUC__) && defined(__aarch64__)
  __asm__("" : "+w"(x));
  return x;
#else
  volatile float v = x;
  return v;
#endif
}

}  // namespace detail
SWITCHYARD_NAMESPACE_END
