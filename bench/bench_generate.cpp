// Continuous batching throughput on the shipped model: N concurrent requests (1, 4, 16, 64), each
// a 32-token prompt from the held-out text and 64 greedy tokens, served by one scheduler. Reports
// generated tokens per second (median and spread over repetitions, configurations alternated) and
// the gain over one request at a time. The decode step reads every weight once per step whatever
// the batch, so batching should raise tokens/s until the step turns compute-bound.
//
//   bench_generate [--model PATH] [--reps N] [--threads N] [--weights f32|bf16|f16|q8_0|q4_0|q4_K|q6_K]
//                  [--activations auto|f32|int8]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <switchyard/generate/bpe_tokenizer.hpp>
#include <switchyard/generate/scheduler.hpp>
#include <switchyard/model/load.hpp>

#include "../examples/default_model.hpp"
#include "../examples/format_options.hpp"

namespace sy = switchyard;
namespace gen = switchyard::generate;

int main(int argc, char** argv) try {
  std::string model = switchyard_examples::default_model();
  int reps = 5, threads = sy::thread_pool::default_size();
  sy::model::load_options opt{.cache = {.block_size = 16, .blocks = 1024}};
  std::string weights = "auto", acts = "auto";
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string const a = argv[i];
    if (a == "--model") model = argv[i + 1];
    else if (a == "--reps") reps = std::atoi(argv[i + 1]);
    else if (a == "--threads") threads = std::atoi(argv[i + 1]);
    else if (a == "--weights") weights = argv[i + 1];
    else if (a == "--activations") acts = argv[i + 1];
    else {
      std::fprintf(stderr, "bench_generate: unknown option %s\n", a.c_str());
      return 2;
    }
  }
  if (reps < 1 || threads < 1) {
    std::fprintf(stderr, "bench_generate: --reps and --threads must be >= 1\n");
    return 2;
  }
  opt.weights = switchyard_examples::parse_weight_format(weights);
  opt.activations = switchyard_examples::parse_activation_format(acts);
  auto lm = sy::model::load(model, opt);
  auto const tok = gen::bpe_tokenizer::from_tokenizer_json(model);
  std::ifstream f(model + "/heldout.txt");
  std::stringstream ss;
  ss << f.rdbuf();
  auto const ids = tok.encode(ss.str());
  sy::thread_pool pool(threads);
  std::vector<int> const concurrency = {1, 4, 16, 64};
  std::map<int, std::vector<double>> tps;
  for (int r = 0; r < reps; ++r)
    for (int n : concurrency) {  // alternate the configurations within each repetition
      gen::scheduler sched(*lm, tok, {.max_running = 64, .prefill_chunk = 256, .step_tokens = 2048, .pool = &pool});
      for (int q = 0; q < n; ++q) {
        std::vector<std::int32_t> p(ids.begin() + q * 97, ids.begin() + q * 97 + 32);
        sched.submit({.prompt = p, .max_tokens = 64, .stop_at_eos = false});
      }
      auto const t0 = std::chrono::steady_clock::now();
      sched.run();
      double const s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      tps[n].push_back(sched.stats().generated_tokens / s);
    }
  std::printf("continuous batching, %s, %d threads, 32-token prompts, 64 greedy tokens each, %d reps\n", model.c_str(),
              threads, reps);
  std::printf("%12s %14s %10s %10s\n", "concurrent", "tokens/s", "spread", "gain");
  double base = 0;
  for (int n : concurrency) {
    auto v = tps[n];
    std::sort(v.begin(), v.end());
    double const med = v[v.size() / 2], spread = (v.back() - v.front()) / med;
    if (n == 1) base = med;
    std::printf("%12d %14.1f %9.0f%% %9.2fx\n", n, med, 100 * spread, med / base);
  }
  return 0;
} catch (std::exception const& e) {
  std::fprintf(stderr, "bench_generate: %s\n", e.what());
  return 1;
}
