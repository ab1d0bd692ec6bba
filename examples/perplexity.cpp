// Perplexity of a model on a text file with a sliding window (the measure every compression
// technique reports its accuracy cost with): windows of --context tokens advance by --stride; each
// window scores only the tokens no earlier window scored, with the rest as context.
//
//   perplexity [--model PATH] [--file TEXT] [--context N] [--stride S] [--max-tokens N]
//              [--weights auto|f32|bf16|f16|q8_0|q4_0|q4_K|q6_K|sparse24_bf16|mixed] [--kv f32|bf16]
//              [--activations auto|f32|bf16|int8] [--decode]
//              [--reference PATH [--reference-weights FORMAT]]
//              [--save-logits FILE] [--kl-divergence FILE]
//
// --decode feeds each window one token at a time, so every logit comes from the decode path (where
// int8 activations apply) instead of one prefill call. --reference scores the same windows with a
// second model (f32 activations; by default the same weights as its file) and adds the mean KL
// divergence KL(reference || model) per token, how often the two agree on the most likely next
// token and the change in perplexity: the accuracy cost of a quantization or activation format
// against its source. --save-logits writes every scored token's logits to FILE (llama-perplexity's
// --kl-divergence-base idea: run the base model once) and --kl-divergence FILE compares against
// them instead of a second model, with the same numbers --reference gives (the saved logits are
// the model's own f32 output, so the arithmetic is identical).
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <switchyard/generate/tokenizer.hpp>
#include <switchyard/model/load.hpp>

#include "default_model.hpp"
#include "format_options.hpp"
#include "logits_file.hpp"
#include "progress_bar.hpp"

namespace sy = switchyard;
namespace md = switchyard::model;

namespace {

// Logits [T, V] of the window's tokens: one prefill call, or (decode) one call per token.
void window_logits(md::language_model& lm, std::span<std::int32_t const> tokens, bool decode, std::vector<float>& out) {
  sy::index_t const V = lm.config().vocab, T = static_cast<sy::index_t>(tokens.size());
  out.resize(static_cast<std::size_t>(T * V));
  auto seq = lm.new_sequence();
  if (decode) {
    for (sy::index_t t = 0; t < T; ++t) {
      md::step st{&seq, tokens.subspan(static_cast<std::size_t>(t), 1)};
      lm.forward({&st, 1}, sy::make_view(out.data() + t * V, 1, V), md::which_logits::last);
    }
  } else {
    md::step st{&seq, tokens};
    lm.forward({&st, 1}, sy::make_view(out.data(), T, V), md::which_logits::all);
  }
  lm.release(seq);
}

// log-softmax of a row, in double.
void log_softmax(float const* row, sy::index_t V, std::vector<double>& out) {
  out.resize(static_cast<std::size_t>(V));
  double mx = row[0];
  for (sy::index_t i = 1; i < V; ++i) mx = std::max(mx, double(row[i]));
  double z = 0;
  for (sy::index_t i = 0; i < V; ++i) z += std::exp(double(row[i]) - mx);
  double const lz = mx + std::log(z);
  for (sy::index_t i = 0; i < V; ++i) out[static_cast<std::size_t>(i)] = double(row[i]) - lz;
}

}  // namespace

