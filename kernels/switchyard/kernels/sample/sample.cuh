#pragma once
// The host's token sampler (generate::sampler, in the generate block of include/) on the
// device, draw for draw: a seed gives the same tokens on both backends where the logits agree.
// kernels/ may not include generate/ (tests/hygiene.cmake), so its parameters are mirrored in
// device_sampling_params (the device model converts them) and its random stream is re-stated
// here: xoshiro256** seeded by splitmix64, 53-bit doubles in [0, 1) -- the same arithmetic as
// generate::rng, so a device state after N draws equals the host rng's after N draws.
//
// Per row, in the host's order of operations (each step below is the host's expression, with the
// operations spelled as correctly rounded intrinsics -- __fdiv_rn, __ddiv_rn, __dmul_rn, ... --
// so that nvcc cannot contract a multiply and an add into an fma the host does not do):
//   1. repetition penalty (when != 1): each distinct history token t in [0, vocab) once:
//      l[t] = l[t] > 0 ? l[t] / penalty : l[t] * penalty (a bitmap in the workspace marks the
//      tokens seen, so a repeated token is penalized once, as the host's unordered_set does);
//   2. temperature 0: greedy, the first index of the largest logit (the host's strict > scan:
//      ties to the lower id; NaNs never win, except a NaN at index 0, which the scan keeps); no
//      draw is consumed;
//   3. otherwise the ranking: descending logit, ties to the lower id, -0 equal to +0 -- a stable
//      CUB radix sort of (row, order-preserving key of the logit) with the ids as values, so the
//      candidates come in exactly the host's std::sort / std::partial_sort order (a total order
//      without NaNs; logits with NaNs have no defined host order either);
//   4. n = top_k (when 0 < top_k < vocab) else vocab candidates; prob[i] = exp(l[id_i] / double(T)
//      - l[id_0] / double(T)) in double, in parallel;
//   5. sum = prob[0] + prob[1] + ... in this order, by one thread (a tree sum would round
//      differently), keeping the running prefix sums;
//   6. the cut: keep grows while prob[keep] >= min_p x prob[0] (when min_p > 0), adding
//      prob[keep] / sum to the mass (the quotients are computed in parallel beforehand, the adds
//      run in order in one thread), and stops after the first keep whose mass >= top_p;
//   7. total = the prefix sum through keep - 1 (the host sums prob[0 .. keep) in the same order);
//      u = uniform() x total; the token is the first i < keep where u -= prob[i] goes below 0, else
//      the last kept one. One draw per row.
// Steps 5 to 7 are sequential in one thread per row, the host's loops as written: about vocab
// dependent double adds for step 5 (step 6 stops early unless top_p is 1 and min_p 0), a fraction
// of a millisecond at vocab 152k.
//
// The one known difference: CUDA's double exp() is within 1 ulp of the true value, glibc's is
// (almost always) correctly rounded, so a probability may differ in its last bit. Everything
// downstream is the same arithmetic, so the token can differ only where the draw u (or the top-p
// mass, or a min-p threshold) lands within a few ulps of a boundary between two candidates: for
// 53-bit draws, about one draw in 10^13. The test counts such draws and excuses nothing else.
//
// Graph-capturable: no host synchronization and no allocation in sample(); the workspace is the
// caller's (sample_workspace_bytes). Without CUDA graphs the same holds: one stream, four launches
// (penalty + greedy + sort keys, the CUB sort (its launches), the draw).
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include <cub/device/device_radix_sort.cuh>
#include <cuda_runtime_api.h>

#include "switchyard/core/error.hpp"
#include "switchyard/kernels/common/cuda_check.cuh"
#include "switchyard/kernels/common/warp.cuh"
#include "switchyard/kernels/common/workspace.cuh"

