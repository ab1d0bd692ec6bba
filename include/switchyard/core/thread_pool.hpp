#pragma once
// A persistent thread pool for the host backend: threads are made once, then each
// parallel_for wakes them, splits an index range into chunks that threads claim with one atomic
// add each, and returns when every chunk is done. The calling thread works too, so a pool of
// size N runs N-1 extra threads.
//
// Why not std::async / OpenMP: a decode step calls a few hundred small kernels; creating
// threads per call, or an OpenMP runtime the user's engine may also use, costs more than the
// work. Waking is an atomic epoch bump; idle workers spin on it briefly, because kernels in a
// decode step follow each other closely, then sleep on a condition variable. (C++20
// atomic::wait was tried first: libstdc++ 12 lost a wake-up in the destructor, so waits here use
// a mutex and condition variable, which cost nothing while the threads are spinning.)
//
//   thread_pool pool(4);
//   pool.parallel_for(0, rows, 16, [&](index_t lo, index_t hi) { ... rows [lo, hi) ... });
//
// Calls from several user threads are serialized. A parallel_for issued from inside a task runs
// inline on the calling worker (no deadlock, no oversubscription). An exception thrown by a task
// is rethrown by parallel_for after the other chunks finish.
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

#include "switchyard/core/check.hpp"
#include "switchyard/core/error.hpp"
#include "switchyard/core/simd/simd.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define SWITCHYARD_SPIN_PAUSE() _mm_pause()
#elif defined(__aarch64__)
#define SWITCHYARD_SPIN_PAUSE() __asm__ volatile("yield")
#else
#define SWITCHYARD_SPIN_PAUSE() ((void)0)
#endif

SWITCHYARD_NAMESPACE_BEGIN

class thread_pool {
 public:
  // Threads to use by default: SWITCHYARD_NUM_THREADS if set (1..1024), else the hardware's.
  static int default_size() {
    if (char const* env = std::getenv("SWITCHYARD_NUM_THREADS")) {
      char* end = nullptr;
      long const n = std::strtol(env, &end, 10);
      require(end != env && *end == '\0' && n >= 1 && n <= 1024, "thread_pool",
              "SWITCHYARD_NUM_THREADS must be an integer in [1, 1024], got '", env, "'");
      return static_cast<int>(n);
    }
    unsigned const hw = std::thread::hardware_concurrency();
    return hw == 0 ? 1 : static_cast<int>(std::min(hw, 1024u));
  }

  // A pool shared by calls that are not given one; made on first use.
  static thread_pool& shared() {
    static thread_pool pool(default_size());
    return pool;
  }

