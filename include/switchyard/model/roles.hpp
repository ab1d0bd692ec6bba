#pragma once
// What a tensor is for in a model, independent of any checkpoint's naming: the builder asks for
// "layer 3's q projection" or "expert 5's up projection of layer 1", and each family's table
// (model/architectures/) says what Hugging Face and llama.cpp call it.
#include "switchyard/config.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace model {

enum class role {
  embed, final_norm, lm_head,                                          // model
  attn_norm, ffn_norm, q, k, v, o, q_bias, k_bias, v_bias, o_bias, q_norm, k_norm,  // per layer
  sinks,                                                               // gpt-oss: a learned logit per q head
  q_a, q_a_norm, q_b, kv_a, kv_a_norm, kv_b,                           // MLA
  ffn_gate, ffn_up, ffn_down,                                          // dense FFN
  router, router_bias,                                                 // MoE gate [E, H], DeepSeek's correction bias [E]
  router_gate_bias,                                                    // gpt-oss: the gate's own bias [E] (added to the logits)
  shared_gate, shared_up, shared_down, shared_router,                  // shared expert(s), Qwen2-MoE's gate [H]
};
inline constexpr int role_count = static_cast<int>(role::shared_router) + 1;

enum class expert_proj { gate, up, down };

}  // namespace model
SWITCHYARD_NAMESPACE_END
