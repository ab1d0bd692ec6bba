#pragma once
// Serving many requests at once with continuous batching. Each step() is one model forward over a
// batch assembled afresh: every running request that is decoding contributes its one new token,
// and requests still prefilling contribute one chunk of their prompt (prefill_chunk tokens), so a
// long prompt is spread over several steps and never stalls the decodes; requests join as others
// leave. KV blocks come from the model's shared pool and return when a request finishes. When the
// pool cannot hold a step, the most recently admitted requests are preempted (their blocks freed,
// their tokens so far queued again for recomputation) until it can; a request that cannot fit even
// alone fails with a message, and nothing crashes.
//
// A request's tokens do not depend on what it is batched with: its prompt is cut into the same
// chunks whatever else runs, and the kernels are batch-independent (docs/moe.md), so greedy
// decoding in a batch gives each request the tokens it gets alone.
//
// Speculative decoding (scheduler_options::speculation, generate/speculative.hpp): each decoding
// request's drafter proposes up to k tokens; the request feeds its last token and the drafts in
// one step of the same batched forward (logits for every drafted position), verify() keeps the
// accepted prefix and picks the token after it, and the request's cache is truncated to what was
// accepted (no copy). Greedy output is the target's own, token for token; sampled output keeps the
// target's distribution.
//
// A model that is also a generate::sampling_model (a device model) picks the tokens itself, with
// each request's parameters and random stream, so only token ids cross back (sampling_model.hpp).
#include <chrono>
#include <concepts>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "switchyard/core/error.hpp"
#include "switchyard/generate/sampler.hpp"
#include "switchyard/generate/sampling_model.hpp"
#include "switchyard/generate/speculative.hpp"
#include "switchyard/model/causal_lm.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace generate {

struct request {
  std::vector<std::int32_t> prompt;
  sampling_params sampling = {};
  index_t max_tokens = 128;
  std::vector<std::string> stop = {};  // stop strings (not included in the text)
  bool stop_at_eos = true;
  std::function<void(std::string_view)> on_text = {};  // streaming: text as it becomes final
};

enum class finish_reason { running, eos, stop, length, error };

struct result {
  std::vector<std::int32_t> tokens;  // generated (EOS excluded)
  std::string text;                  // their text, cut at a stop string
  finish_reason reason = finish_reason::running;
  std::string error;
  index_t preemptions = 0;
};

struct scheduler_stats {
  index_t steps = 0, prompt_tokens = 0, generated_tokens = 0, preemptions = 0;
  index_t waiting = 0, running = 0, prompt_pending = 0;  // after the last step
  index_t drafted = 0, accepted = 0;                     // speculative decoding: draft tokens proposed, accepted
  double draft_seconds = 0;                              // of `seconds`, the time the drafters took
  double seconds = 0;
};

struct scheduler_options {
  index_t max_running = 64;     // requests in flight at once
  index_t prefill_chunk = 256;  // prompt tokens per request per step
  index_t step_tokens = 1024;   // at most this many tokens in one forward (decodes always fit first)
  thread_pool* pool = nullptr;  // nullptr: thread_pool::shared()
  speculation speculate = {};   // drafts per decoding request (none by default)
  std::function<void(scheduler_stats const&)> on_step = {};  // after every step (progress lines)
};

// What the scheduler needs of a tokenizer (bpe_tokenizer, sentencepiece_bpe, spm_tokenizer, the
// tokenizer front): the text one generated token adds, and the token that ends generation.
template <class T>
concept streaming_tokenizer = requires(T const& t, std::int32_t id) {
  { t.piece(id) } -> std::convertible_to<std::string>;
  { t.eos_id() } -> std::convertible_to<std::int32_t>;
};

class scheduler {
 public:
  // `tok` is used until the scheduler is gone.
  template <streaming_tokenizer Tokenizer>
  scheduler(model::language_model& lm, Tokenizer const& tok, scheduler_options o = {})
      : lm_(lm), piece_([&tok](std::int32_t id) { return std::string(tok.piece(id)); }), opt_(o), eos_(tok.eos_id()) {
    require(o.max_running > 0 && o.prefill_chunk > 0 && o.step_tokens >= o.prefill_chunk, "generate::scheduler",
            "need max_running > 0 and 0 < prefill_chunk <= step_tokens");
    require(!o.speculate.enabled() || o.speculate.k >= 1, "generate::scheduler", "speculation needs a draft length k >= 1, got ",
            o.speculate.k);
  }
  void set_eos(std::int32_t id) { eos_ = id; }