SWITCHYARD_NAMESPACE_BEGIN
namespace kernels::sample {

// generate::sampling_params of one row, without the seed (the rng state carries it).
struct device_sampling_params {
  float temperature = 0, top_p = 1, min_p = 0, repetition_penalty = 1;
  int top_k = 0;
};

// The host sampler's parameter checks (generate::sampler's constructor), for converters: the
// device cannot report a bad parameter, so check before uploading.
inline void check_params(device_sampling_params const& p) {
  char const* where = "kernels::sample::check_params";
  require(std::isfinite(p.temperature) && p.temperature >= 0.0f, where, "temperature must be >= 0 and finite, got ",
          p.temperature);
  require(p.top_k >= 0, where, "top_k must be >= 0, got ", p.top_k);
  require(p.top_p > 0.0f && p.top_p <= 1.0f, where, "top_p must be in (0, 1], got ", p.top_p);
  require(p.min_p >= 0.0f && p.min_p < 1.0f, where, "min_p must be in [0, 1), got ", p.min_p);
  require(std::isfinite(p.repetition_penalty) && p.repetition_penalty > 0.0f, where,
          "repetition_penalty must be > 0 and finite, got ", p.repetition_penalty);
}

// generate::rng's arithmetic, on either side.
SWITCHYARD_HOST_DEVICE constexpr void rng_seed(std::uint64_t seed, std::uint64_t* s) {
  for (int i = 0; i < 4; ++i) {  // splitmix64
    seed += 0x9E3779B97F4A7C15ull;
    std::uint64_t z = seed;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    s[i] = z ^ (z >> 31);
  }
}
SWITCHYARD_HOST_DEVICE constexpr std::uint64_t rng_rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
SWITCHYARD_HOST_DEVICE constexpr std::uint64_t rng_next(std::uint64_t* s) {  // xoshiro256**
  std::uint64_t const r = rng_rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rng_rotl(s[3], 45);
  return r;
}
// [0, 1): the top 53 bits times 2^-53 (exact).
SWITCHYARD_HOST_DEVICE constexpr double rng_uniform(std::uint64_t* s) {
  return static_cast<double>(rng_next(s) >> 11) * 0x1.0p-53;
}

// Seeds state[r] as generate::rng(seeds[r]) seeds itself. seeds on the host, state on the device.
inline void seed_states(std::uint64_t const* seeds, int rows, std::uint64_t* state, cudaStream_t stream) {
  require(rows > 0 && seeds != nullptr && state != nullptr, "kernels::sample::seed_states",
          "need rows > 0 (got ", rows, "), host seeds and a device state of rows x 4 words");
  std::vector<std::uint64_t> s(static_cast<std::size_t>(rows) * 4);
  for (int r = 0; r < rows; ++r) rng_seed(seeds[r], s.data() + static_cast<std::size_t>(r) * 4);
  // From pageable memory the copy is staged before this returns, so `s` may go out of scope.
  SWITCHYARD_CUDA_CHECK(cudaMemcpyAsync(state, s.data(), s.size() * sizeof(std::uint64_t), cudaMemcpyHostToDevice, stream));
}

inline constexpr int sample_threads = 512;

namespace detail {

// The workspace, carved the same way for sizing and use.
struct sample_workspace {
  std::uint64_t *keys_in, *keys_out;
  std::int32_t *ids_in, *ids_out;
  double *prob, *quot, *prefix;  // [rows][vocab] each
  std::uint32_t* seen;          // [rows][bitmap words]
  void* sort_temp;
  std::size_t sort_bytes;   // CUB's temporary storage
  std::size_t total_bytes;  // the whole workspace
  int end_bit;
};

inline int sort_end_bit(int rows) {
  int b = 0;
  while ((1 << b) < rows) ++b;
  return 32 + b;  // the row index above the 32 bits of the logit's key
}
SWITCHYARD_HOST_DEVICE inline int bitmap_words(int vocab) { return (vocab + 31) / 32; }

inline sample_workspace carve(void* base, int rows, int vocab) {
  std::size_t const n = static_cast<std::size_t>(rows) * vocab;
  workspace_carver w(base);
  sample_workspace s{};
  s.keys_in = w.take<std::uint64_t>(n);
  s.keys_out = w.take<std::uint64_t>(n);
  s.ids_in = w.take<std::int32_t>(n);
  s.ids_out = w.take<std::int32_t>(n);
  s.prob = w.take<double>(n);
  s.quot = w.take<double>(n);
  s.prefix = w.take<double>(n);
  s.seen = w.take<std::uint32_t>(static_cast<std::size_t>(rows) * bitmap_words(vocab));
  s.end_bit = sort_end_bit(rows);
  s.sort_bytes = 0;
  SWITCHYARD_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(nullptr, s.sort_bytes, s.keys_in, s.keys_out, s.ids_in,
                                                        s.ids_out, static_cast<int>(n), 0, s.end_bit));
  s.sort_temp = w.take<char>(s.sort_bytes);
  s.total_bytes = w.bytes();
  return s;
}

// A sort key that orders logits like the host's comparison: -0 and +0 equal (the host's ==), the
// float order mapped onto unsigned integers, complemented so that ascending keys are descending
// logits; the row above it keeps rows apart in one sort.
__device__ __forceinline__ std::uint64_t rank_key(int row, float x) {
  std::uint32_t const u = __float_as_uint(x == 0.0f ? 0.0f : x);
  std::uint32_t const ordered = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
  return (static_cast<std::uint64_t>(row) << 32) | static_cast<std::uint32_t>(~ordered);
}

// The better of two (logit, id) candidates for the greedy pick: larger logit, then lower id; an
// id of -1 (no candidate, or a NaN logit) loses to everything.
__device__ __forceinline__ void better(float& v, int& i, float ov, int oi) {
  if (oi < 0) return;
  if (i < 0 || ov > v || (ov == v && oi < i)) v = ov, i = oi;
}

// Penalty, greedy pick and sort keys: one block per row.
template <int Threads>
__global__ void __launch_bounds__(Threads)
    sample_prepare_kernel(float* __restrict__ logits, int vocab, device_sampling_params const* __restrict__ params,
                          std::int32_t const* __restrict__ history, std::int32_t const* __restrict__ offsets,
                          std::int32_t* __restrict__ tokens, sample_workspace ws, bool all_greedy) {
  __shared__ float red_v[Threads / warp::size];
  __shared__ int red_i[Threads / warp::size];
  int const r = static_cast<int>(blockIdx.x), tid = static_cast<int>(threadIdx.x);
  device_sampling_params const p = params[r];
  float* const l = logits + static_cast<std::int64_t>(r) * vocab;
  if (p.repetition_penalty != 1.0f) {
    int const words = bitmap_words(vocab);
    std::uint32_t* const seen = ws.seen + static_cast<std::int64_t>(r) * words;
    for (int i = tid; i < words; i += Threads) seen[i] = 0u;
    __syncthreads();
    for (int j = offsets[r] + tid; j < offsets[r + 1]; j += Threads) {
      int const t = history[j];
      if (t < 0 || t >= vocab) continue;
      std::uint32_t const bit = 1u << (t % 32);
      if (atomicOr(&seen[t / 32], bit) & bit) continue;  // another thread has this token
      float const x = l[t];
      l[t] = x > 0.0f ? __fdiv_rn(x, p.repetition_penalty) : __fmul_rn(x, p.repetition_penalty);
    }
    __syncthreads();  // the penalized logits, written by any thread, are read below
  }
  std::uint64_t* const keys = ws.keys_in + static_cast<std::int64_t>(r) * vocab;
  std::int32_t* const ids = ws.ids_in + static_cast<std::int64_t>(r) * vocab;
  float best_v = 0.0f;
  int best_i = -1;
  for (int i = tid; i < vocab; i += Threads) {
    float const x = l[i];
    if (!all_greedy) keys[i] = rank_key(r, x), ids[i] = i;
    if (!isnan(x)) better(best_v, best_i, x, i);
  }
  if (p.temperature != 0.0f) {  // uniform over the block: no barrier below is skipped by part of it
    if (all_greedy && tid == 0) tokens[r] = -1;  // the caller promised greedy rows only: no token
    return;
  }
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    float const ov = __shfl_xor_sync(warp::full_mask, best_v, o);
    int const oi = __shfl_xor_sync(warp::full_mask, best_i, o);
    better(best_v, best_i, ov, oi);
  }
  if (tid % warp::size == 0) red_v[tid / warp::size] = best_v, red_i[tid / warp::size] = best_i;
  __syncthreads();
  if (tid == 0) {
    for (int w = 1; w < Threads / warp::size; ++w) better(best_v, best_i, red_v[w], red_i[w]);
    // The host's scan never leaves index 0 when l[0] is NaN (nothing is > NaN), and otherwise
    // ends on the first largest non-NaN logit; all NaN: index 0 as well.
    tokens[r] = isnan(l[0]) || best_i < 0 ? 0 : best_i;
  }
}

