#pragma once
// The dispatch plan on the device, with CUB, in four launches and no host synchronization (the
// counts stay on the device; the expert kernels read them):
//   1. keys: the expert id of each (token, choice) slot, E for "no expert" (-1 or out of range);
//   2. cub::DeviceRadixSort::SortPairs of (expert id, slot index): stable, so within an expert the
//      slots stay in token order, which gives Switch-style capacity its reference meaning (an
//      expert keeps its first `capacity` slots in token order);
//   3. one block: per expert, the raw range by binary search in the sorted ids, the kept count
//      (capacity), and cub::BlockScan for the kept offsets, the GEMM tile offsets and the list of
//      active experts;
//   4. scatter: slot_token, slot_choice and token_slot (-1 for unused and dropped choices).
// The arrays mean exactly what route::dispatch_plan's do (route/dispatch_plan.hpp), so the host
// plan is the reference. The radix sort costs O(T k) work for any E; a histogram + scan would
// give the same plan (the docs say why the sort was kept: one CUB call, stable by construction).
#include <cstddef>
#include <cstdint>

#include <cub/block/block_scan.cuh>
#include <cub/device/device_radix_sort.cuh>

#include "switchyard/core/error.hpp"
#include "switchyard/kernels/common/cuda_check.cuh"
#include "switchyard/kernels/common/workspace.cuh"

SWITCHYARD_NAMESPACE_BEGIN
namespace kernels::route {

// What the expert kernels read: device pointers into the plan's workspace.
struct plan_view {
  std::int32_t const* counts = nullptr;        // [E] kept slots per expert
  std::int32_t const* offsets = nullptr;       // [E + 1] first sorted position of each expert
  std::int32_t const* slot_token = nullptr;    // [S] token of each sorted position
  std::int32_t const* slot_choice = nullptr;   // [S] t * K + j of each sorted position
  std::int32_t const* token_slot = nullptr;    // [T * K] sorted position of each choice, or -1
  std::int32_t const* tile_offsets = nullptr;  // [E + 1] first GEMM tile (of plan_tile_rows rows) of each expert
  std::int32_t const* active = nullptr;        // [E] ids of the experts with kept slots, ascending
  std::int32_t const* active_count = nullptr;  // [1] how many
  std::int32_t const* dropped = nullptr;       // [1] slots refused by capacity
  int experts = 0;
};

// Rows of one GEMM tile: the plan lays out tiles so a grouped GEMM needs no host round trip.
inline constexpr int plan_tile_rows = 64;
inline constexpr int plan_max_experts = 1024;  // one thread per expert in the finalize block

// The device plan's arrays, carved from the caller's workspace.
struct device_plan {
  std::int32_t *keys_in, *keys_out, *vals_in, *vals_out, *raw_offsets;
  std::int32_t *counts, *offsets, *slot_token, *slot_choice, *token_slot, *tile_offsets, *active, *active_count,
      *dropped;
  void* sort_temp;
  std::size_t sort_temp_bytes;

  // Carves (or, with a null base, sizes) the plan for up to `slots` = T K slots and E experts.
  static device_plan carve(workspace_carver& ws, std::int64_t slots, int experts) {
    device_plan p{};
    auto const n = static_cast<std::size_t>(slots);
    auto const e = static_cast<std::size_t>(experts);
    p.keys_in = ws.take<std::int32_t>(n);
    p.keys_out = ws.take<std::int32_t>(n);
    p.vals_in = ws.take<std::int32_t>(n);
    p.vals_out = ws.take<std::int32_t>(n);
    p.raw_offsets = ws.take<std::int32_t>(e + 1);
    p.counts = ws.take<std::int32_t>(e);
    p.offsets = ws.take<std::int32_t>(e + 1);
    p.slot_token = ws.take<std::int32_t>(n);
    p.slot_choice = ws.take<std::int32_t>(n);
    p.token_slot = ws.take<std::int32_t>(n);
    p.tile_offsets = ws.take<std::int32_t>(e + 1);
    p.active = ws.take<std::int32_t>(e);
    p.active_count = ws.take<std::int32_t>(1);
    p.dropped = ws.take<std::int32_t>(1);
    p.sort_temp_bytes = 0;
    SWITCHYARD_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(nullptr, p.sort_temp_bytes, p.keys_in, p.keys_out, p.vals_in,
                                                          p.vals_out, static_cast<int>(slots > 0 ? slots : 1)));
    p.sort_temp = ws.take<char>(p.sort_temp_bytes);
    return p;
  }

