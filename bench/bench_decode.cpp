// Single-sequence decode speed of a loaded model, f32 against int8 activations on the same weights
// (both loaded once, alternated within every repetition), against the machine's read bandwidth
// measured in the same run: tokens/s, and the roofline fraction = weight bytes one token reads
// (attention, the router, the experts it is routed to, the LM head) x tokens/s / bandwidth.
// Each repetition: a fresh sequence, a 32-token prompt (prefill, not timed), then --tokens decode
// steps fed from the held-out text (the same tokens for both; greedy sampling would only add the
// argmax).
//
// With --against FORMAT[,FORMAT...], the same model loaded in other weight formats (f32 activations;
// int8 for the integer block formats) joins the alternation, and the ratio column compares each
// with the first: 2:4 sparse against dense,
//   bench_decode --model bench/models/mixtral-bench --weights bf16 --against sparse24_bf16
// --against-model PATH,PATH... adds other checkpoints of the same architecture in --weights (an
// expert-pruned file against its original). --prefill N also times a prefill of N tokens of a
// fresh sequence in every repetition (the same alternation) and prints its table after decode's.
//
//   bench_decode [--model PATH] [--weights q8_0|q4_0|...] [--against FORMAT] [--against-model PATHS]
//                [--prefill N] [--threads 1,2] [--tokens N] [--reps N]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <stdexcept>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <switchyard/generate/bpe_tokenizer.hpp>
#include <switchyard/io/dtype.hpp>
#include <switchyard/model/load.hpp>

#include "../examples/default_model.hpp"
#include "../examples/format_options.hpp"
#include "bench_util.hpp"

namespace sy = switchyard;
namespace md = switchyard::model;

namespace {

// Bytes of the weights one decode token reads, for GQA models (MLA is not counted here).
double bytes_per_token(md::model_config const& c, double bytes_per_weight) {
  double const H = double(c.hidden), D = double(c.head_dim);
  double w = 0, router = 0;
  for (sy::index_t l = 0; l < c.layers; ++l) {
    w += 2 * H * double(c.heads) * D + 2 * H * double(c.kv_heads) * D;  // q, o; k, v
    if (c.is_moe_layer(l)) {
      w += double(c.experts_per_token) * 3 * H * double(c.moe_intermediate) + 3 * H * double(c.shared_intermediate);
      router += double(c.experts) * H * 4;  // the router is kept in f32
    } else {
      w += 3 * H * double(c.intermediate);
    }
  }
  w += double(c.vocab) * H;  // LM head (the embedding row is one row: not counted)
  return w * bytes_per_weight + router;
}

// Bytes per weight of a format named as on the command line (io::info: bytes per block / elements).
double bytes_per_weight(std::string const& f) {
  if (f == "sparse24_bf16") return 36.0 / 32.0;  // format::sparse24<bf16>: 16 values + a position word per 32
  for (auto t : {sy::io::dtype::f32, sy::io::dtype::bf16, sy::io::dtype::f16, sy::io::dtype::q8_0, sy::io::dtype::q4_0,
                 sy::io::dtype::q4_K, sy::io::dtype::q6_K})
    if (sy::io::info(t).name == f) return double(sy::io::info(t).block_bytes) / double(sy::io::info(t).block_elems);
  throw std::invalid_argument("bench_decode: no byte size for --weights " + f);
}

// Another checkpoint joins the alternation only if it is the same model but for its expert count.
void require_same_shape(md::model_config const& a, md::model_config const& b, std::string const& path) {
  if (a.arch != b.arch || a.hidden != b.hidden || a.layers != b.layers || a.vocab != b.vocab ||
      a.experts_per_token != b.experts_per_token || a.moe_intermediate != b.moe_intermediate)
    throw std::invalid_argument("--against-model " + path + " is not the --model's architecture and shape");
}

bool takes_int8_acts(std::string const& f) { return f == "q8_0" || f == "q4_0" || f == "q4_K" || f == "q6_K"; }

std::vector<int> parse_list(std::string const& s) {
  std::vector<int> v;
  std::stringstream ss(s);
  for (std::string x; std::getline(ss, x, ',');) v.push_back(std::stoi(x));
  return v;
}

}  // namespace

