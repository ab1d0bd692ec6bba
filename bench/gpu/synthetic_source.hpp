#pragma once
// A weight source with random weights for any model_config, for the whole-model benchmarks: a
// model "sized to the card" (tens of GB) would take minutes to write to disk and read back on a
// machine lent for fifteen, and its numbers do not depend on the values. Every tensor is a view of
// one shared pool of random bf16 values (weights ~ U(-a, a), a = 1 / sqrt(hidden), so activations
// stay in range through the layers) or of a pool of ones (norm weights): distinct tensors share
// host bytes, but each is uploaded to its own device buffer, so the device model reads as many
// bytes as a real one. The tensors are the ones the loader asks for, with the shapes the model
// builder checks (model/build.hpp), so a model built from this source is the model a checkpoint
// with this config.json would give.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "switchyard/core/format/bf16.hpp"
#include "switchyard/model/architectures/registry.hpp"
#include "switchyard/model/weight_source.hpp"

namespace switchyard_bench {

class synthetic_source final : public switchyard::model::weight_source {
 public:
  using model_config = switchyard::model::model_config;
  using role = switchyard::model::role;
  using expert_proj = switchyard::model::expert_proj;
  using matrix_slice = switchyard::model::matrix_slice;
  using index_t = switchyard::index_t;

  explicit synthetic_source(model_config const& c, std::uint64_t seed = 1) : c_(c), origin_("synthetic weights") {
    index_t largest = 1;
    for (int r = 0; r < switchyard::model::role_count; ++r)
      for (index_t l : {index_t{0}, c.layers - 1})
        if (auto s = shape(static_cast<role>(r), l)) largest = std::max(largest, s->first * s->second);
    if (c.experts > 0) largest = std::max(largest, c.moe_intermediate * c.hidden);
    float const a = 1.0f / std::sqrt(static_cast<float>(c.hidden));
    std::uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
    weights_.resize(static_cast<std::size_t>(largest));
    for (auto& w : weights_) {  // xorshift64*: fast and good enough for benchmark weights
      x ^= x >> 12, x ^= x << 25, x ^= x >> 27;
      double const u = static_cast<double>((x * 0x2545F4914F6CDD1Dull) >> 11) * 0x1.0p-53;
      w = switchyard::format::bf16(static_cast<float>((2 * u - 1) * a));
    }
    index_t widest = std::max({c.hidden, c.heads * std::max(c.head_dim, c.qk_nope_dim + c.qk_rope_dim), c.q_lora_rank,
                               c.kv_lora_rank, c.experts, index_t{1}});
    ones_.assign(static_cast<std::size_t>(widest), switchyard::format::bf16(1.0f));
  }

  std::optional<matrix_slice> find(role r, index_t layer) const override {
    auto const s = shape(r, layer);
    if (!s) return std::nullopt;
    bool const vector = s->first == 1;
    auto const& pool = vector && r != role::router_bias && r != role::router_gate_bias && r != role::q_bias &&
                               r != role::k_bias && r != role::v_bias && r != role::sinks
                           ? ones_
                           : weights_;
    return slice("layer " + std::to_string(layer) + " role " + std::to_string(static_cast<int>(r)), pool, s->first, s->second);
  }

  matrix_slice expert(expert_proj p, index_t layer, index_t e, model_config const& c) const override {
    index_t const rows = p == expert_proj::down ? c.hidden : c.moe_intermediate;
    index_t const cols = p == expert_proj::down ? c.moe_intermediate : c.hidden;
    return slice("layer " + std::to_string(layer) + " expert " + std::to_string(e), weights_, rows, cols);
  }

  std::optional<matrix_slice> expert_bias(expert_proj p, index_t layer, model_config const& c) const override {
    if (switchyard::model::family_of(c.arch).activation != switchyard::model::architectures::expert_activation::gpt_oss_clamped)
      return std::nullopt;
    return slice("layer " + std::to_string(layer) + " expert bias", weights_, c.experts,
                 p == expert_proj::down ? c.hidden : c.moe_intermediate);
  }

  std::string const& origin() const override { return origin_; }

