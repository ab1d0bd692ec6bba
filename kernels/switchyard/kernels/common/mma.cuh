#pragma once
// Thin wrappers over the warp-level tensor-core instruction mma.sync.m16n8k16 (sm_80 and later,
// including sm_90a), f32 accumulation, bf16 or f16 operands. Fragment ownership (PTX ISA,
// "Matrix Fragments for mma.m16n8k16"), with g = lane / 4 and c = lane % 4:
//   A (16 x 16, row-major), 4 registers of 2 elements: a0 (g, 2c..2c+1), a1 (g+8, 2c..),
//       a2 (g, 2c+8..), a3 (g+8, 2c+8..)
//   B (16 x 8, "col": n-major, k contiguous), 2 registers: b0 (k 2c..2c+1, n g), b1 (k 2c+8.., n g)
//   C/D (16 x 8, f32): d0, d1 (g, 2c..2c+1), d2, d3 (g+8, 2c..2c+1)
// The weight matrices are stored [out, in] (in contiguous), which is exactly B's n-major layout.
#include <cstdint>

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "switchyard/config.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace kernels::mma {

// Operand element types of the tensor-core product.
struct bf16_operands {
  __device__ __forceinline__ static std::uint32_t pack(float lo, float hi) {
    __nv_bfloat162 const v = __floats2bfloat162_rn(lo, hi);  // .x = lo (lower address / bits)
    return *reinterpret_cast<std::uint32_t const*>(&v);
  }
  __device__ __forceinline__ static void run(float (&d)[4], std::uint32_t const (&a)[4], std::uint32_t const (&b)[2]) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
  }
};

struct f16_operands {
  __device__ __forceinline__ static std::uint32_t pack(float lo, float hi) {
    __half2 const v = __floats2half2_rn(lo, hi);
    return *reinterpret_cast<std::uint32_t const*>(&v);
  }
  __device__ __forceinline__ static void run(float (&d)[4], std::uint32_t const (&a)[4], std::uint32_t const (&b)[2]) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
  }
};

// fp8 e4m3 x e4m3 -> f32, mma.sync.m16n8k32 (sm_89 and later: Ada, Hopper). The fragments hold
// four 8-bit elements per register where the 16-bit shape holds two, at the same positions in
// 32-bit words: with g = lane / 4, c = lane % 4,
//   A (16 x 32): a0 (g, 4c..4c+3), a1 (g+8, 4c..), a2 (g, 16+4c..), a3 (g+8, 16+4c..)
//   B (32 x 8, n-major): b0 (k 4c..4c+3, n g), b1 (k 16+4c.., n g);  C/D as m16n8k16's.
// Compiled for an older target the instruction does not exist: the body traps there, and the
// launchers never choose it (fp8_mma_supported).
struct e4m3_operands {
  __device__ __forceinline__ static void run(float (&d)[4], std::uint32_t const (&a)[4], std::uint32_t const (&b)[2]) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 890
    asm volatile(
        "mma.sync.aligned.m16n8k32.row.col.f32.e4m3.e4m3.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#else
    (void)d, (void)a, (void)b;
    __trap();
#endif
  }
};

// Whether code built for virtual architecture `cc` (major * 10 + minor: a kernel's
// cudaFuncAttributes::ptxVersion) has the fp8 tensor-core products.
constexpr bool fp8_mma_supported(int cc) noexcept { return cc >= 89; }

}  // namespace kernels::mma
SWITCHYARD_NAMESPACE_END
