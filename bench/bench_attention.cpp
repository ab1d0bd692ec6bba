// Attention on the host at Llama/Mixtral-like shapes: 32 query heads, 8 KV heads, head dim 128.
//
// Prefill (flash_attention, f32 inputs) for T = S in {512, 2048, 8192} under each mask pattern:
// causal, sliding window 1024, sinks (4) + window 1024, block-sparse (blocks of 64: band of 4,
// 1 global block, every 8th block). GFLOP/s counts only the (query, key) pairs the pattern keeps
// (4 D flops per pair and head), quoted against the FMA peak measured in this run; "time/causal"
// against "kept/causal" shows whether time falls with the kept fraction.
//
// Decode (paged_attention, one sequence, one token) at context 1k, 8k, 32k for f32, bf16 and int8
// caches: GB/s of cached K and V bytes read (plus scales), against the read bandwidth measured in
// this run.
//
//   bench_attention [prefill|decode] [reps]
//   bench_attention --raw DIR T pattern    inputs q/k/v written by bench/peer_attention.py; prints
//                                          "median_s min_s max_s checksum"
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "bench_util.hpp"
#include "switchyard/attention/flash_attention.hpp"
#include "switchyard/attention/paged_attention.hpp"

namespace sy = switchyard;
namespace at = switchyard::attention;
using sy::index_t;

