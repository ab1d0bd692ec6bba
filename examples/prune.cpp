// Prune a checkpoint and write the result as a GGUF file that model::load (and llama.cpp) reads: a
// safetensors folder or a GGUF file in, a GGUF file out (model::export_gguf, with the transform hook
// doing the weight pruning and model::expert_subset dropping experts).
//
// Weight pruning: unstructured (--sparsity: a share of every row zeroed) or n:m (--pattern, 2:4 by
// default: the n largest of every m consecutive weights of a row stay, the pattern format::sparse24
// stores; load the output with --weights sparse24_bf16 to decode from compressed 2:4 blocks). The
// criterion is magnitude, or activation-aware (--criterion wanda: |W| x the input feature's norm
// over the calibration tokens; a matrix whose input the calibration did not reach -- MLA's inner
// projections, an expert no calibration token chose -- falls back to magnitude, and the tool says
// how many did). Embeddings and the LM head stay dense unless --include-embeddings; norms, biases
// and router gates are never pruned.
//
// Expert pruning (--drop-experts F): every MoE layer keeps the round((1 - F) x E) experts the
// calibration text uses most by --expert-criterion (frequency: routing slots; routing_weight;
// contribution: weight x ||expert output||); the router keeps their rows and renormalizes over them.
// Without --pattern / --sparsity, expert pruning alone leaves the weights dense.
//
// Layer pruning (--keep-layers N): only the first N decoder layers are written, with the embedding,
// the final norm and the LM head -- a truncated (early-exit) copy of the model, the cheapest draft
// model for speculative decoding (generate/speculative.hpp). Combines with the other options.
//
// Calibration (wanda, expert pruning): the model runs forward over --calibration-tokens tokens of
// --calibration (windows of 256), with its blocks reporting their inputs (core/probe.hpp).
//
//   prune --input models/switchyard-tiny-moe --output tiny-2of4.gguf --pattern 2:4
//   prune --input model.gguf --output model-50.gguf --sparsity 0.5 --type f16
//   prune --input models/switchyard-tiny-moe --output w.gguf --criterion wanda
//         --calibration models/switchyard-tiny-moe/calibration.txt      (one command line)
//   prune --input models/switchyard-tiny-moe --output e.gguf --drop-experts 0.25
//         --calibration models/switchyard-tiny-moe/calibration.txt
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <switchyard/core/error.hpp>
#include <switchyard/generate/tokenizer.hpp>
#include <switchyard/model/expert_subset.hpp>
#include <switchyard/model/export_gguf.hpp>
#include <switchyard/model/load.hpp>
#include <switchyard/prune/calibration.hpp>
#include <switchyard/prune/masks.hpp>

#include "export_checkpoint.hpp"
#include "progress_bar.hpp"

namespace sy = switchyard;
namespace md = switchyard::model;
namespace probe = switchyard::probe;

