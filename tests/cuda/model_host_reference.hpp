#pragma once
// The host model's side of the whole-model device tests, behind an interface of plain types.
// CUDA units name switchyard's types in the inline namespace v0_1_cuda and host units in
// v0_1_<isa> (include/switchyard/config.hpp), so a .cu unit cannot call model::load compiled by
// the host compiler (switchyard::model_instances) with switchyard types; this function is
// compiled by the host compiler (model_host_reference.cpp) and hands back vectors only.
#include <cstdint>
#include <string>
#include <vector>

namespace switchyard_test_reference {

struct host_run {
  int vocab = 0;
  std::vector<float> prefill;        // [prompt tokens, vocab]: every prompt row's logits
  std::vector<float> decode;         // [decode steps, vocab]
  std::vector<std::int32_t> fed;     // the decode steps' tokens: each the argmax of the row before
};

// model::load(path) with f32 activations and an f32 KV cache (bf16_weights: every matrix in bf16,
// model::weight_format::bf16; otherwise the checkpoint's formats), a prefill of `prompt` with every
// row's logits, then `decode_steps` single tokens, each the greedy choice (the first largest logit)
// of the previous row.
host_run run_host(std::string const& path, bool bf16_weights, std::vector<std::int32_t> const& prompt, int decode_steps);

}  // namespace switchyard_test_reference