  // Queues a request; returns its id (index into results()).
  std::size_t submit(request r) {
    require(!r.prompt.empty(), "generate::scheduler::submit", "the prompt is empty");
    require(r.max_tokens >= 0, "generate::scheduler::submit", "max_tokens must be >= 0");
    auto s = std::make_unique<slot>();
    s->id = results_.size();
    s->req = std::move(r);
    s->pending = s->req.prompt;
    s->samp = std::make_unique<sampler>(s->req.sampling);
    if (opt_.speculate.enabled()) s->draft_src = opt_.speculate.make_drafter();
    results_.emplace_back();
    if (s->req.max_tokens == 0) {
      results_.back().reason = finish_reason::length;
      return s->id;
    }
    waiting_.push_back(std::move(s));
    return results_.size() - 1;
  }

  bool idle() const noexcept { return waiting_.empty() && running_.empty(); }
  std::vector<result> const& results() const noexcept { return results_; }
  scheduler_stats const& stats() const noexcept { return stats_; }

  void run() {
    while (step()) {
    }
  }

  // One forward over the current batch; false when there is nothing to do.
  bool step() {
    auto const t0 = std::chrono::steady_clock::now();
    while (!waiting_.empty() && static_cast<index_t>(running_.size()) < opt_.max_running) {
      auto& s = waiting_.front();
      s->seq = lm_.new_sequence();
      running_.push_back(std::move(s));
      waiting_.pop_front();
    }
    if (running_.empty()) return false;
    std::vector<slot*> batch = plan();
    draft(batch);
    while (!batch.empty() && blocks_needed(batch) > lm_.free_blocks()) {
      if (running_.size() == 1) {  // alone and still too big: it cannot ever run
        fail(*running_.back(), "the KV cache cannot hold this request (" + std::to_string(blocks_needed(batch)) +
                                   " blocks needed, " + std::to_string(lm_.free_blocks()) + " free)");
        running_.pop_back();
        return true;
      }
      preempt();
      batch = plan();
    }
    std::vector<model::step> steps;
    std::vector<std::size_t> take;
    std::vector<bool> prefill;
    std::vector<std::size_t> first_row;
    std::size_t rows = 0;
    for (slot* s : batch) {
      std::size_t const n = chunk(*s);
      if (!s->drafts.empty()) {  // the last token and the drafts, with a row of logits for each
        s->feed.assign(1, s->pending.front());
        s->feed.insert(s->feed.end(), s->drafts.begin(), s->drafts.end());
        steps.push_back({&s->seq, std::span<std::int32_t const>(s->feed), static_cast<index_t>(s->feed.size())});
      } else {
        steps.push_back({&s->seq, std::span<std::int32_t const>(s->pending).first(n)});
      }
      first_row.push_back(rows);
      rows += static_cast<std::size_t>(steps.back().last_rows);
      take.push_back(n);
      prefill.push_back(!decoding(*s));
    }
    index_t const V = lm_.config().vocab;
    // A model that samples where its logits are (a device model) gets the sampling too, except in
    // a step with speculative drafts (verification needs the target's rows of logits).
    auto* const self_sampling = dynamic_cast<sampling_model*>(&lm_);
    bool const sample_in_model = self_sampling != nullptr && rows == batch.size();
    if (sample_in_model) {
      requests_.assign(batch.size(), {});
      picked_.assign(batch.size(), 0);
      for (std::size_t i = 0; i < batch.size(); ++i) {
        slot& s = *batch[i];
        if (take[i] != s.pending.size()) continue;  // a prompt chunk that does not end the prompt
        std::span<std::int32_t const> history;
        if (s.req.sampling.repetition_penalty != 1.0f) {  // the history the host sampler would see
          s.context.assign(s.history.begin(), s.history.end());
          s.context.insert(s.context.end(), s.pending.begin(), s.pending.end());
          history = s.context;
        }
        requests_[i] = {.sample = true, .params = &s.samp->params(), .stream = &s.samp->random_stream(), .history = history};
      }
      self_sampling->forward_sample(steps, requests_, picked_);
    } else {
      logits_.resize(rows * static_cast<std::size_t>(V));
      lm_.forward(steps, make_view(logits_.data(), static_cast<index_t>(rows), V), model::which_logits::last,
                  opt_.pool ? *opt_.pool : thread_pool::shared());
    }
    ++stats_.steps;
    for (std::size_t i = 0; i < batch.size(); ++i) {
      slot& s = *batch[i];
      if (!s.drafts.empty()) {
        settle_drafts(s, make_view(logits_.data() + first_row[i] * static_cast<std::size_t>(V),
                                   static_cast<index_t>(s.feed.size()), V));
        continue;
      }
      s.history.insert(s.history.end(), s.pending.begin(), s.pending.begin() + static_cast<std::ptrdiff_t>(take[i]));
      s.pending.erase(s.pending.begin(), s.pending.begin() + static_cast<std::ptrdiff_t>(take[i]));
      if (prefill[i]) stats_.prompt_tokens += static_cast<index_t>(take[i]);
      if (!s.pending.empty()) continue;  // more prompt to go
      std::int32_t const next =
          sample_in_model ? picked_[i]
                          : (*s.samp)(std::span<float>(logits_.data() + first_row[i] * static_cast<std::size_t>(V), static_cast<std::size_t>(V)),
                                      s.history);
      ++stats_.generated_tokens;
      accept(s, next);
    }
    std::erase_if(running_, [&](std::unique_ptr<slot>& s) {
      if (results_[s->id].reason == finish_reason::running) return false;
      lm_.release(s->seq);
      return true;
    });
    stats_.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    stats_.waiting = static_cast<index_t>(waiting_.size());
    stats_.running = static_cast<index_t>(running_.size());
    stats_.prompt_pending = 0;
    for (auto const& s : running_)
      if (!decoding(*s)) stats_.prompt_pending += static_cast<index_t>(s->pending.size());
    if (opt_.on_step) opt_.on_step(stats_);
    return true;
  }

