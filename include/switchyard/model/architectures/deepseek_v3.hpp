#pragma once
// DeepSeek-V3: multi-head latent attention (MLA: low-rank q and a compressed KV latent, RoPE on a
// separate interleaved slice), a sigmoid-scored grouped router with a selection bias, shared
// experts, and dense first layers. llama.cpp calls it deepseek2; its metadata describes the latent
// cache (key_length = rank + rope) and puts the per-head sizes under *_mla.
#include "switchyard/model/architectures/common.hpp"
#include "switchyard/model/config_json.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace model::architectures {

inline constexpr config_key deepseek_v3_keys[] = {
    {.field = "experts", .hf = "n_routed_experts", .required = true},
    {.field = "moe_intermediate", .hf = "moe_intermediate_size", .gguf = "expert_feed_forward_length", .required = true},
    {.field = "norm_topk_prob", .hf = "norm_topk_prob", .gguf = "expert_weights_norm", .fallback = 1},
    {.field = "first_dense_layers", .hf = "first_k_dense_replace", .gguf = "leading_dense_block_count", .fallback = 0},
    {.field = "moe_every", .hf = "moe_layer_freq"},
    {.field = "q_lora_rank", .hf = "q_lora_rank", .gguf = "attention.q_lora_rank", .fallback = 0},
    {.field = "kv_lora_rank", .hf = "kv_lora_rank", .gguf = "attention.kv_lora_rank", .required = true},
    {.field = "qk_nope_dim", .hf = "qk_nope_head_dim", .required = true},
    {.field = "qk_rope_dim", .hf = "qk_rope_head_dim", .gguf = "rope.dimension_count", .required = true},
    {.field = "v_head_dim", .hf = "v_head_dim", .required = true},
    {.field = "n_group", .hf = "n_group", .gguf = "expert_group_count"},
    {.field = "topk_group", .hf = "topk_group", .gguf = "expert_group_used_count"},
    {.field = "routed_scaling", .hf = "routed_scaling_factor", .gguf = "expert_weights_scale"},
};
inline constexpr refused_key deepseek_v3_refused[] = {
    {"attention_bias", "attention_bias is not supported for deepseek_v3"},
};

inline constexpr tensor_name deepseek_v3_tensors[] = {
    {role::q_a, "model.layers.{L}.self_attn.q_a_proj.weight", "blk.{L}.attn_q_a.weight"},
    {role::q_a_norm, "model.layers.{L}.self_attn.q_a_layernorm.weight", "blk.{L}.attn_q_a_norm.weight"},
    {role::q_b, "model.layers.{L}.self_attn.q_b_proj.weight", "blk.{L}.attn_q_b.weight"},
    {role::kv_a, "model.layers.{L}.self_attn.kv_a_proj_with_mqa.weight", "blk.{L}.attn_kv_a_mqa.weight"},
    {role::kv_a_norm, "model.layers.{L}.self_attn.kv_a_layernorm.weight", "blk.{L}.attn_kv_a_norm.weight"},
    {role::kv_b, "model.layers.{L}.self_attn.kv_b_proj.weight", "blk.{L}.attn_kv_b.weight"},
    {role::router_bias, "model.layers.{L}.mlp.gate.e_score_correction_bias", "blk.{L}.exp_probs_b.bias"},
    {role::shared_gate, "model.layers.{L}.mlp.shared_experts.gate_proj.weight", "blk.{L}.ffn_gate_shexp.weight"},
    {role::shared_up, "model.layers.{L}.mlp.shared_experts.up_proj.weight", "blk.{L}.ffn_up_shexp.weight"},
    {role::shared_down, "model.layers.{L}.mlp.shared_experts.down_proj.weight", "blk.{L}.ffn_down_shexp.weight"},
};

namespace detail {

inline void deepseek_v3_finish(model_config& c) {
  c.head_dim = c.qk_nope_dim + c.qk_rope_dim;
  c.kv_heads = c.heads;
  c.rope.head_dim = c.qk_rope_dim;
  c.rope.rotary_dim = c.qk_rope_dim;
}

inline void deepseek_v3_from_gguf(io::gguf_file const& f, model_config& c) {
  std::string const a = f.get_string("general.architecture") + ".";
  require<unsupported_config>(f.get_int(a + "expert_gating_func", 2) == 2, "model::config_from_gguf", f.origin(),
                              ": deepseek2 with softmax gating (DeepSeek-V2) is not supported; V3's sigmoid is");
  // The per-head sizes: key/value_length_mla (older files: key/value_length themselves).
  auto mla = [&](char const* k) {
    return f.find_value(a + k + "_mla") ? f.get_int(a + k + "_mla") : f.get_int(a + k);
  };
  index_t const qk = mla("attention.key_length");
  c.v_head_dim = mla("attention.value_length");
  require<format_error>(qk > c.qk_rope_dim && c.kv_lora_rank > 0 && c.v_head_dim > 0, "model::config_from_gguf",
                        f.origin(), ": inconsistent MLA dimensions (key length ", qk, ", rope ", c.qk_rope_dim, ")");
  c.qk_nope_dim = qk - c.qk_rope_dim;
  c.shared_intermediate = f.get_int(a + "expert_shared_count", 0) * c.moe_intermediate;
  deepseek_v3_finish(c);
}

inline void deepseek_v3_to_gguf(model_config const& c, io::gguf_writer& w, std::string const& a) {
  w.set_u32(a + "attention.head_count_kv", 1);  // one latent "head" in llama.cpp's cache
  w.set_u32(a + "attention.key_length", static_cast<std::uint32_t>(c.kv_lora_rank + c.qk_rope_dim));
  w.set_u32(a + "attention.value_length", static_cast<std::uint32_t>(c.kv_lora_rank));
  w.set_u32(a + "attention.key_length_mla", static_cast<std::uint32_t>(c.qk_nope_dim + c.qk_rope_dim));
  w.set_u32(a + "attention.value_length_mla", static_cast<std::uint32_t>(c.v_head_dim));
  w.set_u32(a + "expert_shared_count", static_cast<std::uint32_t>(c.shared_intermediate / std::max<index_t>(c.moe_intermediate, 1)));
  w.set_u32(a + "expert_gating_func", 2);  // sigmoid
}

}  // namespace detail

inline constexpr family deepseek_v3 = {
    .id = architecture::deepseek_v3,
    .name = "deepseek_v3",
    .hf_model_type = "deepseek_v3",
    .gguf_arch = "deepseek2",
    .keys = {deepseek_v3_keys, decoder_keys, moe_keys},
    .refused = deepseek_v3_refused,
    .tensors = {deepseek_v3_tensors, decoder_tensors},
    .experts = mlp_experts,
    .attention = attention_kind::mla,
    .router = router_kind::sigmoid_grouped,
    .rope = attention::rope_layout::interleaved,
    .gguf_rope = attention::rope_layout::interleaved,
    .from_hf = [](model::detail::json_reader const& r, model_config& c) {
      c.shared_intermediate = r.integer("n_shared_experts", 0) * c.moe_intermediate;
      detail::deepseek_v3_finish(c);
    },
    .from_gguf = detail::deepseek_v3_from_gguf,
    .to_gguf = detail::deepseek_v3_to_gguf,
};

}  // namespace model::architectures
SWITCHYARD_NAMESPACE_END
