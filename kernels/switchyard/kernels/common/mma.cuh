#pragma once
// Thin wrappers over the warp-level tensor-core instructions mma.sync.m16n8k16 and its 2:4 sparse
// twin mma.sp.m16n8k32 (sm_80 and later, including sm_90a), f32 accumulation, bf16 or f16
// operands. Fragment ownership (PTX ISA, "Matrix Fragments for mma.m16n8k16"), with g = lane / 4
// and c = lane % 4:
//   A (16 x 16, row-major), 4 registers of 2 elements: a0 (g, 2c..2c+1), a1 (g+8, 2c..),
//       a2 (g, 2c+8..), a3 (g+8, 2c+8..)
//   B (16 x 8, "col": n-major, k contiguous), 2 registers: b0 (k 2c..2c+1, n g), b1 (k 2c+8.., n g)
//   C/D (16 x 8, f32): d0, d1 (g, 2c..2c+1), d2, d3 (g+8, 2c..2c+1)
// The weight matrices are stored [out, in] (in contiguous), which is exactly B's n-major layout.
//
// run_sparse: mma.sp::ordered_metadata.m16n8k32 (sm_80 and later), A 2:4 sparse: of every four
// consecutive elements of an A row (a "chunk") two are kept, the A operand holds only those (16
// per row for k = 32) and a metadata register says where they sat. Fragments (PTX ISA 9.7.14.6.2.2,
// "Matrix Fragments for sparse mma.m16n8k32 with .f16 and .bf16 types", and Figure 122), with
// g = lane / 4 and c = lane % 4:
//   A (16 x 32 dense, 16 x 16 kept), 4 registers of 2 kept values (lower position in the low half):
//       a0 (row g, chunk c: columns 4c..4c+3), a1 (row g+8, chunk c), a2 (row g, chunk c+4: columns
//       16+4c..), a3 (row g+8, chunk c+4)
//   B (32 x 8, n-major), 4 registers: b0 (k 2c..2c+1, n g), b1 (k 8+2c..), b2 (k 16+2c..),
//       b3 (k 24+2c..), i.e. two m16n8k16 B fragments, k 0..15 then 16..31
//   C/D: as m16n8k16's
//   e (metadata), sparsity selector 0: only threads c = 0 and 1 of each quad are read. Thread c
//       holds the 16-column half c of rows g and g+8: bits 0..15 describe row g, columns
//       16c..16c+15, bits 16..31 row g+8, same columns; within a half, bits 4j..4j+3 describe
//       chunk j (columns 16c+4j..), its low 2 bits the position (0..3) of the first kept value,
//       the high 2 the second's. ::ordered_metadata asks for the two positions ascending (the
//       faster form; PTX ISA: the unordered one "may have substantially reduced performance").
//   The metadata layout is read off in two independent places that agree: XLA's Triton sparse
//   dot lowering (openxla/xla, SparseLocalLoadToLLVM: row = lane / 4, column = lane % 2, the
//   row + 8 value in the upper 16 bits, "based on mma.sp.sync.aligned.m16n8k32"), and the Triton
//   tl.dot_sparse implementation notes that probed it on an sm_89 card ("m16n8k32: row = T>>2,
//   col = T%2, E[15:0] = meta[row][col], E[31:16] = meta[row + 8][col]"; same i16-per-16-columns
//   metadata, nibble j = chunk j, first kept index in bits 1:0). A format sparse24 block's `pos`
//   is exactly this: its low 16 bits are columns 0..15 of the row, its high 16 columns 16..31.
//   tests/cuda/test_moe_cuda_sparse24.cu checks one product against a plain loop on the device.
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
  __device__ __forceinline__ static void run_sparse(float (&d)[4], std::uint32_t const (&a)[4],
                                                    std::uint32_t const (&b)[4], std::uint32_t e) {
    asm volatile(
        "mma.sp::ordered_metadata.sync.aligned.m16n8k32.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
        "{%8,%9,%10,%11}, {%0,%1,%2,%3}, %12, 0x0;\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]), "r"(b[2]), "r"(b[3]), "r"(e));
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
  __device__ __forceinline__ static void run_sparse(float (&d)[4], std::uint32_t const (&a)[4],
                                                    std::uint32_t const (&b)[4], std::uint32_t e) {
    asm volatile(
        "mma.sp::ordered_metadata.sync.aligned.m16n8k32.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
        "{%8,%9,%10,%11}, {%0,%1,%2,%3}, %12, 0x0;\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]), "r"(b[2]), "r"(b[3]), "r"(e));
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
