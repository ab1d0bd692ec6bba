#pragma once
// Speculative decoding's parts: drafts proposed cheaply, verified by the target in one forward over
// all drafted positions, the accepted prefix kept and the rest rolled back (the scheduler does the
// batching and the cache; generate/scheduler.hpp, scheduler_options::speculation).
//
//   drafter           proposes up to k tokens continuing a context. Three kinds:
//     prompt_lookup   draft-free: the tokens that followed the latest earlier occurrence of the
//                     context's last n-gram (n = max_ngram down to 1) -- prompt lookup decoding
//     model_drafter   a draft model's greedy continuation: a separate small model with the
//                     target's vocabulary, or the target itself loaded with fewer experts per token
//                     (self-speculation through routing: model::load_options::experts_per_token)
//   verify()          the acceptance rule of Leviathan et al. / Chen et al. for a deterministic
//                     draft (q a point mass on the drafted token): draft d at position i is kept
//                     with probability p_i(d), where p_i is the target's sampling distribution
//                     (sampler::distribution: penalty, temperature, top-k / top-p / min-p); at the
//                     first rejection the token is drawn from p_i with d removed, renormalized, and
//                     after k acceptances one more from p_k. The output is distributed as the
//                     target's sampling (greedy: exactly the target's argmax tokens).
//
// Drafts are deterministic (greedy) here, so the rule needs no draft probabilities; a draft model
// sampling its drafts would accept more often under a high temperature, at the cost of carrying
// its distributions.
#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "switchyard/core/error.hpp"
#include "switchyard/generate/sampler.hpp"
#include "switchyard/model/language_model.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace generate {

// One request's source of drafts (it may keep state across steps: a draft model's cache).
class drafter {
 public:
  virtual ~drafter() = default;
  // Up to k tokens continuing `context` (every token of the request so far, prompt included), into
  // `out` (cleared first); fewer, or none, when it has nothing to propose.
  virtual void propose(std::span<std::int32_t const> context, index_t k, std::vector<std::int32_t>& out) = 0;
};

// Draft-free: the continuation of the context's last n-gram where it occurred before (the latest
// occurrence, longest n first), as far as the context goes. Pays on text that repeats itself
// (code, edits of a prompt, quoted passages).
class prompt_lookup final : public drafter {
 public:
  explicit prompt_lookup(index_t max_ngram = 3, index_t min_ngram = 1) : max_(max_ngram), min_(min_ngram) {
    require(min_ngram >= 1 && max_ngram >= min_ngram, "generate::prompt_lookup", "needs 1 <= min_ngram <= max_ngram, got ",
            min_ngram, " and ", max_ngram);
  }
  void propose(std::span<std::int32_t const> context, index_t k, std::vector<std::int32_t>& out) override {
    out.clear();
    auto const T = static_cast<index_t>(context.size());
    for (index_t n = std::min(max_, T - 1); n >= min_; --n) {
      auto const tail = context.subspan(static_cast<std::size_t>(T - n));
      for (index_t start = T - n - 1; start >= 0; --start) {  // the latest earlier occurrence
        if (!std::equal(tail.begin(), tail.end(), context.begin() + start)) continue;
        for (index_t j = start + n; j < T && static_cast<index_t>(out.size()) < k; ++j)
          out.push_back(context[static_cast<std::size_t>(j)]);
        return;
      }
    }
  }

 private:
  index_t max_, min_;
};

// A draft model's greedy continuation. The draft keeps its own sequence for the request and, each
// step, rolls it back to the longest prefix it shares with the context (model::language_model::
// truncate), feeds the rest in one forward, then drafts one token per forward. A draft whose cache
// pool is full proposes nothing for that step (its sequence is released and rebuilt later).
class model_drafter final : public drafter {
 public:
  model_drafter(model::language_model& draft, thread_pool* pool = nullptr) : lm_(draft), pool_(pool) {}
  ~model_drafter() override {
    if (started_) lm_.release(seq_);
  }
  model_drafter(model_drafter const&) = delete;
  model_drafter& operator=(model_drafter const&) = delete;

