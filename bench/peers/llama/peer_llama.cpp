// The peers measurement on llama.cpp's C API: load a GGUF, then per repetition a fresh context
// state, a prompt of --prompt pseudo-random tokens in one batch (time to first token = that
// decode + the argmax), then --tokens greedy decode steps one token at a time. Prints one JSON
// object: load seconds, per-repetition prefill and decode tokens/s, the greedy tokens of the last
// repetition and the peak resident set (getrusage). bench/peer_switchyard.cpp measures the same
// way on switchyard; bench/peers/run.py runs both.
//
//   peer_llama --model F.gguf --threads N [--prompt 512] [--tokens 64] [--reps 3] [--no-repack]
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "../driver_common.hpp"
#include "llama.h"

namespace {

void quiet(ggml_log_level level, char const* text, void*) {
  if (level >= GGML_LOG_LEVEL_ERROR) std::fputs(text, stderr);
}

}  // namespace

int main(int argc, char** argv) {
  std::string model;
  int threads = 1, prompt = 512, tokens = 64, reps = 3;
  bool repack = true;
  for (int i = 1; i < argc; ++i) {
    std::string const a = argv[i];
    if (a == "--no-repack") { repack = false; continue; }
    if (i + 1 >= argc) { std::fprintf(stderr, "peer_llama: %s needs a value\n", a.c_str()); return 2; }
    std::string const v = argv[++i];
    if (a == "--model") model = v;
    else if (a == "--threads") threads = std::atoi(v.c_str());
    else if (a == "--prompt") prompt = std::atoi(v.c_str());
    else if (a == "--tokens") tokens = std::atoi(v.c_str());
    else if (a == "--reps") reps = std::atoi(v.c_str());
    else { std::fprintf(stderr, "peer_llama: unknown option %s\n", a.c_str()); return 2; }
  }
  if (model.empty() || threads < 1 || prompt < 1 || tokens < 1 || reps < 1) {
    std::fprintf(stderr, "peer_llama: --model F.gguf, --threads/--prompt/--tokens/--reps >= 1\n");
    return 2;
  }
  llama_log_set(quiet, nullptr);
  llama_backend_init();
  auto const t_load = std::chrono::steady_clock::now();
  llama_model_params mp = llama_model_default_params();
  mp.n_gpu_layers = 0;
  mp.use_extra_bufts = repack;
  llama_model* m = llama_model_load_from_file(model.c_str(), mp);
  if (!m) { std::fprintf(stderr, "peer_llama: llama.cpp could not load %s\n", model.c_str()); return 1; }
  llama_context_params cp = llama_context_default_params();
  cp.n_ctx = static_cast<uint32_t>(prompt + tokens + 16);
  cp.n_batch = cp.n_ubatch = static_cast<uint32_t>(prompt);
  cp.n_seq_max = 1;
  cp.n_threads = cp.n_threads_batch = threads;
  cp.no_perf = true;
  llama_context* ctx = llama_init_from_model(m, cp);
  if (!ctx) { std::fprintf(stderr, "peer_llama: no context for %s\n", model.c_str()); return 1; }
  double const load_s = peers::seconds_since(t_load);
  int const vocab = llama_vocab_n_tokens(llama_model_get_vocab(m));
  std::vector<int32_t> const p = peers::prompt_tokens(prompt, vocab);
  peers::result res;
  for (int r = 0; r <= reps; ++r) {  // repetition 0 warms up (pages touched, buffers grown)
    llama_memory_clear(llama_get_memory(ctx), true);
    std::vector<int32_t> in(p);
    auto const t0 = std::chrono::steady_clock::now();
    if (llama_decode(ctx, llama_batch_get_one(in.data(), prompt)) != 0) {
      std::fprintf(stderr, "peer_llama: prefill failed\n");
      return 1;
    }
    int32_t tok = peers::argmax(llama_get_logits_ith(ctx, -1), vocab);
    double const t_first = peers::seconds_since(t0);
    std::vector<int32_t> out{tok};
    auto const t1 = std::chrono::steady_clock::now();
    for (int t = 0; t < tokens; ++t) {
      if (llama_decode(ctx, llama_batch_get_one(&tok, 1)) != 0) {
        std::fprintf(stderr, "peer_llama: decode step %d failed\n", t);
        return 1;
      }
      tok = peers::argmax(llama_get_logits_ith(ctx, -1), vocab);
      out.push_back(tok);
    }
    double const t_dec = peers::seconds_since(t1);
    if (r == 0) continue;
    res.ttft_s.push_back(t_first);
    res.prefill_tok_s.push_back(prompt / t_first);
    res.decode_tok_s.push_back(tokens / t_dec);
    res.greedy = out;
  }
  peers::print("\"engine\": \"llama.cpp\", \"threads\": " + std::to_string(threads) + ", \"repack\": " +
                   (repack ? "true" : "false") + ", ",
               load_s, res);
  llama_free(ctx);
  llama_model_free(m);
  llama_backend_free();
  return 0;
}
