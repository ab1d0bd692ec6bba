#pragma once
// The router on the device: logits -> scores (softmax, sigmoid or raw) -> optional selection
// bias -> optional group-limited selection -> top-k (fixed or cumulative) -> weights, for any
// route::topk_config, in one kernel with one warp per token. The config and the number of experts
// per lane (EPL, E <= 32 EPL) are template arguments, so the scores stay in registers and k
// rounds of a warp-wide arg-max select the experts. Semantics are the host router's
// (route/router.hpp), including its ranking rules (route/topk.hpp: NaN lowest, ties to the lower
// id, k distinct in-range ids) and its group masking; numbers differ from the host only by the
// order of the softmax sum (tree vs sequential) and expf's last bit.
#include <cmath>
#include <cstdint>

#include "switchyard/core/dispatch.hpp"
#include "switchyard/core/error.hpp"
#include "switchyard/core/instances.hpp"
#include "switchyard/kernels/common/warp.cuh"
#include "switchyard/route/config.hpp"
#include "switchyard/route/topk.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace kernels::route {

// Device-side run-time knobs (route::router_params with a device pointer for the bias).
struct device_router_params {
  float scaling = 1.0f;
  float const* selection_bias = nullptr;  // [E] device memory, when the config has selection_bias
  float p = 0.5f;                         // cumulative k: probability mass to reach
};

namespace detail {

// A candidate during selection. Experts outside the kept groups (and the padding lanes past E)
// are `masked`: they rank after every unmasked one, as the host's second pass places them.
struct candidate {
  float key;    // the selection score (score + bias)
  int id;       // expert id (>= E for padding)
  bool masked;
};

__device__ __forceinline__ bool better(candidate const& a, candidate const& b) {
  if (a.masked != b.masked) return !a.masked;
  return switchyard::route::detail::ranks_above(a.key, a.id, b.key, b.id);
}

__device__ __forceinline__ candidate shfl_xor(candidate c, int o) {
  candidate r;
  r.key = __shfl_xor_sync(warp::full_mask, c.key, o);
  r.id = __shfl_xor_sync(warp::full_mask, c.id, o);
  r.masked = __shfl_xor_sync(warp::full_mask, static_cast<int>(c.masked), o) != 0;
  return r;
}

// The best candidate of the warp; every lane gets it (a strict total order: ids are distinct).
__device__ __forceinline__ candidate warp_best(candidate c) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    candidate const other = shfl_xor(c, o);
    if (better(other, c)) c = other;
  }
  return c;
}

}  // namespace detail

// The config as a type (a class NTTP directly on a __global__ template trips nvcc 13's host stub
// generation when the kernel also carries __launch_bounds__ with a minimum block count).
template <switchyard::route::topk_config C>
struct config_type {
  static constexpr switchyard::route::topk_config config = C;
};

