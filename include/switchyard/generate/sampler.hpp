#pragma once
// Choosing the next token from a row of logits: repetition penalty, then greedy (temperature 0)
// or temperature -> top-k -> softmax -> top-p -> min-p -> a seeded draw. The random stream is
// switchyard's own (xoshiro256** seeded by splitmix64, 53-bit doubles), not std::*_distribution,
// whose outputs differ between standard libraries: a seed gives the same tokens everywhere.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <span>
#include <unordered_set>
#include <vector>

#include "switchyard/core/error.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace generate {

struct sampling_params {
  float temperature = 0.0f;         // 0: greedy (ties to the lower id)
  int top_k = 0;                    // 0: all
  float top_p = 1.0f;               // nucleus: the smallest set with this much probability
  float min_p = 0.0f;               // drop tokens below min_p x the best token's probability
  float repetition_penalty = 1.0f;  // CTRL's: seen tokens' logits divided (if > 0) or multiplied by it
  std::uint64_t seed = 0;
};

class rng {
 public:
  explicit rng(std::uint64_t seed) {
    for (auto& s : s_) {  // splitmix64
      seed += 0x9E3779B97F4A7C15ull;
      std::uint64_t z = seed;
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
      z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
      s = z ^ (z >> 31);
    }
  }
  std::uint64_t next() noexcept {  // xoshiro256**
    std::uint64_t const r = rotl(s_[1] * 5, 7) * 9, t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return r;
  }
  double uniform() noexcept { return static_cast<double>(next() >> 11) * 0x1.0p-53; }  // [0, 1)

  // The stream's position, for a backend that draws from it elsewhere (a device sampler takes the
  // state, draws as many numbers as the host would, and gives the advanced state back).
  std::array<std::uint64_t, 4> state() const noexcept { return {s_[0], s_[1], s_[2], s_[3]}; }
  void set_state(std::array<std::uint64_t, 4> const& s) noexcept {
    for (std::size_t i = 0; i < 4; ++i) s_[i] = s[i];
  }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) noexcept { return (x << k) | (x >> (64 - k)); }
  std::uint64_t s_[4];
};

class sampler {
 public:
  explicit sampler(sampling_params const& p) : p_(p), rng_(p.seed) {
    char const* where = "generate::sampler";
    require(std::isfinite(p.temperature) && p.temperature >= 0.0f, where, "temperature must be >= 0, got ", p.temperature);
    require(p.top_k >= 0, where, "top_k must be >= 0, got ", p.top_k);
    require(p.top_p > 0.0f && p.top_p <= 1.0f, where, "top_p must be in (0, 1], got ", p.top_p);
    require(p.min_p >= 0.0f && p.min_p < 1.0f, where, "min_p must be in [0, 1), got ", p.min_p);
    require(std::isfinite(p.repetition_penalty) && p.repetition_penalty > 0.0f, where,
            "repetition_penalty must be > 0, got ", p.repetition_penalty);
  }

  sampling_params const& params() const noexcept { return p_; }

  // The next token. `logits` is modified (penalized, scaled); `history` holds the tokens so far.
  std::int32_t operator()(std::span<float> logits, std::span<std::int32_t const> history) {
    require(!logits.empty(), "generate::sampler", "no logits");
    penalize(logits, history);
    if (p_.temperature == 0.0f) return argmax(logits);
    std::size_t const keep = candidates(logits);
    double total = 0;
    for (std::size_t i = 0; i < keep; ++i) total += prob_[i];
    double u = rng_.uniform() * total;
    for (std::size_t i = 0; i < keep; ++i) {
      u -= prob_[i];
      if (u < 0) return idx_[i];
    }
    return idx_[keep - 1];
  }

  // The distribution operator() draws from, over the whole vocabulary: after the repetition
  // penalty, temperature, top-k, top-p and min-p (0 outside the kept candidates, normalized); at
  // temperature 0 a point mass on the greedy token. `logits` is modified as by operator().
  // Speculative decoding's acceptance rule needs the target's distribution itself, not a draw.
  void distribution(std::span<float> logits, std::span<std::int32_t const> history, std::vector<double>& out) {
    require(!logits.empty(), "generate::sampler::distribution", "no logits");
    out.assign(logits.size(), 0.0);
    penalize(logits, history);
    if (p_.temperature == 0.0f) {
      out[static_cast<std::size_t>(argmax(logits))] = 1.0;
      return;
    }
    std::size_t const keep = candidates(logits);
    double total = 0;
    for (std::size_t i = 0; i < keep; ++i) total += prob_[i];
    for (std::size_t i = 0; i < keep; ++i) out[static_cast<std::size_t>(idx_[i])] = prob_[i] / total;
  }

