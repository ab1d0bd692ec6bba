// The device attention blocks at Llama-3-8B-like head shapes (32 query heads, 8 KV heads, head
// dim 128): causal prefill at 2k / 8k / 32k tokens through the mma.sync kernel and, on sm_90a
// code, the wgmma + TMA kernel (plus a sliding window of 4096 at 32k, where skipped tiles should
// cut the time), and split-K decode of one token for a batch of 8 sequences over a bf16 paged
// cache (16-token blocks, scattered) at 8k and 32k context. Prefill is quoted as TFLOP/s of the
// pairs the mask keeps (4 D FLOP each), decode as cache GB/s (K and V bytes read once). Medians
// over repetitions timed with CUDA events, each pair around back-to-back launches only (the
// host-side setup -- flash_prepare, the decode's split count -- runs before); spread = (max -
// min) / median. bench/gpu/peer_sdpa.py
// times PyTorch's scaled_dot_product_attention on the same shapes in the same run.
//
//   bench_attention_cuda                 every section
//   bench_attention_cuda --list          the section names, one a line
//   bench_attention_cuda NAME...         those sections only (bench/gpu/run.sh runs each in its
//                                        own process under a timeout)
// Exit code 77 without a usable CUDA device.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <cuda_runtime_api.h>

#include "switchyard/attention/mask.hpp"
#include "switchyard/kernels/attention/flash_attention.cuh"
#include "switchyard/kernels/attention/paged_decode.cuh"
#include "bench_cli.cuh"

namespace sy = switchyard;
namespace ka = switchyard::kernels::attention;
namespace at = switchyard::attention;

namespace {

constexpr int Hq = 32, Hkv = 8, D = 128;

struct timing {
  double median, min, max;
  double spread() const { return (max - min) / median; }
};

// Per-launch times: after a warm-up call, `reps` event pairs each around `inner` back-to-back
// calls of f (f launches only: every host-side setup -- path, tensor maps, attributes, the split
// count -- is done before, outside the events).
template <class F>
timing time_gpu(int reps, int inner, F&& f) {
  cudaEvent_t a, b;
  SWITCHYARD_CUDA_CHECK(cudaEventCreate(&a));
  SWITCHYARD_CUDA_CHECK(cudaEventCreate(&b));
  f();  // warm-up
  SWITCHYARD_CUDA_CHECK(cudaDeviceSynchronize());
  std::vector<double> t;
  for (int r = 0; r < reps; ++r) {
    SWITCHYARD_CUDA_CHECK(cudaEventRecord(a));
    for (int i = 0; i < inner; ++i) f();
    SWITCHYARD_CUDA_CHECK(cudaEventRecord(b));
    SWITCHYARD_CUDA_CHECK(cudaEventSynchronize(b));
    float ms = 0;
    SWITCHYARD_CUDA_CHECK(cudaEventElapsedTime(&ms, a, b));
    t.push_back(ms * 1e-3 / inner);
  }
  std::sort(t.begin(), t.end());
  SWITCHYARD_CUDA_CHECK(cudaEventDestroy(a));
  SWITCHYARD_CUDA_CHECK(cudaEventDestroy(b));
  return {t[t.size() / 2], t.front(), t.back()};
}

// Random values from a hash of the index, uniform in [-scale, scale).
__device__ float hashed(std::size_t i, std::uint32_t seed, float scale) {
  std::uint32_t h = static_cast<std::uint32_t>(i) * 2654435761u ^ seed;
  h ^= h >> 15, h *= 2246822519u, h ^= h >> 13, h *= 3266489917u, h ^= h >> 16;
  return scale * (static_cast<float>(h) * (2.0f / 4294967296.0f) - 1.0f);
}
__global__ void fill_f32(float* p, std::size_t n, float scale, std::uint32_t seed) {
  for (std::size_t i = blockIdx.x * std::size_t{blockDim.x} + threadIdx.x; i < n; i += std::size_t{gridDim.x} * blockDim.x)
    p[i] = hashed(i, seed, scale);
}
__global__ void fill_bf16(sy::format::bf16* p, std::size_t n, float scale, std::uint32_t seed) {
  for (std::size_t i = blockIdx.x * std::size_t{blockDim.x} + threadIdx.x; i < n; i += std::size_t{gridDim.x} * blockDim.x)
    p[i] = sy::format::bf16(hashed(i, seed, scale));
}

template <class T>
T* device_alloc(std::size_t n) {
  T* p = nullptr;
  SWITCHYARD_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&p), n * sizeof(T)));
  return p;
}

