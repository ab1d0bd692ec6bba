// Text generation from a model: the shipped small MoE by default, any supported checkpoint folder
// or GGUF file otherwise. One prompt (streamed), or many at once from a file (continuous batching).
// `--chat` renders a conversation with the model's chat template (or --chat-template FILE): one
// user turn per line of --prompt-file or stdin, interactively on a terminal.
// `generate --help` lists the options. Every argument is checked before the model loads; a request
// that cannot fit the context (--ctx-size, by default the model's) is refused before any work, and
// the exit status is non-zero whenever a request fails.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <switchyard/generate/chat_template.hpp>
#include <switchyard/generate/scheduler.hpp>
#include <switchyard/generate/tokenizer.hpp>
#include <switchyard/model/load.hpp>

#include "cli_checks.hpp"
#include "default_model.hpp"
#include "device_model.hpp"
#include "format_options.hpp"
#include "progress_bar.hpp"

namespace sy = switchyard;
namespace gen = switchyard::generate;
namespace md = switchyard::model;

namespace {

std::string read_file(std::string const& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

struct chat_options {
  gen::chat_template const* tmpl;
  std::string system, bos, eos;
  std::string prompt_file;
  long max_tokens, ctx_size;
  gen::sampling_params sampling;
  std::vector<std::string> stop;
  sy::thread_pool* pool;
};

// --chat: each user turn (a line of --prompt-file or stdin; prompted for on a terminal) is added
// to the conversation, which is rendered with the chat template and generated from; the reply
// joins the conversation. Each turn prefills the whole conversation again (no KV reuse yet).
int run_chat(md::language_model& lm, gen::tokenizer const& tok, chat_options const& o) {
  bool const interactive = o.prompt_file.empty() && isatty(STDIN_FILENO);
  std::ifstream file;
  if (!o.prompt_file.empty()) file.open(o.prompt_file, std::ios::binary);
  std::istream& in = o.prompt_file.empty() ? std::cin : file;
  std::vector<gen::chat_message> messages;
  if (!o.system.empty()) messages.push_back({"system", o.system});
  // A chat model ends its turn with the template's EOS (<|im_end|>, <|eot_id|>, ...).
  std::int32_t const turn_end = o.eos.empty() ? -1 : tok.special_id(o.eos);
  long turns = 0, prompt_tokens = 0, generated = 0;
  double seconds = 0;
  if (interactive) std::fprintf(stderr, "chat: one message per line; end with Ctrl-D\n");
  for (std::string line;;) {
    if (interactive) std::fprintf(stderr, "> "), std::fflush(stderr);
    if (!std::getline(in, line)) break;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    messages.push_back({"user", line});
    std::string const text = o.tmpl->render(messages, true, o.bos, o.eos);
    // The template writes BOS itself where the model wants one, so none is added here.
    auto ids = tok.encode(text, true, false);
    long const need = static_cast<long>(ids.size()) + o.max_tokens;
    if (need > o.ctx_size) {
      std::fprintf(stderr, "generate: turn %ld: the conversation has %zu tokens; with --max-tokens %ld that is %ld, past the context of %ld (--ctx-size)\n",
                   turns + 1, ids.size(), o.max_tokens, need, o.ctx_size);
      return 1;
    }
    if (!interactive) std::printf("> %s\n", line.c_str());
    gen::scheduler sched(lm, tok, {.max_running = 1, .prefill_chunk = 256, .step_tokens = 1024, .pool = o.pool});
    if (turn_end >= 0) sched.set_eos(turn_end);
    prompt_tokens += static_cast<long>(ids.size());
    sched.submit({.prompt = std::move(ids), .sampling = o.sampling, .max_tokens = o.max_tokens, .stop = o.stop,
                  .on_text = [](std::string_view s) {
                    std::fwrite(s.data(), 1, s.size(), stdout);
                    std::fflush(stdout);
                  }});
    sched.run();
    auto const& r = sched.results()[0];
    std::printf("\n");
    std::fflush(stdout);
    if (r.reason == gen::finish_reason::error) {
      std::fprintf(stderr, "generate: turn %ld failed: %s\n", turns + 1, r.error.c_str());
      return 1;
    }
    messages.push_back({"assistant", r.text});
    ++turns;
    generated += static_cast<long>(sched.stats().generated_tokens);
    seconds += sched.stats().seconds;
  }
  if (turns == 0) {
    std::fprintf(stderr, "generate: --chat read no user turn (%s)\n", o.prompt_file.empty() ? "stdin" : o.prompt_file.c_str());
    return 2;
  }
  std::fprintf(stderr, "chat: %ld turns, %ld prompt tokens, %ld generated tokens, %.2f s, %d threads\n", turns, prompt_tokens,
               generated, seconds, o.pool->size());
  return 0;
}

}  // namespace

int main(int argc, char** argv) try {
  std::string model = switchyard_examples::default_model(), prompt = "def fibonacci(n):\n", prompt_file, batch_file;
  gen::sampling_params sp{.temperature = 0.4f, .top_k = 40, .top_p = 0.95f, .repetition_penalty = 1.1f, .seed = 1};
  long max_tokens = 96, threads = 0, ctx_size = 0;
  std::vector<std::string> stop;
  std::string weights = "auto", activations = "auto", device = "cpu";

  CLI::App app{"Generate text with a switchyard model (safetensors folder or GGUF file)."};
  app.add_option("--model", model, "checkpoint folder (config.json + safetensors) or .gguf file")
      ->check(CLI::ExistingPath)->capture_default_str();
  auto* p_opt = app.add_option("--prompt", prompt, "the prompt")->capture_default_str();
  auto* pf_opt = app.add_option("--prompt-file", prompt_file, "read the prompt from a file")->check(CLI::ExistingFile);
  auto* bf_opt = app.add_option("--batch-file", batch_file, "one prompt per line, generated together (continuous batching)")
                     ->check(CLI::ExistingFile);
  p_opt->excludes(pf_opt)->excludes(bf_opt);
  pf_opt->excludes(bf_opt);
  bool chat = false;
  std::string chat_template_file, system_prompt;
  auto* chat_opt = app.add_flag("--chat", chat,
                                "chat with the model's chat template: one user turn per line of --prompt-file or stdin "
                                "(interactive on a terminal)");
  app.add_option("--chat-template", chat_template_file, "a Jinja chat template file to use instead of the model's")
      ->check(CLI::ExistingFile)->needs(chat_opt);
  app.add_option("--system", system_prompt, "a system message for --chat")->needs(chat_opt);
  chat_opt->excludes(p_opt)->excludes(bf_opt);
  app.add_option("--max-tokens", max_tokens, "tokens to generate per prompt (>= 0)")->capture_default_str();
  app.add_option("--ctx-size", ctx_size, "context length (prompt + generated); 0: the model's maximum positions");
  app.add_option("--stop", stop, "stop at this string (repeatable; not included in the output)");
  app.add_option("--temperature", sp.temperature, "0: greedy")->check(switchyard_examples::at_least(0))->capture_default_str();
  app.add_option("--top-k", sp.top_k, "0: off")->capture_default_str();
  app.add_option("--top-p", sp.top_p)->check(CLI::Range(0.0f, 1.0f))->capture_default_str();
  app.add_option("--min-p", sp.min_p)->check(CLI::Range(0.0f, 1.0f))->capture_default_str();
  app.add_option("--repeat-penalty", sp.repetition_penalty)->check(switchyard_examples::at_least(0, false))->capture_default_str();
  app.add_option("--seed", sp.seed, "sampling seed (0 .. 2^64-1)")->capture_default_str();
  app.add_option("--threads", threads, "0: every hardware thread");
  app.add_option("--device", device, "cpu, or cuda: the whole model on CUDA device 0 (weights as stored; sampling on the device)")
      ->check(CLI::IsMember({"cpu", "cuda"}))->capture_default_str();
  app.add_option("--weights", weights, "convert the weights on load; auto: as stored")
      ->check(CLI::IsMember(switchyard_examples::weight_format_names()))->capture_default_str();
  app.add_option("--activations", activations, "auto: int8 on GGUF block-quantized rows (AVX512-VNNI or AVX2 builds), else f32")
      ->check(CLI::IsMember(switchyard_examples::activation_format_names()))->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  for (auto [name, v] : {std::pair<char const*, long>{"--max-tokens", max_tokens}, {"--ctx-size", ctx_size},
                         {"--top-k", sp.top_k}, {"--threads", threads}})
    if (v < 0) {
      std::fprintf(stderr, "generate: %s must be >= 0, not %ld\n", name, v);
      return 2;
    }
  for (std::size_t i = 1; i < static_cast<std::size_t>(argc); ++i)  // CLI11 takes "-1" as a number for unsigned options
    if (std::string(argv[i]) == "--seed" && i + 1 < static_cast<std::size_t>(argc) && argv[i + 1][0] == '-') {
      std::fprintf(stderr, "generate: --seed takes a number from 0 to 2^64-1, not '%s'\n", argv[i + 1]);
      return 2;
    }

  // --chat: the template is parsed before anything loads, so a bad one fails at once.
  std::optional<gen::chat_template> tmpl;
  if (chat && !chat_template_file.empty()) {
    try {
      tmpl.emplace(read_file(chat_template_file));
    } catch (sy::error const& e) {
      std::fprintf(stderr, "generate: --chat-template %s: %s\n", chat_template_file.c_str(), e.what());
      return 2;
    }
  }

  std::vector<std::string> prompts;
  if (chat) {
    // turns are read as the conversation goes
  } else if (!batch_file.empty()) {
    std::ifstream f(batch_file);
    for (std::string line; std::getline(f, line);)
      if (!line.empty()) prompts.push_back(line);
    if (prompts.empty()) {
      std::fprintf(stderr, "generate: %s has no prompts\n", batch_file.c_str());
      return 2;
    }
  } else if (!prompt_file.empty()) {
    std::ifstream f(prompt_file, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    prompts.push_back(ss.str());
  } else {
    prompts.push_back(prompt);
  }

  std::filesystem::path const path(model);
  // Byte-level BPE or SentencePiece, whichever the GGUF metadata or tokenizer.json holds (read
  // before the weights: it carries the chat template).
  auto const tok = gen::tokenizer::load(path);
  if (chat && !tmpl) {
    if (tok.chat_template().empty()) {
      std::fprintf(stderr,
                   "generate: --chat: %s ships no chat template (tokenizer_config.json chat_template, GGUF "
                   "tokenizer.chat_template); give one with --chat-template FILE\n",
                   model.c_str());
      return 2;
    }
    try {
      tmpl.emplace(tok.chat_template());
    } catch (sy::error const& e) {
      std::fprintf(stderr, "generate: --chat: the model's chat template cannot be rendered: %s\n", e.what());
      return 2;
    }
  }
  std::unique_ptr<md::language_model> lm;
  if (device == "cuda") {
    if (weights != "auto" || activations != "auto") {
      std::fprintf(stderr, "generate: --device cuda computes the weights as stored: --weights and --activations take auto\n");
      return 2;
    }
    lm = switchyard_examples::load_device_model(path, {});
  } else {
    lm = md::load(path, {.weights = switchyard_examples::parse_weight_format(weights),
                         .activations = switchyard_examples::parse_activation_format(activations),
                         .cache = {.block_size = 16, .blocks = 1024},
                         .progress = switchyard_examples::progress_bar("loading", "layers")});
  }
  sy::thread_pool pool(threads > 0 ? static_cast<int>(threads) : sy::thread_pool::default_size());

  // The context: what the model was made for, and never more than the KV cache holds.
  long const cache_tokens = static_cast<long>(lm->free_blocks() * lm->cache_block_size());
  long const model_ctx = static_cast<long>(lm->config().max_positions);
  if (ctx_size == 0) ctx_size = model_ctx > 0 ? model_ctx : cache_tokens;
  if (model_ctx > 0 && ctx_size > model_ctx)
    std::fprintf(stderr, "generate: warning: --ctx-size %ld is past the model's %ld positions; output may degrade\n", ctx_size,
                 model_ctx);
  if (ctx_size > cache_tokens) {
    std::fprintf(stderr, "generate: --ctx-size %ld is more than the KV cache holds (%ld tokens)\n", ctx_size, cache_tokens);
    return 2;
  }

  if (chat)
    return run_chat(*lm, tok, {.tmpl = &*tmpl, .system = system_prompt, .bos = tok.bos_token(), .eos = tok.eos_token(),
                               .prompt_file = prompt_file, .max_tokens = max_tokens, .ctx_size = ctx_size,
                               .sampling = sp, .stop = stop, .pool = &pool});

  std::vector<std::vector<std::int32_t>> encoded;
  long prompt_tokens = 0;
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    encoded.push_back(tok.encode(prompts[i]));
    long const need = static_cast<long>(encoded.back().size()) + max_tokens;
    if (need > ctx_size) {
      std::fprintf(stderr, "generate: prompt %zu has %zu tokens; with --max-tokens %ld that is %ld, past the context of %ld (--ctx-size)\n",
                   i, encoded.back().size(), max_tokens, need, ctx_size);
      return 2;
    }
    prompt_tokens += static_cast<long>(encoded.back().size());
  }

  bool const single = prompts.size() == 1;
  bool progress = false;
  // Prompt and generation rates apart, as llama.cpp reports them: the prompt's rate up to the step
  // that finished the last prefill, the generation rate over the steps after it.
  double prefill_seconds = -1;
  long generated_at_prefill = 0;
  gen::scheduler sched(*lm, tok,
                       {.max_running = 64, .prefill_chunk = 256, .step_tokens = 1024, .pool = &pool,
                        .on_step = [&](gen::scheduler_stats const& s) {
                          if (prefill_seconds < 0 && s.prompt_pending == 0 && s.prompt_tokens >= prompt_tokens) {
                            prefill_seconds = s.seconds;
                            generated_at_prefill = static_cast<long>(s.generated_tokens);
                          }
                          if (s.prompt_pending > 0 && prompt_tokens > 256) {
                            std::fprintf(stderr, "\rprefill: %ld / %ld prompt tokens", static_cast<long>(s.prompt_tokens),
                                         prompt_tokens);
                            progress = true;
                          }
                        }});
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    gen::request r{.prompt = std::move(encoded[i]), .sampling = sp, .max_tokens = max_tokens, .stop = stop};
    if (single) {
      std::printf("%s", prompts[i].c_str());
      r.on_text = [&progress](std::string_view s) {
        if (progress) std::fputc('\n', stderr), progress = false;
        std::fwrite(s.data(), 1, s.size(), stdout);
        std::fflush(stdout);
      };
    }
    sched.submit(std::move(r));
  }
  sched.run();
  if (progress) std::fputc('\n', stderr);
  auto const& st = sched.stats();
  if (!single) {
    for (std::size_t i = 0; i < prompts.size(); ++i)
      std::printf("--- [%zu] %s%s\n", i, prompts[i].c_str(), sched.results()[i].text.c_str());
  } else {
    std::printf("\n");
  }
  std::fflush(stdout);
  int failed = 0;
  for (std::size_t i = 0; i < sched.results().size(); ++i)
    if (sched.results()[i].reason == gen::finish_reason::error) {
      std::fprintf(stderr, "generate: request %zu failed: %s\n", i, sched.results()[i].error.c_str());
      ++failed;
    }
  if (prefill_seconds < 0) prefill_seconds = st.seconds, generated_at_prefill = static_cast<long>(st.generated_tokens);
  double const gen_seconds = st.seconds - prefill_seconds;
  long const gen_tokens = static_cast<long>(st.generated_tokens) - generated_at_prefill;
  std::fprintf(stderr,
               "prompt: %ld tokens in %.3f s (%.1f tokens/s); generation: %ld tokens in %.3f s (%.1f tokens/s); "
               "%.2f s in all, %d threads, %zu requests, %ld steps\n",
               static_cast<long>(st.prompt_tokens), prefill_seconds, prefill_seconds > 0 ? st.prompt_tokens / prefill_seconds : 0.0,
               gen_tokens, gen_seconds, gen_seconds > 0 ? gen_tokens / gen_seconds : 0.0, st.seconds, pool.size(),
               prompts.size(), static_cast<long>(st.steps));
  return failed > 0 ? 1 : 0;
} catch (std::exception const& e) {
  std::fprintf(stderr, "generate: %s\n", e.what());
  return 1;
}
