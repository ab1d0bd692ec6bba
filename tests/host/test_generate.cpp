// Generation: the byte-level BPE tokenizer against Hugging Face tokenizers (tools/
// make_tokenizer_reference.py), the sampler's contracts, and the continuous-batching scheduler
// (each request gets the same tokens in a batch as alone; a small KV pool preempts, never crashes).
#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "support/data_dir.hpp"
#include "switchyard/generate/bpe_tokenizer.hpp"
#include "switchyard/generate/sampler.hpp"
#include "switchyard/generate/sentencepiece_bpe.hpp"
#include "switchyard/generate/scheduler.hpp"
#include "switchyard/model/load.hpp"

namespace sy = switchyard;
namespace gen = switchyard::generate;

namespace {

std::string const data_dir = SWITCHYARD_TEST_DATA_DIR;
std::string const shipped = data_dir + "/../../models/switchyard-tiny-moe";

nlohmann::json reference() {
  std::ifstream f(data_dir + "/tokenizer_reference.json");
  return nlohmann::json::parse(f);
}

template <class Tokenizer>
void check_cases(Tokenizer const& tok, nlohmann::json const& cases) {
  for (auto const& c : cases) {
    std::string const text = c.at("text").get<std::string>();
    INFO("text: " << text);
    auto const ids = tok.encode(text);
    CHECK(ids == c.at("ids").get<std::vector<std::int32_t>>());
    CHECK(tok.decode(ids) == c.at("decoded").get<std::string>());
  }
}

// A tokenizer of the 256 byte tokens only (no merges): what the 256-token test models speak.
gen::bpe_tokenizer byte_tokenizer() {
  std::vector<std::string> tokens;
  std::uint32_t next = 256;
  for (std::uint32_t b = 0; b < 256; ++b) {
    bool const printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174);
    std::string s;
    gen::unicode::append_utf8(s, printable ? b : next++);
    tokens.push_back(s);
  }
  return gen::bpe_tokenizer(tokens, {}, {}, gen::pretokenizer::gpt2);
}

}  // namespace

TEST_CASE("byte-level BPE matches Hugging Face tokenizers (Qwen2 pre-tokenizer)", "[generate]") {
  auto const tok = gen::bpe_tokenizer::from_tokenizer_json(shipped + "/tokenizer.json");
  check_cases(tok, reference().at("qwen2"));
}

TEST_CASE("byte-level BPE matches Hugging Face tokenizers (GPT-2 pre-tokenizer)", "[generate]") {
  auto const tok = gen::bpe_tokenizer::from_tokenizer_json(data_dir + "/tokenizer_gpt2_variant.json");
  check_cases(tok, reference().at("gpt2"));
}

TEST_CASE("byte-level BPE matches Hugging Face tokenizers (Llama 3 and DeepSeek-V3 pre-tokenizers)", "[generate]") {
  check_cases(gen::bpe_tokenizer::from_tokenizer_json(data_dir + "/tokenizer_llama3_variant.json"), reference().at("llama3"));
  check_cases(gen::bpe_tokenizer::from_tokenizer_json(data_dir + "/tokenizer_deepseek_v3_variant.json"),
              reference().at("deepseek_v3"));
}

TEST_CASE("SentencePiece-style BPE (Llama's tokenizer.json forms) matches Hugging Face tokenizers", "[generate]") {
  auto const spm = gen::sentencepiece_bpe::from_tokenizer_json(data_dir + "/tokenizer_spm.json");
  check_cases(spm, reference().at("spm"));
  auto const meta = gen::sentencepiece_bpe::from_tokenizer_json(data_dir + "/tokenizer_spm_metaspace.json");
  check_cases(meta, reference().at("spm_metaspace"));
  CHECK_THROWS_AS(gen::sentencepiece_bpe::from_tokenizer_json(shipped + "/tokenizer.json"), sy::unsupported_config);
  CHECK_THROWS_AS(gen::bpe_tokenizer::from_tokenizer_json(data_dir + "/tokenizer_spm.json"), sy::unsupported_config);
}

