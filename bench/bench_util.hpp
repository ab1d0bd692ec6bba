#pragma once
// Shared pieces of the benchmarks: robust timing (median and spread over repetitions, since
// these machines are shared and noisy) and the roofline probes that every result is quoted
// against (read bandwidth and FMA peak, measured in the same run).
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <cstdio>
#include <functional>
#include <thread>
#include <vector>

#if defined(__AVX2__) || defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "switchyard/core/buffer.hpp"
#include "switchyard/core/simd/simd.hpp"
#include "switchyard/core/thread_pool.hpp"

namespace bench {

namespace sy = switchyard;

struct stats {
  double median, min, max;  // seconds per call
  double spread() const { return median > 0 ? (max - min) / median : 0; }
};

// Runs f once to warm up, then `reps` timed calls; returns seconds per call.
inline stats time_it(int reps, std::function<void()> const& f) {
  f();
  std::vector<double> t;
  for (int r = 0; r < reps; ++r) {
    auto const a = std::chrono::steady_clock::now();
    f();
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - a).count());
  }
  std::sort(t.begin(), t.end());
  return {t[t.size() / 2], t.front(), t.back()};
}

// Sum of a large array, split over the pool: bytes / second that loads can stream from DRAM
// (the best of the repetitions).
inline double read_bandwidth(sy::thread_pool& pool, std::size_t bytes = std::size_t{1} << 30, int reps = 7) {
  using Isa = sy::simd::native;
  std::size_t const n = bytes / sizeof(float);
  sy::buffer<float> a(n);
  pool.parallel_for(0, static_cast<sy::index_t>(n), 1 << 16, [&](sy::index_t lo, sy::index_t hi) {
    for (sy::index_t i = lo; i < hi; ++i) a[i] = static_cast<float>(i & 7);
  });
  std::vector<float> sink(static_cast<std::size_t>(pool.size()) * 64);
  auto const s = time_it(reps, [&] {
    pool.parallel_for(0, static_cast<sy::index_t>(n / (4 * Isa::lanes)), 1 << 12, [&](sy::index_t lo, sy::index_t hi) {
      auto s0 = Isa::zero(), s1 = Isa::zero(), s2 = Isa::zero(), s3 = Isa::zero();
      for (sy::index_t b = lo; b < hi; ++b) {
        float const* p = a.data() + b * 4 * Isa::lanes;
        s0 = Isa::add(s0, Isa::load(p)), s1 = Isa::add(s1, Isa::load(p + Isa::lanes));
        s2 = Isa::add(s2, Isa::load(p + 2 * Isa::lanes)), s3 = Isa::add(s3, Isa::load(p + 3 * Isa::lanes));
      }
      sink[static_cast<std::size_t>(lo % 64)] += Isa::reduce_add(Isa::add(Isa::add(s0, s1), Isa::add(s2, s3)));
    });
  });
  // A limit is the best the machine showed: noise from other tenants only ever lowers it.
  return static_cast<double>(n * sizeof(float)) / s.min;
}

// Reads `bytes` at p once, split over the pool in 4 KiB pages, with integer loads (the bytes may
// be packed weights: as floats some would be NaN or subnormal) and returns a value that depends
// on every byte so the loads stay. The paired probe: timed next to a kernel on its own kind of
// buffer, it says what bandwidth the machine gives at that moment.
inline std::uint64_t read_through(sy::thread_pool& pool, void const* p, std::size_t bytes) {
  std::size_t const pages = bytes / 4096;
  std::vector<std::uint64_t> sink(static_cast<std::size_t>(pool.size()) * 8 + 1, 0);
  pool.parallel_for(0, static_cast<sy::index_t>(pages), 16, [&](sy::index_t lo, sy::index_t hi) {
    auto const* b = static_cast<unsigned char const*>(p);
    std::uint64_t acc = 0;
#if defined(__AVX512F__)
    __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
    for (auto const* q = b + lo * 4096; q < b + hi * 4096; q += 256) {
      a0 = _mm512_xor_si512(a0, _mm512_loadu_si512(q)), a1 = _mm512_xor_si512(a1, _mm512_loadu_si512(q + 64));
      a2 = _mm512_xor_si512(a2, _mm512_loadu_si512(q + 128)), a3 = _mm512_xor_si512(a3, _mm512_loadu_si512(q + 192));
    }
    alignas(64) std::uint64_t l[8];  // (not _mm512_reduce_*: GCC 12 warns inside it)
    _mm512_store_si512(l, _mm512_xor_si512(_mm512_xor_si512(a0, a1), _mm512_xor_si512(a2, a3)));
    for (auto v : l) acc ^= v;
#elif defined(__AVX2__)
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    for (auto const* q = b + lo * 4096; q < b + hi * 4096; q += 128) {
      a0 = _mm256_xor_si256(a0, _mm256_loadu_si256(reinterpret_cast<__m256i const*>(q)));
      a1 = _mm256_xor_si256(a1, _mm256_loadu_si256(reinterpret_cast<__m256i const*>(q + 32)));
      a2 = _mm256_xor_si256(a2, _mm256_loadu_si256(reinterpret_cast<__m256i const*>(q + 64)));
      a3 = _mm256_xor_si256(a3, _mm256_loadu_si256(reinterpret_cast<__m256i const*>(q + 96)));
    }
    alignas(32) std::uint64_t l[4];
    _mm256_store_si256(reinterpret_cast<__m256i*>(l), _mm256_xor_si256(_mm256_xor_si256(a0, a1), _mm256_xor_si256(a2, a3)));
    acc = l[0] ^ l[1] ^ l[2] ^ l[3];
#else
    for (auto const* q = b + lo * 4096; q < b + hi * 4096; q += 8) {
      std::uint64_t v;
      std::memcpy(&v, q, 8);
      acc ^= v;
    }
#endif
    sink[static_cast<std::size_t>(lo) % (sink.size() - 1)] ^= acc;
  });
  std::uint64_t r = 0;
  for (auto v : sink) r ^= v;
  return r;
}