 private:
  struct slot {
    std::size_t id = 0;
    request req;
    std::vector<std::int32_t> pending;  // tokens to feed (the prompt, then each sampled token)
    std::vector<std::int32_t> history;  // tokens fed so far (the sampler's repetition window)
    std::unique_ptr<sampler> samp;
    model::sequence seq;
    std::string emitted;  // text already streamed
    std::unique_ptr<drafter> draft_src;             // speculative decoding: this request's drafts
    std::vector<std::int32_t> drafts, feed, context;  // this step's drafts; what it feeds; scratch
  };

  // Proposals for the decoding requests of the batch (speculative decoding), at most k and no more
  // than the request may still generate after the token the target adds.
  void draft(std::vector<slot*> const& batch) {
    if (!opt_.speculate.enabled()) return;
    auto const t0 = std::chrono::steady_clock::now();
    for (slot* s : batch) {
      s->drafts.clear();
      if (!s->draft_src || !decoding(*s)) continue;
      index_t const left = s->req.max_tokens - static_cast<index_t>(results_[s->id].tokens.size()) - 1;
      if (left <= 0) continue;
      s->context.assign(s->history.begin(), s->history.end());
      s->context.insert(s->context.end(), s->pending.begin(), s->pending.end());
      s->draft_src->propose(s->context, std::min(opt_.speculate.k, left), s->drafts);
      stats_.drafted += static_cast<index_t>(s->drafts.size());
    }
    stats_.draft_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }

  // The target's verdict on a request's drafts (rows: its logits after the fed token and after each
  // draft): the accepted drafts and the token after them become the request's tokens, and its cache
  // keeps exactly the tokens fed and accepted.
  void settle_drafts(slot& s, matrix_view<float> rows) {
    s.context.assign(s.history.begin(), s.history.end());
    s.context.push_back(s.feed.front());
    verdict const v = verify(*s.samp, rows, s.context, s.drafts);
    stats_.accepted += v.accepted;
    s.history.push_back(s.feed.front());
    s.pending.clear();
    auto running = [&] { return results_[s.id].reason == finish_reason::running; };
    for (index_t j = 0; j < v.accepted && running(); ++j) {
      ++stats_.generated_tokens;
      accept(s, s.drafts[static_cast<std::size_t>(j)]);
      if (!running()) break;
      s.pending.pop_back();  // fed already: it is in the cache
      s.history.push_back(s.drafts[static_cast<std::size_t>(j)]);
    }
    if (running()) {
      ++stats_.generated_tokens;
      accept(s, v.next);
    }
    if (running()) lm_.truncate(s.seq, static_cast<index_t>(s.history.size()));  // the rejected drafts go
    s.drafts.clear();
  }

  static bool decoding(slot const& s) { return s.pending.size() == 1 && s.seq.length() > 0; }