TEST_CASE("the tokenizer from GGUF metadata equals the one from tokenizer.json", "[generate]") {
  sy::io::gguf_file const f(shipped + "/model-q8_0.gguf");
  auto const a = gen::bpe_tokenizer::from_gguf(f);
  auto const b = gen::bpe_tokenizer::from_tokenizer_json(shipped + "/tokenizer.json");
  CHECK(a.vocab_size() == b.vocab_size());
  auto const ref = reference();  // kept alive: the loop walks into it
  for (auto const& c : ref.at("qwen2")) {
    std::string const text = c.at("text").get<std::string>();
    CHECK(a.encode(text) == b.encode(text));
  }
}

TEST_CASE("invalid UTF-8 and every byte round-trip through the tokenizer", "[generate]") {
  auto const tok = gen::bpe_tokenizer::from_tokenizer_json(shipped + "/tokenizer.json");
  std::string all;
  for (int b = 0; b < 256; ++b) all += static_cast<char>(b);
  for (std::string const& s : {all, std::string("\xff\xfe abc \xc3("), std::string("cut \xe2\x82"), std::string("\xed\xa0\x80 surrogate"),
                              std::string("\xf4\x90\x80\x80 past U+10FFFF"), std::string("\xc0\xaf overlong")}) {
    CHECK(tok.decode(tok.encode(s)) == s);
  }
  CHECK_THROWS_AS(tok.decode(std::vector<std::int32_t>{static_cast<std::int32_t>(tok.vocab_size())}), sy::invalid_argument);
  CHECK_THROWS_AS(tok.decode(std::vector<std::int32_t>{-1}), sy::invalid_argument);
}

TEST_CASE("sampler: greedy, cut-offs, reproducibility, distribution", "[generate]") {
  std::vector<float> const logits = {1.0f, 3.0f, 2.0f, 3.0f, -1.0f, 0.5f};
  auto draw = [&](gen::sampling_params p, int n) {
    gen::sampler s(p);
    std::vector<std::int32_t> out;
    for (int i = 0; i < n; ++i) {
      auto l = logits;
      out.push_back(s(l, {}));
    }
    return out;
  };
  CHECK(draw({}, 1)[0] == 1);  // greedy: ties to the lower id
  CHECK(draw({.temperature = 1.0f, .top_k = 1}, 20) == std::vector<std::int32_t>(20, 1));
  CHECK(draw({.temperature = 1.0f, .top_p = 0.01f}, 20) == std::vector<std::int32_t>(20, 1));
  for (auto t : draw({.temperature = 1.0f, .min_p = 0.3f, .seed = 3}, 200)) CHECK((t == 1 || t == 2 || t == 3));
  CHECK(draw({.temperature = 0.8f, .seed = 42}, 50) == draw({.temperature = 0.8f, .seed = 42}, 50));
  CHECK(draw({.temperature = 0.8f, .seed = 42}, 50) != draw({.temperature = 0.8f, .seed = 43}, 50));
  // Frequencies follow softmax(logits / T) within 5 standard deviations.
  int const n = 20000;
  auto const xs = draw({.temperature = 1.5f, .seed = 7}, n);
  double z = 0;
  for (float l : logits) z += std::exp(l / 1.5);
  for (std::size_t k = 0; k < logits.size(); ++k) {
    double const p = std::exp(logits[k] / 1.5) / z;
    double const got = static_cast<double>(std::count(xs.begin(), xs.end(), static_cast<std::int32_t>(k))) / n;
    INFO("token " << k << ": expected " << p << ", got " << got);
    CHECK(std::abs(got - p) <= 5 * std::sqrt(p * (1 - p) / n));
  }
  // Repetition penalty: a seen token with the best logit loses to the runner-up.
  gen::sampler s({.repetition_penalty = 2.0f});
  auto l = logits;
  std::vector<std::int32_t> const seen = {1, 3};
  CHECK(s(l, seen) == 2);
  CHECK_THROWS_AS(gen::sampler({.temperature = -1.0f}), sy::invalid_argument);
  CHECK_THROWS_AS(gen::sampler({.top_p = 0.0f}), sy::invalid_argument);
}