// Softmax, cut and draw over the sorted candidates: one block per row; rows at temperature 0 are
// done (prepare picked their token).
template <int Threads>
__global__ void __launch_bounds__(Threads)
    sample_draw_kernel(float const* __restrict__ logits, int vocab, device_sampling_params const* __restrict__ params,
                       std::uint64_t* __restrict__ state, std::int32_t* __restrict__ tokens, sample_workspace ws) {
  __shared__ int cut;
  __shared__ double sum_s;
  int const r = static_cast<int>(blockIdx.x), tid = static_cast<int>(threadIdx.x);
  device_sampling_params const p = params[r];
  if (p.temperature == 0.0f) return;
  std::int64_t const row0 = static_cast<std::int64_t>(r) * vocab;
  float const* const l = logits + row0;
  std::int32_t const* const ids = ws.ids_out + row0;
  double* const prob = ws.prob + row0;
  double* const quot = ws.quot + row0;
  double* const prefix = ws.prefix + row0;
  int const n = p.top_k > 0 && p.top_k < vocab ? p.top_k : vocab;
  double const T = static_cast<double>(p.temperature);
  double const top = __ddiv_rn(static_cast<double>(l[ids[0]]), T);
  for (int i = tid; i < n; i += Threads) prob[i] = exp(__dsub_rn(__ddiv_rn(static_cast<double>(l[ids[i]]), T), top));
  if (tid == 0) cut = n;
  __syncthreads();
  // The min-p cut: the first candidate below min_p x prob[0] (the host's loop stops there).
  if (p.min_p > 0.0f) {
    double const floor = __dmul_rn(static_cast<double>(p.min_p), prob[0]);
    for (int i = tid; i < n; i += Threads)
      if (prob[i] < floor) {
        atomicMin(&cut, i);
        break;  // this thread's later candidates are further on
      }
  }
  if (tid == 0) {  // the host's sum, in its order; prefix[i] = prob[0] + ... + prob[i]
    double sum = 0.0;
#pragma unroll 8
    for (int i = 0; i < n; ++i) {
      sum = __dadd_rn(sum, prob[i]);
      prefix[i] = sum;
    }
    sum_s = sum;
  }
  __syncthreads();
  int const m = cut;
  double const sum = sum_s;
  for (int i = tid; i < m; i += Threads) quot[i] = __ddiv_rn(prob[i], sum);
  __syncthreads();
  if (tid != 0) return;
  double mass = 0.0;
  double const top_p = static_cast<double>(p.top_p);
  int keep = 0;
  while (keep < m) {
    mass = __dadd_rn(mass, quot[keep]);
    ++keep;
    if (mass >= top_p) break;
  }
  if (keep == 0) keep = 1;  // unreachable: prob[0] = exp(0) = 1 is never below min_p (< 1) x itself
  double const total = prefix[keep - 1];
  std::uint64_t s[4];
  std::uint64_t* const st = state + static_cast<std::int64_t>(r) * 4;
#pragma unroll
  for (int i = 0; i < 4; ++i) s[i] = st[i];
  double u = __dmul_rn(rng_uniform(s), total);
#pragma unroll
  for (int i = 0; i < 4; ++i) st[i] = s[i];
  std::int32_t token = ids[keep - 1];
  for (int i = 0; i < keep; ++i) {
    u = __dsub_rn(u, prob[i]);
    if (u < 0.0) {
      token = ids[i];
      break;
    }
  }
  tokens[r] = token;
}

}  // namespace detail