 private:
  // [rows, cols] of a role's tensor in this config, or nothing where the model has no such tensor
  // (vectors are [1, n]).
  std::optional<std::pair<index_t, index_t>> shape(role r, index_t l) const {
    using switchyard::model::qk_norm;
    auto const& fam = switchyard::model::family_of(c_.arch);
    bool const mla = fam.attention == switchyard::model::architectures::attention_kind::mla;
    bool const gpt_oss = fam.activation == switchyard::model::architectures::expert_activation::gpt_oss_clamped;
    index_t const H = c_.hidden, D = c_.head_dim, qd = c_.qk_nope_dim + c_.qk_rope_dim;
    bool const moe = c_.is_moe_layer(l);
    using P = std::pair<index_t, index_t>;
    switch (r) {
      case role::embed: return P{c_.vocab, H};
      case role::final_norm: case role::attn_norm: case role::ffn_norm: return P{1, H};
      case role::lm_head: if (c_.tie_embeddings) return std::nullopt; return P{c_.vocab, H};
      case role::q:
        if (mla) { if (c_.q_lora_rank > 0) return std::nullopt; return P{c_.heads * qd, H}; }
        return P{c_.heads * D, H};
      case role::k: case role::v: if (mla) return std::nullopt; return P{c_.kv_heads * D, H};
      case role::o: return P{H, c_.heads * (mla ? c_.v_head_dim : D)};
      case role::q_bias: if (mla || !c_.attention_bias) return std::nullopt; return P{1, c_.heads * D};
      case role::k_bias: case role::v_bias: if (mla || !c_.attention_bias) return std::nullopt; return P{1, c_.kv_heads * D};
      case role::o_bias: return std::nullopt;
      case role::q_norm: case role::k_norm: {
        if (mla || c_.qk == qk_norm::none) return std::nullopt;
        if (c_.qk == qk_norm::per_head) return P{1, D};
        return P{1, (r == role::q_norm ? c_.heads : c_.kv_heads) * D};
      }
      case role::sinks: if (!gpt_oss) return std::nullopt; return P{1, c_.heads};
      case role::q_a: if (!mla || c_.q_lora_rank == 0) return std::nullopt; return P{c_.q_lora_rank, H};
      case role::q_a_norm: if (!mla || c_.q_lora_rank == 0) return std::nullopt; return P{1, c_.q_lora_rank};
      case role::q_b: if (!mla || c_.q_lora_rank == 0) return std::nullopt; return P{c_.heads * qd, c_.q_lora_rank};
      case role::kv_a: if (!mla) return std::nullopt; return P{c_.kv_lora_rank + c_.qk_rope_dim, H};
      case role::kv_a_norm: if (!mla) return std::nullopt; return P{1, c_.kv_lora_rank};
      case role::kv_b: if (!mla) return std::nullopt; return P{c_.heads * (c_.qk_nope_dim + c_.v_head_dim), c_.kv_lora_rank};
      case role::ffn_gate: case role::ffn_up: if (moe) return std::nullopt; return P{c_.intermediate, H};
      case role::ffn_down: if (moe) return std::nullopt; return P{H, c_.intermediate};
      case role::router: if (!moe) return std::nullopt; return P{c_.experts, H};
      case role::router_bias:
        if (!moe || fam.router != switchyard::model::architectures::router_kind::sigmoid_grouped) return std::nullopt;
        return P{1, c_.experts};
      case role::router_gate_bias: if (!moe || !gpt_oss) return std::nullopt; return P{1, c_.experts};
      case role::shared_gate: case role::shared_up:
        if (!moe || c_.shared_intermediate == 0) return std::nullopt;
        return P{c_.shared_intermediate, H};
      case role::shared_down: if (!moe || c_.shared_intermediate == 0) return std::nullopt; return P{H, c_.shared_intermediate};
      case role::shared_router: if (!moe || !c_.shared_gate) return std::nullopt; return P{1, H};
    }
    return std::nullopt;
  }

  matrix_slice slice(std::string name, std::vector<switchyard::format::bf16> const& pool, index_t rows, index_t cols) const {
    auto const n = static_cast<std::size_t>(rows * cols);
    switchyard::require(n <= pool.size(), "synthetic_source", name, " needs ", n, " values, the pool has ", pool.size());
    return {std::move(name), switchyard::io::dtype::bf16, rows, cols,
            std::as_bytes(std::span<switchyard::format::bf16 const>(pool.data(), n))};
  }

  model_config c_;
  std::string origin_;
  std::vector<switchyard::format::bf16> weights_, ones_;
};

}  // namespace switchyard_bench
