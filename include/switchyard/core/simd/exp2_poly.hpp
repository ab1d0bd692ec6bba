#pragma once
// The polynomial half of the SIMD layer's exp2: 2^f for f in [-0.5, 0.5], Taylor series of
// e^(f ln 2) to degree 7 in Horner form. Truncation error (f ln2)^8 / 8! <= 5e-9 relative, below
// f32's half ulp; with the rounding of seven FMAs the result is within ~2 ulp of 2^f. Each ISA
// splits x = n + f (n = round(x)) with its own rounding instruction and scales by 2^n with its
// own exponent arithmetic; only this shared part lives here.
#include "switchyard/config.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace simd::detail {

template <class Isa>
SWITCHYARD_FORCE_INLINE typename Isa::vf exp2_poly(typename Isa::vf f) noexcept {
  auto p = Isa::set1(1.5252733804059841e-05f);
  p = Isa::fma(p, f, Isa::set1(1.5403530393381608e-04f));
  p = Isa::fma(p, f, Isa::set1(1.3333558146428443e-03f));
  p = Isa::fma(p, f, Isa::set1(9.6181291076284772e-03f));
  p = Isa::fma(p, f, Isa::set1(5.5504108664821580e-02f));
  p = Isa::fma(p, f, Isa::set1(2.4022650695910071e-01f));
  p = Isa::fma(p, f, Isa::set1(6.9314718055994531e-01f));
  return Isa::fma(p, f, Isa::set1(1.0f));
}

}  // namespace simd::detail
SWITCHYARD_NAMESPACE_END
