#pragma once
// a * b + c with one rounding wherever the target has FMA, two where it has none, and never a
// mix: compilers contract a*b+c into an FMA (or not) per instantiation under -ffp-contract=fast,
// which would make the same dot product round differently in the GEMV and the GEMM and break
// the batch independence of the MoE layer. std::fma is one instruction where __FMA__ (x86) or
// AArch64 holds; without FMA hardware no contraction can happen, so the plain form is exact
// to the same rule.
#include <cmath>

#include "switchyard/config.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace detail {

SWITCHYARD_FORCE_INLINE float madd(float a, float b, float c) noexcept {
#if defined(__FMA__) || defined(__aarch64__)
  return std::fma(a, b, c);
#else
  return a * b + c;
#endif
}

}  // namespace detail
SWITCHYARD_NAMESPACE_END
