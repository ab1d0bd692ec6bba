// Speculative decoding against plain decoding on one model: for each draft kind and draft length
// k, at batch 1 and 8, the decode tokens per second (the tokens after each request's first over
// the time after the prefill step; median and spread over repetitions, every
// configuration alternated within each repetition), the gain over plain greedy decoding in the same
// run, the acceptance rate (accepted / drafted tokens), the tokens each verify step yields per
// request, and the share of the time the drafters took. Each request: a --prompt-token prompt from
// the held-out text and --tokens greedy tokens. Every speculative run's tokens are checked against
// the plain run's (greedy speculative decoding must give the same tokens); a difference is an error.
//
// Draft kinds: lookup (prompt lookup, draft-free), self (the target loaded with --self-experts
// experts per token), and each --draft PATH (a draft model with the target's tokenizer: a distilled
// student, a quantized copy).
//
//   bench_speculative [--model PATH] [--draft PATH[,PATH]] [--weights FORMAT] [--k 2,4,8] [--batch 1,8]
//                     [--self-experts 1] [--kinds lookup,self,draft] [--prompt-tokens 128] [--tokens 64]
//                     [--reps 3] [--threads N]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
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
namespace md = switchyard::model;

namespace {

std::vector<std::string> split(std::string const& s) {
  std::vector<std::string> v;
  std::stringstream ss(s);
  for (std::string x; std::getline(ss, x, ',');)
    if (!x.empty()) v.push_back(x);
  return v;
}

struct config {
  std::string kind;  // plain, lookup, self, draft:<path>
  int k = 0, batch = 1;
  gen::speculation spec;
};

struct sample {
  double tps = 0, draft_share = 0, accept = 0, per_step = 0;
};

}  // namespace

