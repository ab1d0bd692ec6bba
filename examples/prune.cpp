// Prune a checkpoint's weight matrices and write the result as a GGUF file that model::load (and
// llama.cpp) reads: a safetensors folder or a GGUF file in, a GGUF file out (model::export_gguf,
// with the transform hook doing the pruning). Unstructured pruning zeroes a share of every row;
// n:m pruning (2:4 by default) keeps the n largest of every m consecutive weights of a row, the
// pattern format::sparse24 stores: load the output with --weights sparse24_bf16 to decode from the
// compressed 2:4 blocks. The criterion is magnitude (prune/masks.hpp; activation-aware pruning
// needs calibration activations and is a library call for now). Embeddings and the LM head are
// left dense unless --include-embeddings (a model loaded as sparse24_bf16 keeps those two dense
// bf16 either way); norms, biases and router gates are never pruned.
//
//   prune --input models/switchyard-tiny-moe --output tiny-2of4.gguf --pattern 2:4
//   prune --input model.gguf --output model-50.gguf --sparsity 0.5 --type f16
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>

#include <switchyard/core/error.hpp>
#include <switchyard/model/export_gguf.hpp>
#include <switchyard/prune/masks.hpp>

#include "export_checkpoint.hpp"
#include "progress_bar.hpp"

namespace sy = switchyard;
namespace md = switchyard::model;

int main(int argc, char** argv) try {
  std::string input, output, type = "bf16", pattern;
  double sparsity = 0.0;
  bool embeddings = false;
  static std::map<std::string, sy::io::dtype> const types = {
      {"f32", sy::io::dtype::f32}, {"f16", sy::io::dtype::f16}, {"bf16", sy::io::dtype::bf16}};
  CLI::App app{"Prune a checkpoint's weight matrices (n:m or unstructured, by magnitude) into a GGUF file."};
  app.add_option("--input", input, "checkpoint folder or .gguf file")->required()->check(CLI::ExistingPath);
  app.add_option("--output", output, "the GGUF file to write")->required();
  auto* pat = app.add_option("--pattern", pattern, "n:m semi-structured pruning, e.g. 2:4 (the default without --sparsity)");
  app.add_option("--sparsity", sparsity, "unstructured pruning: the share of every row's weights to zero, in (0, 1)")
      ->excludes(pat);
  app.add_option("--type", type, "the matrices' format (element-wise: the zeros stay exact)")
      ->check(CLI::IsMember(types))->capture_default_str();
  app.add_flag("--include-embeddings", embeddings, "prune the token embeddings and the LM head too");
  CLI11_PARSE(app, argc, argv);
  std::filesystem::path const in(input);
  if (std::filesystem::absolute(in) == std::filesystem::absolute(output)) {
    std::fprintf(stderr, "prune: --output is the --input file\n");
    return 2;
  }
  int n = 2, m = 4;
  bool const unstructured = app.count("--sparsity") > 0;
  if (unstructured) {
    if (!(sparsity > 0.0 && sparsity < 1.0)) {
      std::fprintf(stderr, "prune: --sparsity must be in (0, 1), not %g\n", sparsity);
      return 2;
    }
  } else if (!pattern.empty()) {
    int used = 0;
    if (std::sscanf(pattern.c_str(), "%d:%d%n", &n, &m, &used) != 2 || used != static_cast<int>(pattern.size()) || n <= 0 ||
        m > 64 || n >= m) {
      std::fprintf(stderr, "prune: --pattern must be n:m with 0 < n < m <= 64 (as 2:4), not '%s'\n", pattern.c_str());
      return 2;
    }
  }

  md::export_extras extras;
  extras.progress = switchyard_examples::progress_bar("prune", "layers");
  sy::index_t pruned = 0, total = 0;
  extras.transform = [&](std::string const& name, sy::matrix_view<float> w) {
    if (!embeddings && (name == "token_embd.weight" || name == "output.weight")) return;
    try {
      if (unstructured) sy::prune::unstructured(w, sparsity);
      else sy::prune::n_m(w, n, m);
    } catch (sy::invalid_argument const& e) {
      throw sy::invalid_argument(std::string(e.what()) + " (tensor '" + name + "')");
    }
    pruned += 1, total += w.extent(0) * w.extent(1);
  };
  switchyard_examples::export_checkpoint(in, output, types.at(type), extras, "prune");
  std::fprintf(stderr, "prune: %s: %lld matrices pruned (%lld weights, %s), written as %s\n", output.c_str(),
               static_cast<long long>(pruned), static_cast<long long>(total),
               unstructured ? (std::to_string(sparsity) + " of each row").c_str() : (std::to_string(n) + ":" + std::to_string(m)).c_str(),
               type.c_str());
  return 0;
} catch (std::exception const& e) {
  std::fprintf(stderr, "prune: %s\n", e.what());
  return 1;
}
