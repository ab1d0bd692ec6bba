#pragma once
// Compiler and namespace configuration shared by every switchyard header.
//
// Every header opens with SWITCHYARD_NAMESPACE_BEGIN and closes with SWITCHYARD_NAMESPACE_END.
// The inline namespace carries the version and the SIMD instruction set the translation unit
// was compiled for (CUB's scheme): inline functions whose body depends on -mavx2 / -mavx512f
// then get distinct mangled names, so two libraries built with different flags can be linked
// into one program without the linker silently picking one body for both (an ODR violation).
#include "switchyard/version.hpp"

#if defined(__CUDACC__)
#define SWITCHYARD_HOST_DEVICE __host__ __device__
#define SWITCHYARD_DEVICE __device__
#else
#define SWITCHYARD_HOST_DEVICE
#define SWITCHYARD_DEVICE
#endif

#if defined(__CUDA_ARCH__)
#define SWITCHYARD_DEVICE_PASS 1  // this pass compiles device code
#else
#define SWITCHYARD_DEVICE_PASS 0
#endif

#if defined(__GNUC__) || defined(__clang__)
#define SWITCHYARD_FORCE_INLINE inline __attribute__((always_inline))
#define SWITCHYARD_RESTRICT __restrict__
#else
#define SWITCHYARD_FORCE_INLINE inline
#define SWITCHYARD_RESTRICT
#endif

// Bounds checks on tensor views: on in debug builds, off when NDEBUG is defined, and
// overridable either way with -DSWITCHYARD_BOUNDS_CHECKS=0/1.
#ifndef SWITCHYARD_BOUNDS_CHECKS
#ifdef NDEBUG
#define SWITCHYARD_BOUNDS_CHECKS 0
#else
#define SWITCHYARD_BOUNDS_CHECKS 1
#endif
#endif

// The instruction set the host kernels are compiled for. Chosen at compile time from the
// compiler's target macros (-march=native, -mavx2 -mfma, ...); SWITCHYARD_SIMD_SCALAR forces
// the portable fallback. See core/simd/isa.hpp for the run-time check that the CPU has it.
#if defined(SWITCHYARD_SIMD_SCALAR)
#define SWITCHYARD_ISA_TOKEN scalar
#elif defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && defined(__FMA__)
#define SWITCHYARD_ISA_TOKEN avx512
#elif defined(__AVX2__) && defined(__FMA__)
#define SWITCHYARD_ISA_TOKEN avx2
#elif defined(__ARM_NEON) && defined(__aarch64__)
#define SWITCHYARD_ISA_TOKEN neon
#else
#define SWITCHYARD_ISA_TOKEN scalar
#endif

#define SWITCHYARD_CONCAT_IMPL(a, b) a##b
#define SWITCHYARD_CONCAT(a, b) SWITCHYARD_CONCAT_IMPL(a, b)
// nvcc compiles a .cu file twice (host and device passes) and both must agree on every name, so
// CUDA translation units get one fixed tag rather than one that follows host -m flags.
#if defined(__CUDACC__)
#define SWITCHYARD_ABI_NAMESPACE v0_1_cuda
#else
#define SWITCHYARD_ABI_NAMESPACE SWITCHYARD_CONCAT(v0_1_, SWITCHYARD_ISA_TOKEN)
#endif

#define SWITCHYARD_NAMESPACE_BEGIN \
  namespace switchyard {           \
  inline namespace SWITCHYARD_ABI_NAMESPACE {
#define SWITCHYARD_NAMESPACE_END \
  }                              \
  }
