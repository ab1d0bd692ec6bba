#pragma once
// The dynamic front: a checkpoint in, a model out, its formats picked at run time.
//
//   auto lm = model::load("path/to/hf_folder");          // config.json + safetensors
//   auto lm = model::load("path/to/model.gguf");         // GGUF, llama.cpp's naming
//   auto lm = model::load(path, {.weights = model::weight_format::q8_0});  // quantize on load
//
// Decode rows of q8_0, q4_0 and q4_K models take int8 activations by default (integer dot
// products, as llama.cpp computes them: 1.07-2x f32's decode, +0.02% perplexity; docs/quantization.md);
// {.activations = model::activation_format::f32} keeps every projection exact.
//
// Two ways to build it (docs/building.md). Header-only, the default: this header pulls in the
// implementation (model/build.hpp) and every instance load() can pick -- every weight format x KV
// format x router -- is compiled in the including translation unit. Compiled once: a program
// that links switchyard::model_instances gets SWITCHYARD_EXTERN_MODEL_INSTANCES, under which this
// header only declares load(), and the library's units define it and its instances; including it
// then costs what the language_model interface costs.
#include <filesystem>
#include <memory>

#include "switchyard/model/language_model.hpp"
#include "switchyard/model/load_options.hpp"

#if defined(SWITCHYARD_EXTERN_MODEL_INSTANCES)
SWITCHYARD_NAMESPACE_BEGIN
namespace model {
// A checkpoint: a folder (config.json + model.safetensors or a sharded index), or a .gguf file.
// Defined in switchyard::model_instances (src/model_load.cpp).
std::unique_ptr<language_model> load(std::filesystem::path const& path, load_options const& o = {});
}  // namespace model
SWITCHYARD_NAMESPACE_END
#else
#include "switchyard/model/build.hpp"  // defines load() inline
#endif
