#pragma once
// The small kernels that glue the whole-model forward together (device/causal_lm.cuh): picking
// the rows a call returns logits for, keeping each sequence's tokens on the device (the history
// the sampler's repetition penalty reads) in a pool laid out like the KV cache's blocks, and
// moving per-sequence sampler states in and out of a call's rows. Bookkeeping, not arithmetic:
// every value is copied, never computed.
#include <cstdint>

#include <cuda_runtime_api.h>

#include "switchyard/kernels/common/cuda_check.cuh"

SWITCHYARD_NAMESPACE_BEGIN
namespace device {

inline constexpr int glue_threads = 128;

// dst[i, :] = src[rows[i], :], n columns.
__global__ void __launch_bounds__(glue_threads)
    gather_rows_kernel(float const* __restrict__ src, std::int32_t const* __restrict__ rows, int n,
                       float* __restrict__ dst) {
  std::int64_t const i = blockIdx.x;
  float const* s = src + static_cast<std::int64_t>(rows[i]) * n;
  for (int c = threadIdx.x; c < n; c += glue_threads) dst[i * n + c] = s[c];
}

// Token t of the call goes to the history pool where its KV entry goes: slot position % bs of
// block tables[seq_of[t]][position / bs]. Rows with a negative position (graph padding) are skipped.
__global__ void __launch_bounds__(glue_threads)
    write_history_kernel(std::int32_t* __restrict__ pool, int const* __restrict__ tables, int stride,
                         int const* __restrict__ seq_of, int const* __restrict__ positions,
                         std::int32_t const* __restrict__ tokens, int T, int block_size) {
  int const t = blockIdx.x * glue_threads + threadIdx.x;
  if (t >= T) return;
  int const p = positions[t];
  if (p < 0) return;
  int const block = tables[static_cast<std::int64_t>(seq_of[t]) * stride + p / block_size];
  pool[static_cast<std::int64_t>(block) * block_size + p % block_size] = tokens[t];
}

// out[offsets[r] + i] = token i of row r's sequence (call step steps[r]), i < lengths[steps[r]].
// One block per row.
__global__ void __launch_bounds__(glue_threads)
    gather_history_kernel(std::int32_t const* __restrict__ pool, int const* __restrict__ tables, int stride,
                          int const* __restrict__ lengths, std::int32_t const* __restrict__ steps,
                          std::int32_t const* __restrict__ offsets, int block_size, std::int32_t* __restrict__ out) {
  int const r = blockIdx.x, st = steps[r];
  int const* table = tables + static_cast<std::int64_t>(st) * stride;
  std::int32_t* dst = out + offsets[r];
  for (int i = threadIdx.x; i < lengths[st]; i += glue_threads)
    dst[i] = pool[static_cast<std::int64_t>(table[i / block_size]) * block_size + i % block_size];
}

// dst[dst_index[r]] = src[src_index[r]], records of `words` 64-bit words (sampler states).
__global__ void __launch_bounds__(glue_threads)
    copy_records_kernel(std::uint64_t const* __restrict__ src, std::int32_t const* __restrict__ src_index,
                        std::uint64_t* __restrict__ dst, std::int32_t const* __restrict__ dst_index, int rows, int words) {
  int const i = blockIdx.x * glue_threads + threadIdx.x;
  if (i >= rows * words) return;
  int const r = i / words, w = i % words;
  std::int64_t const s = src_index ? src_index[r] : r, d = dst_index ? dst_index[r] : r;
  dst[d * words + w] = src[s * words + w];
}

inline void check_glue_launch() { SWITCHYARD_CUDA_CHECK(cudaGetLastError()); }

}  // namespace device
SWITCHYARD_NAMESPACE_END
