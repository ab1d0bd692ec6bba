#pragma once
// Hopper (sm_90a) building blocks as thin PTX wrappers: shared-memory barriers with transaction
// counts (mbarrier), the bulk tensor copy engine (TMA: cp.async.bulk.tensor), and warpgroup
// tensor-core products (wgmma.mma_async) on operands described in shared memory.
//
// Facts this file relies on (PTX ISA 8.x, "Asynchronous warpgroup level matrix multiply"):
//   - a warpgroup is 4 consecutive warps; wgmma m64nNk16 reads A (64 x 16) and B (N x 16), both
//     "K-major" here (k contiguous), from shared memory through 64-bit matrix descriptors;
//   - descriptor: bits 0-13 start address >> 4, 16-29 leading byte offset >> 4 (unused for
//     swizzled K-major layouts), 32-45 stride byte offset >> 4 (between groups of 8 rows: 1024
//     bytes for 128-byte rows), 62-63 swizzle (1: 128-byte);
//   - the 128-byte swizzle stores row r's 16-byte chunk j at chunk j ^ (r % 8) of its 128-byte row,
//     in a tile whose base is 1024-byte aligned; TMA with CU_TENSOR_MAP_SWIZZLE_128B writes exactly
//     that layout, and a k16 step inside a 64-wide tile is the descriptor's start + 32 bytes;
//   - accumulators (f32, m64nN): warp w of the group holds rows 16 w + g and 16 w + g + 8 (g =
//     lane / 4), element 4 i + 2 half + q at column 8 i + 2 (lane % 4) + q -- the m16n8 layout of
//     mma.sync repeated along N;
//   - data written to shared memory by ordinary stores must be fenced (fence.proxy.async) before
//     wgmma or TMA (the async proxy) reads it.
// Everything here compiles to a trap below sm_90a (and on plain sm_90 or sm_100+ code, which lack
// the "a" features); launchers ask sm90a_code_available() first.
#include <cstddef>
#include <cstdint>

#include <cuda.h>
#include <cuda_runtime_api.h>

#include "switchyard/config.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace kernels::sm90 {

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900 && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define SWITCHYARD_SM90A 1
#endif

__device__ __forceinline__ std::uint32_t smem_addr(void const* p) {
  return static_cast<std::uint32_t>(__cvta_generic_to_shared(p));
}

__device__ __forceinline__ void mbarrier_init(std::uint64_t* bar, std::uint32_t count) {
#if defined(SWITCHYARD_SM90A)
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(smem_addr(bar)), "r"(count));
  asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
#else
  (void)bar, (void)count;
  __trap();
#endif
}

// One arrival that also announces `bytes` of TMA traffic the phase must wait for.
__device__ __forceinline__ void mbarrier_arrive_expect_tx(std::uint64_t* bar, std::uint32_t bytes) {
#if defined(SWITCHYARD_SM90A)
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(smem_addr(bar)), "r"(bytes) : "memory");
#else
  (void)bar, (void)bytes;
  __trap();
#endif
}

// Blocks until the barrier's phase with parity `parity` has completed.
__device__ __forceinline__ void mbarrier_wait(std::uint64_t* bar, std::uint32_t parity) {
#if defined(SWITCHYARD_SM90A)
  asm volatile(
      "{\n"
      ".reg .pred done;\n"
      "wait_%=:\n"
      "mbarrier.try_wait.parity.shared::cta.b64 done, [%0], %1;\n"
      "@!done bra wait_%=;\n"
      "}\n" ::"r"(smem_addr(bar)),
      "r"(parity)
      : "memory");
#else
  (void)bar, (void)parity;
  __trap();
#endif
}

// TMA: the box at coordinates (c0 innermost, c1) of a 2D tensor map into shared memory at dst;
// completion is counted on `bar` in bytes.
__device__ __forceinline__ void tma_load_2d(void* dst, CUtensorMap const* map, int c0, int c1, std::uint64_t* bar) {
#if defined(SWITCHYARD_SM90A)
  asm volatile(
      "cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3}], [%4];\n" ::"r"(
          smem_addr(dst)),
      "l"(reinterpret_cast<std::uint64_t>(map)), "r"(c0), "r"(c1), "r"(smem_addr(bar))
      : "memory");
#else
  (void)dst, (void)map, (void)c0, (void)c1, (void)bar;
  __trap();
#endif
}

