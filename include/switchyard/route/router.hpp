#pragma once
// topk_router<Config>: a router composed from independent policies (route/config.hpp): score
// function, selection bias, group-limited selection, fixed or cumulative k, weight function,
// renormalization and scaling. The shipped families are aliases in route/families.hpp; a new
// router is a new config, not a new class.
//
// Output per token t: ids(t, 0..max_k) in descending order of the selection score, weights(t, .)
// in the same order. Under cumulative k, slots past the token's k hold id -1 and weight 0.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "switchyard/core/error.hpp"
#include "switchyard/core/tensor_view.hpp"
#include "switchyard/core/thread_pool.hpp"
#include "switchyard/route/config.hpp"
#include "switchyard/route/topk.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace route {

// Run-time knobs of a router (real-valued, or sized by the model).
struct router_params {
  float scaling = 1.0f;                          // routed_scaling_factor (DeepSeek-V3: 2.5)
  vector_view<float const> selection_bias = {};  // [experts], when the config has selection_bias
  float p = 0.5f;                                // cumulative k: probability mass to reach
  float capacity_factor = 1.0f;                  // expert choice: tokens per expert = ceil(T cf / E)
};

template <topk_config C>
class topk_router {
  static_assert(check_topk_config(C),
                "switchyard::route::topk_router: need top_k >= 1, 1 <= groups_kept <= groups, group_score_top >= 1, "
                "1 <= min_k <= top_k");
  static_assert(C.k == k_policy::fixed || C.scoring != score_fn::logits,
                "switchyard::route::topk_router: cumulative k needs probabilities (softmax or sigmoid scores)");

 public:
  static constexpr topk_config config = C;
  static constexpr int max_k = C.top_k;
  // Slots per token in ids/weights (the layer sizes its buffers with this).
  static constexpr index_t slots(index_t /*experts*/) noexcept { return C.top_k; }

  // logits [T, E] -> ids [T, max_k], weights [T, max_k].
  void operator()(matrix_view<float const> logits, matrix_view<std::int32_t> ids, matrix_view<float> weights,
                  router_params const& params = {}, thread_pool& pool = thread_pool::shared()) const {
    index_t const T = logits.extent(0), E = logits.extent(1);
    validate(T, E, ids, weights, params);
    pool.parallel_for(0, T, 64, [&](index_t lo, index_t hi) {
      // Per-thread scratch, grown to the largest E seen and reused: no allocation per call.
      thread_local std::vector<float> scratch;
      thread_local std::vector<char> skip;
      if (scratch.size() < static_cast<std::size_t>(2 * E)) scratch.resize(static_cast<std::size_t>(2 * E));
      if (skip.size() < static_cast<std::size_t>(E)) skip.resize(static_cast<std::size_t>(E));
      for (index_t t = lo; t < hi; ++t)
        route_token(logits.row(t), static_cast<int>(E), ids.row(t), weights.row(t), params, scratch.data(),
                    reinterpret_cast<bool*>(skip.data()));
    });
  }

  // One token. scratch: 2E floats; skip: E bools.
  static void route_token(float const* logits, int E, std::int32_t* ids_out, float* weights_out, router_params const& params,
                          float* scratch, bool* skip) {
    float* scores = scratch;
    float* choice = scratch + E;
    score(logits, E, scores);
    for (int e = 0; e < E; ++e)
      choice[e] = scores[e] + (C.selection_bias ? params.selection_bias.data()[e] : 0.0f);

    bool const* mask = nullptr;
    if constexpr (C.groups > 1) {
      mask_groups(choice, E, skip);
      mask = skip;
    }
    int ids[C.top_k] = {};
    detail::top_k(choice, E, C.top_k, ids, mask);

    int k = C.top_k;
    if constexpr (C.k == k_policy::cumulative) {
      float mass = 0.0f;
      k = 0;
      while (k < C.top_k && (k < C.min_k || mass < params.p)) mass += scores[ids[k++]];
    }

    float w[C.top_k] = {};
    if constexpr (C.weighting == weight_fn::softmax_selected) {
      float const m = choice[ids[0]];  // the largest chosen (ids are in descending order)
      float sum = 0.0f;
      for (int j = 0; j < k; ++j) sum += (w[j] = std::exp(choice[ids[j]] - m));
      for (int j = 0; j < k; ++j) w[j] /= sum;
    } else {
      for (int j = 0; j < k; ++j) w[j] = scores[ids[j]];
    }
    if constexpr (C.renormalize) {
      float sum = 0.0f;
      for (int j = 0; j < k; ++j) sum += w[j];
      sum += 1e-20f;  // DeepSeek-V3's guard; below f32 resolution of any sum of probabilities that matters
      for (int j = 0; j < k; ++j) w[j] /= sum;
    }
    for (int j = 0; j < C.top_k; ++j) {
      ids_out[j] = j < k ? ids[j] : -1;
      weights_out[j] = j < k ? w[j] * params.scaling : 0.0f;
    }
  }