// Runs body(t) on `threads` plain threads at once (t = 0 on the caller), `reps` times after a
// warm-up; returns the time of the best repetition. Plain threads, one each, rather than
// pool.parallel_for: the pool may let one thread take every chunk before the others wake, which
// once halved the FMA figure.
template <class Body>
double best_time_on_threads(int threads, int reps, Body const& body) {
  auto const s = time_it(reps, [&] {
    std::vector<std::thread> ts;
    for (int t = 1; t < threads; ++t) ts.emplace_back(body, t);
    body(0);
    for (auto& th : ts) th.join();
  });
  return s.min;
}

// Independent FMA chains in registers on as many threads as the pool has: f32 flop / second
// (the best of the repetitions).
inline double fma_peak(sy::thread_pool& pool, int reps = 5) {
  using Isa = sy::simd::native;
  constexpr int chains = 12;  // > latency x ports (4 x 2) so the FMA units never wait
  long const iters = 20'000'000 / Isa::lanes;
  int const threads = pool.size();
  std::vector<float> sink(static_cast<std::size_t>(threads) * 16);
  auto body = [&](int t) {
    typename Isa::vf acc[chains];
    for (int c = 0; c < chains; ++c) acc[c] = Isa::set1(static_cast<float>(c) * 1e-3f);
    auto const m = Isa::set1(0.999999f), k = Isa::set1(1e-7f);
    for (long i = 0; i < iters; ++i)
#pragma GCC unroll 12
      for (int c = 0; c < chains; ++c) acc[c] = Isa::fma(acc[c], m, k);
    float r = 0;
    for (int c = 0; c < chains; ++c) r += Isa::reduce_add(acc[c]);
    sink[static_cast<std::size_t>(t) * 16] = r;
  };
  double const best = best_time_on_threads(threads, reps, body);
  return 2.0 * chains * Isa::lanes * static_cast<double>(iters) * threads / best;
}

#if defined(__AVX512BF16__) && defined(__AVX512F__)
// The same probe for vdpbf16ps (two bf16 products per f32 lane per instruction): the limit of
// the bf16-activation kernels. Counts 2 flops per product. Returns 0 where AVX512-BF16 is absent.
inline double bf16_dot_peak(sy::thread_pool& pool, int reps = 5) {
  constexpr int chains = 12;
  long const iters = 20'000'000 / 16;
  int const threads = pool.size();
  std::vector<float> sink(static_cast<std::size_t>(threads) * 16);
  auto body = [&](int t) {
    __m512 acc[chains];
    for (int c = 0; c < chains; ++c) acc[c] = _mm512_set1_ps(static_cast<float>(c) * 1e-3f);
    __m512bh const a = (__m512bh)_mm512_set1_epi16(0x3F80), b = (__m512bh)_mm512_set1_epi16(0x3400);  // 1.0, ~1e-7
    for (long i = 0; i < iters; ++i)
#pragma GCC unroll 12
      for (int c = 0; c < chains; ++c) acc[c] = _mm512_dpbf16_ps(acc[c], a, b);
    float r = 0;
    for (int c = 0; c < chains; ++c) r += sy::simd::avx512::reduce_add(acc[c]);
    sink[static_cast<std::size_t>(t) * 16] = r;
  };
  double const best = best_time_on_threads(threads, reps, body);
  return 2.0 * 32 * chains * static_cast<double>(iters) * threads / best;
}
#else
inline double bf16_dot_peak(sy::thread_pool&, int = 5) { return 0.0; }
#endif

#if defined(__AVX512VNNI__) && defined(__AVX512F__)
// The same probe for vpdpbusd (four u8 x s8 products per int32 lane per instruction): the limit
// of the W8A8 kernels. Counts 2 ops per product. Returns 0 where AVX512-VNNI is absent.
inline double int8_dot_peak(sy::thread_pool& pool, int reps = 5) {
  constexpr int chains = 12;
  long const iters = 20'000'000 / 16;
  int const threads = pool.size();
  std::vector<int> sink(static_cast<std::size_t>(threads) * 16);
  auto body = [&](int t) {
    __m512i acc[chains];
    for (int c = 0; c < chains; ++c) acc[c] = _mm512_set1_epi32(c);
    __m512i const a = _mm512_set1_epi8(3), b = _mm512_set1_epi8(-2);
    for (long i = 0; i < iters; ++i)
#pragma GCC unroll 12
      for (int c = 0; c < chains; ++c) acc[c] = _mm512_dpbusd_epi32(acc[c], a, b);
    alignas(64) int lanes[16];
    int r = 0;
    for (int c = 0; c < chains; ++c) {
      _mm512_store_si512(lanes, acc[c]);
      for (int v : lanes) r += v;
    }
    sink[static_cast<std::size_t>(t) * 16] = r;
  };
  double const best = best_time_on_threads(threads, reps, body);
  return 2.0 * 64 * chains * static_cast<double>(iters) * threads / best;
}
#else
inline double int8_dot_peak(sy::thread_pool&, int = 5) { return 0.0; }
#endif

}  // namespace bench
