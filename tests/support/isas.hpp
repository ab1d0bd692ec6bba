#pragma once
// The instruction sets a test binary can exercise: the scalar fallback always, and each vector
// set this translation unit was compiled for. Tests run every one the CPU supports, so the
// fallback and the vector paths are checked against the same reference in one run.
#include <tuple>

#include "switchyard/core/simd/simd.hpp"

namespace switchyard::test {

using all_isas = std::tuple<simd::scalar
#if defined(__AVX2__) && defined(__FMA__)
                            , simd::avx2
#endif
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && defined(__FMA__)
                            , simd::avx512
#endif
#if defined(__ARM_NEON) && defined(__aarch64__)
                            , simd::neon
#endif
                            >;

template <class Isa>
bool runnable() {
  return Isa::supported(detect_cpu_features());
}

}  // namespace switchyard::test
