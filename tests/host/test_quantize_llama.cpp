// examples/quantize's output in both engines (issue 25): for each case of
// tests/data/quantize_llama/cases.json -- the shipped model's safetensors folder to f32, f16, bf16,
// q8_0 and q4_0, a llama.cpp-made Mixtral-layout Q4_K_M GGUF to q4_K, q6_K and mxfp4 -- the file the
// examples' "quantize for llama.cpp" tests wrote (and checked byte for byte against the one
// llama.cpp loaded, by SHA-256) loads in switchyard with its matrices in the asked-for format, and
// its logits stay near llama.cpp's on the same file (tools/make_quantize_llama_reference.py
// recorded them through llama.cpp's C API). Quantized formats compute with int8 activations where
// switchyard has them (llama.cpp's arithmetic: activations rounded per block), the rest in f32.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "support/data_dir.hpp"
#include "support/llama_logits.hpp"
#include "support/reference_file.hpp"
#include "switchyard/io/gguf.hpp"
#include "switchyard/model/load.hpp"

namespace sy = switchyard;
namespace md = switchyard::model;

TEST_CASE("quantize's files load in switchyard and compute what llama.cpp computes on them", "[model][gguf][quantize]") {
  char const* dir = std::getenv("SWITCHYARD_QUANTIZE_LLAMA_DIR");
  REQUIRE(dir != nullptr);  // set by CTest: the folder the "quantize for llama.cpp" tests write
  std::ifstream in(std::string(SWITCHYARD_TEST_DATA_DIR) + "/quantize_llama/cases.json");
  nlohmann::json const cases = nlohmann::json::parse(in);
  sy::test::reference_file const ref("quantize_llama/reference.safetensors");
  REQUIRE(cases.size() >= 8);
  for (auto const& [name, c] : cases.items()) {
    INFO(name);
    std::string const path = (std::filesystem::path(dir) / (name + ".gguf")).string();
    REQUIRE(std::filesystem::exists(path));  // else the quantize fixture did not run
    std::string const type = c.at("type").get<std::string>();
    // The projections are stored as asked (norms, routers and biases stay f32, as llama.cpp keeps them).
    sy::io::gguf_file const f(path);
    int in_type = 0;
    for (auto const& t : f.tensors())
      if (t.shape.size() >= 2 && t.name.find("ffn_gate_inp") == std::string::npos) {
        INFO(t.name);
        CHECK(std::string(sy::io::info(t.dtype).name) == type);
        ++in_type;
      }
    CHECK(in_type > 0);
    bool const int8 = type == "q8_0" || type == "q4_0" || type == "q4_K" || type == "q6_K";
    auto lm = md::load(path, {.activations = int8 ? md::activation_format::int8 : md::activation_format::automatic});
    sy::test::check_near_llama_cpp(*lm, ref.get(name + ".tokens").as<std::int32_t>(), ref.get(name + ".logits").as<float>());
  }
}