int main(int argc, char** argv) try {
  std::string model = switchyard_examples::default_model(), file, reference, save_logits, kl_base;
  long context = 256, stride = 128, max_tokens = 16384;
  bool decode = false;
  md::load_options opt{.cache = {.block_size = 16, .blocks = 64}};
  md::load_options ref_opt{.activations = md::activation_format::f32, .cache = {.block_size = 16, .blocks = 64}};
  std::string weights = "auto", kv = "f32", activations = "auto", ref_weights = "auto";
  CLI::App app{"Perplexity of a model on a text file, optionally with the KL divergence from a reference model."};
  app.add_option("--model", model, "checkpoint folder or .gguf file")->check(CLI::ExistingPath)->capture_default_str();
  app.add_option("--file", file, "the text (default: heldout.txt beside the model)")->check(CLI::ExistingFile);
  app.add_option("--context", context, "window length in tokens (>= 2)")->capture_default_str();
  app.add_option("--stride", stride, "window advance (1 .. context)")->capture_default_str();
  app.add_option("--max-tokens", max_tokens, "tokens of the text to score (>= 2)")->capture_default_str();
  app.add_option("--weights", weights)->check(CLI::IsMember(switchyard_examples::weight_format_names()))->capture_default_str();
  app.add_option("--kv", kv)->check(CLI::IsMember(switchyard_examples::kv_format_names()))->capture_default_str();
  app.add_option("--activations", activations)
      ->check(CLI::IsMember(switchyard_examples::activation_format_names()))->capture_default_str();
  app.add_flag("--decode", decode, "one token per call: every logit from the decode path");
  auto* ref_o = app.add_option("--reference", reference, "a second model: adds KL(reference || model) and top-1 agreement")
                    ->check(CLI::ExistingPath);
  app.add_option("--reference-weights", ref_weights)
      ->check(CLI::IsMember(switchyard_examples::weight_format_names()))->needs(ref_o)->capture_default_str();
  app.add_option("--save-logits", save_logits, "write every scored token's logits to FILE (the base of a later --kl-divergence)");
  app.add_option("--kl-divergence", kl_base, "compare with the logits saved in FILE by --save-logits, as --reference does")
      ->check(CLI::ExistingFile)->excludes(ref_o);
  CLI11_PARSE(app, argc, argv);
  opt.weights = switchyard_examples::parse_weight_format(weights);
  opt.kv = switchyard_examples::parse_name(switchyard_examples::kv_format_names(), "--kv", kv);
  opt.activations = switchyard_examples::parse_activation_format(activations);
  ref_opt.weights = switchyard_examples::parse_weight_format(ref_weights);
  if (file.empty()) {  // the held-out text beside the model (a folder, or the folder of a .gguf)
    file = ((std::filesystem::is_directory(model) ? std::filesystem::path(model)
                                                  : std::filesystem::path(model).parent_path()) / "heldout.txt").string();
    if (!std::filesystem::is_regular_file(file)) {
      std::fprintf(stderr, "perplexity: no --file given and no %s beside the model\n", file.c_str());
      return 2;
    }
  }
  if (context < 2 || stride < 1 || stride > context || max_tokens < 2) {
    std::fprintf(stderr, "perplexity: need context >= 2, 1 <= stride <= context and max-tokens >= 2\n");
    return 2;
  }
  opt.cache.blocks = ref_opt.cache.blocks = (context + 15) / 16 + 1;
  opt.progress = switchyard_examples::progress_bar("loading", "layers");
  auto lm = md::load(model, opt);
  std::unique_ptr<md::language_model> ref;
  if (!reference.empty()) {
    ref_opt.progress = switchyard_examples::progress_bar("loading the reference", "layers");
    ref = md::load(reference, ref_opt);
    if (ref->config().vocab != lm->config().vocab) {
      std::fprintf(stderr, "perplexity: the reference has a vocabulary of %lld, the model %lld\n",
                   static_cast<long long>(ref->config().vocab), static_cast<long long>(lm->config().vocab));
      return 1;
    }
  }
  auto const tok = sy::generate::tokenizer::load(model);  // byte-level BPE or SentencePiece, GGUF or tokenizer.json
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "perplexity: cannot open %s\n", file.c_str());
    return 1;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  auto ids = tok.encode(ss.str());
  if (static_cast<long>(ids.size()) > max_tokens) ids.resize(static_cast<std::size_t>(max_tokens));
  if (ids.size() < 2) {
    std::fprintf(stderr, "perplexity: %s has fewer than 2 tokens\n", file.c_str());
    return 1;
  }
  sy::index_t const V = lm->config().vocab;
  switchyard_examples::logits_run const run{.vocab = V, .context = context, .stride = stride, .decode = decode, .tokens = ids};
  std::optional<switchyard_examples::logits_reader> base;  // --kl-divergence: the base's rows, in scoring order
  if (!kl_base.empty()) {
    base.emplace(kl_base, run);
    if (base->saved_decode() != decode)  // allowed (the base is another model run), but worth knowing
      std::fprintf(stderr, "perplexity: note: %s holds logits of the %s path, this run takes the %s path\n", kl_base.c_str(),
                   base->saved_decode() ? "decode" : "prefill", decode ? "decode" : "prefill");
  }
  std::optional<switchyard_examples::logits_writer> saved;
  if (!save_logits.empty()) saved.emplace(save_logits, run);
  bool const compare = ref || base;
  double nll = 0, ref_nll = 0, kl = 0, kl_max = 0;
  long scored = 0, agree = 0;
  std::vector<float> logits, ref_logits, base_row(static_cast<std::size_t>(V));
  std::vector<double> lp, ref_lp;
  for (long begin = 0, done = 0; done + 1 < static_cast<long>(ids.size()); begin += stride) {
    long const end = std::min<long>(begin + context, static_cast<long>(ids.size()));
    auto const window = std::span<std::int32_t const>(ids).subspan(static_cast<std::size_t>(begin),
                                                                   static_cast<std::size_t>(end - begin));
    window_logits(*lm, window, decode, logits);
    if (ref) window_logits(*ref, window, decode, ref_logits);
    for (long t = std::max(done, begin + 1); t < end; ++t) {  // predict ids[t] from position t - 1
      auto const r = static_cast<std::size_t>((t - 1 - begin) * V);
      auto const next = static_cast<std::size_t>(ids[static_cast<std::size_t>(t)]);
      if (saved) saved->row({logits.data() + r, static_cast<std::size_t>(V)});
      log_softmax(logits.data() + r, V, lp);
      nll -= lp[next];
      if (compare) {
        float const* ref_row = ref_logits.data() + r;
        if (base) {
          base->row(base_row);
          ref_row = base_row.data();
        }
        log_softmax(ref_row, V, ref_lp);
        ref_nll -= ref_lp[next];
        double k = 0;
        for (std::size_t i = 0; i < ref_lp.size(); ++i) k += std::exp(ref_lp[i]) * (ref_lp[i] - lp[i]);
        kl += k;
        kl_max = std::max(kl_max, k);
        agree += std::max_element(lp.begin(), lp.end()) - lp.begin() ==
                 std::max_element(ref_lp.begin(), ref_lp.end()) - ref_lp.begin();
      }
      ++scored;
    }
    done = end;
    std::fprintf(stderr, "\r%ld / %zu tokens scored, perplexity so far %.3f", scored, ids.size(), std::exp(nll / scored));
    if (end == static_cast<long>(ids.size())) break;
  }
  std::fprintf(stderr, "\n");
  if (saved) saved->close();
  if (base) base->finish();
  double const ppl = std::exp(nll / scored);
  std::printf("perplexity %.4f over %ld tokens (context %ld, stride %ld%s) of %s\n", ppl, scored, context, stride,
              decode ? ", decoded token by token" : "", file.c_str());
  if (compare) {
    double const base_ppl = std::exp(ref_nll / scored);
    std::printf("%s %s: perplexity %.4f, model - %s %+.4f (%+.3f%%), KL(%s || model) %.3e nats per token (max %.3e), "
                "top-1 agreement %.2f%%\n",
                ref ? "reference" : "base", ref ? reference.c_str() : kl_base.c_str(), base_ppl, ref ? "reference" : "base",
                ppl - base_ppl, 100.0 * (ppl / base_ppl - 1), ref ? "reference" : "base", kl / scored, kl_max,
                100.0 * agree / scored);
  }
  if (saved) std::printf("saved the logits of %ld tokens to %s\n", scored, save_logits.c_str());
  return 0;
} catch (std::exception const& e) {
  std::fprintf(stderr, "perplexity: %s\n", e.what());
  return 1;
}
