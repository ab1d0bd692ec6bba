#pragma once
// Expert-choice routing (Zhou et al. 2022, "Mixture-of-Experts with Expert Choice Routing"):
// scores are a softmax over experts per token, and then each *expert* takes its top-C tokens by
// score, C = ceil(T * capacity_factor / E) (at most T). Load is balanced by construction; a
// token may be taken by 0..E experts.
//
// Output layout, so that the same dispatch plan and combine serve it: ids and weights are
// [T, E] (one slot per expert); slot e of token t holds e and the token's score for e if expert e
// took the token, else -1 and 0.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "switchyard/core/error.hpp"
#include "switchyard/core/tensor_view.hpp"
#include "switchyard/core/thread_pool.hpp"
#include "switchyard/route/router.hpp"
#include "switchyard/route/topk.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace route {

class expert_choice {
 public:
  // Slots per token in ids/weights: one per expert.
  static index_t slots(index_t experts) noexcept { return experts; }

  // Tokens each expert takes for a batch of T tokens.
  static index_t capacity(index_t tokens, index_t experts, float capacity_factor) {
    double const c = std::ceil(double(tokens) * double(capacity_factor) / double(experts));
    return std::min<index_t>(tokens, static_cast<index_t>(c));
  }

  void operator()(matrix_view<float const> logits, matrix_view<std::int32_t> ids, matrix_view<float> weights,
                  router_params const& params = {}, thread_pool& pool = thread_pool::shared()) const {
    index_t const T = logits.extent(0), E = logits.extent(1);
    char const* where = "route::expert_choice";
    require(E >= 1, where, "need at least one expert");
    require(ids.extent(0) == T && ids.extent(1) == E && weights.extent(0) == T && weights.extent(1) == E, where,
            "ids and weights must be [", T, ", ", E, "] (one slot per expert)");
    require(std::isfinite(params.capacity_factor) && params.capacity_factor > 0.0f, where,
            "capacity_factor must be finite and > 0, got ", params.capacity_factor);
    if (T == 0) return;
    // Scores: softmax over experts, per token (scratch of the calling thread, reused).
    thread_local std::vector<float> scores_buf;
    if (scores_buf.size() < static_cast<std::size_t>(T * E)) scores_buf.resize(static_cast<std::size_t>(T * E));
    float* const scores = scores_buf.data();
    pool.parallel_for(0, T, 64, [&](index_t lo, index_t hi) {
      for (index_t t = lo; t < hi; ++t) {
        float const* l = logits.row(t);
        float* s = scores + t * E;
        float m = -INFINITY;
        for (index_t e = 0; e < E; ++e) m = std::max(m, l[e]);
        float sum = 0.0f;
        for (index_t e = 0; e < E; ++e) sum += (s[e] = std::exp(l[e] - m));
        for (index_t e = 0; e < E; ++e) s[e] /= sum;
        for (index_t e = 0; e < E; ++e) ids(t, e) = -1, weights(t, e) = 0.0f;
      }
    });
    index_t const C = capacity(T, E, params.capacity_factor);
    // Each expert picks its tokens (disjoint columns: no races).
    pool.parallel_for(0, E, 1, [&](index_t lo, index_t hi) {
      thread_local std::vector<float> column;
      thread_local std::vector<int> chosen;
      if (column.size() < static_cast<std::size_t>(T)) column.resize(static_cast<std::size_t>(T));
      if (chosen.size() < static_cast<std::size_t>(C)) chosen.resize(static_cast<std::size_t>(C));
      for (index_t e = lo; e < hi; ++e) {
        for (index_t t = 0; t < T; ++t) column[static_cast<std::size_t>(t)] = scores[static_cast<std::size_t>(t * E + e)];
        detail::top_k(column.data(), static_cast<int>(T), static_cast<int>(C), chosen.data());
        for (index_t j = 0; j < C; ++j) {
          int const t = chosen[static_cast<std::size_t>(j)];
          ids(t, e) = static_cast<std::int32_t>(e);
          weights(t, e) = column[static_cast<std::size_t>(t)] * params.scaling;
        }
      }
    });
  }
};

}  // namespace route
SWITCHYARD_NAMESPACE_END