  void propose(std::span<std::int32_t const> context, index_t k, std::vector<std::int32_t>& out) override {
    out.clear();
    if (context.empty() || k <= 0) return;
    if (!started_) seq_ = lm_.new_sequence(), started_ = true;
    index_t const V = lm_.config().vocab;
    logits_.resize(static_cast<std::size_t>(V));
    thread_pool& pool = pool_ ? *pool_ : thread_pool::shared();
    // Roll back to what the draft's cache shares with the context (at least one token to feed).
    auto const common = static_cast<std::size_t>(std::mismatch(fed_.begin(), fed_.end(), context.begin(), context.end()).first -
                                                 fed_.begin());
    std::size_t const keep = std::min(common, context.size() - 1);
    lm_.truncate(seq_, static_cast<index_t>(keep));
    fed_.resize(keep);
    out.reserve(static_cast<std::size_t>(k));  // st.tokens points into it
    model::step st{&seq_, context.subspan(keep)};
    for (index_t j = 0; j < k; ++j) {
      try {
        lm_.forward({&st, 1}, make_view(logits_.data(), 1, V), model::which_logits::last, pool);
      } catch (allocation_error const&) {  // the draft's pool is full (a failed forward changes nothing)
        if (j == 0) lm_.release(seq_), fed_.clear();  // could not even take the context: start over next step
        return;
      }
      fed_.insert(fed_.end(), st.tokens.begin(), st.tokens.end());
      out.push_back(static_cast<std::int32_t>(std::max_element(logits_.begin(), logits_.end()) - logits_.begin()));
      st.tokens = std::span<std::int32_t const>(&out.back(), 1);
    }
  }

 private:
  model::language_model& lm_;
  thread_pool* pool_;
  model::sequence seq_;
  bool started_ = false;
  std::vector<std::int32_t> fed_;  // the tokens in the draft's cache, in order
  std::vector<float> logits_;
};

// What the scheduler needs: a drafter per request, and the most tokens to draft per step.
struct speculation {
  std::function<std::unique_ptr<drafter>()> make_drafter = {};
  index_t k = 4;

  bool enabled() const noexcept { return static_cast<bool>(make_drafter); }

  static speculation with_prompt_lookup(index_t k, index_t max_ngram = 3) {
    require(k >= 1, "generate::speculation", "draft length k must be >= 1, got ", k);
    return {[max_ngram] { return std::make_unique<prompt_lookup>(max_ngram); }, k};
  }
  // A draft model (a distilled student, or the target loaded with fewer experts per token) for
  // `target`: the vocabularies must be the same.
  static speculation with_model(model::language_model& draft, model::language_model const& target, index_t k,
                                thread_pool* pool = nullptr) {
    require(k >= 1, "generate::speculation", "draft length k must be >= 1, got ", k);
    require(draft.config().vocab == target.config().vocab, "generate::speculation", "the draft model's vocabulary has ",
            draft.config().vocab, " tokens, the target's ", target.config().vocab,
            ": a draft must share the target's tokenizer");
    return {[&draft, pool] { return std::make_unique<model_drafter>(draft, pool); }, k};
  }
};

// The target's verdict on drafts: how many it accepted, and the token that follows them.
struct verdict {
  index_t accepted = 0;
  std::int32_t next = 0;
};

// rows [drafts.size() + 1, V]: the target's logits after context + drafts[0, i) for row i (row i is
// modified, as the sampler does). `context` is every token so far, the penalty's history.
inline verdict verify(sampler& s, matrix_view<float> rows, std::span<std::int32_t const> context,
                      std::span<std::int32_t const> drafts) {
  auto const n = static_cast<index_t>(drafts.size());
  require(rows.extent(0) == n + 1 && rows.stride(1) == 1, "generate::verify", "needs ", n + 1, " contiguous rows of logits, got ",
          rows.extent(0));
  auto row = [&](index_t i) { return std::span<float>(rows.row(i), static_cast<std::size_t>(rows.extent(1))); };
  if (s.params().temperature == 0.0f && s.params().repetition_penalty == 1.0f) {  // plain greedy: argmax, no history
    for (index_t i = 0; i <= n; ++i) {
      auto const r = row(i);
      auto const best = static_cast<std::int32_t>(std::max_element(r.begin(), r.end()) - r.begin());  // ties: the lower id
      if (i == n || best != drafts[static_cast<std::size_t>(i)]) return {i, best};
    }
  }
  std::vector<std::int32_t> history(context.begin(), context.end());
  std::vector<double> p;
  for (index_t i = 0; i < n; ++i) {
    s.distribution(row(i), history, p);
    auto const d = static_cast<std::size_t>(drafts[static_cast<std::size_t>(i)]);
    require(d < p.size(), "generate::verify", "drafted token ", drafts[static_cast<std::size_t>(i)], " is outside the vocabulary");
    if (s.uniform() < p[d]) {
      history.push_back(drafts[static_cast<std::size_t>(i)]);
      continue;
    }
    p[d] = 0.0;  // rejected: the rest of p_i, renormalized (max(p - q, 0) for a point-mass q)
    return {i, s.draw(p)};
  }
  s.distribution(row(n), history, p);
  return {n, s.draw(p)};
}

}  // namespace generate
SWITCHYARD_NAMESPACE_END
