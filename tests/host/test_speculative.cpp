// Speculative decoding (generate/speculative.hpp, the scheduler's speculation option): the cache's
// rollback, the acceptance rule's distribution, the drafters, and greedy output identical to plain
// greedy decoding for every draft kind -- separate draft models (the distilled student, the q8_0
// copy), prompt lookup, and the target itself with one expert per token -- with preemption and
// stop strings in the mix.
#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "support/data_dir.hpp"
#include "switchyard/attention/paged_kv_cache.hpp"
#include "switchyard/generate/bpe_tokenizer.hpp"
#include "switchyard/generate/scheduler.hpp"
#include "switchyard/generate/speculative.hpp"
#include "switchyard/model/load.hpp"

namespace sy = switchyard;
namespace gen = switchyard::generate;
namespace md = switchyard::model;
using sy::index_t;

namespace {
std::string const shipped = std::string(SWITCHYARD_TEST_DATA_DIR) + "/../../models/switchyard-tiny-moe";

std::vector<float> forward_all(md::language_model& lm, md::sequence& seq, std::vector<std::int32_t> const& toks) {
  index_t const V = lm.config().vocab;
  std::vector<float> out(toks.size() * static_cast<std::size_t>(V));
  md::step const st{&seq, toks};
  lm.forward({&st, 1}, sy::make_view(out.data(), static_cast<index_t>(toks.size()), V), md::which_logits::all);
  return out;
}
}  // namespace

TEST_CASE("truncate leaves the cache as if the dropped tokens had never been appended", "[generate][speculative]") {
  sy::attention::paged_kv_cache<float> cache({.kv_heads = 2, .key_dim = 4, .value_dim = 4, .block_size = 16, .blocks = 8});
  sy::attention::kv_sequence seq;
  std::vector<float> k(40 * 2 * 4), v(k.size());
  for (std::size_t i = 0; i < k.size(); ++i) k[i] = float(i), v[i] = -float(i);
  cache.append(seq, sy::tensor_view<float const, sy::dextents<3>>(k.data(), sy::dextents<3>(40, 2, 4)),
               sy::tensor_view<float const, sy::dextents<3>>(v.data(), sy::dextents<3>(40, 2, 4)));
  CHECK(cache.free_blocks() == 5);
  cache.truncate(seq, 17);
  CHECK(seq.length == 17);
  CHECK(cache.free_blocks() == 6);  // 2 blocks hold 17 tokens
  CHECK_THROWS_WITH(cache.truncate(seq, 18), Catch::Contains("keeps 18 tokens of a sequence of 17"));
  cache.truncate(seq, 0);
  CHECK(cache.free_blocks() == 8);

  // A whole model: prompt + 5 tokens, rolled back to prompt + 2, then 3 more, gives the logits of
  // a sequence that only ever saw prompt + 2 + those 3, bit for bit, and the same free blocks.
  auto lm = md::load(shipped, {.activations = md::activation_format::f32, .cache = {.block_size = 16, .blocks = 16}});
  std::vector<std::int32_t> a = {5, 17, 300, 42, 9, 1000, 77, 78, 79, 80, 81, 82, 83, 84};
  auto s1 = lm->new_sequence(), s2 = lm->new_sequence();
  forward_all(*lm, s1, {a.begin(), a.begin() + 14});
  lm->truncate(s1, 11);
  CHECK(s1.length() == 11);
  forward_all(*lm, s2, {a.begin(), a.begin() + 11});
  CHECK(lm->free_blocks() == 16 - 2);
  std::vector<std::int32_t> const more = {400, 401, 402};
  auto const x = forward_all(*lm, s1, more), y = forward_all(*lm, s2, more);
  CHECK(x == y);
  CHECK_THROWS_WITH(lm->truncate(s1, 15), Catch::Contains("keeps 15 tokens of a sequence of 14"));
  lm->release(s1);
  lm->release(s2);
  CHECK(lm->free_blocks() == 16);
}

TEST_CASE("a step can ask for the logits of its last tokens", "[generate][speculative]") {
  auto lm = md::load(shipped, {.activations = md::activation_format::f32});
  index_t const V = lm->config().vocab;
  std::vector<std::int32_t> const t = {3, 4, 5, 6, 7};
  auto s1 = lm->new_sequence(), s2 = lm->new_sequence();
  auto const all = forward_all(*lm, s1, t);
  std::vector<float> last3(3 * static_cast<std::size_t>(V));
  md::step const st{&s2, t, 3};
  lm->forward({&st, 1}, sy::make_view(last3.data(), 3, V));
  CHECK(std::equal(last3.begin(), last3.end(), all.begin() + 2 * V));
  md::step const bad{&s2, t, 6};
  CHECK_THROWS_WITH(lm->forward({&bad, 1}, sy::make_view(last3.data(), 3, V)), Catch::Contains("last 6 tokens but has 5"));
  lm->release(s1);
  lm->release(s2);
}

