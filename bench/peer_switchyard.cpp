// The peers measurement on switchyard, the same as bench/peers/llama/peer_llama.cpp does on
// llama.cpp's C API: model::load a GGUF (formats and activations automatic, as a user gets them),
// then per repetition a fresh sequence, a prompt of --prompt pseudo-random tokens in one forward
// (time to first token = that forward + the argmax), then --tokens greedy decode steps one token at
// a time. Prints one JSON object: load seconds, per-repetition prefill and decode tokens/s, the
// greedy tokens of the last repetition and the peak resident set (getrusage). Repetition 0 warms
// up and is not reported. bench/peers/run.py runs both drivers, alternated.
//
//   peer_switchyard --model F.gguf --threads N [--prompt 512] [--tokens 64] [--reps 3]
//                   [--activations auto|f32|int8|bf16]
//   peer_switchyard --bandwidth --threads N     (the read bandwidth, bench_util's probe)
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

#include <switchyard/model/load.hpp>

#include "../examples/format_options.hpp"
#include "bench_util.hpp"
#include "peers/driver_common.hpp"

namespace sy = switchyard;
namespace md = switchyard::model;

namespace {

int positive(std::string const& a, std::string const& v) {
  int const n = std::stoi(v);
  if (n < 1) throw std::invalid_argument(a + " must be >= 1, got " + v);
  return n;
}

}  // namespace

int main(int argc, char** argv) try {
  std::string model, activations = "auto", weights = "auto";
  int threads = 1, prompt = 512, tokens = 64, reps = 3;
  bool bandwidth = false;
  for (int i = 1; i < argc; ++i) {
    std::string const a = argv[i];
    if (a == "--bandwidth") { bandwidth = true; continue; }
    if (i + 1 >= argc) throw std::invalid_argument(a + " needs a value");
    std::string const v = argv[++i];
    if (a == "--model") model = v;
    else if (a == "--threads") threads = positive(a, v);
    else if (a == "--prompt") prompt = positive(a, v);
    else if (a == "--tokens") tokens = positive(a, v);
    else if (a == "--reps") reps = positive(a, v);
    else if (a == "--activations") activations = v;
    else if (a == "--weights") weights = v;  // experiments: convert on load instead of as stored
    else throw std::invalid_argument("unknown option " + a);
  }
  sy::thread_pool pool(threads);
  if (bandwidth) {
    std::printf("{\"threads\": %d, \"read_gb_s\": %.3f}\n", threads, bench::read_bandwidth(pool) / 1e9);
    return 0;
  }
  if (model.empty()) throw std::invalid_argument("--model F.gguf is required");
  auto const t_load = std::chrono::steady_clock::now();
  sy::index_t const ctx = prompt + tokens + 16;
  auto lm = md::load(model, {.weights = switchyard_examples::parse_weight_format(weights),
                             .activations = switchyard_examples::parse_activation_format(activations),
                             .cache = {.block_size = 16, .blocks = (ctx + 15) / 16}});
  double const load_s = peers::seconds_since(t_load);
  sy::index_t const vocab = lm->config().vocab;
  std::vector<float> logits(static_cast<std::size_t>(vocab));
  auto const out_view = sy::make_view(logits.data(), 1, vocab);
  std::vector<std::int32_t> const p = peers::prompt_tokens(prompt, vocab);
  peers::result res;
  for (int r = 0; r <= reps; ++r) {  // repetition 0 warms up (pages touched, scratch grown)
    auto seq = lm->new_sequence();
    md::step st{&seq, std::span<std::int32_t const>(p.data(), p.size())};
    auto const t0 = std::chrono::steady_clock::now();
    lm->forward({&st, 1}, out_view, md::which_logits::last, pool);
    std::int32_t tok = peers::argmax(logits.data(), vocab);
    double const t_first = peers::seconds_since(t0);
    std::vector<std::int32_t> out{tok};
    auto const t1 = std::chrono::steady_clock::now();
    for (int t = 0; t < tokens; ++t) {
      st.tokens = std::span<std::int32_t const>(&tok, 1);
      lm->forward({&st, 1}, out_view, md::which_logits::last, pool);
      tok = peers::argmax(logits.data(), vocab);
      out.push_back(tok);
    }
    double const t_dec = peers::seconds_since(t1);
    lm->release(seq);
    if (r == 0) continue;
    res.ttft_s.push_back(t_first);
    res.prefill_tok_s.push_back(prompt / t_first);
    res.decode_tok_s.push_back(tokens / t_dec);
    res.greedy = out;
  }
  peers::print("\"engine\": \"switchyard\", \"threads\": " + std::to_string(threads) + ", \"activations\": \"" +
                   activations + "\", ",
               load_s, res);
  return 0;
} catch (std::exception const& e) {
  std::fprintf(stderr, "peer_switchyard: %s\n", e.what());
  return 1;
}
