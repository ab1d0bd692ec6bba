#pragma once
// Qwen2-MoE and Qwen3-MoE: softmax top-k experts named like a dense MLP's, MoE every
// decoder_sparse_step layers except mlp_only_layers. Qwen2-MoE adds q/k/v biases and a shared
// expert scaled by sigmoid(shared_expert_gate . x); Qwen3-MoE adds per-head q/k RMSNorm. Sliding
// windows as transformers builds them: Qwen2-MoE on the layers its layer_types names (by default
// the even layers below max_window_layers), Qwen3-MoE on every layer, both only with
// use_sliding_window.
#include <string>
#include <vector>

#include "switchyard/model/architectures/common.hpp"
#include "switchyard/model/config_json.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace model::architectures {

namespace detail {

inline void qwen_moe_from_hf(model::detail::json_reader const& r, model_config& c, bool qwen2) {
  c.mlp_only_layers = model::detail::hf_index_list(r, "mlp_only_layers");
  if (!r.boolean("use_sliding_window", false)) return;
  c.sliding_window = r.integer("sliding_window");
  if (!qwen2 || model::detail::hf_layer_types(r, c)) return;
  index_t const below = r.integer("max_window_layers", 28);
  c.layer_types.assign(static_cast<std::size_t>(c.layers), layer_attention::full);
  for (index_t l = 0; l < c.layers; l += 2)
    if (l < below) c.layer_types[static_cast<std::size_t>(l)] = layer_attention::sliding;
}

}  // namespace detail

inline constexpr config_key qwen_moe_keys[] = {
    {.field = "experts", .hf = "num_experts|num_local_experts", .required = true},
    {.field = "moe_intermediate", .hf = "moe_intermediate_size", .gguf = "expert_feed_forward_length", .required = true},
    {.field = "moe_every", .hf = "decoder_sparse_step"},
};

inline constexpr config_key qwen2_moe_keys[] = {
    {.field = "norm_topk_prob", .hf = "norm_topk_prob", .gguf = "expert_weights_norm", .fallback = 0},
    {.field = "attention_bias", .hf = "qkv_bias", .fallback = 1},
    {.field = "shared_intermediate", .hf = "shared_expert_intermediate_size", .gguf = "expert_shared_feed_forward_length",
     .omit_zero = true},
};

inline constexpr tensor_name qwen2_moe_tensors[] = {
    {role::shared_gate, "model.layers.{L}.mlp.shared_expert.gate_proj.weight", "blk.{L}.ffn_gate_shexp.weight"},
    {role::shared_up, "model.layers.{L}.mlp.shared_expert.up_proj.weight", "blk.{L}.ffn_up_shexp.weight"},
    {role::shared_down, "model.layers.{L}.mlp.shared_expert.down_proj.weight", "blk.{L}.ffn_down_shexp.weight"},
    {role::shared_router, "model.layers.{L}.mlp.shared_expert_gate.weight", "blk.{L}.ffn_gate_inp_shexp.weight"},
};

inline constexpr family qwen2_moe = {
    .id = architecture::qwen2_moe,
    .name = "qwen2_moe",
    .hf_model_type = "qwen2_moe",
    .gguf_arch = "qwen2moe",
    .keys = {qwen2_moe_keys, qwen_moe_keys, decoder_keys, gqa_keys, moe_keys},
    .tensors = {qwen2_moe_tensors, decoder_tensors},
    .experts = mlp_experts,
    .from_hf = [](model::detail::json_reader const& r, model_config& c) {
      detail::qwen_moe_from_hf(r, c, true);
      c.shared_gate = c.shared_intermediate > 0;
    },
    .from_gguf = [](io::gguf_file const&, model_config& c) { c.shared_gate = c.shared_intermediate > 0; },
};

inline constexpr config_key qwen3_moe_keys[] = {
    {.field = "norm_topk_prob", .hf = "norm_topk_prob", .fallback = 0},  // transformers' default
    {.field = "norm_topk_prob", .gguf = "expert_weights_norm", .fallback = 1},  // llama.cpp's: always renormalizes
    {.field = "attention_bias", .hf = "attention_bias"},
};

inline constexpr family qwen3_moe = {
    .id = architecture::qwen3_moe,
    .name = "qwen3_moe",
    .hf_model_type = "qwen3_moe",
    .gguf_arch = "qwen3moe",
    .keys = {qwen3_moe_keys, qwen_moe_keys, decoder_keys, gqa_keys, moe_keys},
    .tensors = {decoder_tensors},
    .experts = mlp_experts,
    .qk = qk_norm::per_head,
    .from_hf = [](model::detail::json_reader const& r, model_config& c) { detail::qwen_moe_from_hf(r, c, false); },
};

}  // namespace model::architectures
SWITCHYARD_NAMESPACE_END