 private:
  static void score(float const* logits, int E, float* scores) {
    if constexpr (C.scoring == score_fn::softmax) {
      float m = -INFINITY;
      for (int e = 0; e < E; ++e) m = std::max(m, logits[e]);
      float sum = 0.0f;
      for (int e = 0; e < E; ++e) sum += (scores[e] = std::exp(logits[e] - m));
      for (int e = 0; e < E; ++e) scores[e] /= sum;
    } else if constexpr (C.scoring == score_fn::sigmoid) {
      for (int e = 0; e < E; ++e) scores[e] = 1.0f / (1.0f + std::exp(-logits[e]));
    } else {
      for (int e = 0; e < E; ++e) scores[e] = logits[e];
    }
  }

  // DeepSeek-V3's group-limited selection: score each group by the sum of its best
  // group_score_top choice scores, keep the best groups_kept groups, skip the other experts
  // (the original's -inf masking).
  static void mask_groups(float const* choice, int E, bool* skip) {
    int const per = E / C.groups;
    float group_score[C.groups];
    for (int g = 0; g < C.groups; ++g) {
      int best[C.group_score_top];
      detail::top_k(choice + g * per, per, C.group_score_top, best);
      float s = 0.0f;
      for (int j = 0; j < C.group_score_top; ++j) s += choice[g * per + best[j]];
      group_score[g] = s;
    }
    int kept[C.groups_kept];
    detail::top_k(group_score, C.groups, C.groups_kept, kept);
    for (int e = 0; e < E; ++e) skip[e] = true;
    for (int j = 0; j < C.groups_kept; ++j)
      for (int e = kept[j] * per; e < (kept[j] + 1) * per; ++e) skip[e] = false;
  }

  static void validate(index_t T, index_t E, matrix_view<std::int32_t> ids, matrix_view<float> weights,
                       router_params const& params) {
    char const* where = "route::topk_router";
    require(E >= C.top_k, where, "top_k = ", C.top_k, " but the logits have only ", E, " experts");
    require(E % C.groups == 0, where, E, " experts do not split into ", C.groups, " equal groups");
    require(E / C.groups >= C.group_score_top, where, "groups of ", E / C.groups, " experts cannot be scored by their best ",
            C.group_score_top);
    require((E / C.groups) * C.groups_kept >= C.top_k, where, "the ", C.groups_kept, " kept groups hold ",
            (E / C.groups) * C.groups_kept, " experts, fewer than top_k = ", C.top_k);
    require(ids.extent(0) == T && ids.extent(1) == C.top_k && weights.extent(0) == T && weights.extent(1) == C.top_k,
            where, "ids and weights must be [", T, ", ", C.top_k, "], got [", ids.extent(0), ", ", ids.extent(1), "] and [",
            weights.extent(0), ", ", weights.extent(1), "]");
    require(ids.stride(1) == 1 && weights.stride(1) == 1, where, "rows of ids and weights must be contiguous");
    if constexpr (C.selection_bias)
      require(params.selection_bias.data() != nullptr && params.selection_bias.extent(0) == E &&
                  params.selection_bias.stride(0) == 1,
              where, "the config uses a selection bias: params.selection_bias must hold ", E, " contiguous floats");
    if constexpr (C.k == k_policy::cumulative)
      require(params.p > 0.0f && params.p <= 1.0f, where, "cumulative k needs 0 < p <= 1, got ", params.p);
    require(std::isfinite(params.scaling), where, "scaling must be finite, got ", params.scaling);
  }
};

}  // namespace route
SWITCHYARD_NAMESPACE_END