namespace {

// The calibration input a GGUF weight matrix reads, by its llama.cpp name; nothing for the ones
// the blocks do not report (MLA's q_b / k_b / v_b, the LM head, the embedding).
std::optional<probe::where> input_site(std::string const& name, sy::index_t expert) {
  int layer = -1, used = 0;
  char part[64] = {};
  if (std::sscanf(name.c_str(), "blk.%d.%63[a-z_].weight%n", &layer, part, &used) != 2 || used != static_cast<int>(name.size()))
    return std::nullopt;
  std::string const p = part;
  using probe::site, probe::bank;
  auto at = [&](site s, bank b = bank::dense, sy::index_t e = -1) { return probe::where{layer, s, b, e}; };
  if (p == "attn_q" || p == "attn_k" || p == "attn_v" || p == "attn_qkv" || p == "attn_q_a" || p == "attn_kv_a_mqa")
    return at(site::attention_input);
  if (p == "attn_output") return at(site::attention_output);
  if (p == "ffn_gate" || p == "ffn_up" || p == "ffn_gate_shexp" || p == "ffn_up_shexp") return at(site::ffn_input);
  if (p == "ffn_down") return at(site::ffn_hidden);
  if (p == "ffn_down_shexp") return at(site::ffn_hidden, bank::shared);
  if (p == "ffn_gate_exps" || p == "ffn_up_exps") return at(site::expert_input, bank::routed, expert);
  if (p == "ffn_down_exps") return at(site::ffn_hidden, bank::routed, expert);
  return std::nullopt;
}

// Runs the model over the calibration text with the calibration observer attached.
void calibrate(std::filesystem::path const& model, std::string const& text_path, long tokens, sy::prune::calibration& cal,
               md::model_config const& c) {
  std::ifstream in(text_path, std::ios::binary);
  sy::require(in.good(), "prune", "cannot read the calibration text '", text_path, "'");
  std::stringstream ss;
  ss << in.rdbuf();
  auto const tok = sy::generate::tokenizer::load(model);
  auto ids = tok.encode(ss.str());
  sy::require(ids.size() >= 2, "prune", "the calibration text '", text_path, "' has ", ids.size(), " tokens; need at least 2");
  if (static_cast<long>(ids.size()) > tokens) ids.resize(static_cast<std::size_t>(tokens));
  constexpr long window = 256;
  md::load_options opt{.cache = {.block_size = 16, .blocks = (window + 15) / 16}};
  opt.progress = switchyard_examples::progress_bar("prune: loading for calibration", "layers");
  auto lm = md::load(model, opt);
  if (c.experts > 0) cal.set_experts(c.experts);
  std::vector<float> logits(static_cast<std::size_t>(c.vocab));
  auto bar = switchyard_examples::progress_bar("prune: calibrating", "tokens");
  probe::attach const on(cal);
  for (std::size_t begin = 0; begin < ids.size(); begin += window) {
    std::size_t const n = std::min<std::size_t>(window, ids.size() - begin);
    auto seq = lm->new_sequence();
    md::step const st{&seq, std::span<std::int32_t const>(ids).subspan(begin, n)};
    lm->forward({&st, 1}, sy::make_view(logits.data(), 1, c.vocab));
    lm->release(seq);
    if (bar) bar(static_cast<sy::index_t>(begin + n), static_cast<sy::index_t>(ids.size()));
  }
  std::fprintf(stderr, "prune: calibrated on %zu tokens of %s\n", ids.size(), text_path.c_str());
}

md::model_config config_of(std::filesystem::path const& in) {
  if (in.extension() == ".gguf") return md::config_from_gguf(sy::io::gguf_file(in));
  return md::read_hf_config(std::filesystem::is_directory(in) ? in : in.parent_path());
}

}  // namespace

