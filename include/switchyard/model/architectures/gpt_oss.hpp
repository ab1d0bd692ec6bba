#pragma once
// gpt-oss: grouped-query attention with q/k/v/o biases and a learned sink logit per head, layers
// alternating between a sliding window (even layers) and full attention, YaRN RoPE (not truncated),
// and a MoE in every layer: top-k of the raw router logits (the gate has a bias), softmax over the
// chosen, clamped SwiGLU experts with biases. OpenAI ships the experts in MXFP4; transformers keeps
// them fused for x @ W with gate and up interleaved. llama.cpp calls it gpt-oss (the converter
// splits gate/up, renames post_attention_layernorm to post_attention_norm).
#include <cmath>

#include "switchyard/model/architectures/common.hpp"
#include "switchyard/model/config_json.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace model::architectures {

inline constexpr config_key gpt_oss_keys[] = {
    {.field = "experts", .hf = "num_local_experts", .required = true},
    {.field = "experts_per_token", .hf = "num_experts_per_tok|experts_per_token", .gguf = "expert_used_count", .required = true},
    {.field = "moe_intermediate", .hf = "intermediate_size", .gguf = "expert_feed_forward_length", .required = true},
    {.field = "sliding_window", .hf = "sliding_window"},
    {.field = "attention_bias", .hf = "attention_bias", .fallback = 1},
};

inline constexpr tensor_name gpt_oss_tensors[] = {
    {role::ffn_norm, "model.layers.{L}.post_attention_layernorm.weight", "blk.{L}.post_attention_norm.weight"},
    {role::sinks, "model.layers.{L}.self_attn.sinks", "blk.{L}.attn_sinks.weight"},
    {role::router, "model.layers.{L}.mlp.router.weight", "blk.{L}.ffn_gate_inp.weight"},
    {role::router_gate_bias, "model.layers.{L}.mlp.router.bias", "blk.{L}.ffn_gate_inp.bias"},
};

namespace detail {

// Layers alternate sliding (even) and full, as transformers' default layer_types and llama.cpp's
// SWA pattern of 2 have it.
inline void gpt_oss_alternate(model_config& c) {
  if (!c.layer_types.empty() || c.sliding_window <= 0) return;
  for (index_t l = 0; l < c.layers; ++l)
    c.layer_types.push_back(l % 2 == 0 ? layer_attention::sliding : layer_attention::full);
}

inline void gpt_oss_from_hf(model::detail::json_reader const& r, model_config& c) {
  // The clamped SwiGLU's constants are compiled in (expert::gpt_oss_glu).
  require<unsupported_config>(std::fabs(r.number("swiglu_limit", 7.0) - 7.0) < 1e-6 &&
                                  std::fabs(r.number("swiglu_alpha", 1.702) - 1.702) < 1e-6,
                              "model::hf_config", r.file(), ": gpt-oss with swiglu_limit / swiglu_alpha other than 7 / 1.702");
  if (r.has("quantization_config")) {
    model::detail::json_reader const q(r.raw().at("quantization_config"), r.file() + " (quantization_config)");
    std::string const m = q.string("quant_method");
    require<unsupported_config>(m == "mxfp4", "model::hf_config", r.file(), ": quant_method '", m,
                                "' is not supported (mxfp4 is)");
  }
  model::detail::hf_layer_types(r, c);
  gpt_oss_alternate(c);
}

inline void gpt_oss_from_gguf(io::gguf_file const&, model_config& c) {
  c.rope.scaling.truncate = false;  // gpt-oss's YaRN keeps the fractional correction range
  gpt_oss_alternate(c);
}

}  // namespace detail

inline constexpr family gpt_oss = {
    .id = architecture::gpt_oss,
    .name = "gpt_oss",
    .hf_model_type = "gpt_oss",
    .gguf_arch = "gpt-oss",
    .keys = {gpt_oss_keys, decoder_keys, gqa_keys, moe_keys},
    .tensors = {gpt_oss_tensors, decoder_tensors},
    .experts = {.hf_gate_up = "model.layers.{L}.mlp.experts.gate_up_proj",
                .hf_down = "model.layers.{L}.mlp.experts.down_proj",
                .layout = fused_layout::interleaved_transposed,
                .hf_gate_up_bias = "model.layers.{L}.mlp.experts.gate_up_proj_bias",
                .hf_down_bias = "model.layers.{L}.mlp.experts.down_proj_bias",
                .gguf_bias = {"blk.{L}.ffn_gate_exps.bias", "blk.{L}.ffn_up_exps.bias", "blk.{L}.ffn_down_exps.bias"}},
    .router = router_kind::logits_topk_softmax,
    .activation = expert_activation::gpt_oss_clamped,
    .from_hf = detail::gpt_oss_from_hf,
    .from_gguf = detail::gpt_oss_from_gguf,
};

}  // namespace model::architectures
SWITCHYARD_NAMESPACE_END
