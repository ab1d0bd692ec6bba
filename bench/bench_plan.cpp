// The dispatch plan on the host: counting sort (dispatch_plan::build) against the Thrust
// formulation (route/dispatch_plan_thrust.hpp, CPP system), alternating, medians.
#include <cstdio>
#include <random>
#include <vector>

#include "bench_util.hpp"
#include "switchyard/route/dispatch_plan_thrust.hpp"

int main() {
  namespace sy = switchyard;
  std::mt19937 g(5);
  int const E = 128, K = 8;
  std::printf("dispatch plan, E = %d, k = %d (Qwen3-30B-A3B routing), medians of 5 rounds x 200 calls\n", E, K);
  for (sy::index_t T : {1, 16, 128, 512, 4096}) {
    std::vector<std::int32_t> ids(static_cast<std::size_t>(T * K));
    std::uniform_int_distribution<int> d(0, E - 1);
    for (auto& v : ids) v = d(g);
    auto const view = sy::make_view<std::int32_t const>(ids.data(), T, K);
    sy::route::dispatch_plan p;
    std::vector<double> counting, thrust_t;
    for (int round = 0; round < 5; ++round) {
      counting.push_back(bench::time_it(3, [&] { for (int i = 0; i < 200; ++i) p.build(view, E); }).median / 200);
      thrust_t.push_back(bench::time_it(3, [&] { for (int i = 0; i < 200; ++i) sy::route::build_plan_thrust(thrust::host, p, view, E); }).median / 200);
    }
    std::sort(counting.begin(), counting.end());
    std::sort(thrust_t.begin(), thrust_t.end());
    std::printf("T = %5ld: counting sort %9.2f us (%.2f-%.2f), thrust (cpp) %9.2f us (%.2f-%.2f), thrust / counting %.2fx\n",
                long(T), counting[2] * 1e6, counting[0] * 1e6, counting[4] * 1e6, thrust_t[2] * 1e6, thrust_t[0] * 1e6,
                thrust_t[4] * 1e6, thrust_t[2] / counting[2]);
  }
}