  // A draw from weights w (>= 0, not all 0; need not sum to 1) with this sampler's random stream.
  std::int32_t draw(std::span<double const> w) {
    double total = 0;
    for (double v : w) total += v;
    require(total > 0 && std::isfinite(total), "generate::sampler::draw", "the weights sum to ", total);
    double u = rng_.uniform() * total;
    std::int32_t last = 0;
    for (std::size_t i = 0; i < w.size(); ++i) {
      if (w[i] <= 0) continue;
      last = static_cast<std::int32_t>(i);
      u -= w[i];
      if (u < 0) return last;
    }
    return last;
  }
  // The random stream itself (a sampling_model draws from it on its device).
  rng& random_stream() noexcept { return rng_; }
  // A uniform draw in [0, 1) from the same stream (speculative acceptance tests).
  double uniform() noexcept { return rng_.uniform(); }

 private:
  void penalize(std::span<float> logits, std::span<std::int32_t const> history) const {
    if (p_.repetition_penalty == 1.0f) return;
    auto const V = static_cast<std::int32_t>(logits.size());
    std::unordered_set<std::int32_t> seen(history.begin(), history.end());
    for (std::int32_t t : seen)
      if (t >= 0 && t < V) {
        float& l = logits[static_cast<std::size_t>(t)];
        l = l > 0.0f ? l / p_.repetition_penalty : l * p_.repetition_penalty;
      }
  }
  static std::int32_t argmax(std::span<float const> logits) {
    std::int32_t best = 0;
    for (std::int32_t i = 1; i < static_cast<std::int32_t>(logits.size()); ++i)
      if (logits[static_cast<std::size_t>(i)] > logits[static_cast<std::size_t>(best)]) best = i;
    return best;
  }
  // The kept candidates in idx_[0, keep), by descending logit, with unnormalized probabilities
  // prob_[0, keep): top-k, then softmax of logit / T (in double: reproducible, no overflow), then
  // top-p (the shortest prefix whose mass reaches p, at least one) and min-p (a relative cut).
  std::size_t candidates(std::span<float const> logits) {
    auto const V = static_cast<std::int32_t>(logits.size());
    idx_.resize(static_cast<std::size_t>(V));
    std::iota(idx_.begin(), idx_.end(), 0);
    auto by_logit = [&](std::int32_t a, std::int32_t b) {
      float const la = logits[static_cast<std::size_t>(a)], lb = logits[static_cast<std::size_t>(b)];
      return la > lb || (la == lb && a < b);
    };
    std::size_t n = idx_.size();
    if (p_.top_k > 0 && static_cast<std::size_t>(p_.top_k) < n) {
      n = static_cast<std::size_t>(p_.top_k);
      std::partial_sort(idx_.begin(), idx_.begin() + static_cast<std::ptrdiff_t>(n), idx_.end(), by_logit);
    } else {
      std::sort(idx_.begin(), idx_.end(), by_logit);
    }
    prob_.resize(n);
    double const top = logits[static_cast<std::size_t>(idx_[0])] / double(p_.temperature);
    double sum = 0;
    for (std::size_t i = 0; i < n; ++i) {
      prob_[i] = std::exp(logits[static_cast<std::size_t>(idx_[i])] / double(p_.temperature) - top);
      sum += prob_[i];
    }
    double mass = 0;
    std::size_t keep = 0;
    while (keep < n) {
      if (p_.min_p > 0.0f && prob_[keep] < p_.min_p * prob_[0]) break;
      mass += prob_[keep] / sum;
      ++keep;
      if (mass >= p_.top_p) break;
    }
    return keep;
  }

  sampling_params p_;
  rng rng_;
  std::vector<std::int32_t> idx_;
  std::vector<double> prob_;
};

}  // namespace generate
SWITCHYARD_NAMESPACE_END