  explicit thread_pool(int threads = default_size()) {
    require(threads >= 1 && threads <= 1024, "thread_pool", "size must be in [1, 1024], got ", threads);
    simd::ensure_native_supported();  // every host kernel runs through a pool: check the ISA once here
    workers_.reserve(static_cast<std::size_t>(threads - 1));
    for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { worker_loop(); });
  }

  thread_pool(thread_pool const&) = delete;
  thread_pool& operator=(thread_pool const&) = delete;

  ~thread_pool() {
    stop_.store(true, std::memory_order_relaxed);
    publish_epoch();
    for (auto& t : workers_) t.join();
  }

  // Threads that run tasks, the caller included.
  int size() const noexcept { return static_cast<int>(workers_.size()) + 1; }

  // Calls f(lo, hi) over disjoint chunks covering [begin, end), each at least `grain` long
  // (except the last), possibly in parallel. Chunks are sized so that each thread gets several,
  // which balances uneven work without a chunk per index.
  template <class F>
    requires std::is_invocable_v<F&, index_t, index_t>
  void parallel_for(index_t begin, index_t end, index_t grain, F&& f) {
    require(grain >= 1, "thread_pool::parallel_for", "grain must be >= 1, got ", grain);
    if (end <= begin) return;
    index_t const n = end - begin;
    if (workers_.empty() || n <= grain || in_task_) {
      f(begin, end);
      return;
    }
    index_t const chunks_wanted = static_cast<index_t>(size()) * 4;
    index_t const chunk = std::max(grain, (n + chunks_wanted - 1) / chunks_wanted);

    std::lock_guard<std::mutex> lock(call_mutex_);
    using Fn = std::remove_reference_t<F>;
    job_.run = [](void* ctx, index_t lo, index_t hi) { (*static_cast<Fn*>(ctx))(lo, hi); };
    job_.ctx = const_cast<void*>(static_cast<void const*>(&f));
    job_.end = end;
    job_.chunk = chunk;
    job_.next.store(begin, std::memory_order_relaxed);
    job_.error = nullptr;
    pending_.store(static_cast<int>(workers_.size()), std::memory_order_relaxed);
    publish_epoch();

    run_chunks();

    // Wait for the workers to leave this job (they may still hold a chunk).
    for (int spin = 0; pending_.load(std::memory_order_acquire) != 0; ++spin) {
      if (spin < spin_limit) {
        SWITCHYARD_SPIN_PAUSE();
      } else {
        std::unique_lock<std::mutex> l(sleep_mutex_);
        done_cv_.wait(l, [&] { return pending_.load(std::memory_order_acquire) == 0; });
      }
    }
    if (job_.error) std::rethrow_exception(job_.error);
  }

 private:
  struct job {
    void (*run)(void*, index_t, index_t) = nullptr;
    void* ctx = nullptr;
    index_t end = 0;
    index_t chunk = 1;
    std::atomic<index_t> next{0};
    std::exception_ptr error;
    std::mutex error_mutex;
  };

  // ~tens of microseconds of pause before sleeping: long enough to catch the next kernel of a
  // decode step, short enough not to burn a core when the caller goes quiet.
  static constexpr int spin_limit = 4000;

  // Bumps the epoch under the sleep mutex, so a worker between its last check and its wait
  // cannot miss it, then wakes sleepers.
  void publish_epoch() {
    {
      std::lock_guard<std::mutex> l(sleep_mutex_);
      epoch_.fetch_add(1, std::memory_order_release);
    }
    wake_cv_.notify_all();
  }

  void run_chunks() {
    in_task_ = true;
    for (;;) {
      index_t const lo = job_.next.fetch_add(job_.chunk, std::memory_order_relaxed);
      if (lo >= job_.end) break;
      index_t const hi = std::min(lo + job_.chunk, job_.end);
      try {
        job_.run(job_.ctx, lo, hi);
      } catch (...) {
        std::lock_guard<std::mutex> g(job_.error_mutex);
        if (!job_.error) job_.error = std::current_exception();
        job_.next.store(job_.end, std::memory_order_relaxed);  // stop handing out chunks
      }
    }
    in_task_ = false;
  }

  void worker_loop() {
    // Epoch 0 is the pool's birth, not what the epoch holds when this thread first runs: a
    // thread scheduled late must still see the jobs (or the stop) published before it started.
    std::uint32_t seen = 0;
    for (;;) {
      std::uint32_t now = seen;
      for (int spin = 0; (now = epoch_.load(std::memory_order_acquire)) == seen; ++spin) {
        if (spin < spin_limit) {
          SWITCHYARD_SPIN_PAUSE();
        } else {
          std::unique_lock<std::mutex> l(sleep_mutex_);
          wake_cv_.wait(l, [&] { return epoch_.load(std::memory_order_acquire) != seen; });
        }
      }
      seen = now;
      if (stop_.load(std::memory_order_relaxed)) return;
      run_chunks();
      if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        std::lock_guard<std::mutex> l(sleep_mutex_);  // pairs with the caller's predicate check
        done_cv_.notify_one();
      }
    }
  }

  static inline thread_local bool in_task_ = false;

  std::vector<std::thread> workers_;
  std::mutex call_mutex_;
  std::mutex sleep_mutex_;
  std::condition_variable wake_cv_;
  std::condition_variable done_cv_;
  job job_;
  std::atomic<std::uint32_t> epoch_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stop_{false};
};

SWITCHYARD_NAMESPACE_END
