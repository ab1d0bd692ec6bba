#pragma once
// A checkpoint seen with some of each MoE layer's experts only: the weight source behind whole-expert
// pruning (examples/prune). Expert i of layer l is expert keep[l][i] of the checkpoint; the router
// gate [E, H] and the per-expert router vectors (DeepSeek's correction bias, gpt-oss's gate bias)
// keep those experts' rows; expert biases likewise. Every MoE layer keeps the same number of
// experts (the config has one count), chosen per layer. A router's softmax then renormalizes over
// the kept experts by construction (prune/experts.hpp): the cut layer equals the full layer with
// the dropped experts masked out of routing.
//
//   auto sub = model::expert_subset(config, source, keep);   // keep: per layer, ascending ids
//   model::export_gguf(sub.config(), sub, "pruned.gguf", io::dtype::bf16);
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "switchyard/core/error.hpp"
#include "switchyard/model/config.hpp"
#include "switchyard/model/weight_source.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace model {

class expert_subset final : public weight_source {
 public:
  // keep: one list per layer (empty for a dense layer), each ascending expert ids, all MoE layers
  // the same length.
  expert_subset(model_config const& full, weight_source const& base, std::vector<std::vector<index_t>> keep)
      : full_(full), sub_(full), base_(base), keep_(std::move(keep)) {
    char const* where = "model::expert_subset";
    require(full.experts > 0, where, "the model has no experts to prune");
    require(full.n_group <= 1, where,
            "group-limited routers (n_group = ", full.n_group, ") regroup the experts that remain; expert pruning does not "
            "support them");
    require(static_cast<index_t>(keep_.size()) == full.layers, where, "keep lists ", keep_.size(), " layers, the model has ",
            full.layers);
    index_t kept = -1;
    for (index_t l = 0; l < full.layers; ++l) {
      auto const& k = keep_[static_cast<std::size_t>(l)];
      if (!full.is_moe_layer(l)) {
        require(k.empty(), where, "layer ", l, " is dense but keep lists experts for it");
        continue;
      }
      index_t const n = static_cast<index_t>(k.size());
      require(n >= 1, where, "layer ", l, " keeps no expert (pruning every expert leaves the layer nothing to route to)");
      require(kept < 0 || n == kept, where, "layer ", l, " keeps ", n, " experts but an earlier layer keeps ", kept,
              " (one count for the model)");
      kept = n;
      for (std::size_t i = 0; i < k.size(); ++i)
        require(k[i] >= 0 && k[i] < full.experts && (i == 0 || k[i] > k[i - 1]), where, "layer ", l,
                ": kept experts must be ascending ids in [0, ", full.experts, "), got ", k[i], " at position ", i);
    }
    require(kept >= full.experts_per_token, where, "keeping ", kept, " experts is fewer than the ", full.experts_per_token,
            " each token routes to");
    sub_.experts = kept;
  }

  model_config const& config() const noexcept { return sub_; }

  std::optional<matrix_slice> find(role r, index_t layer) const override {
    auto s = base_.find(r, layer);
    if (!s || !(r == role::router || r == role::router_bias || r == role::router_gate_bias)) return s;
    return select(*s, layer);
  }
  matrix_slice expert(expert_proj p, index_t layer, index_t e, model_config const&) const override {
    return base_.expert(p, layer, original(layer, e), full_);
  }
  std::optional<matrix_slice> expert_bias(expert_proj p, index_t layer, model_config const&) const override {
    auto s = base_.expert_bias(p, layer, full_);
    if (!s) return s;
    return select(*s, layer);
  }
  std::string const& origin() const override { return base_.origin(); }
  bool qk_rows_in_gguf_order() const override { return base_.qk_rows_in_gguf_order(); }

 private:
  index_t original(index_t layer, index_t e) const {
    auto const& k = keep_[static_cast<std::size_t>(layer)];
    require(e >= 0 && e < static_cast<index_t>(k.size()), "model::expert_subset", "layer ", layer, " has no kept expert ", e);
    return k[static_cast<std::size_t>(e)];
  }
  // The kept experts' rows of a per-expert tensor: [E, n] by rows, or a vector [E] (one row).
  matrix_slice select(matrix_slice const& s, index_t layer) const {
    auto const& k = keep_[static_cast<std::size_t>(layer)];
    io::dtype_info const d = io::info(s.dtype);
    bool const vector = s.rows == 1 && s.cols == full_.experts;
    require<format_error>(vector || s.rows == full_.experts, "model::expert_subset", base_.origin(), ": '", s.name, "' is [",
                          s.rows, ", ", s.cols, "], not one row (or element) per expert of ", full_.experts);
    require<format_error>(!vector || d.block_elems == 1, "model::expert_subset", base_.origin(), ": '", s.name,
                          "' is a per-expert vector in the block format ", d.name);
    std::size_t const unit = vector ? static_cast<std::size_t>(d.block_bytes)
                                    : static_cast<std::size_t>(s.cols / d.block_elems * d.block_bytes);
    auto& out = owned_.emplace_back();
    for (index_t e : k) {
      auto const first = s.data.begin() + static_cast<std::ptrdiff_t>(unit * static_cast<std::size_t>(e));
      out.insert(out.end(), first, first + static_cast<std::ptrdiff_t>(unit));
    }
    index_t const n = static_cast<index_t>(k.size());
    return {s.name, s.dtype, vector ? 1 : n, vector ? n : s.cols, std::span<std::byte const>(out)};
  }

  model_config full_, sub_;
  weight_source const& base_;
  std::vector<std::vector<index_t>> keep_;
  mutable std::deque<std::vector<std::byte>> owned_;
};

}  // namespace model
SWITCHYARD_NAMESPACE_END