// Bytes of workspace sample() needs for rows x vocab logits.
inline std::size_t sample_workspace_bytes(int rows, int vocab) {
  require(rows > 0 && vocab > 0 && static_cast<std::int64_t>(rows) * vocab < (std::int64_t{1} << 31),
          "kernels::sample::sample_workspace_bytes", "need rows > 0 and vocab > 0 with rows x vocab < 2^31, got ",
          rows, " x ", vocab);
  return detail::carve(nullptr, rows, vocab).total_bytes;
}

// For each row r < rows: penalize logits[r] by the distinct tokens of history[offsets[r] ..
// offsets[r + 1]) (device arrays; offsets has rows + 1 entries), then pick the token exactly as
// generate::sampler::operator() does, consuming exactly the same number of draws from state[r]
// (none for greedy), and write it to tokens[r]. logits [rows, vocab] f32, modified in place as
// the host modifies its span. params: device array [rows], each as check_params() accepts.
// No host synchronization, no allocation (graph-capturable).
// all_greedy (an addition to the planned signature, defaulted): the caller knows that every row
// has temperature 0, so the ranking sort and the draw are not launched -- the greedy step is then
// one kernel instead of a radix sort of rows x vocab keys. A row that is not greedy after all gets
// token -1 (visibly wrong, never a stale token), and no draw.
inline void sample(float* logits, int rows, int vocab, device_sampling_params const* params,
                   std::int32_t const* history, std::int32_t const* history_offsets, std::uint64_t* state,
                   std::int32_t* tokens, void* workspace, std::size_t workspace_bytes, cudaStream_t stream,
                   bool all_greedy = false) {
  char const* where = "kernels::sample::sample";
  std::size_t const need = sample_workspace_bytes(rows, vocab);
  require(workspace != nullptr && workspace_bytes >= need, where, "the workspace has ", workspace_bytes,
          " bytes but needs ", need, " (sample_workspace_bytes)");
  require(logits != nullptr && params != nullptr && history_offsets != nullptr && state != nullptr && tokens != nullptr,
          where, "logits, params, history_offsets, state and tokens must all be device arrays");
  detail::sample_workspace const ws = detail::carve(workspace, rows, vocab);
  detail::sample_prepare_kernel<sample_threads>
      <<<rows, sample_threads, 0, stream>>>(logits, vocab, params, history, history_offsets, tokens, ws, all_greedy);
  SWITCHYARD_CUDA_CHECK(cudaGetLastError());
  if (all_greedy) return;
  std::size_t temp_bytes = ws.sort_bytes;
  SWITCHYARD_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(ws.sort_temp, temp_bytes, ws.keys_in, ws.keys_out, ws.ids_in,
                                                        ws.ids_out, rows * vocab, 0, ws.end_bit, stream));
  detail::sample_draw_kernel<sample_threads><<<rows, sample_threads, 0, stream>>>(logits, vocab, params, state, tokens, ws);
  SWITCHYARD_CUDA_CHECK(cudaGetLastError());
}

}  // namespace kernels::sample
SWITCHYARD_NAMESPACE_END
