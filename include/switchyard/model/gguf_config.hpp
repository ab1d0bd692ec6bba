#pragma once
// GGUF metadata (llama.cpp's keys) -> model_config, for the architectures llama.cpp names llama
// (Llama and Mixtral: llama.cpp's converter permutes q/k rows so that RoPE rotates adjacent pairs,
// so the layout here is interleaved), qwen2moe, qwen3moe and olmoe (rotate-half, as in
// transformers). Where llama.cpp fixes a behaviour in code rather than metadata (Mixtral and Qwen3
// renormalize the top-k weights, Qwen2-MoE and OLMoE do not), the same default applies unless
// `<arch>.expert_weights_norm` says otherwise.
#include <string>

#include "switchyard/core/error.hpp"
#include "switchyard/io/gguf.hpp"
#include "switchyard/model/config.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace model {

inline model_config config_from_gguf(io::gguf_file const& f) {
  std::string const a = f.get_string("general.architecture");
  auto key = [&](char const* k) { return a + "." + k; };
  model_config c;
  if (a == "llama") c.arch = f.get_int(key("expert_count"), 0) > 0 ? architecture::mixtral : architecture::llama;
  else if (a == "qwen2moe") c.arch = architecture::qwen2_moe;
  else if (a == "qwen3moe") c.arch = architecture::qwen3_moe;
  else if (a == "olmoe") c.arch = architecture::olmoe;
  else if (a == "deepseek2") c.arch = architecture::deepseek_v3;
  else
    switchyard::detail::fail<unsupported_config>("model::config_from_gguf", f.origin(), ": architecture '", a,
                                                 "' is not supported (llama, qwen2moe, qwen3moe, olmoe, deepseek2 are)");
  c.hidden = f.get_int(key("embedding_length"));
  c.layers = f.get_int(key("block_count"));
  c.heads = f.get_int(key("attention.head_count"));
  c.kv_heads = f.get_int(key("attention.head_count_kv"), c.heads);
  require<format_error>(c.hidden > 0 && c.layers > 0 && c.heads > 0 && c.kv_heads > 0 && c.layers < 4096, "model::config_from_gguf",
                        f.origin(), ": embedding_length, block_count and head counts must be positive");
  c.head_dim = f.get_int(key("attention.key_length"), c.hidden / c.heads);
  c.intermediate = f.get_int(key("feed_forward_length"), 0);
  c.rms_eps = static_cast<float>(f.get_float(key("attention.layer_norm_rms_epsilon"), 1e-6));
  c.rope.theta = f.get_float(key("rope.freq_base"), 10000.0);
  c.rope.head_dim = c.head_dim;
  c.rope.rotary_dim = f.get_int(key("rope.dimension_count"), c.head_dim);
  c.rope.layout = a == "llama" ? attention::rope_layout::interleaved : attention::rope_layout::rotate_half;  // deepseek2: below
  if (auto const* s = f.find_value(key("rope.scaling.type"))) {
    std::string const t = f.get_string(key("rope.scaling.type"));
    if (t == "linear") {
      c.rope.scaling.type = attention::rope_scaling::kind::linear;
      c.rope.scaling.factor = f.get_float(key("rope.scaling.factor"));
    } else {
      require<unsupported_config>(t == "none", "model::config_from_gguf", f.origin(), ": rope scaling '", t,
                                  "' is not supported from GGUF yet");
    }
    (void)s;
  }
  auto const* embd = f.find("token_embd.weight");
  require<format_error>(embd != nullptr && embd->shape.size() == 2, "model::config_from_gguf", f.origin(),
                        ": no 2-D token_embd.weight");
  c.vocab = f.get_int(key("vocab_size"), embd->shape[0]);
  c.tie_embeddings = f.find("output.weight") == nullptr;
  c.attention_bias = f.find("blk.0.attn_q.bias") != nullptr;
  if (c.arch == architecture::qwen3_moe) c.qk = qk_norm::per_head;
  if (c.arch == architecture::olmoe) c.qk = qk_norm::whole;
  if (c.arch != architecture::llama) {
    c.experts = f.get_int(key("expert_count"));
    c.experts_per_token = f.get_int(key("expert_used_count"));
    c.moe_intermediate = c.arch == architecture::mixtral || c.arch == architecture::olmoe
                             ? c.intermediate
                             : f.get_int(key("expert_feed_forward_length"));
    bool const norm_default =
        c.arch == architecture::mixtral || c.arch == architecture::qwen3_moe || c.arch == architecture::deepseek_v3;
    c.norm_topk_prob = f.get_bool(key("expert_weights_norm"), norm_default);
    require<format_error>(c.experts_per_token > 0 && c.experts_per_token <= c.experts && c.moe_intermediate > 0,
                          "model::config_from_gguf", f.origin(), ": need 0 < expert_used_count <= expert_count and an expert width");
  }
  if (c.arch == architecture::qwen2_moe) {
    c.shared_intermediate = f.get_int(key("expert_shared_feed_forward_length"), 0);
    c.shared_gate = c.shared_intermediate > 0;
  }
  if (c.arch == architecture::deepseek_v3) {
    // llama.cpp's MLA metadata: key/value_length describe the latent cache (rank + rope, rank);
    // the per-head dimensions are key/value_length_mla (older files: key/value_length themselves).
    require<unsupported_config>(f.get_int(key("expert_gating_func"), 2) == 2, "model::config_from_gguf", f.origin(),
                                ": deepseek2 with softmax gating (DeepSeek-V2) is not supported; V3's sigmoid is");
    c.q_lora_rank = f.get_int(key("attention.q_lora_rank"), 0);
    c.kv_lora_rank = f.get_int(key("attention.kv_lora_rank"));
    c.qk_rope_dim = f.get_int(key("rope.dimension_count"));
    index_t const qk = f.find_value(key("attention.key_length_mla")) ? f.get_int(key("attention.key_length_mla"))
                                                                      : f.get_int(key("attention.key_length"));
    c.v_head_dim = f.find_value(key("attention.value_length_mla")) ? f.get_int(key("attention.value_length_mla"))
                                                                    : f.get_int(key("attention.value_length"));
    require<format_error>(qk > c.qk_rope_dim && c.kv_lora_rank > 0 && c.v_head_dim > 0, "model::config_from_gguf",
                          f.origin(), ": inconsistent MLA dimensions (key length ", qk, ", rope ", c.qk_rope_dim, ")");
    c.qk_nope_dim = qk - c.qk_rope_dim;
    c.head_dim = qk;
    c.kv_heads = c.heads;
    c.rope.head_dim = c.qk_rope_dim;
    c.rope.rotary_dim = c.qk_rope_dim;
    c.rope.layout = attention::rope_layout::interleaved;
    c.first_dense_layers = f.get_int(key("leading_dense_block_count"), 0);
    c.shared_intermediate = f.get_int(key("expert_shared_count"), 0) * c.moe_intermediate;
    c.routed_scaling = static_cast<float>(f.get_float(key("expert_weights_scale"), 1.0));
    c.n_group = f.get_int(key("expert_group_count"), 1);
    c.topk_group = f.get_int(key("expert_group_used_count"), 1);
    c.norm_topk_prob = f.get_bool(key("expert_weights_norm"), true);
  }
  return c;
}

}  // namespace model
SWITCHYARD_NAMESPACE_END
