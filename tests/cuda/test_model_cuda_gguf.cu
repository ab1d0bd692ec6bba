// The whole model on the device from GGUF files (llama.cpp's naming) against the host model on the
// same file (tests/cuda/model_harness.cuh: a 12-token prefill, every row, then 8 decode steps fed
// the host's greedy tokens):
//   - the tiny models' GGUFs (llama, mixtral, qwen2_moe, qwen3_moe, olmoe, deepseek_v3 with MLA's
//     kv_b rebuilt from attn_k_b / attn_v_b, gpt_oss with MXFP4 experts) on the f32 path in bf16
//     weights, within tolerance::cuda_model_f32_*;
//   - llama-quantize's files from tests/data/conformance (head_dim 64: the prefill takes
//     flash_attention, this unit compiles it) with q8_0 / q4_0 kept on the device and the other
//     types widened to bf16, against the host computing every type exactly, within
//     tolerance::cuda_model_widened_*; load_options::exact_formats refuses them.
#define SWITCHYARD_DEVICE_TOP_K 2
#define SWITCHYARD_DEVICE_EXPERT_FORMATS(X) X(bf16, format::bf16)
#define SWITCHYARD_DEVICE_CACHE_FORMATS(X) X(f32, float)

#include "cuda/model_harness.cuh"

using namespace switchyard::test::model_cuda;

TEST_CASE("device model equals the host from a GGUF (llama.cpp naming, MLA kv_b from attn_k_b / attn_v_b)",
          "[cuda][model][host][gguf]") {
  for (char const* rel : {"models/llama/model.gguf", "models/mixtral/model.gguf", "models/qwen2_moe/model.gguf",
                          "models/qwen3_moe/model.gguf", "models/olmoe/model.gguf", "models/deepseek_v3/model.gguf",
                          "models/gpt_oss_mxfp4/model.gguf"}) {
    INFO(rel);
    compare_with_host(rel, data_path(rel), /*host bf16 weights*/ true,
                      device_options(dv::arithmetic::f32, dv::weight_storage::bf16), tol::cuda_model_f32_element,
                      tol::cuda_model_f32_nmse);
  }
}

// llama-R2: q8_0, q4_0, bf16, f16 kept, iq4_nl / mxfp4 / q4_1 / q5_0 / q5_1 widened; the Q4_K_M
// files: q8_0 kept, q4_K / q6_K widened (mixtral's expert banks, of mixed types, all to bf16).
TEST_CASE("device model of llama-quantize GGUFs: q8_0 / q4_0 on the device, the other types widened to bf16",
          "[cuda][model][host][gguf]") {
  for (char const* rel : {"conformance/llama-R2.gguf", "conformance/llama-Q4_K_M.gguf", "conformance/mixtral-Q4_K_M.gguf"}) {
    INFO(rel);
    std::string const path = data_path(rel);
    // The device refuses to widen when asked for exact formats, naming a tensor.
    dv::load_options exact = device_options(dv::arithmetic::f32, dv::weight_storage::as_stored);
    exact.exact_formats = true;
    CHECK_THROWS_AS(dv::load(path, exact), sy::unsupported_config);
    compare_with_host(rel, path, /*host bf16 weights*/ false,
                      device_options(dv::arithmetic::f32, dv::weight_storage::as_stored), tol::cuda_model_widened_element,
                      tol::cuda_model_widened_nmse);
  }
}