int main(int argc, char** argv) try {
  std::string input, output, type = "bf16", pattern, criterion = "magnitude", calibration, expert_criterion = "contribution";
  double sparsity = 0.0, drop_experts = 0.0;
  long calibration_tokens = 16384, keep_layers = 0;
  bool embeddings = false;
  static std::map<std::string, sy::io::dtype> const types = {
      {"f32", sy::io::dtype::f32}, {"f16", sy::io::dtype::f16}, {"bf16", sy::io::dtype::bf16}};
  static std::map<std::string, sy::prune::expert_criterion> const expert_criteria = {
      {"frequency", sy::prune::expert_criterion::frequency},
      {"routing_weight", sy::prune::expert_criterion::routing_weight},
      {"contribution", sy::prune::expert_criterion::contribution}};
  CLI::App app{"Prune a checkpoint (n:m or unstructured weights, by magnitude or Wanda; whole experts) into a GGUF file."};
  app.add_option("--input", input, "checkpoint folder or .gguf file")->required()->check(CLI::ExistingPath);
  app.add_option("--output", output, "the GGUF file to write")->required();
  auto* pat = app.add_option("--pattern", pattern, "n:m semi-structured pruning, e.g. 2:4 (the default without --sparsity)");
  app.add_option("--sparsity", sparsity, "unstructured pruning: the share of every row's weights to zero, in (0, 1)")
      ->excludes(pat);
  app.add_option("--criterion", criterion, "what a weight is worth: magnitude, or wanda (|W| x input norm; needs --calibration)")
      ->check(CLI::IsMember({"magnitude", "wanda"}))->capture_default_str();
  app.add_option("--drop-experts", drop_experts, "the share of every MoE layer's experts to remove, in (0, 1)");
  app.add_option("--expert-criterion", expert_criterion, "which experts stay: the most used by frequency, routing_weight or contribution")
      ->check(CLI::IsMember(expert_criteria))->capture_default_str();
  app.add_option("--calibration", calibration, "text the model runs over for wanda and --drop-experts");
  app.add_option("--keep-layers", keep_layers, "write only the first N decoder layers (a truncated draft model)");
  app.add_option("--calibration-tokens", calibration_tokens, "calibration tokens at most")->capture_default_str();
  app.add_option("--type", type, "the matrices' format (element-wise: the zeros stay exact)")
      ->check(CLI::IsMember(types))->capture_default_str();
  app.add_flag("--include-embeddings", embeddings, "prune the token embeddings and the LM head too");
  CLI11_PARSE(app, argc, argv);
  std::filesystem::path const in(input);
  std::error_code ec;
  if (std::filesystem::exists(output) && std::filesystem::equivalent(in, output, ec)) {
    std::fprintf(stderr, "prune: --output is the --input file\n");
    return 2;
  }
  int n = 2, m = 4;
  bool const unstructured = app.count("--sparsity") > 0;
  bool const expert_pruning = app.count("--drop-experts") > 0;
  bool const layer_pruning = app.count("--keep-layers") > 0;
  bool const weight_pruning = unstructured || !pattern.empty() || (!expert_pruning && !layer_pruning);
  bool const wanda = criterion == "wanda";
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
  if (expert_pruning && !(drop_experts > 0.0 && drop_experts < 1.0)) {
    std::fprintf(stderr, "prune: --drop-experts must be in (0, 1), not %g\n", drop_experts);
    return 2;
  }
  if (wanda && !weight_pruning) {
    std::fprintf(stderr, "prune: --criterion wanda chooses weights: give --pattern or --sparsity with it\n");
    return 2;
  }
  if ((wanda || expert_pruning) && calibration.empty()) {
    std::fprintf(stderr, "prune: %s needs calibration text (--calibration FILE)\n", wanda ? "--criterion wanda" : "--drop-experts");
    return 2;
  }
  if (calibration_tokens < 2) {
    std::fprintf(stderr, "prune: --calibration-tokens must be at least 2, not %ld\n", calibration_tokens);
    return 2;
  }

  md::model_config const c = config_of(in);
  if (layer_pruning && !(keep_layers >= 1 && keep_layers < c.layers)) {
    std::fprintf(stderr, "prune: --keep-layers must be in [1, %lld) for this %lld-layer model, not %ld\n",
                 static_cast<long long>(c.layers), static_cast<long long>(c.layers), keep_layers);
    return 2;
  }
  sy::index_t kept_experts = c.experts;
  if (expert_pruning) {
    if (c.experts == 0) {
      std::fprintf(stderr, "prune: --drop-experts: %s has no MoE layers\n", input.c_str());
      return 2;
    }
    kept_experts = static_cast<sy::index_t>(std::lround((1.0 - drop_experts) * static_cast<double>(c.experts)));
    if (kept_experts < std::max<sy::index_t>(1, c.experts_per_token) || kept_experts >= c.experts) {
      std::fprintf(stderr,
                   "prune: --drop-experts %g keeps %lld of %lld experts; it must keep fewer than all and at least the %lld "
                   "each token routes to\n",
                   drop_experts, static_cast<long long>(kept_experts), static_cast<long long>(c.experts),
                   static_cast<long long>(c.experts_per_token));
      return 2;
    }
  }

  sy::prune::calibration cal;
  if (wanda || expert_pruning) calibrate(in, calibration, calibration_tokens, cal, c);

  std::vector<std::vector<sy::index_t>> keep(static_cast<std::size_t>(c.layers));
  if (expert_pruning)
    for (sy::index_t l = 0; l < c.layers; ++l) {
      if (!c.is_moe_layer(l)) continue;
      auto const* u = cal.usage(l);
      sy::require(u != nullptr, "prune", "layer ", l, " routed no calibration token");
      keep[static_cast<std::size_t>(l)] = u->keep(kept_experts, expert_criteria.at(expert_criterion));
    }

  md::export_extras extras;
  extras.progress = switchyard_examples::progress_bar("prune", "layers");
  sy::index_t pruned = 0, total = 0, by_magnitude = 0;
  std::vector<std::string> fallback;  // matrices Wanda pruned by magnitude: no calibration input reached them
  if (weight_pruning)
    extras.transform = [&](std::string const& name, sy::index_t expert, sy::matrix_view<float> w) {
      if (!embeddings && (name == "token_embd.weight" || name == "output.weight")) return;
      std::vector<float> norms;
      if (wanda) {
        auto site = input_site(name, expert);
        if (site && expert >= 0 && expert_pruning)  // the written bank's expert -> the checkpoint's
          site->expert = keep[static_cast<std::size_t>(site->layer)][static_cast<std::size_t>(expert)];
        if (auto const* in_norms = site ? cal.norms(*site) : nullptr; in_norms && in_norms->tokens() > 0)
          norms = in_norms->norms();
        else
          by_magnitude += 1, fallback.push_back(expert >= 0 ? name + "[" + std::to_string(expert) + "]" : name);
      }
      try {
        if (unstructured) sy::prune::unstructured(w, sparsity, norms);
        else sy::prune::n_m(w, n, m, norms);
      } catch (sy::invalid_argument const& e) {
        throw sy::invalid_argument(std::string(e.what()) + " (tensor '" + name + "')");
      }
      pruned += 1, total += w.extent(0) * w.extent(1);
    };
  // The written model: the first --keep-layers layers, over the checkpoint's own source, with the
  // experts cut to the kept ones.
  md::model_config out = c;
  if (layer_pruning) out.layers = keep_layers, keep.resize(static_cast<std::size_t>(keep_layers));
  switchyard_examples::with_checkpoint(in, extras, "prune", [&](md::model_config const&, md::weight_source const& src) {
    if (!expert_pruning) return md::export_gguf(out, src, output, types.at(type), extras);
    md::expert_subset const sub(out, src, keep);
    md::export_gguf(sub.config(), sub, output, types.at(type), extras);
  });
  if (layer_pruning)
    std::fprintf(stderr, "prune: %s: the first %ld of %lld layers kept\n", output.c_str(), keep_layers,
                 static_cast<long long>(c.layers));
  if (expert_pruning)
    std::fprintf(stderr, "prune: %s: %lld of %lld experts kept per MoE layer (by %s)\n", output.c_str(),
                 static_cast<long long>(kept_experts), static_cast<long long>(c.experts), expert_criterion.c_str());
  if (weight_pruning)
    std::fprintf(stderr, "prune: %s: %lld matrices pruned (%lld weights, %s, %s%s), written as %s\n", output.c_str(),
                 static_cast<long long>(pruned), static_cast<long long>(total),
                 unstructured ? (std::to_string(sparsity) + " of each row").c_str()
                              : (std::to_string(n) + ":" + std::to_string(m)).c_str(),
                 criterion.c_str(),
                 wanda && by_magnitude > 0 ? (", " + std::to_string(by_magnitude) + " without calibration inputs by magnitude").c_str()
                                           : "",
                 type.c_str());
  else
    std::fprintf(stderr, "prune: %s: weights left dense, written as %s\n", output.c_str(), type.c_str());
  if (!fallback.empty()) {
    std::fprintf(stderr, "prune: by magnitude (no calibration input reached them):");
    for (auto const& f : fallback) std::fprintf(stderr, " %s", f.c_str());
    std::fprintf(stderr, "\n");
  }
  return 0;
} catch (std::exception const& e) {
  std::fprintf(stderr, "prune: %s\n", e.what());
  return 1;
}
