// Dispatch overhead of thread_pool::parallel_for: wall time of a call whose tasks do nothing,
// against calling the lambda directly. This is the floor under every threaded kernel.
#include <atomic>
#include <cstdio>

#include "bench_util.hpp"

int main() {
  namespace sy = switchyard;
  int const all = sy::thread_pool::default_size();
  for (int threads : {1, 2, all}) {
    sy::thread_pool pool(threads);
    std::atomic<long> n{0};
    constexpr int calls = 20000;
    auto const s = bench::time_it(9, [&] {
      for (int i = 0; i < calls; ++i)
        pool.parallel_for(0, 64, 1, [&](sy::index_t lo, sy::index_t hi) { n.fetch_add(hi - lo, std::memory_order_relaxed); });
    });
    std::printf("threads %2d: parallel_for over 64 empty items: median %.2f us/call (min %.2f, max %.2f)\n", threads,
                s.median / calls * 1e6, s.min / calls * 1e6, s.max / calls * 1e6);
    if (threads == all) break;
  }
}