namespace {

constexpr index_t Hq = 32, Hkv = 8, D = 128;

template <class F>
void with_pattern(std::string const& name, F&& f) {
  if (name == "causal") f(at::causal_mask{});
  else if (name == "window") f(at::sliding_window_mask(1024));
  else if (name == "sinks") f(at::sink_window_mask(4, 1024));
  else if (name == "sparse") f(at::block_sparse_mask(64, 4, 1, 8));
  else if (name == "none") f(at::no_mask{});
  else throw std::runtime_error("unknown pattern " + name);
}

template <class M>
double kept_pairs(M const& m, index_t T) {
  double n = 0;
  for (index_t q = 0; q < T; ++q)
    for (index_t k = 0; k <= q; ++k) n += m.keep(q, k);
  return n;
}

void fill(std::vector<float>& v, std::uint64_t seed) {
  std::uint64_t z = seed * 0x9E3779B97F4A7C15ull + 1;
  for (auto& x : v) {
    z ^= z << 13, z ^= z >> 7, z ^= z << 17;
    x = static_cast<float>(static_cast<double>(z >> 11) * 0x1.0p-53 * 2.0 - 1.0);
  }
}

void prefill(int reps, sy::thread_pool& pool) {
  double const peak = bench::fma_peak(pool);
  std::printf("FMA peak %.1f GFLOP/s (%d threads); Hq %lld, Hkv %lld, D %lld, f32\n", peak * 1e-9, pool.size(),
              (long long)Hq, (long long)Hkv, (long long)D);
  std::printf("%6s %-7s %10s %7s %9s %7s %9s %11s %11s\n", "T", "pattern", "median_ms", "spread", "GFLOP/s", "%peak",
              "tiles_kept", "time/causal", "kept/causal");
  for (index_t T : {512, 2048, 8192}) {
    std::vector<float> q(T * Hq * D), k(T * Hkv * D), v(T * Hkv * D), o(T * Hq * D);
    fill(q, 1), fill(k, 2), fill(v, 3);
    auto qv = sy::make_view(static_cast<float const*>(q.data()), T, Hq, D);
    auto kv = sy::make_view(static_cast<float const*>(k.data()), T, Hkv, D);
    auto vv = sy::make_view(static_cast<float const*>(v.data()), T, Hkv, D);
    auto ov = sy::make_view(o.data(), T, Hq, D);
    double causal_time = 0, causal_pairs = 0;
    for (std::string pat : {"causal", "window", "sinks", "sparse"}) {
      with_pattern(pat, [&](auto const& mask) {
        at::attention_stats st;
        auto const t = bench::time_it(reps, [&] { st = at::flash_attention(qv, kv, vv, ov, mask, 0.088f, -1, pool); });
        double const pairs = kept_pairs(mask, T);
        if (pat == "causal") causal_time = t.median, causal_pairs = pairs;
        double const gflops = 4.0 * D * Hq * pairs / t.median * 1e-9;
        std::printf("%6lld %-7s %10.2f %6.0f%% %9.1f %6.1f%% %9.3f %11.3f %11.3f\n", (long long)T, pat.c_str(),
                    t.median * 1e3, t.spread() * 100, gflops, gflops / (peak * 1e-9) * 100, st.kept_fraction(),
                    t.median / causal_time, pairs / causal_pairs);
      });
    }
  }
}

template <class E>
void decode_one(char const* name, index_t ctx, index_t bs, double bw, int reps, sy::thread_pool& pool) {
  at::paged_kv_cache<E> cache({.kv_heads = Hkv, .key_dim = D, .value_dim = D, .block_size = bs, .blocks = ctx / bs + 1});
  at::kv_sequence seq;
  index_t const chunk = 1024;
  std::vector<float> k(chunk * Hkv * D), v(chunk * Hkv * D);
  for (index_t t0 = 0; t0 < ctx; t0 += chunk) {
    index_t const n = std::min(chunk, ctx - t0);
    fill(k, 10 + t0), fill(v, 20 + t0);
    cache.append(seq, sy::make_view(static_cast<float const*>(k.data()), n, Hkv, D),
                 sy::make_view(static_cast<float const*>(v.data()), n, Hkv, D));
  }
  std::vector<float> q(Hq * D), o(Hq * D);
  fill(q, 5);
  at::kv_sequence const* one = &seq;
  auto const t = bench::time_it(reps, [&] {
    at::paged_attention(cache, std::span<at::kv_sequence const* const>(&one, 1),
                        sy::make_view(static_cast<float const*>(q.data()), 1, Hq, D), sy::make_view(o.data(), 1, Hq, D),
                        at::causal_mask{}, 0.088f, pool);
  });
  double const bytes = double(ctx) * Hkv * 2 * (D * sizeof(E) + (at::paged_kv_cache<E>::scaled ? 4 : 0));
  std::printf("%7lld %-5s %5lld %10.3f %6.0f%% %8.1f %6.1f%%\n", (long long)ctx, name, (long long)bs, t.median * 1e3,
              t.spread() * 100, bytes / t.median * 1e-9, bytes / t.median / bw * 100);
}

void decode(int reps, sy::thread_pool& pool) {
  double const bw = bench::read_bandwidth(pool);
  std::printf("read bandwidth %.1f GB/s (%d threads); Hq %lld, Hkv %lld, D %lld, one sequence, one token\n", bw * 1e-9,
              pool.size(), (long long)Hq, (long long)Hkv, (long long)D);
  std::printf("%7s %-5s %5s %10s %7s %8s %7s\n", "context", "kv", "block", "median_ms", "spread", "GB/s", "%bw");
  for (index_t ctx : {1024, 8192, 32768})
    for (index_t bs : {16, 64}) {
      decode_one<float>("f32", ctx, bs, bw, reps, pool);
      decode_one<sy::format::bf16>("bf16", ctx, bs, bw, reps, pool);
      decode_one<std::int8_t>("int8", ctx, bs, bw, reps, pool);
    }
}

int raw(std::string const& dir, index_t T, std::string const& pat, int reps, sy::thread_pool& pool) {
  std::vector<float> q(T * Hq * D), k(T * Hkv * D), v(T * Hkv * D), o(T * Hq * D);
  for (auto [name, buf] : {std::pair{"q", &q}, std::pair{"k", &k}, std::pair{"v", &v}}) {
    std::ifstream f(dir + "/" + name + ".f32", std::ios::binary);
    f.read(reinterpret_cast<char*>(buf->data()), static_cast<std::streamsize>(buf->size() * 4));
    if (!f) return std::fprintf(stderr, "cannot read %s/%s.f32\n", dir.c_str(), name), 1;
  }
  with_pattern(pat, [&](auto const& mask) {
    auto const t = bench::time_it(reps, [&] {
      at::flash_attention(sy::make_view(static_cast<float const*>(q.data()), T, Hq, D),
                          sy::make_view(static_cast<float const*>(k.data()), T, Hkv, D),
                          sy::make_view(static_cast<float const*>(v.data()), T, Hkv, D), sy::make_view(o.data(), T, Hq, D),
                          mask, 1.0f / std::sqrt(float(D)), -1, pool);
    });
    double sum = 0;
    for (float x : o) sum += x;
    std::printf("%.6f %.6f %.6f %.6f\n", t.median, t.min, t.max, sum);
  });
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  sy::simd::ensure_native_supported();
  auto& pool = sy::thread_pool::shared();
  if (argc >= 5 && std::strcmp(argv[1], "--raw") == 0)
    return raw(argv[2], std::atoll(argv[3]), argv[4], argc > 5 ? std::atoi(argv[5]) : 3, pool);
  std::string const what = argc > 1 ? argv[1] : "all";
  int const reps = argc > 2 ? std::atoi(argv[2]) : 3;
  if (what == "all" || what == "prefill") prefill(reps, pool);
  if (what == "all" || what == "decode") decode(std::max(reps, 9), pool);
  return 0;
}
