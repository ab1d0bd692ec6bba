// Paged decode attention equals the dense path (flash_attention on the same keys and values, read
// back from the cache) for every KV format, block sizes 16 and 64, block tables that are not
// contiguous, 1 and several queries per sequence, a sliding window, one long sequence split over
// threads, and MLA's value-is-key-prefix cache. Also: quantized caches stay within their format's
// rounding, blocks return to the pool, and bad use gets clear errors.
#include <catch2/catch.hpp>

#include <cmath>
#include <random>
#include <vector>

#include "support/isas.hpp"
#include "support/poison.hpp"
#include "support/random.hpp"
#include "support/tolerance.hpp"
#include "switchyard/attention/paged_attention.hpp"

namespace sy = switchyard;
namespace at = switchyard::attention;
namespace tol = sy::test::tolerance;

namespace {

struct seq_data {
  std::vector<float> k, v;  // what was appended, f32
  at::kv_sequence seq;
};

template <class Isa, class E, class Mask>
void check_paged_equals_dense(sy::index_t block_size, sy::index_t n_queries, Mask const& mask, bool key_prefix,
                              std::vector<sy::index_t> const& lengths, sy::thread_pool& pool) {
  sy::index_t const Hkv = 2, G = 3, Hq = Hkv * G, Dk = key_prefix ? 80 : 64, Dv = key_prefix ? 64 : 48;
  at::paged_kv_cache<E> cache({.kv_heads = Hkv, .key_dim = Dk, .value_dim = Dv, .block_size = block_size,
                               .blocks = 600, .value_is_key_prefix = key_prefix});
  std::vector<seq_data> seqs(lengths.size());
  // Interleaved appends in uneven pieces: every sequence's block table is scattered over the pool.
  // A spacer sequence takes one block per round, so every real sequence's table has gaps.
  std::mt19937 rng(7);
  at::kv_sequence spacer;
  std::vector<float> spacer_k(block_size * Hkv * Dk, 0.25f), spacer_v(block_size * Hkv * Dv, 0.5f);
  bool more = true;
  while (more) {
    more = false;
    cache.append(spacer, sy::make_view(static_cast<float const*>(spacer_k.data()), block_size, Hkv, Dk),
                 sy::make_view(static_cast<float const*>(spacer_v.data()), block_size, Hkv, Dv));
    for (std::size_t i = 0; i < seqs.size(); ++i) {
      auto& s = seqs[i];
      sy::index_t const have = s.seq.length, left = lengths[i] - have;
      if (left == 0) continue;
      sy::index_t const n = std::min<sy::index_t>(left, 1 + static_cast<sy::index_t>(rng() % 37));
      std::vector<float> k(n * Hkv * Dk), v(n * Hkv * Dv);
      sy::test::fill_normal<float>(k, 0.0f, 1.0f);
      sy::test::fill_normal<float>(v, 0.0f, 1.0f);
      if (key_prefix)
        for (sy::index_t t = 0; t < n * Hkv; ++t)
          for (sy::index_t d = 0; d < Dv; ++d) v[t * Dv + d] = k[t * Dk + d];
      cache.append(s.seq, sy::make_view(static_cast<float const*>(k.data()), n, Hkv, Dk),
                   sy::make_view(static_cast<float const*>(v.data()), n, Hkv, Dv));
      s.k.insert(s.k.end(), k.begin(), k.end());
      s.v.insert(s.v.end(), v.begin(), v.end());
      more = true;
    }
  }
  cache.release(spacer);
  for (auto& s : seqs) {
    bool gap = false;
    for (std::size_t j = 1; j < s.seq.block_table.size(); ++j) gap = gap || s.seq.block_table[j] != s.seq.block_table[j - 1] + 1;
    if (s.seq.block_table.size() > 3) REQUIRE(gap);
  }

  sy::index_t const B = static_cast<sy::index_t>(seqs.size());
  std::vector<float> q(B * n_queries * Hq * Dk), out(B * n_queries * Hq * Dv);
  sy::test::fill_normal<float>(q, 0.0f, 1.0f);
  sy::test::poison({out.data(), out.size()});
  std::vector<at::kv_sequence const*> ptrs;
  for (auto& s : seqs) ptrs.push_back(&s.seq);
  float const scale = 1.0f / std::sqrt(float(Dk));
  at::paged_attention<Isa>(cache, std::span<at::kv_sequence const* const>(ptrs), sy::make_view(static_cast<float const*>(q.data()), B * n_queries, Hq, Dk),
                           sy::make_view(out.data(), B * n_queries, Hq, Dv), mask, scale, pool);

  for (sy::index_t b = 0; b < B; ++b) {
    auto const& s = seqs[static_cast<std::size_t>(b)];
    sy::index_t const S = s.seq.length;
    std::vector<float> k(S * Hkv * Dk), v(S * Hkv * Dv), want(n_queries * Hq * Dv);
    cache.gather(s.seq, sy::make_view(k.data(), S, Hkv, Dk), sy::make_view(v.data(), S, Hkv, Dv));
    // The cache holds what was appended, within the format's rounding.
    double const rel = std::is_same_v<E, float> ? 0.0
                       : std::is_same_v<E, sy::format::bf16> ? 1.0 / 256
                       : std::is_same_v<E, sy::format::f16> ? 1.0 / 2048
                       : std::is_same_v<E, std::int8_t> ? 1.0 / 254 : 1.0 / 16;
    for (sy::index_t i = 0; i < S * Hkv; ++i) {
      double amax = 0;
      for (sy::index_t d = 0; d < Dk; ++d) amax = std::max(amax, std::fabs(double(s.k[i * Dk + d])));
      for (sy::index_t d = 0; d < Dk; ++d) {
        double const x = s.k[i * Dk + d];
        // int8: half a step of amax/127; fp8: relative 2^-4, or half the subnormal step 2^-9 of the
        // scaled range near zero; bf16/f16: relative, plus f16's subnormal step near zero.
        double const bound = std::is_same_v<E, std::int8_t>         ? rel * amax * 1.0001
                             : std::is_same_v<E, sy::format::e4m3> ? rel * std::fabs(x) + std::ldexp(amax / 448, -10) * 1.0001
                                                                  : rel * std::fabs(x) + 6e-8;
        if (!(std::fabs(k[i * Dk + d] - x) <= bound))
          FAIL("cached key " << i << "/" << d << " is " << k[i * Dk + d] << ", appended " << x << ", bound " << bound);
      }
    }
    at::flash_attention<Isa>(sy::make_view(static_cast<float const*>(q.data()) + b * n_queries * Hq * Dk, n_queries, Hq, Dk),
                             sy::make_view(static_cast<float const*>(k.data()), S, Hkv, Dk),
                             sy::make_view(static_cast<float const*>(v.data()), S, Hkv, Dv),
                             sy::make_view(want.data(), n_queries, Hq, Dv), mask, scale, -1, pool);
    double vmax = 0;
    for (float x : v) vmax = std::max(vmax, double(std::fabs(x)));
    for (sy::index_t i = 0; i < n_queries * Hq * Dv; ++i) {
      float const got = out[b * n_queries * Hq * Dv + i];
      if (!(std::fabs(double(got) - double(want[i])) <= tol::attention(Dk, S) * vmax))
        FAIL(Isa::name << " block " << block_size << " sequence " << b << " (length " << S << ") element " << i
                       << ": paged " << got << ", dense " << want[i]);
    }
  }
  sy::index_t const used = 600 - cache.free_blocks();
  CHECK(used > 0);
  for (auto& s : seqs) cache.release(s.seq);
  CHECK(cache.free_blocks() == 600);
}

template <class Isa, class E>
void all_shapes(sy::thread_pool& pool) {
  for (sy::index_t bs : {16, 64}) {
    INFO("block size " << bs);
    check_paged_equals_dense<Isa, E>(bs, 1, at::causal_mask{}, false, {300, 77, 1, 129}, pool);
    check_paged_equals_dense<Isa, E>(bs, 3, at::causal_mask{}, false, {45, 200}, pool);
    check_paged_equals_dense<Isa, E>(bs, 1, at::sliding_window_mask(100), false, {500, 64}, pool);
  }
}

}  // namespace