// Ordinary shared-memory stores become visible to wgmma / TMA reads.
__device__ __forceinline__ void fence_async_shared() {
#if defined(SWITCHYARD_SM90A)
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
#endif
}

// Descriptor of a K-major tile with 128-byte rows and the 128-byte swizzle, at shared address p
// (1024-byte aligned tile; p may be offset by 32-byte k16 steps inside it).
__device__ __forceinline__ std::uint64_t desc_k_major_sw128(void const* p) {
  std::uint64_t const addr = smem_addr(p);
  return ((addr & 0x3FFFF) >> 4) | (std::uint64_t{16 >> 4} << 16) | (std::uint64_t{1024 >> 4} << 32) |
         (std::uint64_t{1} << 62);
}

__device__ __forceinline__ void wgmma_fence() {
#if defined(SWITCHYARD_SM90A)
  asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
#endif
}
__device__ __forceinline__ void wgmma_commit() {
#if defined(SWITCHYARD_SM90A)
  asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
#endif
}
__device__ __forceinline__ void wgmma_wait_all() {
#if defined(SWITCHYARD_SM90A)
  asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory");
#endif
}

// Keeps the compiler from moving accumulator reads or writes across the asynchronous product.
__device__ __forceinline__ void fence_operands(float (&d)[32]) {
#pragma unroll
  for (int i = 0; i < 32; ++i) asm volatile("" : "+f"(d[i])::"memory");
}

// d (64 x 64, f32) += A (64 x 16, bf16) B^T (B: 64 x 16, bf16), both K-major in shared memory.
// accumulate = false overwrites d instead (scale-d = 0).
__device__ __forceinline__ void wgmma_m64n64k16_bf16(float (&d)[32], std::uint64_t desc_a, std::uint64_t desc_b,
                                                     bool accumulate) {
#if defined(SWITCHYARD_SM90A)
  asm volatile(
      "{\n"
      ".reg .pred p;\n"
      "setp.ne.b32 p, %34, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 "
      "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
      "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, "
      "%32, %33, p, 1, 1, 0, 0;\n"
      "}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]),
        "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]),
        "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]),
        "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
      : "l"(desc_a), "l"(desc_b), "r"(static_cast<std::int32_t>(accumulate)));
#else
  (void)d, (void)desc_a, (void)desc_b, (void)accumulate;
  __trap();
#endif
}

// Whether the code the driver runs on the current device for this binary is sm_90a code, i.e.
// whether the wrappers above are instructions rather than traps. The version numbers of
// cudaFuncAttributes cannot say it: code for plain 90 reports binaryVersion and ptxVersion 90
// too, and sm_100+ code reports more. So a probe kernel, compiled with the same targets as the
// kernels that use these wrappers, carries a marker only in its SWITCHYARD_SM90A variant -- a
// static shared array of sm90a_probe_bytes -- and the driver reports the shared size of the
// variant it picked for the device (no launch: safe during stream capture, cheap to ask again).
inline constexpr int sm90a_probe_bytes = 1552;  // any size no other variant has (they have 0)

template <int = 0>  // a template, so that every unit including this header may define it
__global__ void sm90a_probe_kernel(int* sink) {
#if defined(SWITCHYARD_SM90A)
  constexpr int words = sm90a_probe_bytes / 4;
  __shared__ int tag[words];  // used (indexed at run time, read back), so ptxas keeps it whole
  tag[threadIdx.x % words] = static_cast<int>(threadIdx.x);
  __syncthreads();
  if (sink != nullptr) *sink = tag[(threadIdx.x + 1) % words];
#else
  (void)sink;
#endif
}

inline bool sm90a_code_available() {
  cudaFuncAttributes attr{};
  if (cudaFuncGetAttributes(&attr, sm90a_probe_kernel<>) != cudaSuccess) {
    (void)cudaGetLastError();  // no device, or no code for it
    return false;
  }
  return attr.sharedSizeBytes == static_cast<std::size_t>(sm90a_probe_bytes);
}

}  // namespace kernels::sm90
SWITCHYARD_NAMESPACE_END
