#pragma once
// Whole-expert pruning of an MoE layer: statistics of how a calibration set uses each expert, the
// experts to keep by one of three criteria, and the layer's tensors cut down to them.
//
//   frequency       how many routing slots chose the expert
//   routing_weight  the summed routing weight it received (a slot's share of the token's output)
//   contribution    the summed weight x ||expert output|| of its slots (what it adds to the layer's
//                   output; the caller measures the norms, add_contribution)
//
// A pruned layer keeps the router rows of its experts only (keep_experts on the gate [E, H] and
// on each bank [E, ...]): top-k then chooses among the kept experts, and the routers' softmax (over
// all experts, or over the chosen ones) renormalizes over them by construction -- the layer equals
// the unpruned one with the dropped experts' logits at -inf (tests/host/test_prune.cpp). Not so for
// group-limited routers (route::deepseek_v3: groups of E / n_group contiguous experts): cutting
// experts regroups the rest, and the kept count must still split into the groups.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <span>
#include <vector>

#include "switchyard/core/error.hpp"
#include "switchyard/core/tensor_view.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace prune {

enum class expert_criterion { frequency, routing_weight, contribution };

class expert_usage {
 public:
  explicit expert_usage(index_t experts) : chosen_(checked(experts), 0.0), weight_(chosen_), contribution_(chosen_) {}

  index_t experts() const noexcept { return static_cast<index_t>(chosen_.size()); }

  // One routing call's choices: ids [T, K] and weights [T, K] as a router writes them (an id < 0
  // is an unused slot).
  void add(matrix_view<std::int32_t const> ids, matrix_view<float const> weights) {
    require(ids.extent(0) == weights.extent(0) && ids.extent(1) == weights.extent(1), "prune::expert_usage::add", "ids [",
            ids.extent(0), ", ", ids.extent(1), "] and weights [", weights.extent(0), ", ", weights.extent(1),
            "] differ in shape");
    for (index_t t = 0; t < ids.extent(0); ++t)
      for (index_t j = 0; j < ids.extent(1); ++j) {
        std::int32_t const e = ids(t, j);
        if (e < 0) continue;
        require(e < experts(), "prune::expert_usage::add", "expert id ", e, " at token ", t, " is not below ", experts());
        require(std::isfinite(weights(t, j)), "prune::expert_usage::add", "routing weight at token ", t, " slot ", j, " is ",
                weights(t, j));
        chosen_[static_cast<std::size_t>(e)] += 1.0;
        weight_[static_cast<std::size_t>(e)] += weights(t, j);
      }
  }
  // A slot's contribution to the layer's output, weight x ||expert output||, measured by the caller.
  void add_contribution(index_t expert, double amount) {
    require(expert >= 0 && expert < experts(), "prune::expert_usage::add_contribution", "expert ", expert,
            " is not in [0, ", experts(), ")");
    require(std::isfinite(amount), "prune::expert_usage::add_contribution", "expert ", expert, "'s contribution is ", amount);
    contribution_[static_cast<std::size_t>(expert)] += amount;
  }

  std::vector<double> const& scores(expert_criterion c) const noexcept {
    return c == expert_criterion::frequency ? chosen_ : c == expert_criterion::routing_weight ? weight_ : contribution_;
  }

  // The n experts with the highest scores (the lower id on ties), in ascending id order.
  std::vector<index_t> keep(index_t n, expert_criterion c) const {
    require(n >= 1 && n <= experts(), "prune::expert_usage::keep", "keeps 1 to ", experts(), " experts, not ", n,
            n < 1 ? " (pruning every expert leaves the layer nothing to route to)" : "");
    auto const& s = scores(c);
    std::vector<index_t> order(chosen_.size());
    std::iota(order.begin(), order.end(), index_t{0});
    std::stable_sort(order.begin(), order.end(), [&](index_t a, index_t b) {
      return s[static_cast<std::size_t>(a)] > s[static_cast<std::size_t>(b)];
    });
    order.resize(static_cast<std::size_t>(n));
    std::sort(order.begin(), order.end());
    return order;
  }

 private:
  static std::size_t checked(index_t experts) {
    require(experts > 0, "prune::expert_usage", "needs at least one expert, got ", experts);
    return static_cast<std::size_t>(experts);
  }
  std::vector<double> chosen_, weight_, contribution_;
};

// The kept experts' slices of a tensor stacked by expert, [E, per_expert...] as `per_expert`
// elements each (a gate [E, H]: per_expert = H; a bank [E, 2F, H]: 2 F H, or 2 F H / B blocks).
template <class T>
std::vector<T> keep_experts(std::span<T const> stacked, index_t experts, std::span<index_t const> keep) {
  require(experts > 0 && static_cast<index_t>(stacked.size()) % experts == 0, "prune::keep_experts", stacked.size(),
          " elements do not split into ", experts, " experts");
  require(!keep.empty(), "prune::keep_experts", "keeps no expert (pruning every expert leaves the layer nothing to route to)");
  std::size_t const per = stacked.size() / static_cast<std::size_t>(experts);
  std::vector<T> out;
  out.reserve(per * keep.size());
  index_t prev = -1;
  for (index_t e : keep) {
    require(e > prev && e < experts, "prune::keep_experts", "kept experts must be ascending ids below ", experts, ", got ", e,
            " after ", prev);
    prev = e;
    auto const first = stacked.begin() + static_cast<std::ptrdiff_t>(per * static_cast<std::size_t>(e));
    out.insert(out.end(), first, first + static_cast<std::ptrdiff_t>(per));
  }
  return out;
}

}  // namespace prune
SWITCHYARD_NAMESPACE_END
