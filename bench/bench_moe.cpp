// The MoE layer on the host at real model shapes, bf16 expert weights:
//   mixtral   H 4096, F 14336, E 8,   k 2
//   qwen3     H 2048, F 768,   E 128, k 8
//   deepseek  H 2048, F 1024,  E 64 + 1 shared, k 6, 8 groups (4 kept)
// Decode (small T) is quoted as expert-weight bytes actually read (experts that got tokens)
// against the read bandwidth; prefill as GFLOP/s against the FMA peak; both limits measured in
// this run.
//
//   bench_moe [--bf16] [family] [T...]            the table (all families, T in {1, 16, 128, 512});
//                                                 --bf16: activations rounded to bf16 (vdpbf16ps)
//   bench_moe --raw DIR family T [bf16]           run on inputs written by bench/peer_moe.py;
//                                                 prints "median_s min_s max_s checksum"
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "bench_util.hpp"
#include "switchyard/core/cpu_features.hpp"
#include "switchyard/expert/moe.hpp"
#include "switchyard/route/families.hpp"

namespace sy = switchyard;
using sy::index_t;
using bf16 = sy::format::bf16;

namespace {

sy::activations g_activations = sy::activations::f32;
// SWITCHYARD_SUMMATION=fastest in the environment: the experts' linears may take kernels whose
// summation order depends on the row count (sy::summation::fastest; bf16 activations: the
// outer-product GEMM). Default: batch-invariant, the MoE layer's deterministic mode.
sy::summation g_summation = sy::summation::batch_invariant;

struct shape {
  char const* name;
  index_t H, F, E, K, shared_F;
};
constexpr shape shapes[] = {{"mixtral", 4096, 14336, 8, 2, 0}, {"qwen3", 2048, 768, 128, 8, 0}, {"deepseek", 2048, 1024, 64, 6, 1024}};

// Weights and inputs of one family, filled in parallel with a cheap generator (a few GB).
struct model {
  shape s;
  sy::buffer<float> gate, bias;
  sy::buffer<bf16> gate_up, down, shared_gate_up, shared_down;
  explicit model(shape sh)
      : s(sh), gate(sh.E * sh.H), bias(sh.E), gate_up(sh.E * 2 * sh.F * sh.H), down(sh.E * sh.H * sh.F),
        shared_gate_up(2 * sh.shared_F * sh.H), shared_down(sh.H * sh.shared_F) {}
};

template <class T>
bool read_raw(std::string const& path, sy::buffer<T>& b) {
  std::ifstream f(path, std::ios::binary);
  f.read(reinterpret_cast<char*>(b.data()), static_cast<std::streamsize>(b.size() * sizeof(T)));
  return static_cast<bool>(f);
}

template <class T>
void fill_uniform(sy::buffer<T>& b, float scale, std::uint64_t seed, sy::thread_pool& pool) {
  pool.parallel_for(0, static_cast<index_t>(b.size()), 1 << 16, [&](index_t lo, index_t hi) {
    std::uint64_t z = (seed + 1) * 0x9E3779B97F4A7C15ull ^ (static_cast<std::uint64_t>(lo) + 1) * 0xBF58476D1CE4E5B9ull;
    for (index_t i = lo; i < hi; ++i) {
      z ^= z << 13, z ^= z >> 7, z ^= z << 17;
      float const u = static_cast<float>(z >> 40) * (1.0f / 16777216.0f) - 0.5f;
      b[static_cast<std::size_t>(i)] = T(u * scale);
    }
  });
}

// Runs `f(layer)` with the family's compiled router.
template <class F>
void with_layer(model const& m, F&& f) {
  using bank = sy::expert::glu_experts<bf16>;
  auto t3 = [](bf16 const* p, index_t a, index_t b, index_t c) {
    return sy::tensor_view<bf16 const, sy::dextents<3>>(p, sy::dextents<3>(a, b, c));
  };
  bank const experts(t3(m.gate_up.data(), m.s.E, 2 * m.s.F, m.s.H), t3(m.down.data(), m.s.E, m.s.H, m.s.F), {}, {},
                     g_activations, g_summation);
  auto gate = sy::make_view<float const>(m.gate.data(), m.s.E, m.s.H);
  std::string const n = m.s.name;
  if (n == "mixtral") {
    sy::expert::moe<sy::route::mixtral<2>, bank> layer(gate, experts);
    f(layer);
  } else if (n == "qwen3") {
    sy::expert::moe<sy::route::qwen_moe<8, true>, bank> layer(gate, experts);
    f(layer);
  } else {
    sy::expert::moe<sy::route::deepseek_v3<6, 8, 4, true>, bank> layer(gate, experts);
    layer.set_shared(bank(t3(m.shared_gate_up.data(), 1, 2 * m.s.shared_F, m.s.H), t3(m.shared_down.data(), 1, m.s.H, m.s.shared_F),
                          {}, {}, g_activations, g_summation));
    f(layer);
  }
}

struct result {
  bench::stats time;
  double weight_bytes, flops, checksum;
};

result run(model const& m, sy::buffer<float> const& x, index_t T, sy::thread_pool& pool, int reps) {
  sy::buffer<float> y(T * m.s.H);
  sy::expert::moe_workspace ws;
  sy::route::router_params params;
  params.scaling = m.s.shared_F ? 2.5f : 1.0f;
  params.selection_bias = sy::make_view<float const>(m.bias.data(), m.s.E);
  result r{};
  with_layer(m, [&](auto& layer) {
    sy::expert::load_stats stats;
    layer(x.view(T, m.s.H), y.view(T, m.s.H), ws, params, pool, &stats);
    index_t used = 0, slots = 0;
    for (auto c : stats.tokens_per_expert) used += c > 0, slots += c;
    double const per_expert = 3.0 * double(m.s.H) * double(m.s.F) * sizeof(bf16);
    double const shared = 3.0 * double(m.s.H) * double(m.s.shared_F) * sizeof(bf16);
    r.weight_bytes = double(used) * per_expert + shared;
    r.flops = 2.0 * 3.0 * double(m.s.H) * (double(m.s.F) * double(slots) + double(m.s.shared_F) * double(T));
    r.time = bench::time_it(reps, [&] { layer(x.view(T, m.s.H), y.view(T, m.s.H), ws, params, pool); });
  });
  for (float v : y) r.checksum += v;
  return r;
}

int raw_mode(char** argv) {
  std::string const dir = argv[2], fam = argv[3];
  index_t const T = std::stol(argv[4]);
  for (auto const& s : shapes) {
    if (fam != s.name) continue;
    model m(s);
    sy::buffer<float> x(T * s.H);
    bool ok = read_raw(dir + "/gate.bin", m.gate) && read_raw(dir + "/gate_up.bin", m.gate_up) &&
              read_raw(dir + "/down.bin", m.down) && read_raw(dir + "/x.bin", x);
    if (s.shared_F)
      ok = ok && read_raw(dir + "/bias.bin", m.bias) && read_raw(dir + "/shared_gate_up.bin", m.shared_gate_up) &&
           read_raw(dir + "/shared_down.bin", m.shared_down);
    if (!ok) {
      std::fprintf(stderr, "bench_moe: cannot read the inputs in %s\n", dir.c_str());
      return 2;
    }
    auto const r = run(m, x, T, sy::thread_pool::shared(), T <= 16 ? 7 : 3);
    std::printf("%.9g %.9g %.9g %.9g\n", r.time.median, r.time.min, r.time.max, r.checksum);
    return 0;
  }
  std::fprintf(stderr, "bench_moe: unknown family %s\n", fam.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (char const* e = std::getenv("SWITCHYARD_SUMMATION"); e && std::strcmp(e, "fastest") == 0)
    g_summation = sy::summation::fastest;
  if ((argc == 5 || argc == 6) && std::strcmp(argv[1], "--raw") == 0) {
    if (argc == 6 && std::strcmp(argv[5], "bf16") == 0) g_activations = sy::activations::bf16;
    return raw_mode(argv);
  }
  if (argc > 1 && std::strcmp(argv[1], "--bf16") == 0) {
    g_activations = sy::activations::bf16;
    --argc, ++argv;
  }
  sy::thread_pool& pool = sy::thread_pool::shared();
  std::vector<index_t> Ts = {1, 16, 128, 512};
  std::string only = argc > 1 ? argv[1] : "";
  if (argc > 2) {
    Ts.clear();
    for (int i = 2; i < argc; ++i) Ts.push_back(std::stol(argv[i]));
  }
  double const bw = bench::read_bandwidth(pool);
  // The compute limit of the path being measured: f32 FMA, or vdpbf16ps for bf16 activations.
  double const bf16_peak = g_activations == sy::activations::bf16 ? bench::bf16_dot_peak(pool) : 0.0;
  double const peak = bf16_peak > 0 ? bf16_peak : bench::fma_peak(pool);
  std::printf("cpu: %s; kernels: %s; threads: %d\n", sy::detect_cpu_features().describe().c_str(), sy::simd::native::name,
              pool.size());
  std::printf("measured: read bandwidth %.2f GB/s, %s peak %.2f GFLOP/s; activations %s; summation %s\n\n", bw / 1e9,
              bf16_peak > 0 ? "bf16 dot (vdpbf16ps)" : "f32 FMA", peak / 1e9,
              g_activations == sy::activations::bf16 ? "bf16" : "f32",
              g_summation == sy::summation::fastest ? "fastest" : "batch-invariant");
  for (auto const& s : shapes) {
    if (!only.empty() && only != s.name) continue;
    model m(s);
    fill_uniform(m.gate, 0.2f, 1, pool);
    fill_uniform(m.bias, 0.2f, 2, pool);
    fill_uniform(m.gate_up, 0.05f, 3, pool);
    fill_uniform(m.down, 0.05f, 4, pool);
    fill_uniform(m.shared_gate_up, 0.05f, 5, pool);
    fill_uniform(m.shared_down, 0.05f, 6, pool);
    for (index_t T : Ts) {
      sy::buffer<float> x(T * s.H);
      fill_uniform(x, 2.0f, 7 + static_cast<std::uint64_t>(T), pool);
      auto const r = run(m, x, T, pool, T <= 16 ? 7 : (T <= 128 ? 3 : 1));
      std::printf("%-8s T=%4ld  %10.2f ms (spread %3.0f%%)  %8.1f tok/s  weights %7.1f MB  %6.2f GB/s = %5.1f%% of bw  "
                  "%7.2f GFLOP/s = %5.1f%% of peak\n",
                  s.name, long(T), r.time.median * 1e3, 100 * r.time.spread(), double(T) / r.time.median, r.weight_bytes / 1e6,
                  r.weight_bytes / r.time.median / 1e9, 100 * r.weight_bytes / r.time.median / bw,
                  r.flops / r.time.median / 1e9, 100 * r.flops / r.time.median / peak);
    }
  }
}
