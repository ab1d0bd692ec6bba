#pragma once
// Llama: the dense decoder every other family extends. llama.cpp's converter permutes the q/k
// rows so that its RoPE rotates adjacent pairs; the same file read here rotates them interleaved.
#include "switchyard/model/architectures/common.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace model::architectures {

inline constexpr config_key llama_keys[] = {
    {.field = "attention_bias", .hf = "attention_bias"},
};
inline constexpr refused_key llama_refused[] = {
    {"mlp_bias", "mlp_bias is not supported"},
};

inline constexpr family llama = {
    .id = architecture::llama,
    .name = "llama",
    .hf_model_type = "llama",
    .gguf_arch = "llama",
    .keys = {llama_keys, decoder_keys, gqa_keys},
    .refused = llama_refused,
    .tensors = {decoder_tensors},
    .gguf_rope = attention::rope_layout::interleaved,
    .gguf_permutes_qk = true,
    .claims_gguf = [](io::gguf_file const& f) { return !gguf_has_experts(f); },
};

}  // namespace model::architectures
SWITCHYARD_NAMESPACE_END