int main(int argc, char** argv) try {
  std::string model = switchyard_examples::default_model(), weights = "q4_0", against, thread_list = "1,2";
  std::string against_models;
  int tokens = 64, reps = 7, prefill = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string const a = argv[i], v = argv[i + 1];
    if (a == "--model") model = v;
    else if (a == "--weights") weights = v;
    else if (a == "--against") against = v;
    else if (a == "--threads") thread_list = v;
    else if (a == "--tokens") tokens = std::stoi(v);
    else if (a == "--reps") reps = std::stoi(v);
    else if (a == "--prefill") prefill = std::stoi(v);
    else if (a == "--against-model") against_models = v;
    else {
      std::fprintf(stderr, "bench_decode: unknown option %s\n", a.c_str());
      return 2;
    }
  }
  if (weights == "auto" || against == "auto" || tokens < 1 || reps < 1 || prefill < 0) {
    std::fprintf(stderr, "bench_decode: --weights and --against name a format (not auto), --tokens and --reps >= 1, --prefill >= 0\n");
    return 2;
  }
  md::load_options opt{.weights = switchyard_examples::parse_weight_format(weights), .cache = {.block_size = 16, .blocks = (std::max(32 + tokens, prefill) + 15) / 16 + 1}};
  auto f32 = md::load(model, {.weights = opt.weights, .activations = md::activation_format::f32, .cache = opt.cache});
  bool const takes_int8 = weights == "q8_0" || weights == "q4_0";
  std::unique_ptr<md::language_model> int8;
  if (takes_int8) int8 = md::load(model, {.weights = opt.weights, .activations = md::activation_format::int8, .cache = opt.cache});
  // --against: formats, comma-separated; each loaded with f32 activations (int8 for the integer
  // block formats, as model::load would choose).
  std::vector<std::unique_ptr<md::language_model>> other;
  std::vector<std::string> against_list;
  std::stringstream as(against);
  for (std::string fmt; std::getline(as, fmt, ',');) {
    if (fmt == "auto") throw std::invalid_argument("--against names formats, not auto");
    against_list.push_back(fmt);
    other.push_back(md::load(model, {.weights = switchyard_examples::parse_weight_format(fmt),
                             .activations = takes_int8_acts(fmt) ? md::activation_format::int8 : md::activation_format::f32,
                             .cache = opt.cache}));
  }
  std::vector<std::unique_ptr<md::language_model>> others;
  std::vector<std::string> other_names;
  std::stringstream ms(against_models);
  for (std::string path; std::getline(ms, path, ',');) {
    others.push_back(md::load(path, {.weights = opt.weights, .activations = md::activation_format::f32, .cache = opt.cache}));
    require_same_shape(f32->config(), others.back()->config(), path);
    std::string base = path.substr(path.find_last_of('/') + 1);
    other_names.push_back(base.substr(0, base.find(".gguf")) + "/" + weights);
  }
  auto const tok = sy::generate::bpe_tokenizer::from_tokenizer_json(model);
  std::ifstream f(model + "/heldout.txt");
  std::stringstream ss;
  ss << f.rdbuf();
  auto const ids = tok.encode(ss.str());
  if (ids.size() < static_cast<std::size_t>(std::max(32 + tokens, prefill))) {
    std::fprintf(stderr, "bench_decode: the held-out text has too few tokens\n");
    return 1;
  }
  auto const& c = f32->config();
  double const bytes = bytes_per_token(c, bytes_per_weight(weights));

  std::vector<float> logits(static_cast<std::size_t>(c.vocab));
  std::printf("decode, %s in %s, %d tokens after a 32-token prompt, %d reps; %.1f MB of weights per token\n",
              model.c_str(), weights.c_str(), tokens, reps, bytes / 1e6);
  std::printf("%8s %20s %12s %8s %12s %8s %10s %8s\n", "threads", "weights/activations", "tokens/s", "spread", "GB/s read",
              "roofline", "bandwidth", "ratio");
  std::vector<std::string> prefill_rows;
  for (int T : parse_list(thread_list)) {
    sy::thread_pool pool(T);
    double const bw = bench::read_bandwidth(pool);
    auto run = [&](md::language_model& lm) {
      auto seq = lm.new_sequence();
      md::step st{&seq, std::span<std::int32_t const>(ids.data(), 32)};
      lm.forward({&st, 1}, sy::make_view(logits.data(), 1, c.vocab), md::which_logits::last, pool);
      auto const t0 = std::chrono::steady_clock::now();
      for (int t = 0; t < tokens; ++t) {
        st.tokens = std::span<std::int32_t const>(ids.data() + 32 + t, 1);
        lm.forward({&st, 1}, sy::make_view(logits.data(), 1, c.vocab), md::which_logits::last, pool);
      }
      double const s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      lm.release(seq);
      return tokens / s;
    };
    auto run_prefill = [&](md::language_model& lm) {
      auto seq = lm.new_sequence();
      md::step const st{&seq, std::span<std::int32_t const>(ids.data(), static_cast<std::size_t>(prefill))};
      auto const t0 = std::chrono::steady_clock::now();
      lm.forward({&st, 1}, sy::make_view(logits.data(), 1, c.vocab), md::which_logits::last, pool);
      double const s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      lm.release(seq);
      return prefill / s;
    };
    std::vector<md::language_model*> lms{f32.get()};
    std::vector<std::string> names{weights + "/f32"};
    std::vector<double> lm_bytes{bytes};
    if (int8) lms.push_back(int8.get()), names.push_back(weights + "/int8"), lm_bytes.push_back(bytes);
    for (std::size_t i = 0; i < other.size(); ++i) {
      lms.push_back(other[i].get()), names.push_back(against_list[i] + (takes_int8_acts(against_list[i]) ? "/int8" : "/f32"));
      lm_bytes.push_back(bytes_per_token(c, bytes_per_weight(against_list[i])));
    }
    for (std::size_t i = 0; i < others.size(); ++i)
      lms.push_back(others[i].get()), names.push_back(other_names[i]), lm_bytes.push_back(bytes);
    std::vector<std::vector<double>> tps(lms.size()), pps(lms.size());
    for (auto* lm : lms) run(*lm);  // warm up: pages mapped, scratch grown
    if (prefill > 0)
      for (auto* lm : lms) run_prefill(*lm);
    for (int r = 0; r < reps; ++r)
      for (std::size_t i = 0; i < lms.size(); ++i) {
        tps[i].push_back(run(*lms[i]));
        if (prefill > 0) pps[i].push_back(run_prefill(*lms[i]));
      }
    double base = 0;
    for (std::size_t i = 0; i < lms.size(); ++i) {
      auto v = tps[i];
      std::sort(v.begin(), v.end());
      double const med = v[v.size() / 2], spread = (v.back() - v.front()) / med;
      if (i == 0) base = med;
      std::printf("%8d %20s %12.2f %7.0f%% %12.2f %7.0f%% %10.2f %7.2fx\n", T, names[i].c_str(), med, 100 * spread,
                  med * lm_bytes[i] / 1e9, 100 * med * lm_bytes[i] / bw, bw / 1e9, med / base);
    }
    double prefill_base = 0;
    for (std::size_t i = 0; i < lms.size() && prefill > 0; ++i) {
      auto v = pps[i];
      std::sort(v.begin(), v.end());
      double const med = v[v.size() / 2], spread = (v.back() - v.front()) / med;
      if (i == 0) prefill_base = med;
      char line[160];
      std::snprintf(line, sizeof line, "%8d %20s %12.2f %7.0f%% %7.2fx", T, names[i].c_str(), med, 100 * spread, med / prefill_base);
      prefill_rows.emplace_back(line);
    }
  }
  if (prefill > 0) {
    std::printf("prefill, %d tokens of a fresh sequence, %d reps\n", prefill, reps);
    std::printf("%8s %20s %12s %8s %8s\n", "threads", "weights/activations", "tokens/s", "spread", "ratio");
    for (auto const& r : prefill_rows) std::printf("prefill %s\n", r.c_str());
  }
  return 0;
} catch (std::exception const& e) {
  std::fprintf(stderr, "bench_decode: %s\n", e.what());
  return 1;
}
