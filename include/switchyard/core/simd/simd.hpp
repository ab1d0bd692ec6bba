#pragma once
// The SIMD layer: one struct per instruction set with the same static operations (zero, set1,
// load, load_as_f32, store, add, sub, mul, div, fma, max, reduce_add, reduce_max, exp2) over its native f32 vector `vf`.
// Kernels are templates over such an `Isa`, so one kernel body serves every instruction set and
// tests can run the scalar and the vector instance side by side in one binary.
//
// simd::native is the widest set this translation unit was compiled for (see config.hpp);
// simd::ensure_native_supported() checks at run time that the CPU can execute it, so a binary
// built with -march=native on one machine fails with a clear message, not SIGILL, on another.
#include <concepts>

#include "switchyard/core/cpu_features.hpp"
#include "switchyard/core/error.hpp"
#include "switchyard/core/simd/avx2.hpp"
#include "switchyard/core/simd/avx512.hpp"
#include "switchyard/core/simd/neon.hpp"
#include "switchyard/core/simd/scalar.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace simd {

template <class Isa>
concept isa = requires(typename Isa::vf v, float const* p, float* q, format::bf16 const* b) {
  { Isa::lanes } -> std::convertible_to<int>;
  { Isa::registers } -> std::convertible_to<int>;
  { Isa::name } -> std::convertible_to<char const*>;
  { Isa::supported(detect_cpu_features()) } -> std::same_as<bool>;
  { Isa::zero() } -> std::same_as<typename Isa::vf>;
  { Isa::set1(1.0f) } -> std::same_as<typename Isa::vf>;
  { Isa::load(p) } -> std::same_as<typename Isa::vf>;
  { Isa::load_as_f32(b) } -> std::same_as<typename Isa::vf>;
  Isa::store(q, v);
  { Isa::add(v, v) } -> std::same_as<typename Isa::vf>;
  { Isa::mul(v, v) } -> std::same_as<typename Isa::vf>;
  { Isa::div(v, v) } -> std::same_as<typename Isa::vf>;
  { Isa::fma(v, v, v) } -> std::same_as<typename Isa::vf>;
  { Isa::reduce_add(v) } -> std::convertible_to<float>;
  { Isa::sub(v, v) } -> std::same_as<typename Isa::vf>;
  { Isa::max(v, v) } -> std::same_as<typename Isa::vf>;
  { Isa::reduce_max(v) } -> std::convertible_to<float>;
  { Isa::exp2(v) } -> std::same_as<typename Isa::vf>;
};

#define SWITCHYARD_NATIVE_ISA_IMPL(token) ::switchyard::simd::token
using native = SWITCHYARD_NATIVE_ISA_IMPL(SWITCHYARD_ISA_TOKEN);
#undef SWITCHYARD_NATIVE_ISA_IMPL

static_assert(isa<scalar> && isa<native>);

// Throws unsupported_cpu when the CPU cannot run the instruction set this code was built for.
inline void ensure_native_supported() {
  static bool const ok = native::supported(detect_cpu_features());
  require<unsupported_cpu>(ok, "simd", "this program was compiled for ", native::name,
                           " but the CPU offers only: ", detect_cpu_features().describe(),
                           "; rebuild without -march=native (or with SWITCHYARD_NATIVE=OFF)");
}

}  // namespace simd
SWITCHYARD_NAMESPACE_END