TEST_CASE("prompt lookup drafts the continuation of the latest matching n-gram", "[generate][speculative]") {
  gen::prompt_lookup pl(3);
  std::vector<std::int32_t> out;
  std::vector<std::int32_t> const ctx = {1, 2, 3, 4, 9, 8, 1, 2, 3, 5, 6, 1, 2, 3};
  pl.propose(ctx, 3, out);
  CHECK(out == std::vector<std::int32_t>{5, 6, 1});  // the latest "1 2 3" is followed by 5 6 1
  pl.propose(std::vector<std::int32_t>{7, 8, 9}, 3, out);
  CHECK(out.empty());  // nothing repeats
  pl.propose(std::vector<std::int32_t>{4, 7, 1, 4}, 4, out);
  CHECK(out == std::vector<std::int32_t>{7, 1, 4});  // unigram match, as far as the context goes
  CHECK_THROWS_WITH(gen::prompt_lookup(0), Catch::Contains("1 <= min_ngram <= max_ngram"));
}

// The acceptance rule keeps the target's distribution: a fixed target distribution p over 5
// tokens, a draft that always proposes token 1 then token 1, 40 000 verdicts from one seeded
// sampler. The first token emitted (the first draft if accepted, else the correction) must be
// distributed as p. Chi-square with 4 degrees of freedom, critical value 23.5 (significance 1e-4):
// a bias of 0.02 in any probability adds >= N 0.02^2 / 0.4 = 40 to the statistic, so the test
// detects it with power > 0.99; drawing the correction from p without removing the draft (the
// classic bug) puts 0.51 on token 1 instead of 0.3 and is caught by orders of magnitude.
TEST_CASE("verify: sampled acceptance keeps the target's distribution", "[generate][speculative]") {
  std::vector<double> const p = {0.4, 0.3, 0.15, 0.1, 0.05};
  std::vector<float> base(5);
  for (std::size_t i = 0; i < 5; ++i) base[i] = static_cast<float>(std::log(p[i]));
  gen::sampler s({.temperature = 1.0f, .seed = 1234});
  std::vector<std::int32_t> const drafts = {1, 1}, context = {0};
  int const N = 40000;
  std::vector<double> first(5, 0.0), second(5, 0.0);
  double second_n = 0;
  for (int t = 0; t < N; ++t) {
    std::vector<float> rows;
    for (int r = 0; r < 3; ++r) rows.insert(rows.end(), base.begin(), base.end());
    auto const v = gen::verify(s, sy::make_view(rows.data(), 3, 5), context, drafts);
    REQUIRE(v.accepted >= 0);
    REQUIRE(v.accepted <= 2);
    first[static_cast<std::size_t>(v.accepted >= 1 ? 1 : v.next)] += 1;
    if (v.accepted >= 1) second[static_cast<std::size_t>(v.accepted >= 2 ? 1 : v.next)] += 1, second_n += 1;
  }
  auto chi2 = [&](std::vector<double> const& counts, double n) {
    double x = 0;
    for (std::size_t i = 0; i < 5; ++i) x += (counts[i] - n * p[i]) * (counts[i] - n * p[i]) / (n * p[i]);
    return x;
  };
  CHECK(chi2(first, N) < 23.5);
  CHECK(chi2(second, second_n) < 23.5);  // the position after an accepted draft: p again
  CHECK(second_n == Approx(0.3 * N).epsilon(0.05));  // the first draft is accepted with p(1)

  // Greedy: the target's argmax, whatever the draft.
  gen::sampler g({});
  std::vector<float> rows;
  for (int r = 0; r < 3; ++r) rows.insert(rows.end(), base.begin(), base.end());
  auto const v = gen::verify(g, sy::make_view(rows.data(), 3, 5), context, drafts);
  CHECK(v.accepted == 0);
  CHECK(v.next == 0);
}

namespace {

struct run_result {
  std::vector<gen::result> results;
  gen::scheduler_stats stats;
};

template <class Tok>
run_result run(md::language_model& lm, Tok const& tok, std::vector<gen::request> const& reqs, gen::scheduler_options o) {
  gen::scheduler sched(lm, tok, o);
  for (auto const& r : reqs) sched.submit(r);
  sched.run();
  return {sched.results(), sched.stats()};
}

}  // namespace

