// Decoder attention blocks against transformers' own modules (tests/data/attention_*.safetensors):
// MixtralAttention (sliding window 12), Qwen3MoeAttention (per-head q/k RMSNorm) and
// DeepseekV3Attention (MLA: q_lora_rank, yarn, interleaved rope) on T in {1, 17, 64}; then the
// same outputs rebuilt through the paged cache: a prefill chunk, a second chunk, and batched
// one-token decode steps of two sequences at once (MLA's absorbed form), row by row.
#include <catch2/catch.hpp>

#include <cmath>
#include <string>
#include <vector>

#include "support/poison.hpp"
#include "support/reference_file.hpp"
#include "support/tolerance.hpp"
#include "switchyard/attention/gqa_attention.hpp"
#include "switchyard/attention/mla_attention.hpp"

namespace sy = switchyard;
namespace at = switchyard::attention;
namespace tol = sy::test::tolerance;

namespace {

// "T<n><suffix>", built by appending (GCC 12 warns falsely, -Wrestrict, on "T" + to_string + ".x").
std::string tname(int t, char const* suffix) {
  std::string s = "T";
  s += std::to_string(t);
  s += suffix;
  return s;
}

struct loaded {
  sy::test::reference_file ref;
  std::vector<std::vector<float>> keep;  // storage behind the views
  explicit loaded(std::string const& f) : ref(f) {}
  sy::matrix_view<float const> mat(std::string const& n) {
    auto t = ref.get(n);
    keep.push_back(t.as<float>());
    return sy::make_view(static_cast<float const*>(keep.back().data()), t.shape[0], t.shape[1]);
  }
  sy::vector_view<float const> vec(std::string const& n) {
    auto t = ref.get(n);
    keep.push_back(t.as<float>());
    return sy::make_view(static_cast<float const*>(keep.back().data()), t.shape[0]);
  }
};

// Compares rows [r0, r1) of got (row-major, `cols` wide, starting at row r0) with the reference.
void compare_rows(std::vector<float> const& got, std::vector<float> const& want, sy::index_t r0, sy::index_t r1,
                  sy::index_t cols, double bound, std::string const& what) {
  double scale = 0;
  for (float x : want) scale = std::max(scale, double(std::fabs(x)));
  for (sy::index_t r = r0; r < r1; ++r)
    for (sy::index_t c = 0; c < cols; ++c) {
      double const g = got[(r - r0) * cols + c], w = want[r * cols + c];
      INFO(what << ": row " << r << " column " << c << ": got " << g << ", transformers " << w);
      REQUIRE(std::fabs(g - w) <= bound * scale);
    }
}

// Runs a block through the cache for two sequences at once: T17 and T64 inputs, prefilled with
// p0/p1 tokens in two chunks, then decoded one token per step in a batch of two.
template <class Block, class Cache>
void check_cached(Block const& block, Cache& cache, loaded& f, sy::index_t hidden, double bound, std::string const& what) {
  sy::thread_pool pool(2);
  auto const xa = f.ref.get("T17.x").as<float>(), ya = f.ref.get("T17.y").as<float>();
  auto const xb = f.ref.get("T64.x").as<float>(), yb = f.ref.get("T64.y").as<float>();
  at::kv_sequence a, b;
  auto chunk = [&](at::kv_sequence& s, std::vector<float> const& x, std::vector<float> const& y, sy::index_t r0,
                   sy::index_t r1) {
    std::vector<float> out((r1 - r0) * hidden);
    sy::test::poison({out.data(), out.size()});
    block.forward(cache, s, sy::make_view(x.data() + r0 * hidden, r1 - r0, hidden), sy::make_view(out.data(), r1 - r0, hidden),
                  pool);
    compare_rows(out, y, r0, r1, hidden, bound, what + " chunk");
  };
  chunk(a, xa, ya, 0, 6);
  chunk(b, xb, yb, 0, 30);
  chunk(a, xa, ya, 6, 10);   // a second chunk attends over the cache
  chunk(b, xb, yb, 30, 50);
  for (sy::index_t step = 0; step < 7; ++step) {
    sy::index_t const ta = 10 + step, tb = 50 + step;
    std::vector<float> x(2 * hidden), out(2 * hidden), want(2 * hidden);
    std::copy_n(xa.data() + ta * hidden, hidden, x.data());
    std::copy_n(xb.data() + tb * hidden, hidden, x.data() + hidden);
    sy::test::poison({out.data(), out.size()});
    for (int i = 0; i < 2; ++i) {
      at::kv_sequence& s = i == 0 ? a : b;
      block.forward(cache, s, sy::make_view(static_cast<float const*>(x.data()) + i * hidden, 1, hidden),
                    sy::make_view(out.data() + i * hidden, 1, hidden), pool);
    }
    compare_rows(std::vector<float>(out.begin(), out.begin() + hidden), ya, ta, ta + 1, hidden, bound, what + " decode a");
    compare_rows(std::vector<float>(out.begin() + hidden, out.end()), yb, tb, tb + 1, hidden, bound, what + " decode b");
  }
  CHECK(a.length == 17);
  CHECK(b.length == 57);
  cache.release(a);
  cache.release(b);
}

template <class Mask>
void check_gqa(std::string const& family, bool qk_norm, Mask mask) {
  loaded f("attention_" + family + ".safetensors");
  auto const c = f.ref.get("config").as<double>();
  at::gqa_config cfg{.hidden = sy::index_t(c[0]), .q_heads = sy::index_t(c[1]), .kv_heads = sy::index_t(c[2]),
                     .head_dim = sy::index_t(c[3])};
  cfg.rope.theta = c[5];
  cfg.norm_eps = float(c[6]);
  at::gqa_weights<float> w{.q = f.mat("q_proj.weight"), .k = f.mat("k_proj.weight"), .v = f.mat("v_proj.weight"),
                           .o = f.mat("o_proj.weight")};
  if (qk_norm) w.q_norm = f.vec("q_norm.weight"), w.k_norm = f.vec("k_norm.weight");
  at::gqa_attention<float, Mask> block(cfg, w, mask);
  double const bound = tol::attention_block(cfg.hidden, cfg.q_heads * cfg.head_dim, cfg.head_dim, 64);
  sy::thread_pool pool(3);
  for (int T : {1, 17, 64}) {
    auto const x = f.ref.get(tname(T, ".x")).as<float>();
    auto const want = f.ref.get(tname(T, ".y")).as<float>();
    std::vector<float> y(T * cfg.hidden);
    sy::test::poison({y.data(), y.size()});
    block.forward(sy::make_view(x.data(), T, cfg.hidden), sy::make_view(y.data(), T, cfg.hidden), pool);
    compare_rows(y, want, 0, T, cfg.hidden, bound, family + " T=" + std::to_string(T));
  }
  at::paged_kv_cache<float> cache({.kv_heads = cfg.kv_heads, .key_dim = cfg.head_dim, .value_dim = cfg.head_dim,
                                   .block_size = 16, .blocks = 16});
  check_cached(block, cache, f, cfg.hidden, bound, family + " cached");
  // The batched decode entry point: both sequences in one call.
  at::kv_sequence a, b;
  auto const xa = f.ref.get("T17.x").as<float>(), ya = f.ref.get("T17.y").as<float>();
  auto const xb = f.ref.get("T64.x").as<float>(), yb = f.ref.get("T64.y").as<float>();
  std::vector<float> tmp(64 * cfg.hidden);
  block.forward(cache, a, sy::make_view(xa.data(), 12, cfg.hidden), sy::make_view(tmp.data(), 12, cfg.hidden), pool);
  block.forward(cache, b, sy::make_view(xb.data(), 40, cfg.hidden), sy::make_view(tmp.data(), 40, cfg.hidden), pool);
  for (sy::index_t step = 0; step < 5; ++step) {
    std::vector<float> x(2 * cfg.hidden), out(2 * cfg.hidden);
    std::copy_n(xa.data() + (12 + step) * cfg.hidden, cfg.hidden, x.data());
    std::copy_n(xb.data() + (40 + step) * cfg.hidden, cfg.hidden, x.data() + cfg.hidden);
    sy::test::poison({out.data(), out.size()});
    at::kv_sequence* seqs[] = {&a, &b};
    block.decode(cache, std::span<at::kv_sequence* const>(seqs), sy::make_view(static_cast<float const*>(x.data()), 2, cfg.hidden),
                 sy::make_view(out.data(), 2, cfg.hidden), pool);
    compare_rows(std::vector<float>(out.begin(), out.begin() + cfg.hidden), ya, 12 + step, 13 + step, cfg.hidden, bound,
                 family + " batched decode a");
    compare_rows(std::vector<float>(out.begin() + cfg.hidden, out.end()), yb, 40 + step, 41 + step, cfg.hidden, bound,
                 family + " batched decode b");
  }
}

}  // namespace

