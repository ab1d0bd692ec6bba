#pragma once
// What device::load can be asked for (device/load.cuh): the KV cache's format and size, the
// largest call, the decode batch CUDA graphs are captured for, whether weights may be widened.
// Light to include (no CUDA headers): a host unit that only passes options along can use it.
#include "switchyard/config.hpp"
#include "switchyard/core/check.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace device {

// The element format of the device KV cache (the host cache's formats: paged_kv_cache.hpp).
enum class cache_format { f32, bf16, f16, int8, e4m3 };

constexpr char const* name(cache_format f) {
  switch (f) {
    case cache_format::f32: return "f32";
    case cache_format::bf16: return "bf16";
    case cache_format::f16: return "f16";
    case cache_format::int8: return "int8";
    case cache_format::e4m3: return "e4m3";
  }
  return "?";
}

// How the matrices are stored on the device: each in its file's format where the device computes
// it (others widened to bf16), or every one converted to bf16 (halves an f32 checkpoint; with the
// host loaded as model::weight_format::bf16 the two backends then hold the same numbers).
enum class weight_storage { as_stored, bf16 };

// Which kernels the projections and the experts run: automatic (f32 GEMV for up to 8 rows, the
// bf16 tensor-core GEMM beyond: linear::linear_path_for, kernels::moe's rule), f32 (the GEMV path
// for every call: activations stay f32, as the host's activations::f32), tensor_cores (the
// tensor-core GEMMs for every call).
enum class arithmetic { automatic, f32, tensor_cores };

struct load_options {
  cache_format cache = cache_format::bf16;
  index_t block_size = 16;   // tokens per cache block (a multiple of 16)
  index_t blocks = 1024;     // per layer; every sequence's blocks come from this pool
  // The longest sequence (tokens); 0: the whole pool. Sizes the block tables (and a captured
  // graph's), so a huge pool with short sequences need not pay for pool-long tables.
  index_t max_sequence_length = 0;
  int max_tokens = 2048;       // tokens in one forward call, all steps together (the workspace)
  int max_decode_batch = 64;   // single-token steps a CUDA graph serves; also sample()'s rows
  int max_sequences = 1024;    // sequences sample() keeps a random state for at once
  bool graphs = true;          // CUDA graphs for decode (set_graphs changes it later)
  // true: refuse (unsupported_config, naming the tensor) a matrix the device would widen to bf16
  // (formats without a device kernel: K-quants, iq4, q4_1, q5_*, mxfp4, ...; f32 expert banks).
  bool exact_formats = false;
  weight_storage weights = weight_storage::as_stored;
  arithmetic paths = arithmetic::automatic;
  bool allow_extra_tensors = false;  // as model::load_options
  index_t experts_per_token = 0;     // as model::load_options: > 0 overrides the checkpoint's top-k
};

}  // namespace device
SWITCHYARD_NAMESPACE_END
