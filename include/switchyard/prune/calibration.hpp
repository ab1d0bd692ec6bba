#pragma once
// Calibration statistics gathered from forward passes (a probe::observer): what activation-aware
// pruning and whole-expert pruning need, from any model the blocks compose.
//
//   per projection input    input_norms over every row the projection read -- the layer's normed
//                           attention / FFN input, the o projection's input, each routed expert's
//                           rows and each bank's act(gate) * up (prune/masks.hpp takes them)
//   per MoE layer           expert_usage: routing slots, routing weight and weight x ||output|| per
//                           expert (prune/experts.hpp keeps the top experts by one of them)
//
//   prune::calibration cal;
//   { probe::attach on(cal); for (auto& window : text) lm.forward(...); }
//   auto* n = cal.norms({.layer = 3, .at = probe::site::expert_input, .of = probe::bank::routed, .expert = 5});
//   auto keep = cal.usage(3)->keep(6, prune::expert_criterion::contribution);
#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <tuple>

#include "switchyard/core/probe.hpp"
#include "switchyard/prune/experts.hpp"
#include "switchyard/prune/masks.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace prune {

class calibration final : public probe::observer {
 public:
  void input(probe::where const& w, matrix_view<float const> x) override {
    auto const k = key(w);
    auto it = norms_.find(k);
    if (it == norms_.end()) it = norms_.emplace(k, input_norms(x.extent(1))).first;
    it->second.add(x);
  }
  void routed(index_t layer, matrix_view<std::int32_t const> ids, matrix_view<float const> weights,
              matrix_view<float const> slot_output_norms) override {
    std::int32_t top = -1;
    for (index_t t = 0; t < ids.extent(0); ++t)
      for (index_t j = 0; j < ids.extent(1); ++j) top = std::max(top, ids(t, j));
    auto it = usage_.find(layer);
    if (it == usage_.end()) it = usage_.emplace(layer, expert_usage(experts_hint_)).first;
    require(top < it->second.experts(), "prune::calibration", "layer ", layer, " routed to expert ", top, " but ",
            it->second.experts(), " experts were announced (set_experts)");
    it->second.add(ids, weights);
    for (index_t t = 0; t < ids.extent(0); ++t)
      for (index_t j = 0; j < ids.extent(1); ++j)
        if (ids(t, j) >= 0) it->second.add_contribution(ids(t, j), double(weights(t, j)) * slot_output_norms(t, j));
    tokens_[layer] += ids.extent(0);
  }

  // How many experts each MoE layer has (before the first forward; the usage tables' size).
  void set_experts(index_t experts) {
    require(experts > 0, "prune::calibration::set_experts", "needs at least one expert, got ", experts);
    experts_hint_ = experts;
  }

  // The inputs one projection read, or nothing if the calibration never reached it (a routed
  // expert no token chose). Sites other than expert_input / ffn_hidden ignore `of` and `expert`.
  input_norms const* norms(probe::where const& w) const {
    auto it = norms_.find(key(w));
    return it == norms_.end() ? nullptr : &it->second;
  }
  // A layer's routing statistics, or nothing for a layer that did not route.
  expert_usage const* usage(index_t layer) const {
    auto it = usage_.find(layer);
    return it == usage_.end() ? nullptr : &it->second;
  }
  // Tokens a layer routed.
  index_t routed_tokens(index_t layer) const {
    auto it = tokens_.find(layer);
    return it == tokens_.end() ? 0 : it->second;
  }

 private:
  using key_type = std::tuple<index_t, int, int, index_t>;
  static key_type key(probe::where const& w) {
    bool const per_bank = w.at == probe::site::expert_input || w.at == probe::site::ffn_hidden;
    return {w.layer, static_cast<int>(w.at), per_bank ? static_cast<int>(w.of) : 0,
            per_bank && w.of == probe::bank::routed ? w.expert : -1};
  }
  index_t experts_hint_ = 1;
  std::map<key_type, input_norms> norms_;
  std::map<index_t, expert_usage> usage_;
  std::map<index_t, index_t> tokens_;
};

}  // namespace prune
SWITCHYARD_NAMESPACE_END
