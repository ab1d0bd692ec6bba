// Convert a checkpoint to a GGUF file in one weight format: a safetensors folder (config.json +
// model.safetensors or a sharded index) or a GGUF file in, a GGUF file out with llama.cpp's names
// and metadata (model::export_gguf), loadable by switchyard and llama.cpp. Norms, biases and router
// gates stay f32, as llama.cpp's own quantizer keeps them. From a GGUF, its tokenizer and general.*
// metadata are copied; from a folder, its tokenizer.json is written as llama.cpp's converter writes
// it (generate/tokenizer_gguf.hpp: byte-level BPE; other tokenizers are left out with a warning).
//
//   quantize --input models/switchyard-tiny-moe --output tiny-q4_0.gguf --type q4_0
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include <switchyard/model/export_gguf.hpp>

#include "export_checkpoint.hpp"
#include "progress_bar.hpp"

namespace sy = switchyard;
namespace md = switchyard::model;

int main(int argc, char** argv) try {
  std::string input, output, type = "q8_0";
  static std::map<std::string, sy::io::dtype> const types = {
      {"f32", sy::io::dtype::f32},   {"f16", sy::io::dtype::f16},   {"bf16", sy::io::dtype::bf16},
      {"q8_0", sy::io::dtype::q8_0}, {"q4_0", sy::io::dtype::q4_0}, {"q4_K", sy::io::dtype::q4_K},
      {"q6_K", sy::io::dtype::q6_K}, {"mxfp4", sy::io::dtype::mxfp4}};
  CLI::App app{"Convert a checkpoint (safetensors folder or GGUF) to a GGUF file in one weight format."};
  app.add_option("--input", input, "checkpoint folder or .gguf file")->required()->check(CLI::ExistingPath);
  app.add_option("--output", output, "the GGUF file to write")->required();
  app.add_option("--type", type, "the matrices' format")->check(CLI::IsMember(types))->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  std::filesystem::path const in(input);
  if (std::filesystem::absolute(in) == std::filesystem::absolute(output)) {
    std::fprintf(stderr, "quantize: --output is the --input file\n");
    return 2;
  }

  md::export_extras extras;
  extras.progress = switchyard_examples::progress_bar("quantize", "layers");
  switchyard_examples::export_checkpoint(in, output, types.at(type), extras, "quantize");
  std::fprintf(stderr, "quantize: wrote %s (%s, %.1f MB)\n", output.c_str(), type.c_str(),
               static_cast<double>(std::filesystem::file_size(output)) / 1e6);
  return 0;
} catch (std::exception const& e) {
  std::fprintf(stderr, "quantize: %s\n", e.what());
  return 1;
}