TEMPLATE_LIST_TEST_CASE("paged decode equals dense attention, f32/bf16/f16 caches", "[attention][paged]", sy::test::all_isas) {
  using Isa = TestType;
  if (!sy::test::runnable<Isa>()) return;
  sy::thread_pool pool(3);
  all_shapes<Isa, float>(pool);
  all_shapes<Isa, sy::format::bf16>(pool);
  all_shapes<Isa, sy::format::f16>(pool);
}

TEMPLATE_LIST_TEST_CASE("paged decode equals dense attention, int8/fp8 caches with per-token scales", "[attention][paged]",
                        sy::test::all_isas) {
  using Isa = TestType;
  if (!sy::test::runnable<Isa>()) return;
  sy::thread_pool pool(3);
  all_shapes<Isa, std::int8_t>(pool);
  all_shapes<Isa, sy::format::e4m3>(pool);
}

TEST_CASE("one long sequence is split over threads; MLA's key-prefix cache", "[attention][paged]") {
  sy::thread_pool pool(4);
  check_paged_equals_dense<sy::simd::native, float>(64, 1, at::causal_mask{}, false, {5000}, pool);
  check_paged_equals_dense<sy::simd::native, sy::format::bf16>(16, 2, at::causal_mask{}, true, {700, 33}, pool);
  check_paged_equals_dense<sy::simd::native, std::int8_t>(64, 1, at::causal_mask{}, true, {300}, pool);
}

