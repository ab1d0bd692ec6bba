#pragma once
// The typed description of a decoder-only model: what a loaded config.json or GGUF metadata
// becomes, and what model/build.hpp turns into layers. One struct for every shipped family; a
// field a family does not use keeps its default. Which keys fill which field is each family's
// table (model/architectures/); model/config_fields.hpp reflects the fields so that parsing,
// printing and comparing walk the struct instead of listing them again.
#include <algorithm>
#include <string>
#include <vector>

#include "switchyard/attention/rope.hpp"
#include "switchyard/core/check.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace model {

// The shipped families, one table header each under model/architectures/.
enum class architecture { llama, mixtral, qwen2_moe, qwen3_moe, olmoe, deepseek_v3, gpt_oss };

// Where q/k RMSNorm applies: not at all, per head over head_dim (Qwen3), or over the whole
// projection of all heads (OLMoE).
enum class qk_norm { none, per_head, whole };

// A layer's attention span: every earlier token, or only the last `sliding_window` of them.
enum class layer_attention { full, sliding };

struct model_config {
  architecture arch = architecture::llama;
  index_t vocab = 0, hidden = 0, layers = 0;
  index_t heads = 0, kv_heads = 0, head_dim = 0;  // kv_heads, head_dim 0: derived (heads, hidden / heads)
  index_t intermediate = 0;  // dense FFN width (Llama; DeepSeek's first dense layers)
  index_t max_positions = 0;  // the context the model was made for (max_position_embeddings); 0: unknown
  float rms_eps = 1e-6f;
  attention::rope_config rope = {};  // head_dim filled from head_dim (MLA: qk_rope_dim)
  bool tie_embeddings = false;
  bool attention_bias = false;  // q/k/v biases (Qwen2-MoE)
  qk_norm qk = qk_norm::none;
  index_t sliding_window = 0;                // 0: none
  std::vector<layer_attention> layer_types = {};  // per layer; empty: every layer sliding when sliding_window > 0

  // Mixture of experts (experts == 0: every layer dense).
  index_t experts = 0, experts_per_token = 0;
  index_t moe_intermediate = 0;   // per expert
  bool norm_topk_prob = true;
  index_t shared_intermediate = 0;  // width of the shared expert(s); 0: none
  bool shared_gate = false;         // Qwen2-MoE: shared output times sigmoid(gate . x)
  index_t first_dense_layers = 0;   // DeepSeek: first_k_dense_replace
  index_t moe_every = 1;            // Qwen2-MoE: decoder_sparse_step (layer i is MoE when (i+1) % step == 0)
  std::vector<index_t> mlp_only_layers = {};  // Qwen2/3-MoE: layers with a dense MLP instead of experts

  // DeepSeek-V3 (MLA and its router).
  index_t q_lora_rank = 0, kv_lora_rank = 0, qk_nope_dim = 0, qk_rope_dim = 0, v_head_dim = 0;
  index_t n_group = 1, topk_group = 1;
  float routed_scaling = 1.0f;

  bool is_moe_layer(index_t layer) const noexcept {
    if (experts == 0 || layer < first_dense_layers) return false;
    if (std::find(mlp_only_layers.begin(), mlp_only_layers.end(), layer) != mlp_only_layers.end()) return false;
    return moe_every <= 1 || (layer + 1) % moe_every == 0;
  }
  // The key window of a layer's attention; 0: every earlier token.
  index_t window(index_t layer) const noexcept {
    if (sliding_window <= 0) return 0;
    if (layer_types.empty()) return sliding_window;
    return layer < static_cast<index_t>(layer_types.size()) && layer_types[static_cast<std::size_t>(layer)] == layer_attention::sliding
               ? sliding_window
               : 0;
  }
};

}  // namespace model
SWITCHYARD_NAMESPACE_END
