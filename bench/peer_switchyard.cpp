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
#include <sys/resource.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

#include <switchyard/model/load.hpp>

#include "../examples/format_options.hpp"
#include "bench_util.hpp"

namespace sy = switchyard;
namespace md = switchyard::model;

namespace {

// The prompt both drivers use: a 64-bit LCG (Knuth's MMIX constants), top bits mod vocab.
std::vector<std::int32_t> prompt_tokens(int n, sy::index_t vocab) {
  std::vector<std::int32_t> t(static_cast<std::size_t>(n));
  std::uint64_t s = 0x5357594152440001ull;
  for (auto& x : t) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    x = static_cast<std::int32_t>((s >> 33) % static_cast<std::uint64_t>(vocab));
  }
  return t;
}

std::int32_t argmax(std::vector<float> const& v) {
  std::int32_t b = 0;
  for (std::size_t i = 1; i < v.size(); ++i)
    if (v[i] > v[static_cast<std::size_t>(b)]) b = static_cast<std::int32_t>(i);
  return b;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void json_list(char const* key, std::vector<double> const& v) {
  std::printf("\"%s\": [", key);
  for (std::size_t i = 0; i < v.size(); ++i) std::printf("%s%.4f", i ? ", " : "", v[i]);
  std::printf("], ");
}

int positive(std::string const& a, std::string const& v) {
  int const n = std::stoi(v);
  if (n < 1) throw std::invalid_argument(a + " must be >= 1, got " + v);
  return n;
}

}  // namespace

int main(int argc, char** argv) try {
  std::string model, activations = "auto";
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
  auto lm = md::load(model, {.activations = switchyard_examples::parse_activation_format(activations),
                             .cache = {.block_size = 16, .blocks = (ctx + 15) / 16}});
  double const load_s = seconds_since(t_load);
  sy::index_t const vocab = lm->config().vocab;
  std::vector<std::int32_t> const p = prompt_tokens(prompt, vocab);
  std::vector<float> logits(static_cast<std::size_t>(vocab));
  auto const out_view = sy::make_view(logits.data(), 1, vocab);
  std::vector<double> ttft, prefill, decode;
  std::vector<std::int32_t> greedy;
  for (int r = 0; r <= reps; ++r) {
    auto seq = lm->new_sequence();
    md::step st{&seq, std::span<std::int32_t const>(p.data(), p.size())};
    auto const t0 = std::chrono::steady_clock::now();
    lm->forward({&st, 1}, out_view, md::which_logits::last, pool);
    std::int32_t tok = argmax(logits);
    double const t_first = seconds_since(t0);
    std::vector<std::int32_t> out{tok};
    auto const t1 = std::chrono::steady_clock::now();
    for (int t = 0; t < tokens; ++t) {
      st.tokens = std::span<std::int32_t const>(&tok, 1);
      lm->forward({&st, 1}, out_view, md::which_logits::last, pool);
      tok = argmax(logits);
      out.push_back(tok);
    }
    double const t_dec = seconds_since(t1);
    lm->release(seq);
    if (r == 0) continue;
    ttft.push_back(t_first);
    prefill.push_back(prompt / t_first);
    decode.push_back(tokens / t_dec);
    greedy = out;
  }
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  std::printf("{\"engine\": \"switchyard\", \"threads\": %d, \"activations\": \"%s\", \"load_s\": %.3f, ", threads,
              activations.c_str(), load_s);
  json_list("ttft_s", ttft);
  json_list("prefill_tok_s", prefill);
  json_list("decode_tok_s", decode);
  std::printf("\"greedy\": [");
  for (std::size_t i = 0; i < greedy.size(); ++i) std::printf("%s%d", i ? ", " : "", greedy[i]);
  std::printf("], \"peak_rss_mb\": %.1f}\n", static_cast<double>(ru.ru_maxrss) / 1024.0);
  return 0;
} catch (std::exception const& e) {
  std::fprintf(stderr, "peer_switchyard: %s\n", e.what());
  return 1;
}
