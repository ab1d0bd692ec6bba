#pragma once
// The typed description of a decoder-only model: what a loaded config.json or GGUF metadata
// becomes, and what model/build.hpp turns into layers. One struct for every shipped family; a
// field a family does not use keeps its default.
#include <string>

#include "switchyard/attention/rope.hpp"
#include "switchyard/core/check.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace model {

enum class architecture { llama, mixtral, qwen2_moe, qwen3_moe, olmoe, deepseek_v3 };

inline char const* name(architecture a) {
  switch (a) {
    case architecture::llama: return "llama";
    case architecture::mixtral: return "mixtral";
    case architecture::qwen2_moe: return "qwen2_moe";
    case architecture::qwen3_moe: return "qwen3_moe";
    case architecture::olmoe: return "olmoe";
    case architecture::deepseek_v3: return "deepseek_v3";
  }
  return "?";
}

// Where q/k RMSNorm applies: not at all, per head over head_dim (Qwen3), or over the whole
// projection of all heads (OLMoE).
enum class qk_norm { none, per_head, whole };

struct model_config {
  architecture arch = architecture::llama;
  index_t vocab = 0, hidden = 0, layers = 0;
  index_t heads = 0, kv_heads = 0, head_dim = 0;
  index_t intermediate = 0;  // dense FFN width (Llama; DeepSeek's first dense layers)
  float rms_eps = 1e-6f;
  attention::rope_config rope = {};  // head_dim filled from head_dim (MLA: qk_rope_dim)
  bool tie_embeddings = false;
  bool attention_bias = false;  // q/k/v biases (Qwen2-MoE)
  qk_norm qk = qk_norm::none;
  index_t sliding_window = 0;  // 0: none

  // Mixture of experts (experts == 0: every layer dense).
  index_t experts = 0, experts_per_token = 0;
  index_t moe_intermediate = 0;   // per expert
  bool norm_topk_prob = true;
  index_t shared_intermediate = 0;  // width of the shared expert(s); 0: none
  bool shared_gate = false;         // Qwen2-MoE: shared output times sigmoid(gate . x)
  index_t first_dense_layers = 0;   // DeepSeek: first_k_dense_replace
  index_t moe_every = 1;            // Qwen2-MoE: decoder_sparse_step (layer i is MoE when (i+1) % step == 0)

  // DeepSeek-V3 (MLA and its router).
  index_t q_lora_rank = 0, kv_lora_rank = 0, qk_nope_dim = 0, qk_rope_dim = 0, v_head_dim = 0;
  index_t n_group = 1, topk_group = 1;
  float routed_scaling = 1.0f;

  bool is_moe_layer(index_t layer) const noexcept {
    if (experts == 0 || layer < first_dense_layers) return false;
    return moe_every <= 1 || (layer + 1) % moe_every == 0;
  }
};

}  // namespace model
SWITCHYARD_NAMESPACE_END