int main(int argc, char** argv) try {
  std::string model = switchyard_examples::default_model(), drafts, weights = "auto", ks = "2,4,8", batches = "1,8",
              kinds = "lookup,self,draft";
  int reps = 3, threads = sy::thread_pool::default_size(), prompt_tokens = 128, tokens = 64, self_experts = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string const a = argv[i], v = argv[i + 1];
    if (a == "--model") model = v;
    else if (a == "--draft") drafts = v;
    else if (a == "--weights") weights = v;
    else if (a == "--k") ks = v;
    else if (a == "--batch") batches = v;
    else if (a == "--kinds") kinds = v;
    else if (a == "--self-experts") self_experts = std::stoi(v);
    else if (a == "--prompt-tokens") prompt_tokens = std::stoi(v);
    else if (a == "--tokens") tokens = std::stoi(v);
    else if (a == "--reps") reps = std::stoi(v);
    else if (a == "--threads") threads = std::stoi(v);
    else {
      std::fprintf(stderr, "bench_speculative: unknown option %s\n", a.c_str());
      return 2;
    }
  }
  if (reps < 1 || threads < 1 || prompt_tokens < 1 || tokens < 1 || self_experts < 1) {
    std::fprintf(stderr, "bench_speculative: --reps, --threads, --prompt-tokens, --tokens, --self-experts must be >= 1\n");
    return 2;
  }
  md::load_options opt{.cache = {.block_size = 16, .blocks = 1024}};
  opt.weights = switchyard_examples::parse_weight_format(weights);
  auto target = md::load(model, opt);
  auto const tok = gen::bpe_tokenizer::from_tokenizer_json(model);
  std::ifstream f(model + "/heldout.txt");
  std::stringstream ss;
  ss << f.rdbuf();
  auto const ids = tok.encode(ss.str());
  std::vector<int> const k_list = [&] {
    std::vector<int> v;
    for (auto const& x : split(ks)) v.push_back(std::stoi(x));
    return v;
  }();
  std::vector<int> b_list;
  for (auto const& x : split(batches)) b_list.push_back(std::stoi(x));
  int const most = *std::max_element(b_list.begin(), b_list.end());
  if (ids.size() < static_cast<std::size_t>(most * 211 + prompt_tokens)) throw std::invalid_argument("the held-out text is too short");
  if (most * prompt_tokens > 2048 || prompt_tokens > 256)
    throw std::invalid_argument("every prompt must fit the first step (batch x prompt <= 2048, prompt <= 256)");

  std::vector<std::unique_ptr<md::language_model>> draft_models;
  std::vector<std::string> draft_names;
  auto const want = split(kinds);
  auto wants = [&](std::string const& k) { return std::find(want.begin(), want.end(), k) != want.end(); };
  if (wants("self")) {
    md::load_options o = opt;
    o.experts_per_token = self_experts;
    draft_models.push_back(md::load(model, o));
    draft_names.push_back("self (top-" + std::to_string(self_experts) + ")");
  }
  if (wants("draft"))
    for (auto const& d : split(drafts)) {
      draft_models.push_back(md::load(d, {.cache = opt.cache}));
      draft_names.push_back("draft " + d.substr(d.find_last_of('/') + 1));
    }
  sy::thread_pool pool(threads);

  std::vector<config> configs;
  for (int b : b_list) {
    configs.push_back({"plain", 0, b, {}});
    for (int k : k_list) {
      if (wants("lookup")) configs.push_back({"lookup", k, b, gen::speculation::with_prompt_lookup(k)});
      for (std::size_t d = 0; d < draft_models.size(); ++d)
        configs.push_back({draft_names[d], k, b, gen::speculation::with_model(*draft_models[d], *target, k, &pool)});
    }
  }
  std::map<int, std::vector<std::vector<std::int32_t>>> reference;  // batch -> the plain run's tokens
  std::vector<std::vector<sample>> samples(configs.size());
  for (int r = 0; r < reps; ++r)
    for (std::size_t c = 0; c < configs.size(); ++c) {
      auto const& cf = configs[c];
      std::chrono::steady_clock::time_point prefilled;
      auto on_step = [&](gen::scheduler_stats const& st) {
        if (st.steps == 1) prefilled = std::chrono::steady_clock::now();  // every prompt fits the first step
      };
      gen::scheduler sched(*target, tok,
                           {.max_running = 64, .prefill_chunk = 256, .step_tokens = 2048, .pool = &pool, .speculate = cf.spec,
                            .on_step = on_step});
      for (int q = 0; q < cf.batch; ++q) {
        std::vector<std::int32_t> p(ids.begin() + q * 211, ids.begin() + q * 211 + prompt_tokens);
        sched.submit({.prompt = p, .max_tokens = tokens, .stop_at_eos = false});
      }
      sched.run();
      double const s = std::chrono::duration<double>(std::chrono::steady_clock::now() - prefilled).count();
      auto const& st = sched.stats();
      std::vector<std::vector<std::int32_t>> out;
      for (auto const& res : sched.results()) out.push_back(res.tokens);
      if (cf.kind == "plain") reference[cf.batch] = out;
      else if (out != reference[cf.batch])
        throw std::runtime_error("speculative greedy tokens differ from plain greedy decoding (" + cf.kind + ", k " +
                                 std::to_string(cf.k) + ", batch " + std::to_string(cf.batch) + ")");
      // Decode steps per request: the steps after the prompt's (one prefill step at these sizes).
      double const decode_steps = std::max(1.0, double(st.steps - 1));
      samples[c].push_back({double(st.generated_tokens - cf.batch) / s, st.draft_seconds / s,
                            st.drafted ? double(st.accepted) / double(st.drafted) : 0.0, tokens / decode_steps});
    }

  std::printf("speculative decoding, %s, %d threads, %d-token prompts from the held-out text, %d greedy tokens per request, "
              "%d reps (medians; spread = (max - min) / median)\n",
              model.c_str(), threads, prompt_tokens, tokens, reps);
  std::printf("%6s %-28s %3s %12s %8s %8s %10s %12s %12s\n", "batch", "draft", "k", "tokens/s", "spread", "gain", "accepted",
              "tokens/step", "draft time");
  std::map<int, double> base;
  for (std::size_t c = 0; c < configs.size(); ++c) {
    auto v = samples[c];
    auto med = [&](double sample::*m) {
      std::vector<double> x;
      for (auto const& s : v) x.push_back(s.*m);
      std::sort(x.begin(), x.end());
      return std::pair(x[x.size() / 2], (x.back() - x.front()) / std::max(1e-12, x[x.size() / 2]));
    };
    auto const [tps, spread] = med(&sample::tps);
    if (configs[c].kind == "plain") base[configs[c].batch] = tps;
    std::printf("%6d %-28s %3d %12.1f %7.0f%% %7.2fx %9.1f%% %12.2f %11.0f%%\n", configs[c].batch, configs[c].kind.c_str(),
                configs[c].k, tps, 100 * spread, tps / base[configs[c].batch], 100 * med(&sample::accept).first,
                med(&sample::per_step).first, 100 * med(&sample::draft_share).first);
  }
  return 0;
} catch (std::exception const& e) {
  std::fprintf(stderr, "bench_speculative: %s\n", e.what());
  return 1;
}