TEST_CASE("Mixtral attention (sliding window) matches transformers, whole and through the cache", "[attention][blocks]") {
  check_gqa("mixtral", false, at::sliding_window_mask(12));
}

TEST_CASE("Qwen3-MoE attention (q/k norm) matches transformers, whole and through the cache", "[attention][blocks]") {
  check_gqa("qwen3_moe", true, at::causal_mask{});
}

TEST_CASE("DeepSeek-V3 MLA matches transformers: expanded prefill and absorbed decode", "[attention][blocks][mla]") {
  loaded f("attention_deepseek_v3.safetensors");
  auto const c = f.ref.get("config").as<double>();
  at::mla_config cfg{.hidden = sy::index_t(c[0]), .heads = sy::index_t(c[1]), .q_lora_rank = sy::index_t(c[2]),
                     .kv_lora_rank = sy::index_t(c[3]), .qk_nope_dim = sy::index_t(c[4]), .qk_rope_dim = sy::index_t(c[5]),
                     .v_head_dim = sy::index_t(c[6])};
  cfg.rope.theta = c[7];
  cfg.rope.layout = at::rope_layout::interleaved;
  cfg.rope.scaling = {.type = at::rope_scaling::kind::yarn, .factor = c[8], .original_max_position = sy::index_t(c[9]),
                      .mscale = c[10], .mscale_all_dim = c[11]};
  cfg.norm_eps = float(c[12]);
  at::mla_weights<float> w{.q_a_proj = f.mat("q_a_proj.weight"), .q_a_norm = f.vec("q_a_layernorm.weight"),
                           .q_b_proj = f.mat("q_b_proj.weight"), .kv_a_proj = f.mat("kv_a_proj_with_mqa.weight"),
                           .kv_a_norm = f.vec("kv_a_layernorm.weight"), .kv_b_proj = f.mat("kv_b_proj.weight"),
                           .o_proj = f.mat("o_proj.weight")};
  at::mla_attention<float> block(cfg, w);
  // yarn with mscale_all_dim = 1: (0.1 ln 40 + 1)^2 / sqrt(24)
  CHECK(block.scale() == Approx(std::pow(0.1 * std::log(40.0) + 1.0, 2) / std::sqrt(24.0)).epsilon(1e-6));
  double const bound = tol::attention_block(cfg.hidden, cfg.heads * (cfg.qk_nope_dim + cfg.qk_rope_dim),
                                            cfg.kv_lora_rank + cfg.qk_rope_dim, 64);
  sy::thread_pool pool(3);
  for (int T : {1, 17, 64}) {
    auto const x = f.ref.get(tname(T, ".x")).as<float>();
    auto const want = f.ref.get(tname(T, ".y")).as<float>();
    std::vector<float> y(T * cfg.hidden);
    sy::test::poison({y.data(), y.size()});
    block.forward(sy::make_view(x.data(), T, cfg.hidden), sy::make_view(y.data(), T, cfg.hidden), pool);
    compare_rows(y, want, 0, T, cfg.hidden, bound, "deepseek_v3 T=" + std::to_string(T));
  }
  at::paged_kv_cache<float> cache(block.latent_cache_config(16, 16));
  check_cached(block, cache, f, cfg.hidden, bound, "deepseek_v3 latent cache");
  at::paged_kv_cache<sy::format::bf16> cache16(block.latent_cache_config(64, 4));
  // A bf16 latent cache: within bf16's rounding of the latents (2^-9 relative), amplified little.
  check_cached(block, cache16, f, cfg.hidden, 2e-2, "deepseek_v3 bf16 latent cache");
}
