// The persistent pool: every index covered exactly once, for many range and grain shapes,
// repeated calls (lost wake-ups would hang here), nesting, exceptions, concurrent callers.
#include <catch2/catch.hpp>

#include <atomic>
#include <stdexcept>
#include <thread>
#include <vector>

#include "switchyard/core/thread_pool.hpp"

namespace sy = switchyard;

TEST_CASE("parallel_for covers each index exactly once", "[thread_pool]") {
  for (int threads : {1, 2, 3, 8}) {
    sy::thread_pool pool(threads);
    CHECK(pool.size() == threads);
    for (sy::index_t n : {0, 1, 7, 17, 65, 987, 10000}) {
      for (sy::index_t grain : {1, 3, 64, 100000}) {
        std::vector<std::atomic<int>> hits(static_cast<std::size_t>(n) + 10);
        pool.parallel_for(5, 5 + n, grain, [&](sy::index_t lo, sy::index_t hi) {
          REQUIRE(lo < hi);
          for (sy::index_t i = lo; i < hi; ++i) hits[static_cast<std::size_t>(i)].fetch_add(1);
        });
        for (sy::index_t i = 0; i < n + 10; ++i)
          REQUIRE(hits[static_cast<std::size_t>(i)].load() == (i >= 5 && i < 5 + n ? 1 : 0));
      }
    }
  }
}

TEST_CASE("many back-to-back calls complete (no lost wake-up)", "[thread_pool]") {
  sy::thread_pool pool(4);
  std::atomic<long> sum{0};
  for (int call = 0; call < 5000; ++call)
    pool.parallel_for(0, 64, 1, [&](sy::index_t lo, sy::index_t hi) { sum.fetch_add(hi - lo); });
  CHECK(sum.load() == 5000L * 64);
}

TEST_CASE("pools are created and destroyed repeatedly", "[thread_pool]") {
  for (int i = 0; i < 200; ++i) {
    sy::thread_pool pool(3);
    if (i % 2) pool.parallel_for(0, 100, 1, [](sy::index_t, sy::index_t) {});
  }
  SUCCEED();
}

TEST_CASE("a parallel_for inside a task runs inline", "[thread_pool]") {
  sy::thread_pool pool(4);
  std::atomic<int> inner{0};
  pool.parallel_for(0, 16, 1, [&](sy::index_t lo, sy::index_t hi) {
    for (sy::index_t i = lo; i < hi; ++i)
      pool.parallel_for(0, 10, 1, [&](sy::index_t a, sy::index_t b) { inner.fetch_add(static_cast<int>(b - a)); });
  });
  CHECK(inner.load() == 160);
}

TEST_CASE("an exception in a task reaches the caller, and the pool still works", "[thread_pool]") {
  sy::thread_pool pool(4);
  CHECK_THROWS_WITH(pool.parallel_for(0, 1000, 1,
                                      [](sy::index_t lo, sy::index_t hi) {
                                        if (lo <= 500 && 500 < hi) throw std::runtime_error("task 500 failed");
                                      }),
                    "task 500 failed");
  std::atomic<int> n{0};
  pool.parallel_for(0, 100, 1, [&](sy::index_t lo, sy::index_t hi) { n.fetch_add(static_cast<int>(hi - lo)); });
  CHECK(n.load() == 100);
}

TEST_CASE("concurrent callers are serialized, not mixed", "[thread_pool]") {
  sy::thread_pool pool(3);
  std::atomic<long> total{0};
  std::vector<std::thread> callers;
  for (int c = 0; c < 4; ++c)
    callers.emplace_back([&] {
      for (int k = 0; k < 200; ++k)
        pool.parallel_for(0, 100, 7, [&](sy::index_t lo, sy::index_t hi) { total.fetch_add(hi - lo); });
    });
  for (auto& t : callers) t.join();
  CHECK(total.load() == 4L * 200 * 100);
}

TEST_CASE("bad sizes are refused", "[thread_pool]") {
  CHECK_THROWS_AS(sy::thread_pool(0), sy::invalid_argument);
  sy::thread_pool pool(2);
  CHECK_THROWS_WITH(pool.parallel_for(0, 10, 0, [](sy::index_t, sy::index_t) {}), Catch::Contains("grain must be >= 1"));
}
