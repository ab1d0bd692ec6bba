#pragma once
// The server's engine: one thread that owns the model and the continuous-batching scheduler and
// steps it, so that every request in flight shares each forward (examples/server.cpp). HTTP handler
// threads hand it jobs and wait on, or stream from, each job's own channel.
//
// What the scheduler does not offer, and how this works around it:
// - no cancellation: a job whose client went away is marked abandoned and runs to its end (its
//   text goes nowhere);
// - results are kept for the scheduler's lifetime: the engine starts a new scheduler whenever the
//   current one is idle, so memory does not grow with the number of requests served;
// - one EOS for all requests (set_eos): the server sets the chat template's EOS where it names one;
// - an exception out of step() (none is expected: a request that cannot fit fails on its own)
//   leaves the KV blocks of the running requests allocated: every job in flight fails with a 500,
//   a new scheduler starts, and the model is loaded again if blocks were lost.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <switchyard/generate/scheduler.hpp>
#include <switchyard/generate/tokenizer.hpp>
#include <switchyard/model/load.hpp>

namespace switchyard_server {

namespace gen = switchyard::generate;
namespace md = switchyard::model;

// One request, from the handler that made it to the engine and back.
struct job {
  // Set by the handler before submit.
  std::vector<std::int32_t> prompt;
  gen::sampling_params sampling;
  long max_tokens = 16;
  std::vector<std::string> stop;
  bool stop_at_eos = true;
  bool stream = false;

  // The channel (guarded by mu).
  std::mutex mu;
  std::condition_variable cv;
  std::string fresh;  // streamed text the handler has not taken yet
  bool done = false;
  gen::finish_reason reason = gen::finish_reason::running;
  std::string text, error;  // the whole text and, for finish_reason::error, why
  long completion_tokens = 0;
  std::atomic<bool> abandoned{false};  // the client went away (nothing reads the channel)

  // Handler side, streaming: waits up to `wait` for text or the end; moves what came into `out`.
  // Returns true once the job is done and everything it streamed has been taken.
  bool take(std::string& out, std::chrono::milliseconds wait) {
    std::unique_lock lk(mu);
    cv.wait_for(lk, wait, [&] { return !fresh.empty() || done; });
    out.append(fresh);
    fresh.clear();
    return done;
  }
  void wait_done() {
    std::unique_lock lk(mu);
    cv.wait(lk, [&] { return done; });
  }
};

struct engine_options {
  long max_running = 64;  // requests decoding / prefilling together
  long max_queue = 64;    // requests admitted beyond those (waiting); more get 503
  long prefill_chunk = 256;
  long step_tokens = 1024;
  std::int32_t eos = -1;  // -1: the tokenizer's
  switchyard::thread_pool* pool = nullptr;
};

struct engine_stats {
  long running = 0, waiting = 0, in_flight = 0;
  long completed = 0, failed = 0, steps = 0, prompt_tokens = 0, generated_tokens = 0;
  double busy_seconds = 0;
};

class engine {
 public:
  using loader = std::function<std::unique_ptr<md::language_model>()>;

  // `lm` is the loaded model; `load` loads it again should the engine have to start afresh.
  engine(std::unique_ptr<md::language_model> lm, loader load, gen::tokenizer const& tok, engine_options o)
      : load_(std::move(load)), lm_(std::move(lm)), tok_(tok), opt_(o), total_blocks_(static_cast<long>(lm_->free_blocks())) {
    thread_ = std::thread([this] { loop(); });
  }
  ~engine() { stop(); }
  engine(engine const&) = delete;
  engine& operator=(engine const&) = delete;

  enum class admission { accepted, queue_full, stopping };
  admission submit(std::shared_ptr<job> j) {
    {
      std::lock_guard lk(mu_);
      if (stopping_) return admission::stopping;
      if (in_flight_ >= opt_.max_running + opt_.max_queue) return admission::queue_full;
      ++in_flight_;
      inbox_.push_back(std::move(j));
    }
    cv_.notify_one();
    return admission::accepted;
  }

  engine_stats stats() const {
    std::lock_guard lk(mu_);
    engine_stats s = totals_;
    s.in_flight = in_flight_;
    return s;
  }

  // Ends the thread at once: jobs still in flight (only abandoned ones once the HTTP side has
  // drained) are dropped with the process.
  void stop() {
    {
      std::lock_guard lk(mu_);
      if (stopping_ && !thread_.joinable()) return;
      stopping_ = true;
    }
    cv_.notify_one();
    if (thread_.joinable()) thread_.join();
  }