  std::size_t chunk(slot const& s) const {
    return std::min<std::size_t>(s.pending.size(), static_cast<std::size_t>(opt_.prefill_chunk));
  }

  // Decodes first (one token each), then prefill chunks while the token budget lasts.
  std::vector<slot*> plan() {
    std::vector<slot*> batch;
    index_t budget = opt_.step_tokens;
    for (auto& s : running_)
      if (decoding(*s)) batch.push_back(s.get()), --budget;
    for (auto& s : running_) {
      if (decoding(*s)) continue;
      index_t const n = static_cast<index_t>(chunk(*s));
      if (n > budget && !batch.empty()) break;
      batch.push_back(s.get());
      budget -= n;
    }
    return batch;
  }

  index_t blocks_needed(std::vector<slot*> const& batch) const {
    index_t const bs = lm_.cache_block_size();
    index_t need = 0;
    for (slot* s : batch) {
      index_t const len = s->seq.length(), n = static_cast<index_t>(chunk(*s) + s->drafts.size());
      need += (len + n + bs - 1) / bs - (len + bs - 1) / bs;
    }
    return need;
  }

  // The newest running request gives its blocks back and waits for recomputation.
  void preempt() {
    auto s = std::move(running_.back());
    running_.pop_back();
    lm_.release(s->seq);
    s->drafts.clear();
    std::vector<std::int32_t> all = s->history;
    all.insert(all.end(), s->pending.begin(), s->pending.end());
    s->pending = std::move(all);
    s->history.clear();
    ++results_[s->id].preemptions;
    ++stats_.preemptions;
    waiting_.push_front(std::move(s));
  }

  void fail(slot& s, std::string why) {
    auto& r = results_[s.id];
    r.reason = finish_reason::error;
    r.error = std::move(why);
    lm_.release(s.seq);
  }

  void accept(slot& s, std::int32_t next) {
    result& r = results_[s.id];
    if (s.req.stop_at_eos && next == eos_) {
      r.reason = finish_reason::eos;
    } else {
      r.tokens.push_back(next);
      r.text += piece_(next);
      s.pending.push_back(next);
      for (auto const& stop : s.req.stop)
        if (auto at = r.text.find(stop, s.emitted.size() > stop.size() ? s.emitted.size() - stop.size() : 0);
            !stop.empty() && at != std::string::npos) {
          r.text.resize(at);
          r.reason = finish_reason::stop;
          break;
        }
      if (r.reason == finish_reason::running && static_cast<index_t>(r.tokens.size()) >= s.req.max_tokens)
        r.reason = finish_reason::length;
    }
    stream(s, r.reason != finish_reason::running);
  }

  // Streams what is final: complete UTF-8 characters that cannot turn into a stop string.
  void stream(slot& s, bool done) {
    if (!s.req.on_text) return;
    std::string const& text = results_[s.id].text;
    std::size_t end = text.size();
    if (!done) {
      std::size_t hold = 0;
      for (auto const& stop : s.req.stop)
        for (std::size_t k = std::min(stop.size() - (stop.empty() ? 0 : 1), text.size()); k > hold; --k)
          if (text.compare(text.size() - k, k, stop, 0, k) == 0) {
            hold = k;
            break;
          }
      end -= hold;
      std::size_t i = end;  // back off over an incomplete multi-byte character
      for (int back = 0; back < 3 && i > 0 && (static_cast<std::uint8_t>(text[i - 1]) & 0xC0) == 0x80; ++back) --i;
      if (i > 0 && static_cast<std::uint8_t>(text[i - 1]) >= 0xC0) {
        auto const lead = static_cast<std::uint8_t>(text[i - 1]);
        std::size_t const need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
        if (end - (i - 1) < need) end = i - 1;
      }
    }
    if (end > s.emitted.size()) {
      s.req.on_text(std::string_view(text).substr(s.emitted.size(), end - s.emitted.size()));
      s.emitted.assign(text, 0, end);
    }
  }

  model::language_model& lm_;
  std::function<std::string(std::int32_t)> piece_;
  scheduler_options opt_;
  std::int32_t eos_;
  std::deque<std::unique_ptr<slot>> waiting_;
  std::vector<std::unique_ptr<slot>> running_;
  std::vector<result> results_;
  std::vector<float> logits_;
  std::vector<sample_request> requests_;  // a sampling_model's step: what each step asks for
  std::vector<std::int32_t> picked_;      // and the tokens it picked
  scheduler_stats stats_;
};

}  // namespace generate
SWITCHYARD_NAMESPACE_END
