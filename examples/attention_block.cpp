// Composing decoder attention blocks from switchyard's pieces, one per mask pattern:
//   causal (Llama/Qwen), sliding window (Mistral/Mixtral), sinks + window (StreamingLLM),
//   block-sparse (band + global + strided blocks), and a user predicate over blocks.
// (DeepSeek's MLA block and its latent cache: docs/attention.md and tests/host/test_attention_blocks.cpp.)
// Each GQA block runs a prompt through a paged bf16 KV cache, then decodes tokens for two
// sequences in one batch, and checks the cached outputs against the same block run on the whole
// sequence without a cache (the printed "max diff" must be at bf16-cache rounding level).
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include <switchyard/switchyard.hpp>

namespace sy = switchyard;
namespace at = switchyard::attention;
using sy::index_t;

namespace {

constexpr index_t hidden = 256, q_heads = 8, kv_heads = 2, head_dim = 32, prompt = 96, steps = 8;

std::vector<sy::format::bf16> random_bf16(index_t n, float scale, std::mt19937& g) {
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<sy::format::bf16> v(static_cast<std::size_t>(n));
  for (auto& x : v) x = sy::format::bf16(d(g));
  return v;
}

template <class Mask>
double run_gqa(char const* name, Mask mask, at::gqa_weights<sy::format::bf16> const& w, std::vector<float> const& x) {
  at::gqa_config cfg{.hidden = hidden, .q_heads = q_heads, .kv_heads = kv_heads, .head_dim = head_dim};
  cfg.rope.theta = 1e6;
  at::gqa_attention<sy::format::bf16, Mask> block(cfg, w, mask);

  // Reference: both sequences whole, no cache.
  index_t const total = prompt + steps;
  std::vector<float> whole(2 * total * hidden);
  for (int s = 0; s < 2; ++s)
    block.forward(sy::make_view(x.data() + s * total * hidden, total, hidden),
                  sy::make_view(whole.data() + s * total * hidden, total, hidden));

  // Cached: prefill both prompts (the second one shorter), then batched decode steps.
  at::paged_kv_cache<sy::format::bf16> cache({.kv_heads = kv_heads, .key_dim = head_dim, .value_dim = head_dim,
                                              .block_size = 16, .blocks = 32});
  at::kv_sequence seq[2];
  std::vector<float> y(prompt * hidden);
  index_t const len[2] = {prompt, prompt - 40};
  for (int s = 0; s < 2; ++s)
    block.forward(cache, seq[s], sy::make_view(x.data() + s * total * hidden, len[s], hidden),
                  sy::make_view(y.data(), len[s], hidden));
  double max_diff = 0, max_ref = 0;
  for (index_t step = 0; step < steps; ++step) {
    std::vector<float> xb(2 * hidden), yb(2 * hidden);
    for (int s = 0; s < 2; ++s)
      std::copy_n(x.data() + (s * total + len[s] + step) * hidden, hidden, xb.data() + s * hidden);
    at::kv_sequence* seqs[] = {&seq[0], &seq[1]};
    block.decode(cache, std::span<at::kv_sequence* const>(seqs), sy::make_view(static_cast<float const*>(xb.data()), 2, hidden),
                 sy::make_view(yb.data(), 2, hidden));
    for (int s = 0; s < 2; ++s)
      for (index_t i = 0; i < hidden; ++i) {
        double const r = whole[(s * total + len[s] + step) * hidden + i];
        max_diff = std::max(max_diff, std::fabs(yb[s * hidden + i] - r));
        max_ref = std::max(max_ref, std::fabs(r));
      }
  }
  std::printf("%-13s cache holds %3lld + %3lld tokens in %2lld blocks; decode vs whole-sequence: max diff %.2e (|y| max %.2f)\n",
              name, (long long)seq[0].length, (long long)seq[1].length, (long long)(32 - cache.free_blocks()), max_diff,
              max_ref);
  return max_diff / max_ref;
}

}  // namespace

int main() {
  std::mt19937 g(7);
  float const s = 1.0f / std::sqrt(float(hidden));
  auto wq = random_bf16(q_heads * head_dim * hidden, s, g), wk = random_bf16(kv_heads * head_dim * hidden, s, g),
       wv = random_bf16(kv_heads * head_dim * hidden, s, g), wo = random_bf16(hidden * q_heads * head_dim, s, g);
  at::gqa_weights<sy::format::bf16> w{.q = sy::make_view(static_cast<sy::format::bf16 const*>(wq.data()), q_heads * head_dim, hidden),
                                      .k = sy::make_view(static_cast<sy::format::bf16 const*>(wk.data()), kv_heads * head_dim, hidden),
                                      .v = sy::make_view(static_cast<sy::format::bf16 const*>(wv.data()), kv_heads * head_dim, hidden),
                                      .o = sy::make_view(static_cast<sy::format::bf16 const*>(wo.data()), hidden, q_heads * head_dim)};
  std::vector<float> x(2 * (prompt + steps) * hidden);
  std::normal_distribution<float> d(0.0f, 1.0f);
  for (auto& v : x) v = d(g);

  double worst = 0;
  worst = std::max(worst, run_gqa("causal", at::causal_mask{}, w, x));
  worst = std::max(worst, run_gqa("window 32", at::sliding_window_mask(32), w, x));
  worst = std::max(worst, run_gqa("sinks 4 + 24", at::sink_window_mask(4, 24), w, x));
  worst = std::max(worst, run_gqa("block-sparse", at::block_sparse_mask(16, 2, 1, 3), w, x));
  // Any predicate over (query block, key block): here, even blocks only, plus the query's own.
  auto even = at::block_predicate_mask(16, [](index_t qb, index_t kb) { return kb == qb || kb % 2 == 0; });
  worst = std::max(worst, run_gqa("predicate", even, w, x));
  // bf16 keys and values in the cache against f32 in the whole-sequence path: ~2^-9 relative.
  bool const ok = worst < 2e-2;
  std::printf("%s: cached decode matches the uncached block for every pattern (worst relative diff %.1e)\n",
              ok ? "OK" : "MISMATCH", worst);
  return ok ? 0 : 1;
}
