#pragma once
// What the two peers drivers share, so that they measure the same thing the same way:
// bench/peer_switchyard.cpp (switchyard) and bench/peers/llama/peer_llama.cpp (llama.cpp's C API,
// compiled in llama.cpp's build: C++17, no switchyard headers).
#include <sys/resource.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace peers {

// The prompt: a 64-bit LCG (Knuth's MMIX constants), top bits mod vocab.
inline std::vector<std::int32_t> prompt_tokens(int n, std::int64_t vocab) {
  std::vector<std::int32_t> t(static_cast<std::size_t>(n));
  std::uint64_t s = 0x5357594152440001ull;
  for (auto& x : t) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    x = static_cast<std::int32_t>((s >> 33) % static_cast<std::uint64_t>(vocab));
  }
  return t;
}

// Greedy: the first largest logit.
inline std::int32_t argmax(float const* v, std::int64_t n) {
  std::int64_t b = 0;
  for (std::int64_t i = 1; i < n; ++i)
    if (v[i] > v[b]) b = i;
  return static_cast<std::int32_t>(b);
}

inline double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Timings of the repetitions after the warm-up one.
struct result {
  std::vector<double> ttft_s, prefill_tok_s, decode_tok_s;
  std::vector<std::int32_t> greedy;  // the last repetition's continuation
};

// One JSON object on stdout: `head` (the engine's own fields, each `"key": value, `), the load
// time, the timings, the greedy tokens and the peak resident set (getrusage, whole process).
inline void print(std::string const& head, double load_s, result const& r) {
  auto list = [](char const* key, std::vector<double> const& v) {
    std::printf("\"%s\": [", key);
    for (std::size_t i = 0; i < v.size(); ++i) std::printf("%s%.4f", i ? ", " : "", v[i]);
    std::printf("], ");
  };
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  std::printf("{%s\"load_s\": %.3f, ", head.c_str(), load_s);
  list("ttft_s", r.ttft_s);
  list("prefill_tok_s", r.prefill_tok_s);
  list("decode_tok_s", r.decode_tok_s);
  std::printf("\"greedy\": [");
  for (std::size_t i = 0; i < r.greedy.size(); ++i) std::printf("%s%d", i ? ", " : "", r.greedy[i]);
  std::printf("], \"peak_rss_mb\": %.1f}\n", static_cast<double>(ru.ru_maxrss) / 1024.0);
}

}  // namespace peers