  plan_view view(int experts) const {
    return {counts, offsets, slot_token, slot_choice, token_slot, tile_offsets, active, active_count, dropped, experts};
  }
};

namespace detail {

__global__ void plan_keys_kernel(std::int32_t const* __restrict__ ids, int n, int E, std::int32_t* __restrict__ keys,
                                 std::int32_t* __restrict__ vals) {
  int const i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  std::int32_t const e = ids[i];
  keys[i] = (e >= 0 && e < E) ? e : E;
  vals[i] = i;
}

// First index in sorted[0, n) whose value is >= v.
__device__ __forceinline__ int lower_bound(std::int32_t const* sorted, int n, int v) {
  int lo = 0, hi = n;
  while (lo < hi) {
    int const mid = (lo + hi) / 2;
    if (sorted[mid] < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

__global__ void __launch_bounds__(plan_max_experts) plan_finalize_kernel(std::int32_t const* __restrict__ sorted_keys,
                                                                         int n, int E, std::int64_t capacity,
                                                                         device_plan p) {
  using scan = cub::BlockScan<int, plan_max_experts>;
  __shared__ typename scan::TempStorage temp;
  __shared__ int dropped_total;
  int const e = threadIdx.x;
  if (e == 0) dropped_total = 0;
  int raw_off = 0, raw = 0, kept = 0;
  if (e < E) {
    raw_off = lower_bound(sorted_keys, n, e);
    raw = lower_bound(sorted_keys, n, e + 1) - raw_off;
    kept = (capacity >= 0 && raw > capacity) ? static_cast<int>(capacity) : raw;
  }
  __syncthreads();
  if (raw > kept) atomicAdd(&dropped_total, raw - kept);  // integer: order-independent
  int off = 0, tile_off = 0, active_pos = 0, total = 0, tiles = 0, actives = 0;
  scan(temp).ExclusiveSum(kept, off, total);
  __syncthreads();
  scan(temp).ExclusiveSum((kept + plan_tile_rows - 1) / plan_tile_rows, tile_off, tiles);
  __syncthreads();
  scan(temp).ExclusiveSum(kept > 0 ? 1 : 0, active_pos, actives);
  if (e < E) {
    p.raw_offsets[e] = raw_off;
    p.counts[e] = kept;
    p.offsets[e] = off;
    p.tile_offsets[e] = tile_off;
    if (kept > 0) p.active[active_pos] = e;
  }
  __syncthreads();
  if (e == 0) {
    p.offsets[E] = total;
    p.tile_offsets[E] = tiles;
    p.active_count[0] = actives;
    p.dropped[0] = dropped_total;
  }
}

__global__ void plan_scatter_kernel(std::int32_t const* __restrict__ sorted_keys,
                                    std::int32_t const* __restrict__ sorted_vals, int n, int E, int K, device_plan p) {
  int const i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  int const e = sorted_keys[i], v = sorted_vals[i];
  int pos = -1;
  if (e < E) {
    int const r = i - p.raw_offsets[e];
    if (r < p.counts[e]) {
      pos = p.offsets[e] + r;
      p.slot_token[pos] = v / K;
      p.slot_choice[pos] = v;
    }
  }
  p.token_slot[v] = pos;
}

}  // namespace detail

// ids [T, K] (device) -> the plan in `p` (carved for at least T K slots and E experts).
// capacity < 0: unlimited. Asynchronous on `stream`; capturable in a CUDA graph.
inline void build_plan(std::int32_t const* ids, std::int64_t T, int K, int E, std::int64_t capacity,
                       device_plan const& p, cudaStream_t stream) {
  char const* where = "kernels::route::build_plan";
  require(E >= 1 && E <= plan_max_experts, where, "the device plan takes 1..", plan_max_experts, " experts, got ", E);
  require(T * K <= (std::int64_t{1} << 30), where, T, " tokens x ", K, " choices is too many slots for one call");
  int const n = static_cast<int>(T * K);
  if (n > 0) {
    detail::plan_keys_kernel<<<(n + 255) / 256, 256, 0, stream>>>(ids, n, E, p.keys_in, p.vals_in);
    SWITCHYARD_CUDA_CHECK(cudaGetLastError());
    int end_bit = 1;
    while ((1 << end_bit) <= E) ++end_bit;  // keys are 0..E
    std::size_t temp_bytes = p.sort_temp_bytes;
    SWITCHYARD_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(p.sort_temp, temp_bytes, p.keys_in, p.keys_out, p.vals_in,
                                                          p.vals_out, n, 0, end_bit, stream));
  }
  detail::plan_finalize_kernel<<<1, plan_max_experts, 0, stream>>>(p.keys_out, n, E, capacity, p);
  SWITCHYARD_CUDA_CHECK(cudaGetLastError());
  if (n > 0) {
    detail::plan_scatter_kernel<<<(n + 255) / 256, 256, 0, stream>>>(p.keys_out, p.vals_out, n, E, K, p);
    SWITCHYARD_CUDA_CHECK(cudaGetLastError());
  }
}

// The plan of an always-on (shared) expert: all T tokens to expert 0, in order. Small enough to
// carve on its own; filled by one tiny kernel so that it, too, stays on the stream.
struct identity_plan {
  std::int32_t *counts, *offsets, *slot_token, *slot_choice, *tile_offsets, *active, *active_count;

  static identity_plan carve(workspace_carver& ws, std::int64_t tokens) {
    identity_plan p{};
    p.counts = ws.take<std::int32_t>(1);
    p.offsets = ws.take<std::int32_t>(2);
    p.slot_token = ws.take<std::int32_t>(static_cast<std::size_t>(tokens));
    p.slot_choice = ws.take<std::int32_t>(static_cast<std::size_t>(tokens));
    p.tile_offsets = ws.take<std::int32_t>(2);
    p.active = ws.take<std::int32_t>(1);
    p.active_count = ws.take<std::int32_t>(1);
    return p;
  }
  plan_view view() const {
    return {counts, offsets, slot_token, slot_choice, nullptr, tile_offsets, active, active_count, nullptr, 1};
  }
};

namespace detail {
__global__ void identity_plan_kernel(int T, identity_plan p) {
  int const i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < T) p.slot_token[i] = p.slot_choice[i] = i;
  if (i == 0) {
    p.counts[0] = T;
    p.offsets[0] = 0;
    p.offsets[1] = T;
    p.tile_offsets[0] = 0;
    p.tile_offsets[1] = (T + plan_tile_rows - 1) / plan_tile_rows;
    p.active[0] = 0;
    p.active_count[0] = T > 0 ? 1 : 0;
  }
}
}  // namespace detail

inline void build_identity_plan(std::int64_t T, identity_plan const& p, cudaStream_t stream) {
  int const n = static_cast<int>(T);
  detail::identity_plan_kernel<<<(n + 255) / 256 + (n == 0 ? 1 : 0), 256, 0, stream>>>(n, p);
  SWITCHYARD_CUDA_CHECK(cudaGetLastError());
}

}  // namespace kernels::route
SWITCHYARD_NAMESPACE_END
