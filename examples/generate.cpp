// Text generation from a model: the shipped small MoE by default, any supported checkpoint folder
// or GGUF file otherwise. One prompt (streamed), or many at once from a file (continuous batching).
//
//   generate [--model PATH] [--prompt TEXT] [--max-tokens N] [--temperature T] [--top-k K]
//            [--top-p P] [--min-p P] [--repeat-penalty R] [--seed S] [--threads N]
//            [--batch-file FILE] [--weights auto|f32|bf16|q8_0|q4_0|q4_K|q6_K]
//            [--activations auto|f32|bf16|int8]
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include <switchyard/generate/tokenizer.hpp>
#include <switchyard/generate/scheduler.hpp>
#include <switchyard/model/load.hpp>

#include "default_model.hpp"
#include "format_options.hpp"

namespace sy = switchyard;
namespace gen = switchyard::generate;
namespace md = switchyard::model;

namespace {

[[noreturn]] void usage(char const* why) {
  std::fprintf(stderr,
               "generate: %s\nusage: generate [--model PATH] [--prompt TEXT] [--max-tokens N] [--temperature T]\n"
               "  [--top-k K] [--top-p P] [--min-p P] [--repeat-penalty R] [--seed S] [--threads N]\n"
               "  [--batch-file FILE] [--weights auto|f32|bf16|q8_0|q4_0|q4_K|q6_K]\n"
               "  [--activations auto|f32|bf16|int8]   (auto: int8 on q8_0 / q4_0 decode rows, else f32)\n",
               why);
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) try {
  std::string model = switchyard_examples::default_model(), prompt = "def fibonacci(n):\n", batch_file;
  gen::sampling_params sp{.temperature = 0.4f, .top_k = 40, .top_p = 0.95f, .repetition_penalty = 1.1f, .seed = 1};
  long max_tokens = 96, threads = 0;
  md::weight_format weights = md::weight_format::automatic;
  md::activation_format activations = md::activation_format::automatic;
  for (int i = 1; i < argc; ++i) {
    std::string const a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(("missing value for " + a).c_str());
      return argv[++i];
    };
    if (a == "--model") model = value();
    else if (a == "--prompt") prompt = value();
    else if (a == "--max-tokens") max_tokens = std::stol(value());
    else if (a == "--temperature") sp.temperature = std::stof(value());
    else if (a == "--top-k") sp.top_k = std::stoi(value());
    else if (a == "--top-p") sp.top_p = std::stof(value());
    else if (a == "--min-p") sp.min_p = std::stof(value());
    else if (a == "--repeat-penalty") sp.repetition_penalty = std::stof(value());
    else if (a == "--seed") sp.seed = std::stoull(value());
    else if (a == "--threads") threads = std::stol(value());
    else if (a == "--batch-file") batch_file = value();
    else if (a == "--weights") weights = switchyard_examples::parse_weight_format(value());
    else if (a == "--activations") activations = switchyard_examples::parse_activation_format(value());
    else usage(("unknown option " + a).c_str());
  }
  if (max_tokens < 0 || threads < 0) usage("--max-tokens and --threads must be >= 0");

  bool const is_gguf = model.size() > 5 && model.substr(model.size() - 5) == ".gguf";
  auto lm = md::load(model, {.weights = weights, .activations = activations, .cache = {.block_size = 16, .blocks = 1024}});
  // Byte-level BPE or SentencePiece, whichever the GGUF metadata or tokenizer.json holds.
  auto const tok = is_gguf ? gen::tokenizer::from_gguf(sy::io::gguf_file(model)) : gen::tokenizer::from_tokenizer_json(model);
  sy::thread_pool pool(threads > 0 ? static_cast<int>(threads) : sy::thread_pool::default_size());

  std::vector<std::string> prompts;
  if (!batch_file.empty()) {
    std::ifstream f(batch_file);
    if (!f) usage(("cannot open " + batch_file).c_str());
    for (std::string line; std::getline(f, line);)
      if (!line.empty()) prompts.push_back(line);
    if (prompts.empty()) usage("the batch file has no prompts");
  } else {
    prompts.push_back(prompt);
  }
  bool const single = prompts.size() == 1;
  long prompt_tokens = 0;
  gen::scheduler sched(*lm, tok,
                       {.max_running = 64, .prefill_chunk = 256, .step_tokens = 1024, .pool = &pool,
                        .on_step = [&](gen::scheduler_stats const& s) {
                          if (s.prompt_pending > 0 && prompt_tokens > 256)
                            std::fprintf(stderr, "\rprefill: %ld / %ld prompt tokens", static_cast<long>(s.prompt_tokens),
                                         prompt_tokens);
                        }});
  for (auto const& p : prompts) {
    auto ids = tok.encode(p);
    prompt_tokens += static_cast<long>(ids.size());
    gen::request r{.prompt = std::move(ids), .sampling = sp, .max_tokens = max_tokens};
    if (single) {
      std::printf("%s", p.c_str());
      r.on_text = [](std::string_view s) {
        std::fwrite(s.data(), 1, s.size(), stdout);
        std::fflush(stdout);
      };
    }
    sched.submit(std::move(r));
  }
  sched.run();
  auto const& st = sched.stats();
  if (!single) {
    for (std::size_t i = 0; i < prompts.size(); ++i)
      std::printf("--- [%zu] %s%s\n", i, prompts[i].c_str(), sched.results()[i].text.c_str());
  } else {
    std::printf("\n");
  }
  std::fflush(stdout);
  for (std::size_t i = 0; i < sched.results().size(); ++i)
    if (sched.results()[i].reason == gen::finish_reason::error)
      std::fprintf(stderr, "request %zu failed: %s\n", i, sched.results()[i].error.c_str());
  std::fprintf(stderr, "%ld prompt tokens, %ld generated in %.2f s: %.1f tokens/s (%d threads, %zu requests, %ld steps)\n",
               static_cast<long>(st.prompt_tokens), static_cast<long>(st.generated_tokens), st.seconds,
               st.seconds > 0 ? st.generated_tokens / st.seconds : 0.0, pool.size(), prompts.size(), static_cast<long>(st.steps));
  return 0;
} catch (std::exception const& e) {
  std::fprintf(stderr, "generate: %s\n", e.what());
  return 1;
}
