// linear<W> on the host: decode GEMV quoted as weight GB/s against the measured read bandwidth,
// prefill GEMM as GFLOP/s against the measured FMA peak, both measured in this same run.
//
//   bench_linear                       the built-in table (f32 and bf16 weights)
//   bench_linear --decode [threads]    T = 1 on the peers' Mixtral-like shapes, f32 / bf16 / f16
//   bench_linear --raw X W T K N FMT   time one shape on inputs from raw files (used by
//                                      bench/peer_linear.py to run PyTorch on the same data);
//                                      prints "median_s min_s max_s checksum"
#include <cmath>
#include <cstdio>
#include <cstring>
#include <algorithm>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "bench_util.hpp"
#include "switchyard/core/cpu_features.hpp"
#include "switchyard/linear/linear.hpp"

namespace sy = switchyard;

namespace {

template <class W>
bench::stats run(sy::buffer<float> const& x, sy::buffer<W> const& w, sy::buffer<float>& y, sy::index_t T, sy::index_t K,
                 sy::index_t N, sy::thread_pool& pool, int reps) {
  sy::linear<W> layer(w.view(N, K));
  return bench::time_it(reps, [&] { layer(x.view(T, K), y.view(T, N), pool); });
}

// Decode reads weights that are not in cache (a model's layers and experts far exceed L3), so
// the table cycles through enough weight copies (>= 256 MiB, 8x this machine's L3) that every
// call streams its weights from memory, as the bandwidth probe does.
template <class W>
void table_row(char const* fmt, sy::index_t T, sy::index_t K, sy::index_t N, sy::thread_pool& pool, double bw, double peak) {
  std::mt19937 g(7);
  std::normal_distribution<float> d(0.0f, 1.0f);
  sy::buffer<float> x(static_cast<std::size_t>(T * K)), y(static_cast<std::size_t>(T * N));
  std::size_t const weight_bytes = static_cast<std::size_t>(N * K) * sizeof(W);
  std::size_t const copies = std::max<std::size_t>(1, (std::size_t{256} << 20) / weight_bytes);
  std::vector<sy::buffer<W>> ws;
  for (std::size_t c = 0; c < copies; ++c) {
    ws.emplace_back(static_cast<std::size_t>(N * K));
    for (auto& v : ws.back()) v = W(d(g) * 0.02f);
  }
  for (auto& v : x) v = d(g);
  std::vector<sy::linear<W>> layers;
  for (auto& w : ws) layers.emplace_back(w.view(N, K));
  int const reps = T <= 8 ? 40 : 7;
  std::size_t next = 0;
  auto const s = bench::time_it(reps, [&] { layers[next++ % copies](x.view(T, K), y.view(T, N), pool); });
  double const bytes = static_cast<double>(N * K) * sizeof(W) + static_cast<double>(T * (K + N)) * 4;
  double const flops = 2.0 * T * K * N;
  std::printf("%-5s T=%4ld K=%5ld N=%5ld  %8.1f us (spread %4.0f%%)  %7.2f GB/s = %5.1f%% of bw  %7.2f GFLOP/s = %5.1f%% of peak\n",
              fmt, long(T), long(K), long(N), s.median * 1e6, 100 * s.spread(), bytes / s.median / 1e9,
              100 * bytes / s.median / bw, flops / s.median / 1e9, 100 * flops / s.median / peak);
}

template <class W>
int raw_mode(char** argv) {
  sy::index_t const T = std::stol(argv[4]), K = std::stol(argv[5]), N = std::stol(argv[6]);
  sy::buffer<float> x(static_cast<std::size_t>(T * K)), y(static_cast<std::size_t>(T * N));
  sy::buffer<W> w(static_cast<std::size_t>(N * K));
  std::ifstream fx(argv[2], std::ios::binary), fw(argv[3], std::ios::binary);
  fx.read(reinterpret_cast<char*>(x.data()), static_cast<std::streamsize>(x.size() * sizeof(float)));
  fw.read(reinterpret_cast<char*>(w.data()), static_cast<std::streamsize>(w.size() * sizeof(W)));
  if (!fx || !fw) {
    std::fprintf(stderr, "bench_linear: cannot read %s and %s at the given shape\n", argv[2], argv[3]);
    return 2;
  }
  auto const s = run(x, w, y, T, K, N, sy::thread_pool::shared(), T <= 8 ? 50 : 10);
  double sum = 0;
  for (float v : y) sum += v;
  std::printf("%.9g %.9g %.9g %.9g\n", s.median, s.min, s.max, sum);
  return 0;
}

}  // namespace

// Single-row decode (T = 1) on the shapes of the peers' Mixtral-like model (bench/peers):
// attention q/o 1024 x 1024, an expert's gate+up 1024 -> 5632 and down 2816 -> 1024, plus 4096.
int decode_shapes(int threads) {
  sy::thread_pool pool(threads);
  double const bw = bench::read_bandwidth(pool), peak = bench::fma_peak(pool);
  std::printf("decode shapes, %d thread(s): read bandwidth %.2f GB/s\n", threads, bw / 1e9);
  for (auto [K, N] : {std::pair<sy::index_t, sy::index_t>{1024, 1024}, {1024, 5632}, {2816, 1024}, {4096, 4096}}) {
    table_row<float>("f32", 1, K, N, pool, bw, peak);
    table_row<sy::format::bf16>("bf16", 1, K, N, pool, bw, peak);
    table_row<sy::format::f16>("f16", 1, K, N, pool, bw, peak);
  }
  return 0;
}

int main(int argc, char** argv) {
  if (argc >= 2 && std::strcmp(argv[1], "--decode") == 0) return decode_shapes(argc >= 3 ? std::atoi(argv[2]) : 1);
  if (argc == 8 && std::strcmp(argv[1], "--raw") == 0) {
    if (std::strcmp(argv[7], "bf16") == 0) return raw_mode<sy::format::bf16>(argv);
    return raw_mode<float>(argv);
  }
  sy::thread_pool& pool = sy::thread_pool::shared();
  double const bw = bench::read_bandwidth(pool), peak = bench::fma_peak(pool);
  std::printf("cpu: %s; kernels: %s; threads: %d\n", sy::detect_cpu_features().describe().c_str(), sy::simd::native::name,
              pool.size());
  std::printf("measured: read bandwidth %.2f GB/s, f32 FMA peak %.2f GFLOP/s\n\n", bw / 1e9, peak / 1e9);
  for (sy::index_t T : {1, 4, 8}) {
    table_row<float>("f32", T, 4096, 4096, pool, bw, peak);
    table_row<sy::format::bf16>("bf16", T, 4096, 4096, pool, bw, peak);
  }
  for (sy::index_t T : {64, 256}) {
    table_row<float>("f32", T, 2048, 2048, pool, bw, peak);
    table_row<sy::format::bf16>("bf16", T, 2048, 2048, pool, bw, peak);
  }
}