// ids, weights: [T, C.top_k]. Lane l holds experts l, l + 32, ..., l + 32 (EPL - 1).
template <class Config, int EPL>
__global__ void __launch_bounds__(256, 1) topk_kernel(float const* __restrict__ logits, int T, int E,
                                                   device_router_params params, std::int32_t* __restrict__ ids,
                                                   float* __restrict__ weights) {
  using switchyard::route::k_policy;
  using switchyard::route::score_fn;
  using switchyard::route::weight_fn;
  constexpr switchyard::route::topk_config C = Config::config;
  constexpr int K = C.top_k;
  int const lane = threadIdx.x % warp::size;
  int const t = blockIdx.x * (blockDim.x / warp::size) + threadIdx.x / warp::size;
  if (t >= T) return;  // whole warps leave together
  float const* row = logits + static_cast<std::int64_t>(t) * E;

  float score[EPL], key[EPL];
#pragma unroll
  for (int i = 0; i < EPL; ++i) {
    int const e = lane + warp::size * i;
    score[i] = e < E ? row[e] : -INFINITY;
  }
  if constexpr (C.scoring == score_fn::softmax) {
    float m = -INFINITY;
#pragma unroll
    for (int i = 0; i < EPL; ++i) m = fmaxf(m, score[i]);
    m = warp::max(m);
    float s = 0.0f;
#pragma unroll
    for (int i = 0; i < EPL; ++i) s += (score[i] = lane + warp::size * i < E ? expf(score[i] - m) : 0.0f);
    s = warp::sum(s);
#pragma unroll
    for (int i = 0; i < EPL; ++i) score[i] /= s;
  } else if constexpr (C.scoring == score_fn::sigmoid) {
#pragma unroll
    for (int i = 0; i < EPL; ++i) score[i] = 1.0f / (1.0f + expf(-score[i]));
  }
#pragma unroll
  for (int i = 0; i < EPL; ++i) {
    int const e = lane + warp::size * i;
    key[i] = score[i] + (C.selection_bias && e < E ? params.selection_bias[e] : 0.0f);
  }

  // Group-limited selection: lane g scores group g by the sum of its best group_score_top keys
  // (through shared memory, so any group size works), then the warp keeps the best groups_kept.
  bool masked[EPL];
#pragma unroll
  for (int i = 0; i < EPL; ++i) masked[i] = lane + warp::size * i >= E;
  if constexpr (C.groups > 1) {
    static_assert(C.groups <= warp::size, "switchyard::kernels::route: at most 32 expert groups on the device");
    __shared__ float keys_smem[8][warp::size * EPL];  // 8 warps per block (launch_topk)
    float* my = keys_smem[threadIdx.x / warp::size];
#pragma unroll
    for (int i = 0; i < EPL; ++i) my[lane + warp::size * i] = key[i];
    __syncwarp();
    int const per = E / C.groups;
    detail::candidate g{NAN, lane, lane >= C.groups};
    if (lane < C.groups) {
      int best[C.group_score_top];
      switchyard::route::detail::top_k(my + lane * per, per, C.group_score_top, best);
      float s = 0.0f;
      for (int j = 0; j < C.group_score_top; ++j) s += my[lane * per + best[j]];
      g.key = s;
    }
    __syncwarp();
    unsigned kept_groups = 0;
#pragma unroll
    for (int j = 0; j < C.groups_kept; ++j) {
      detail::candidate const w = detail::warp_best(g);
      kept_groups |= 1u << w.id;
      if (lane == w.id) g.masked = true;  // taken: out of the next rounds
    }
#pragma unroll
    for (int i = 0; i < EPL; ++i) {
      int const e = lane + warp::size * i;
      masked[i] = masked[i] || !((kept_groups >> (e / per)) & 1u);
    }
  }

  // k rounds of the warp arg-max; the winner's lane retires it.
  int chosen[K];
  float chosen_score[K], chosen_key[K];
  bool taken[EPL] = {};
#pragma unroll
  for (int j = 0; j < K; ++j) {
    detail::candidate mine{NAN, 1 << 30, true};
    float mine_score = 0.0f;
#pragma unroll
    for (int i = 0; i < EPL; ++i) {
      detail::candidate const c{key[i], lane + warp::size * i, masked[i]};
      if (!taken[i] && (mine.id == (1 << 30) || detail::better(c, mine))) mine = c, mine_score = score[i];
    }
    detail::candidate const w = detail::warp_best(mine);
    int const owner = w.id % warp::size;
    chosen[j] = w.id;
    chosen_key[j] = w.key;
    chosen_score[j] = __shfl_sync(warp::full_mask, mine_score, owner);
    if (lane == owner) {
#pragma unroll
      for (int i = 0; i < EPL; ++i)
        if (lane + warp::size * i == w.id) taken[i] = true;
    }
  }

  int k = K;
  if constexpr (C.k == k_policy::cumulative) {
    float mass = 0.0f;
    k = 0;
    while (k < K && (k < C.min_k || mass < params.p)) mass += chosen_score[k++];
  }
  float w[K];
  if constexpr (C.weighting == weight_fn::softmax_selected) {
    float const m = chosen_key[0];
    float sum = 0.0f;
#pragma unroll
    for (int j = 0; j < K; ++j) sum += (w[j] = j < k ? expf(chosen_key[j] - m) : 0.0f);
#pragma unroll
    for (int j = 0; j < K; ++j) w[j] /= sum;
  } else {
#pragma unroll
    for (int j = 0; j < K; ++j) w[j] = chosen_score[j];
  }
  if constexpr (C.renormalize) {
    float sum = 0.0f;
#pragma unroll
    for (int j = 0; j < K; ++j) sum += j < k ? w[j] : 0.0f;
    sum += 1e-20f;
#pragma unroll
    for (int j = 0; j < K; ++j) w[j] /= sum;
  }
#pragma unroll
  for (int j = 0; j < K; ++j)
    if (lane == j) {
      ids[static_cast<std::int64_t>(t) * K + j] = j < k ? chosen[j] : -1;
      weights[static_cast<std::int64_t>(t) * K + j] = j < k ? w[j] * params.scaling : 0.0f;
    }
}

// The experts-per-lane instances compiled (instances::device_experts_per_lane) take up to
// 32 x the largest experts.
inline constexpr int max_device_experts = warp::size * last_value(instances::device_experts_per_lane{});

inline void launch_topk_checks(int E, int top_k, int groups, int groups_kept, int group_score_top) {
  char const* where = "kernels::route::topk";
  require(E >= 1 && E <= max_device_experts, where, "the device router takes 1..", max_device_experts, " experts, got ",
          E);
  require(E >= top_k, where, "top_k = ", top_k, " but there are only ", E, " experts");
  require(E % groups == 0, where, E, " experts do not split into ", groups, " equal groups");
  require(E / groups >= group_score_top, where, "groups of ", E / groups, " experts cannot be scored by their best ",
          group_score_top);
  require((E / groups) * groups_kept >= top_k, where, "the kept groups hold fewer than top_k = ", top_k, " experts");
}

template <switchyard::route::topk_config C>
void launch_topk(float const* logits, int T, int E, device_router_params const& params, std::int32_t* ids,
                 float* weights, cudaStream_t stream) {
  launch_topk_checks(E, C.top_k, C.groups, C.groups_kept, C.group_score_top);
  if constexpr (C.selection_bias)
    require(params.selection_bias != nullptr, "kernels::route::topk",
            "the config uses a selection bias: params.selection_bias must point at E floats on the device");
  if constexpr (C.k == switchyard::route::k_policy::cumulative)
    require(params.p > 0.0f && params.p <= 1.0f, "kernels::route::topk", "cumulative k needs 0 < p <= 1, got ",
            params.p);
  if (T == 0) return;
  constexpr int warps = 8;
  dim3 const grid((T + warps - 1) / warps);
  // The smallest instance whose lanes hold E experts: the fewest registers and shared memory.
  dispatch_at_most(instances::device_experts_per_lane{}, (E + warp::size - 1) / warp::size,
                   {"kernels::route::topk", "experts per lane", "router kernel"}, [&]<int EPL>() {
                     topk_kernel<config_type<C>, EPL>
                         <<<grid, warps * 32, 0, stream>>>(logits, T, E, params, ids, weights);
                   });
}

}  // namespace kernels::route
SWITCHYARD_NAMESPACE_END
