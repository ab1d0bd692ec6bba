// Perplexity of a model on a text file with a sliding window (the measure every compression
// technique reports its accuracy cost with): windows of --context tokens advance by --stride; each
// window scores only the tokens no earlier window scored, with the rest as context.
//
//   perplexity [--model PATH] [--file TEXT] [--context N] [--stride S] [--max-tokens N]
//              [--weights auto|f32|bf16|q8_0|q4_0|q4_K|q6_K] [--kv f32|bf16]
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <switchyard/generate/bpe_tokenizer.hpp>
#include <switchyard/model/load.hpp>

#include "default_model.hpp"

namespace sy = switchyard;
namespace md = switchyard::model;

int main(int argc, char** argv) try {
  std::string model = switchyard_examples::default_model(), file;
  long context = 256, stride = 128, max_tokens = 16384;
  md::load_options opt{.cache = {.block_size = 16, .blocks = 64}};
  for (int i = 1; i < argc; ++i) {
    std::string const a = argv[i];
    if (i + 1 >= argc) {
      std::fprintf(stderr, "perplexity: missing value for %s\n", a.c_str());
      return 2;
    }
    std::string const v = argv[++i];
    if (a == "--model") model = v;
    else if (a == "--file") file = v;
    else if (a == "--context") context = std::stol(v);
    else if (a == "--stride") stride = std::stol(v);
    else if (a == "--max-tokens") max_tokens = std::stol(v);
    else if (a == "--weights")
      opt.weights = v == "f32" ? md::weight_format::f32 : v == "bf16" ? md::weight_format::bf16
                  : v == "q8_0" ? md::weight_format::q8_0 : v == "q4_0" ? md::weight_format::q4_0
                  : v == "q4_K" ? md::weight_format::q4_K : v == "q6_K" ? md::weight_format::q6_K
                                : md::weight_format::automatic;
    else if (a == "--kv") opt.kv = v == "bf16" ? md::kv_format::bf16 : md::kv_format::f32;
    else {
      std::fprintf(stderr, "perplexity: unknown option %s\n", a.c_str());
      return 2;
    }
  }
  if (file.empty())  // the held-out text beside the model (a folder, or the folder of a .gguf)
    file = (std::filesystem::is_directory(model) ? std::filesystem::path(model)
                                                 : std::filesystem::path(model).parent_path()) / "heldout.txt";
  if (context < 2 || stride < 1 || stride > context) {
    std::fprintf(stderr, "perplexity: need context >= 2 and 1 <= stride <= context\n");
    return 2;
  }
  opt.cache.blocks = (context + 15) / 16 + 1;
  bool const is_gguf = model.size() > 5 && model.substr(model.size() - 5) == ".gguf";
  auto lm = md::load(model, opt);
  auto const tok = is_gguf ? sy::generate::bpe_tokenizer::from_gguf(sy::io::gguf_file(model))
                           : sy::generate::bpe_tokenizer::from_tokenizer_json(model);
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "perplexity: cannot open %s\n", file.c_str());
    return 1;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  auto ids = tok.encode(ss.str());
  if (static_cast<long>(ids.size()) > max_tokens) ids.resize(static_cast<std::size_t>(max_tokens));
  sy::index_t const V = lm->config().vocab;
  double nll = 0;
  long scored = 0;
  std::vector<float> logits;
  for (long begin = 0, done = 0; done + 1 < static_cast<long>(ids.size()); begin += stride) {
    long const end = std::min<long>(begin + context, static_cast<long>(ids.size()));
    long const T = end - begin;
    logits.resize(static_cast<std::size_t>(T * V));
    auto seq = lm->new_sequence();
    md::step st{&seq, std::span<std::int32_t const>(ids).subspan(static_cast<std::size_t>(begin), static_cast<std::size_t>(T))};
    lm->forward({&st, 1}, sy::make_view(logits.data(), T, V), md::which_logits::all);
    lm->release(seq);
    for (long t = std::max(done, begin + 1); t < end; ++t) {  // predict ids[t] from position t - 1
      float const* row = logits.data() + (t - 1 - begin) * V;
      double mx = row[0];
      for (sy::index_t i = 1; i < V; ++i) mx = std::max(mx, double(row[i]));
      double z = 0;
      for (sy::index_t i = 0; i < V; ++i) z += std::exp(double(row[i]) - mx);
      nll += mx + std::log(z) - row[ids[static_cast<std::size_t>(t)]];
      ++scored;
    }
    done = end;
    std::fprintf(stderr, "\r%ld / %zu tokens scored, perplexity so far %.3f", scored, ids.size(), std::exp(nll / scored));
    if (end == static_cast<long>(ids.size())) break;
  }
  std::fprintf(stderr, "\n");
  std::printf("perplexity %.4f over %ld tokens (context %ld, stride %ld) of %s\n", std::exp(nll / scored), scored, context,
              stride, file.c_str());
  return 0;
} catch (std::exception const& e) {
  std::fprintf(stderr, "perplexity: %s\n", e.what());
  return 1;
}