void header() {
  std::printf("| section | shape | path | ms | spread | rate |\n|---|---|---|---|---|---|\n");
}

// Causal (or sliding-window) prefill of T tokens, batch 1.
void prefill(char const* section, int T, int window) {
  std::size_t const nq = std::size_t(T) * Hq * D, nk = std::size_t(T) * Hkv * D;
  float* q = device_alloc<float>(nq);
  float* k = device_alloc<float>(nk);
  float* v = device_alloc<float>(nk);
  float* out = device_alloc<float>(nq);
  fill_f32<<<1024, 256>>>(q, nq, 1.0f, 1);
  fill_f32<<<1024, 256>>>(k, nk, 1.0f, 2);
  fill_f32<<<1024, 256>>>(v, nk, 1.0f, 3);
  SWITCHYARD_CUDA_CHECK(cudaGetLastError());
  ka::flash_shape const shape{.tokens = T, .keys = T, .q_heads = Hq, .kv_heads = Hkv, .head_dim = D};
  ka::device_mask const mask =
      window > 0 ? ka::from_host(at::sliding_window_mask(window)) : ka::from_host(at::causal_mask{});
  // Pairs kept: causal T (T + 1) / 2; a window w keeps min(t + 1, w) per query.
  double pairs = 0;
  for (int t = 0; t < T; ++t) pairs += window > 0 ? std::min(t + 1, window) : t + 1;
  double const flop = 4.0 * D * pairs * Hq;
  int const reps = T >= 32768 ? 5 : 20, inner = T >= 8192 ? 1 : 5;
  for (auto requested : {ka::attention_path::mma, ka::attention_path::wgmma}) {
    if (requested == ka::attention_path::wgmma && !ka::flash_wgmma_available()) {
      std::printf("| %s | T=%d Hq=%d Hkv=%d D=%d | wgmma -> mma | - | - | not run (no sm_90a code here) |\n", section,
                  T, Hq, Hkv, D);
      continue;
    }
    std::size_t const bytes = ka::flash_workspace_bytes(shape, requested);
    void* ws = bytes ? device_alloc<char>(bytes) : nullptr;
    // Validation, the path, the tensor maps and the kernel attribute, once, outside the timing.
    ka::flash_call const call =
        ka::flash_prepare(q, k, v, out, shape, mask, 1.0f / std::sqrt(float(D)), nullptr, ws, bytes, requested);
    ka::attention_path const runs = call.path;
    timing const t = time_gpu(reps, inner, [&] { ka::flash_launch(call); });
    std::printf("| %s | T=%d Hq=%d Hkv=%d D=%d%s | %s -> %s | %.3f | %.2f | %.1f TFLOP/s |\n", section, T, Hq, Hkv, D,
                window > 0 ? (" window=" + std::to_string(window)).c_str() : " causal", ka::name(requested),
                ka::name(runs), t.median * 1e3, t.spread(), flop / t.median * 1e-12);
    std::fflush(stdout);
    if (ws) SWITCHYARD_CUDA_CHECK(cudaFree(ws));
  }
  for (float* p : {q, k, v, out}) SWITCHYARD_CUDA_CHECK(cudaFree(p));
}