 private:
  loader load_;
  std::unique_ptr<md::language_model> lm_;
  gen::tokenizer const& tok_;
  engine_options opt_;
  long total_blocks_;
  std::thread thread_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::shared_ptr<job>> inbox_;
  long in_flight_ = 0;
  bool stopping_ = false;
  engine_stats totals_;

  std::unique_ptr<gen::scheduler> make_scheduler() {
    auto s = std::make_unique<gen::scheduler>(*lm_, tok_,
                                              gen::scheduler_options{.max_running = opt_.max_running,
                                                                     .prefill_chunk = opt_.prefill_chunk,
                                                                     .step_tokens = opt_.step_tokens,
                                                                     .pool = opt_.pool});
    if (opt_.eos >= 0) s->set_eos(opt_.eos);
    return s;
  }

  void finish(job& j, gen::result const& r) {
    {
      std::lock_guard lk(j.mu);
      j.reason = r.reason;
      j.text = r.text;
      j.error = r.error;
      j.completion_tokens = static_cast<long>(r.tokens.size());
      j.done = true;
    }
    j.cv.notify_all();
    std::lock_guard lk(mu_);
    --in_flight_;
    ++(r.reason == gen::finish_reason::error ? totals_.failed : totals_.completed);
  }

  void fail(job& j, std::string why) {
    gen::result r;
    r.reason = gen::finish_reason::error;
    r.error = std::move(why);
    finish(j, r);
  }

  void loop() {
    auto sched = make_scheduler();
    gen::scheduler_stats base{};  // the current scheduler's stats already counted in totals_
    std::map<std::size_t, std::shared_ptr<job>> active;  // scheduler id -> job
    auto account = [&] {
      auto const& s = sched->stats();
      std::lock_guard lk(mu_);
      totals_.steps += s.steps - base.steps;
      totals_.prompt_tokens += s.prompt_tokens - base.prompt_tokens;
      totals_.generated_tokens += s.generated_tokens - base.generated_tokens;
      totals_.busy_seconds += s.seconds - base.seconds;
      totals_.running = s.running;
      totals_.waiting = s.waiting;
      base = s;
    };
    for (;;) {
      std::vector<std::shared_ptr<job>> incoming;
      {
        std::unique_lock lk(mu_);
        cv_.wait(lk, [&] { return stopping_ || !inbox_.empty() || !active.empty(); });
        if (stopping_) break;
        incoming.swap(inbox_);
      }
      if (active.empty() && !sched->results().empty()) {  // idle: drop the finished results
        account();
        sched = make_scheduler();
        base = {};
      }
      for (auto& j : incoming) {
        try {
          gen::request r{.prompt = j->prompt, .sampling = j->sampling, .max_tokens = j->max_tokens, .stop = j->stop,
                         .stop_at_eos = j->stop_at_eos};
          if (j->stream)
            r.on_text = [jp = j.get()](std::string_view s) {
              {
                std::lock_guard lk(jp->mu);
                jp->fresh.append(s);
              }
              jp->cv.notify_all();
            };
          std::size_t const id = sched->submit(std::move(r));
          if (sched->results()[id].reason != gen::finish_reason::running)
            finish(*j, sched->results()[id]);  // max_tokens 0
          else
            active.emplace(id, j);
        } catch (std::exception const& e) {
          fail(*j, e.what());
        }
      }
      if (active.empty()) continue;
      try {
        sched->step();
      } catch (std::exception const& e) {
        recover(e.what(), active);
        sched = make_scheduler();
        base = {};
        continue;
      }
      account();
      for (auto it = active.begin(); it != active.end();) {
        auto const& r = sched->results()[it->first];
        if (r.reason == gen::finish_reason::running) {
          ++it;
          continue;
        }
        finish(*it->second, r);
        it = active.erase(it);
      }
    }
  }

  void recover(std::string const& what, std::map<std::size_t, std::shared_ptr<job>>& active) {
    std::fprintf(stderr, "server: the engine failed a step (%s); failing the %zu requests in it\n", what.c_str(),
                 active.size());
    for (auto& [id, j] : active) fail(*j, "the engine failed: " + what);
    active.clear();
    if (static_cast<long>(lm_->free_blocks()) < total_blocks_) {  // their KV blocks cannot be given back: start afresh
      std::fprintf(stderr, "server: reloading the model (%ld of %ld KV blocks were held)\n",
                   total_blocks_ - static_cast<long>(lm_->free_blocks()), total_blocks_);
      try {
        lm_ = load_();
      } catch (std::exception const& e) {
        std::fprintf(stderr, "server: reloading failed (%s); continuing with the blocks left\n", e.what());
      }
    }
  }
};

}  // namespace switchyard_server
