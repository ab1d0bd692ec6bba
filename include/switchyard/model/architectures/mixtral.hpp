#pragma once
// Mixtral: Llama with a softmax top-k MoE (renormalized top-k weights) in every layer, experts
// named w1 / w3 / w2 under block_sparse_moe, and an optional sliding window on every layer.
// llama.cpp writes it as its "llama" architecture with expert_count set.
#include "switchyard/model/architectures/common.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace model::architectures {

inline constexpr config_key mixtral_keys[] = {
    {.field = "experts", .hf = "num_local_experts", .required = true},
    {.field = "moe_intermediate", .hf = "intermediate_size", .gguf = "feed_forward_length", .required = true},
    {.field = "norm_topk_prob", .gguf = "expert_weights_norm", .fallback = 1},  // fixed in transformers' Mixtral
    {.field = "sliding_window", .hf = "sliding_window"},                         // null: none
};

inline constexpr tensor_name mixtral_tensors[] = {
    {role::router, "model.layers.{L}.block_sparse_moe.gate.weight", "blk.{L}.ffn_gate_inp.weight"},
};

inline constexpr family mixtral = {
    .id = architecture::mixtral,
    .name = "mixtral",
    .hf_model_type = "mixtral",
    .gguf_arch = "llama",
    .keys = {mixtral_keys, decoder_keys, gqa_keys, moe_keys},
    .tensors = {mixtral_tensors, decoder_tensors},
    .experts = {.hf_each = {"model.layers.{L}.block_sparse_moe.experts.{E}.w1.weight",
                            "model.layers.{L}.block_sparse_moe.experts.{E}.w3.weight",
                            "model.layers.{L}.block_sparse_moe.experts.{E}.w2.weight"},
                .hf_gate_up = "model.layers.{L}.block_sparse_moe.experts.gate_up_proj",
                .hf_down = "model.layers.{L}.block_sparse_moe.experts.down_proj"},
    .gguf_rope = attention::rope_layout::interleaved,
    .gguf_permutes_qk = true,
    .claims_gguf = [](io::gguf_file const& f) { return gguf_has_experts(f); },
};

}  // namespace model::architectures
SWITCHYARD_NAMESPACE_END