TEST_CASE("paged cache errors", "[attention][paged]") {
  CHECK_THROWS_WITH(at::paged_kv_cache<float>({.kv_heads = 1, .key_dim = 8, .value_dim = 8, .block_size = 24, .blocks = 4}),
                    Catch::Contains("block_size must be a multiple of 16"));
  at::paged_kv_cache<float> cache({.kv_heads = 1, .key_dim = 8, .value_dim = 8, .block_size = 16, .blocks = 2});
  at::kv_sequence s;
  std::vector<float> k(40 * 8, 0.5f);
  auto kv = sy::make_view(static_cast<float const*>(k.data()), 40, 1, 8);
  CHECK_THROWS_AS(cache.append(s, kv, kv), sy::allocation_error);
  CHECK_THROWS_WITH(cache.append(s, kv, kv), Catch::Contains("the pool has 2 free blocks of 2 but 3 more are needed"));
  CHECK(s.length == 0);
  CHECK(cache.free_blocks() == 2);
  auto kv2 = sy::make_view(static_cast<float const*>(k.data()), 4, 1, 8);
  cache.append(s, kv2, kv2);
  std::vector<float> q(2 * 8), o(2 * 8);
  at::kv_sequence const* ptr = &s;
  CHECK_THROWS_WITH(at::paged_attention(cache, std::span<at::kv_sequence const* const>(&ptr, 1),
                                        sy::make_view(static_cast<float const*>(q.data()), 5, 1, 8) , sy::make_view(o.data(), 5, 1, 8),
                                        at::causal_mask{}, 0.3f),
                    Catch::Contains("sequence 0 holds 4 tokens but has 5 queries"));
  at::kv_sequence bogus{{7}, 3};
  ptr = &bogus;
  CHECK_THROWS_WITH(at::paged_attention(cache, std::span<at::kv_sequence const* const>(&ptr, 1),
                                        sy::make_view(static_cast<float const*>(q.data()), 1, 1, 8), sy::make_view(o.data(), 1, 1, 8),
                                        at::causal_mask{}, 0.3f),
                    Catch::Contains("names block 7, outside the pool of 2"));
}
