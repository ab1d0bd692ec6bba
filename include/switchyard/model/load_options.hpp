#pragma once
// What model::load can be asked for: the weight format (automatic: the checkpoint's), the KV
// cache format, the activation format of the projections, the cache size. Light to include.
#include <functional>

#include "switchyard/model/language_model.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace model {

// automatic: the checkpoint's -- its one matrix format, or mixed when its matrices differ (a
// llama-quantize mix such as Q4_K_M); mixed: each matrix as stored (linear/any_weight.hpp); any
// other: every matrix converted to that format (sparse24_bf16: every projection to 2:4 sparse bf16,
// pruning by magnitude what is not 2:4; the embedding and LM head dense bf16).
enum class weight_format { automatic, f32, bf16, f16, q8_0, q4_0, q4_K, q6_K, sparse24_bf16, mixed };
enum class kv_format { f32, bf16 };

// Names for messages (a dispatch error lists the compiled ones).
constexpr char const* name(weight_format f) {
  switch (f) {
    case weight_format::automatic: return "automatic";
    case weight_format::f32: return "f32";
    case weight_format::bf16: return "bf16";
    case weight_format::f16: return "f16";
    case weight_format::q8_0: return "q8_0";
    case weight_format::q4_0: return "q4_0";
    case weight_format::q4_K: return "q4_K";
    case weight_format::q6_K: return "q6_K";
    case weight_format::sparse24_bf16: return "sparse24_bf16";
    case weight_format::mixed: return "mixed";
  }
  return "?";
}
constexpr char const* name(kv_format f) {
  switch (f) {
    case kv_format::f32: return "f32";
    case kv_format::bf16: return "bf16";
  }
  return "?";
}
// What the projections round their inputs to (linear.hpp). f32 keeps every projection exact; int8
// takes the GGUF block formats -- q8_0, q4_0, q4_1, q5_0, q5_1, q2_K .. q6_K, iq4_nl, iq4_xs --
// (their decode rows become integer dot products, as llama.cpp computes them: +0.02% perplexity
// on the shipped model, docs/quantization.md); bf16 takes
// element-wise weights (bf16 engines' arithmetic). automatic: the fastest measured for the format
// -- int8 for those formats where the build has integer kernels for them (AVX512-VNNI: whole-model
// decode 1.07-1.08x, 1.47-1.59x and ~2x f32, bench/NOTES.md; AVX2 without VNNI: the GGUF block
// types, host::int8_gemv_native_for; elsewhere int8 runs as f32 on rounded inputs, no faster),
// f32 for the others.
enum class activation_format { automatic, f32, bf16, int8 };

// Told (layers built, layers) before the first layer and after each one: a loading progress bar
// (the examples draw one on a terminal). Called on the loading thread.
using load_progress = std::function<void(index_t done, index_t layers)>;

struct load_options {
  weight_format weights = weight_format::automatic;  // automatic: the checkpoint's matrix dtype(s)
  kv_format kv = kv_format::f32;
  activation_format activations = activation_format::automatic;
  cache_options cache = {};
  bool allow_extra_tensors = false;  // true: ignore checkpoint tensors the model does not use
  // > 0: route every token to this many experts instead of the checkpoint's top-k (1 .. experts):
  // the same weights with fewer active experts, a cheaper self-speculative draft (generate/
  // speculative.hpp). 0: as the checkpoint says.
  index_t experts_per_token = 0;
  load_progress progress = {};
};

}  // namespace model
SWITCHYARD_NAMESPACE_END