TEST_CASE("continuous batching: each request gets the tokens it gets alone; a small pool preempts", "[generate]") {
  auto const tok = byte_tokenizer();
  std::vector<std::vector<std::int32_t>> prompts;
  for (int r = 0; r < 6; ++r) {
    std::vector<std::int32_t> p;
    for (int i = 0; i < 3 + 7 * r; ++i) p.push_back(static_cast<std::int32_t>((r * 37 + i * 11) % 256));
    prompts.push_back(p);
  }
  auto run = [&](sy::model::language_model& lm, std::vector<std::size_t> which, gen::scheduler_options o) {
    gen::scheduler sched(lm, tok, o);
    for (auto r : which) sched.submit({.prompt = prompts[r], .max_tokens = 10, .stop_at_eos = false});
    sched.run();
    return std::pair(sched.results(), sched.stats());
  };
  auto lm = sy::model::load(data_dir + "/models/qwen3_moe");
  std::vector<std::vector<std::int32_t>> alone;
  for (std::size_t r = 0; r < prompts.size(); ++r) alone.push_back(run(*lm, {r}, {.prefill_chunk = 8, .step_tokens = 64}).first[0].tokens);
  auto const [together, stats] = run(*lm, {0, 1, 2, 3, 4, 5}, {.max_running = 4, .prefill_chunk = 8, .step_tokens = 16});
  for (std::size_t r = 0; r < prompts.size(); ++r) {
    INFO("request " << r);
    CHECK(together[r].reason == gen::finish_reason::length);
    CHECK(together[r].tokens == alone[r]);
  }
  CHECK(stats.generated_tokens == 60);
  CHECK(lm->free_blocks() == 256);  // every block returned

  // A pool of 4 blocks of 16 tokens: at most ~64 tokens cached at once forces preemption; a
  // request that cannot fit alone (a 70-token prompt) fails cleanly.
  auto small = sy::model::load(data_dir + "/models/qwen3_moe", {.cache = {.block_size = 16, .blocks = 4}});
  auto const [pre, pstats] = run(*small, {0, 1, 2, 3}, {.max_running = 4, .prefill_chunk = 8, .step_tokens = 32});
  CHECK(pstats.preemptions > 0);
  for (std::size_t r = 0; r < 4; ++r) {
    INFO("request " << r << " under preemption");
    CHECK(pre[r].reason == gen::finish_reason::length);
    CHECK(pre[r].tokens == alone[r]);
  }
  CHECK(small->free_blocks() == 4);
  gen::scheduler sched(*small, tok, {.prefill_chunk = 8, .step_tokens = 32});
  sched.submit({.prompt = std::vector<std::int32_t>(70, 5), .max_tokens = 3});
  sched.run();
  CHECK(sched.results()[0].reason == gen::finish_reason::error);
  CHECK(sched.results()[0].error.find("cannot hold") != std::string::npos);
  CHECK(small->free_blocks() == 4);
}

TEST_CASE("stop strings end a request and streaming never splits a character", "[generate]") {
  auto const tok = byte_tokenizer();
  auto lm = sy::model::load(data_dir + "/models/qwen3_moe");
  gen::scheduler probe(*lm, tok);
  std::vector<std::int32_t> const prompt = {10, 20, 30, 40};
  probe.submit({.prompt = prompt, .max_tokens = 12, .stop_at_eos = false});
  probe.run();
  std::string const full = probe.results()[0].text;
  REQUIRE(full.size() >= 8);
  std::string const stop = full.substr(5, 2);
  gen::scheduler sched(*lm, tok);
  std::string streamed;
  sched.submit({.prompt = prompt, .max_tokens = 12, .stop = {stop}, .stop_at_eos = false,
                .on_text = [&](std::string_view s) { streamed += s; }});
  sched.run();
  auto const& r = sched.results()[0];
  CHECK(r.reason == gen::finish_reason::stop);
  CHECK(r.text == full.substr(0, full.find(stop)));
  CHECK(streamed == r.text);
}

TEST_CASE("sampled generation with a fixed seed is reproducible, and the seed matters", "[generate]") {
  auto const tok = byte_tokenizer();
  auto lm = sy::model::load(data_dir + "/models/mixtral");
  auto sample = [&](std::uint64_t seed) {
    gen::scheduler sched(*lm, tok);
    for (int r = 0; r < 3; ++r)
      sched.submit({.prompt = {1, 2, static_cast<std::int32_t>(3 + r)},
                    .sampling = {.temperature = 1.0f, .top_k = 50, .top_p = 0.9f, .seed = seed + static_cast<std::uint64_t>(r)},
                    .max_tokens = 16, .stop_at_eos = false});
    sched.run();
    std::vector<std::vector<std::int32_t>> out;
    for (auto const& r : sched.results()) out.push_back(r.tokens);
    return out;
  };
  auto const a = sample(11), b = sample(11), c = sample(12);
  CHECK(a == b);
  CHECK(a != c);
}