TEST_CASE("speculative greedy decoding gives plain greedy decoding's tokens, every draft kind", "[generate][speculative]") {
  auto const tok = gen::bpe_tokenizer::from_tokenizer_json(shipped + "/tokenizer.json");
  std::ifstream f(shipped + "/heldout.txt");
  std::stringstream ss;
  ss << f.rdbuf();
  auto const ids = tok.encode(ss.str().substr(0, 4000));
  REQUIRE(ids.size() > 300);
  std::vector<gen::request> reqs;
  for (std::size_t r = 0; r < 4; ++r) {
    gen::request q;
    q.prompt.assign(ids.begin() + static_cast<std::ptrdiff_t>(60 * r), ids.begin() + static_cast<std::ptrdiff_t>(60 * r + 40 + 20 * r));
    q.max_tokens = 40;
    q.stop_at_eos = false;
    reqs.push_back(q);
  }
  reqs[2].stop = {"\n\n"};

  md::load_options const opt{.activations = md::activation_format::f32, .cache = {.block_size = 16, .blocks = 64}};
  auto target = md::load(shipped, opt);
  auto const plain = run(*target, tok, reqs, {.prefill_chunk = 32, .step_tokens = 128});
  // A small pool makes the speculative runs preempt (drafts count against the pool too).
  auto small = md::load(shipped, {.activations = md::activation_format::f32, .cache = {.block_size = 16, .blocks = 10}});
  auto draft_model = md::load(shipped + "/model-q8_0.gguf", {.cache = {.block_size = 16, .blocks = 64}});
  auto student = md::load(shipped + "-draft-moe", {.cache = {.block_size = 16, .blocks = 64}});  // tools/distill_student.py
  auto one_expert = md::load(shipped, {.activations = md::activation_format::f32, .cache = {.block_size = 16, .blocks = 64},
                                       .experts_per_token = 1});
  CHECK(one_expert->config().experts_per_token == 1);

  struct kind {
    char const* name;
    gen::speculation spec;
  };
  std::vector<kind> const kinds = {
      {"prompt lookup", gen::speculation::with_prompt_lookup(4)},
      {"draft model (q8_0)", gen::speculation::with_model(*draft_model, *target, 3)},
      {"distilled student", gen::speculation::with_model(*student, *target, 3)},
      {"self-speculation (top-1)", gen::speculation::with_model(*one_expert, *target, 3)},
  };
  for (auto const& k : kinds) {
    for (md::language_model* lm : {target.get(), small.get()}) {
      INFO(k.name << (lm == small.get() ? ", small pool" : ""));
      auto const got = run(*lm, tok, reqs, {.max_running = 4, .prefill_chunk = 32, .step_tokens = 128, .speculate = k.spec});
      for (std::size_t r = 0; r < reqs.size(); ++r) {
        INFO("request " << r);
        CHECK(got.results[r].tokens == plain.results[r].tokens);
        CHECK(got.results[r].text == plain.results[r].text);
        CHECK(got.results[r].reason == plain.results[r].reason);
      }
      CHECK(got.stats.drafted > 0);
      CHECK(got.stats.accepted > 0);
      CHECK(got.stats.accepted <= got.stats.drafted);
      if (lm == small.get()) CHECK(got.stats.preemptions > 0);
      CHECK(lm->free_blocks() == (lm == small.get() ? 10 : 64));
    }
  }
  CHECK(plain.results[2].reason == gen::finish_reason::stop);
}

TEST_CASE("speculation refuses a draft of another vocabulary and a draft length below 1", "[generate][speculative][errors]") {
  auto target = md::load(shipped);
  auto other = md::load(std::string(SWITCHYARD_TEST_DATA_DIR) + "/models/qwen3_moe");
  REQUIRE(other->config().vocab != target->config().vocab);
  CHECK_THROWS_WITH(gen::speculation::with_model(*other, *target, 3), Catch::Contains("a draft must share the target's tokenizer"));
  CHECK_THROWS_WITH(gen::speculation::with_model(*target, *target, 0), Catch::Contains("draft length k must be >= 1, got 0"));
  CHECK_THROWS_WITH(gen::speculation::with_prompt_lookup(-2), Catch::Contains("draft length k must be >= 1, got -2"));
  auto const tok = gen::bpe_tokenizer::from_tokenizer_json(shipped + "/tokenizer.json");
  gen::speculation bad = gen::speculation::with_prompt_lookup(2);
  bad.k = 0;
  CHECK_THROWS_WITH(gen::scheduler(*target, tok, {.speculate = bad}), Catch::Contains("draft length k >= 1, got 0"));
  CHECK_THROWS_WITH(md::load(shipped, {.experts_per_token = 9}), Catch::Contains("experts_per_token must be in [1, 8], got 9"));
}
