#pragma once
// OLMoE: softmax top-k experts (not renormalized by default) in every layer, and q/k RMSNorm over
// the whole projection of all heads.
#include "switchyard/model/architectures/common.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace model::architectures {

inline constexpr config_key olmoe_keys[] = {
    {.field = "experts", .hf = "num_experts|num_local_experts", .required = true},
    {.field = "moe_intermediate", .hf = "intermediate_size", .gguf = "feed_forward_length", .required = true},
    {.field = "norm_topk_prob", .hf = "norm_topk_prob", .gguf = "expert_weights_norm", .fallback = 0},
    {.field = "attention_bias", .hf = "attention_bias"},
};
inline constexpr refused_key olmoe_refused[] = {
    {"clip_qkv", "clip_qkv is not supported"},
};

inline constexpr family olmoe = {
    .id = architecture::olmoe,
    .name = "olmoe",
    .hf_model_type = "olmoe",
    .gguf_arch = "olmoe",
    .keys = {olmoe_keys, decoder_keys, gqa_keys, moe_keys},
    .refused = olmoe_refused,
    .tensors = {decoder_tensors},
    .experts = mlp_experts,
    .qk = qk_norm::whole,
};

}  // namespace model::architectures
SWITCHYARD_NAMESPACE_END