// One token for each of B sequences of `context` tokens, bf16 cache, 16-token blocks scattered.
void decode(char const* section, int context) {
  int const B = 8, bs = 16, per_seq = (context + bs - 1) / bs, blocks = B * per_seq;
  at::kv_cache_config const cfg{.kv_heads = Hkv, .key_dim = D, .value_dim = D, .block_size = bs, .blocks = blocks};
  ka::kv_layout const l = ka::layout_of<sy::format::bf16>(cfg);
  auto* pool = device_alloc<sy::format::bf16>(static_cast<std::size_t>(l.data_elems));
  fill_bf16<<<1024, 256>>>(pool, static_cast<std::size_t>(l.data_elems), 1.0f, 4);
  // Block tables: a fixed permutation of the pool (sequence b's i-th block is far from its i+1-th).
  std::vector<int> tables(static_cast<std::size_t>(blocks)), lengths(B, context);
  for (int i = 0; i < blocks; ++i) tables[static_cast<std::size_t>(i)] = static_cast<int>((std::int64_t(i) * 7919) % blocks);
  int* dt = device_alloc<int>(tables.size());
  int* dl = device_alloc<int>(lengths.size());
  SWITCHYARD_CUDA_CHECK(cudaMemcpy(dt, tables.data(), tables.size() * sizeof(int), cudaMemcpyHostToDevice));
  SWITCHYARD_CUDA_CHECK(cudaMemcpy(dl, lengths.data(), lengths.size() * sizeof(int), cudaMemcpyHostToDevice));
  std::size_t const nq = std::size_t(B) * Hq * D;
  float* q = device_alloc<float>(nq);
  float* out = device_alloc<float>(nq);
  fill_f32<<<1024, 256>>>(q, nq, 1.0f, 5);
  SWITCHYARD_CUDA_CHECK(cudaGetLastError());
  auto const cache = ka::make_device_cache<sy::format::bf16>(cfg, pool, nullptr);
  ka::decode_shape s{.sequences = B, .queries = 1, .q_heads = Hq, .max_length = context, .table_stride = per_seq};
  // The split count (the device's SM count) fixed outside the timing; the launcher then queries
  // nothing (D = 128 needs no shared-memory attribute).
  s.splits = ka::decode_splits(s, Hkv, bs);
  int const splits = s.splits;
  std::size_t const bytes = ka::decode_workspace_bytes(s, cache);
  void* ws = device_alloc<char>(bytes);
  ka::device_mask const causal = ka::from_host(at::causal_mask{});
  float const scale = 1.0f / std::sqrt(float(D));
  timing const t = time_gpu(20, 10, [&] {
    (void)ka::paged_decode(cache, dt, dl, q, out, s, causal, scale, nullptr, ws, bytes);
  });
  double const cache_bytes = double(B) * context * Hkv * 2 * D * 2;  // K and V, bf16
  std::printf("| %s | B=%d context=%d Hq=%d Hkv=%d D=%d bf16 block=%d | split-K x%d | %.3f | %.2f | %.0f GB/s |\n",
              section, B, context, Hq, Hkv, D, bs, splits, t.median * 1e3, t.spread(), cache_bytes / t.median * 1e-9);
  std::fflush(stdout);
  SWITCHYARD_CUDA_CHECK(cudaFree(ws));
  for (void* p : {static_cast<void*>(pool), static_cast<void*>(dt), static_cast<void*>(dl), static_cast<void*>(q),
                  static_cast<void*>(out)})
    SWITCHYARD_CUDA_CHECK(cudaFree(p));
}

struct section {
  char const* name;
  void (*run)();
};
section const sections[] = {
    {"prefill_2k", [] { prefill("prefill_2k", 2048, 0); }},
    {"prefill_8k", [] { prefill("prefill_8k", 8192, 0); }},
    {"prefill_32k", [] { prefill("prefill_32k", 32768, 0); }},
    {"prefill_32k_window", [] { prefill("prefill_32k_window", 32768, 4096); }},
    {"decode_8k", [] { decode("decode_8k", 8192); }},
    {"decode_32k", [] { decode("decode_32k", 32768); }},
};

}  // namespace

int main(int argc, char** argv) {
  std::vector<char const*> names;
  for (auto const& s : sections) names.push_back(s.name);
  auto const chosen = switchyard_bench::choose_sections(argc, argv, names, "bench_attention_cuda");
  if (chosen.exit_code) return *chosen.exit_code;
  if (!switchyard_bench::open_device("bench_attention_cuda")) return 77;
  header();
  for (std::size_t k : chosen.indices) sections[k].run();
  return 0;
}
