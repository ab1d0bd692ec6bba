#pragma once
// The rows most families share: the Llama-style decoder's config keys and tensor names, and the
// keys of a top-k MoE. A family's table lists these groups after its own rows (its own rows win:
// they are searched first and their GGUF keys are written first).
#include <string>

#include "switchyard/io/gguf.hpp"
#include "switchyard/io/gguf_writer.hpp"
#include "switchyard/model/architectures/table.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace model::architectures {

// Whether a GGUF file's architecture has experts (llama.cpp's "llama" is Llama or Mixtral).
inline bool gguf_has_experts(io::gguf_file const& f) {
  return f.get_int(f.get_string("general.architecture") + ".expert_count", 0) > 0;
}

// Every decoder's sizes. A GGUF's vocab_size left 0 comes from token_embd's shape.
inline constexpr config_key decoder_keys[] = {
    {.field = "vocab", .hf = "vocab_size", .required = true},
    {.field = "vocab", .gguf = "vocab_size"},
    {.field = "hidden", .hf = "hidden_size", .gguf = "embedding_length", .required = true},
    {.field = "layers", .hf = "num_hidden_layers", .gguf = "block_count", .required = true},
    {.field = "heads", .hf = "num_attention_heads", .gguf = "attention.head_count", .required = true},
    {.field = "intermediate", .hf = "intermediate_size", .gguf = "feed_forward_length"},
    {.field = "max_positions", .hf = "max_position_embeddings", .gguf = "context_length", .omit_zero = true},
    {.field = "rms_eps", .hf = "rms_norm_eps", .gguf = "attention.layer_norm_rms_epsilon"},
    {.field = "tie_embeddings", .hf = "tie_word_embeddings"},
};

// Grouped-query attention's head sizes (MLA has its own) and window. kv_heads and head_dim left 0
// are derived afterwards (heads, hidden / heads).
inline constexpr config_key gqa_keys[] = {
    {.field = "kv_heads", .hf = "num_key_value_heads", .gguf = "attention.head_count_kv"},
    {.field = "head_dim", .hf = "head_dim", .gguf = "attention.key_length"},
    {.field = "head_dim", .gguf = "attention.value_length"},
    {.field = "sliding_window", .gguf = "attention.sliding_window", .omit_zero = true},
};

// A top-k router over `experts` experts.
inline constexpr config_key moe_keys[] = {
    {.field = "experts_per_token", .hf = "num_experts_per_tok", .gguf = "expert_used_count", .required = true},
    {.field = "experts", .gguf = "expert_count", .required = true},
};

inline constexpr tensor_name decoder_tensors[] = {
    {role::embed, "model.embed_tokens.weight", "token_embd.weight"},
    {role::final_norm, "model.norm.weight", "output_norm.weight"},
    {role::lm_head, "lm_head.weight", "output.weight"},
    {role::attn_norm, "model.layers.{L}.input_layernorm.weight", "blk.{L}.attn_norm.weight"},
    {role::ffn_norm, "model.layers.{L}.post_attention_layernorm.weight", "blk.{L}.ffn_norm.weight"},
    {role::q, "model.layers.{L}.self_attn.q_proj.weight", "blk.{L}.attn_q.weight"},
    {role::k, "model.layers.{L}.self_attn.k_proj.weight", "blk.{L}.attn_k.weight"},
    {role::v, "model.layers.{L}.self_attn.v_proj.weight", "blk.{L}.attn_v.weight"},
    {role::o, "model.layers.{L}.self_attn.o_proj.weight", "blk.{L}.attn_output.weight"},
    {role::q_bias, "model.layers.{L}.self_attn.q_proj.bias", "blk.{L}.attn_q.bias"},
    {role::k_bias, "model.layers.{L}.self_attn.k_proj.bias", "blk.{L}.attn_k.bias"},
    {role::v_bias, "model.layers.{L}.self_attn.v_proj.bias", "blk.{L}.attn_v.bias"},
    {role::o_bias, "model.layers.{L}.self_attn.o_proj.bias", "blk.{L}.attn_output.bias"},
    {role::q_norm, "model.layers.{L}.self_attn.q_norm.weight", "blk.{L}.attn_q_norm.weight"},
    {role::k_norm, "model.layers.{L}.self_attn.k_norm.weight", "blk.{L}.attn_k_norm.weight"},
    {role::ffn_gate, "model.layers.{L}.mlp.gate_proj.weight", "blk.{L}.ffn_gate.weight"},
    {role::ffn_up, "model.layers.{L}.mlp.up_proj.weight", "blk.{L}.ffn_up.weight"},
    {role::ffn_down, "model.layers.{L}.mlp.down_proj.weight", "blk.{L}.ffn_down.weight"},
    {role::router, "model.layers.{L}.mlp.gate.weight", "blk.{L}.ffn_gate_inp.weight"},
};

// Experts named model.layers.N.mlp.experts.E.{gate,up,down}_proj (or transformers 5's fused banks).
inline constexpr expert_names mlp_experts = {
    .hf_each = {"model.layers.{L}.mlp.experts.{E}.gate_proj.weight", "model.layers.{L}.mlp.experts.{E}.up_proj.weight",
                "model.layers.{L}.mlp.experts.{E}.down_proj.weight"},
    .hf_gate_up = "model.layers.{L}.mlp.experts.gate_up_proj",
    .hf_down = "model.layers.{L}.mlp.experts.down_proj",
};

}  // namespace model::architectures
SWITCHYARD_NAMESPACE_END