// A language model that is also a sampling_model, as the device model is, sampling on the host
// from the stream it is handed: the scheduler's sampling_model path (requests, histories, streams,
// the prompt chunks that pick nothing) must give every request the tokens the host path gives,
// under preemption too (the stream belongs to the request and survives it).
class host_sampling_model final : public sy::model::language_model, public gen::sampling_model {
 public:
  explicit host_sampling_model(sy::model::language_model& lm) : lm_(lm) {}
  sy::model::model_config const& config() const noexcept override { return lm_.config(); }
  sy::model::sequence new_sequence() const override { return lm_.new_sequence(); }
  void release(sy::model::sequence& s) override { lm_.release(s); }
  void truncate(sy::model::sequence& s, sy::index_t n) override { lm_.truncate(s, n); }
  void forward(std::span<sy::model::step const> steps, sy::matrix_view<float> logits, sy::model::which_logits w,
               sy::thread_pool& pool) override {
    lm_.forward(steps, logits, w, pool);
  }
  sy::index_t free_blocks() const noexcept override { return lm_.free_blocks(); }
  sy::index_t cache_block_size() const noexcept override { return lm_.cache_block_size(); }
  void keep(std::shared_ptr<void> o) override { lm_.keep(std::move(o)); }

  void forward_sample(std::span<sy::model::step const> steps, std::span<gen::sample_request const> requests,
                      std::span<std::int32_t> out) override {
    REQUIRE(requests.size() == steps.size());
    REQUIRE(out.size() == steps.size());
    sy::index_t const V = config().vocab;
    std::vector<float> logits(steps.size() * static_cast<std::size_t>(V));
    lm_.forward(steps, sy::make_view(logits.data(), static_cast<sy::index_t>(steps.size()), V));
    for (std::size_t i = 0; i < steps.size(); ++i) {
      if (!requests[i].sample) continue;
      ++sampled;
      gen::sampler s(*requests[i].params);
      s.random_stream().set_state(requests[i].stream->state());
      out[i] = s(std::span<float>(logits.data() + i * static_cast<std::size_t>(V), static_cast<std::size_t>(V)), requests[i].history);
      requests[i].stream->set_state(s.random_stream().state());
    }
  }
  long sampled = 0;

 private:
  sy::model::language_model& lm_;
};

TEST_CASE("a model that samples its own tokens (sampling_model) gives the host sampler's tokens, seed for seed", "[generate]") {
  auto const tok = byte_tokenizer();
  auto lm = sy::model::load(data_dir + "/models/mixtral", {.cache = {.block_size = 16, .blocks = 6}});
  auto run = [&](sy::model::language_model& m) {
    gen::scheduler sched(m, tok, {.max_running = 4, .prefill_chunk = 8, .step_tokens = 24});
    for (int r = 0; r < 5; ++r) {
      gen::sampling_params sp{.temperature = 0.9f, .top_k = r == 1 ? 0 : 40, .top_p = r == 2 ? 1.0f : 0.9f,
                              .min_p = r == 3 ? 0.05f : 0.0f, .repetition_penalty = r == 4 ? 1.3f : 1.0f,
                              .seed = 100 + static_cast<std::uint64_t>(r)};
      if (r == 0) sp = {};  // greedy
      std::vector<std::int32_t> prompt;
      for (int i = 0; i < 5 + 6 * r; ++i) prompt.push_back(static_cast<std::int32_t>((r * 53 + i * 7) % 256));
      sched.submit({.prompt = prompt, .sampling = sp, .max_tokens = 14, .stop_at_eos = false});
    }
    sched.run();
    return std::pair(sched.results(), sched.stats());
  };
  auto const [host, host_stats] = run(*lm);
  host_sampling_model wrapped(*lm);
  auto const [in_model, stats] = run(wrapped);
  CHECK(wrapped.sampled == 5 * 14);  // every generated token was picked by the model
  CHECK(stats.preemptions > 0);  // a pool of 6 blocks of 16 for 5 requests of up to 43 tokens
  CHECK(stats.preemptions == host_stats.preemptions);
  for (std::size_t r = 0; r < host.size(); ++r) {
    INFO("request " << r);
    CHECK(in_model[r].reason == gen::finish_reason::length);
    CHECK(in_model[r].tokens == host[r].tokens);
  }
}
