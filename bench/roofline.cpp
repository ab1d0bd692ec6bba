// The machine's limits that every benchmark is quoted against: read bandwidth and f32 FMA peak,
// on one thread and on all of them, with the instruction set in use.
#include <cstdio>

#include "bench_util.hpp"
#include "switchyard/core/cpu_features.hpp"

int main() {
  namespace sy = switchyard;
  std::printf("cpu: %s; kernels built for %s\n", sy::detect_cpu_features().describe().c_str(), sy::simd::native::name);
  int const all = sy::thread_pool::default_size();
  for (int threads : {1, all}) {
    sy::thread_pool pool(threads);
    double const bw = bench::read_bandwidth(pool);
    double const peak = bench::fma_peak(pool), bf16_peak = bench::bf16_dot_peak(pool);
    std::printf("threads %2d: read bandwidth %7.2f GB/s, f32 FMA peak %8.2f GFLOP/s, bf16 dot (vdpbf16ps) peak %8.2f GFLOP/s%s\n",
                threads, bw / 1e9, peak / 1e9, bf16_peak / 1e9, bf16_peak > 0 ? "" : " (not compiled in)");
    if (threads == all) break;
  }
}
