// Flash attention (prefill) against float64 scaled_dot_product_attention with explicit masks
// (tests/data/attention_sdpa.safetensors): every mask policy, GQA/MQA, head dims 40..192 with
// Dv != D, f32/bf16/f16 inputs, lengths 1..1000, chunked prefill; every ISA; plus the tiling's
// skip accounting and error messages.
#include <catch2/catch.hpp>

#include <cmath>
#include <string>
#include <vector>

#include "support/isas.hpp"
#include "support/poison.hpp"
#include "support/reference_file.hpp"
#include "support/tolerance.hpp"
#include "switchyard/attention/flash_attention.hpp"

namespace sy = switchyard;
namespace at = switchyard::attention;
namespace tol = sy::test::tolerance;

namespace {

// Calls f with the mask policy the reference file describes ([kind, a, b, c, d]).
template <class F>
void with_mask(std::vector<std::int64_t> const& p, F&& f) {
  switch (p[0]) {
    case 0: return f(at::no_mask{});
    case 1: return f(at::causal_mask{});
    case 2: return f(at::sliding_window_mask(p[1]));
    case 3: return f(at::sink_window_mask(p[1], p[2]));
    case 4: return f(at::block_sparse_mask(p[1], p[2], p[3], p[4]));
  }
  FAIL("unknown mask kind " << p[0]);
}

template <class Isa, class E>
void run_case(sy::test::reference_file const& ref, std::string const& c, std::string const& mask_name,
              sy::thread_pool& pool) {
  auto const qt = ref.get(c + ".q"), kt = ref.get(c + ".k"), vt = ref.get(c + ".v");
  auto const T = qt.shape[0], Hq = qt.shape[1], D = qt.shape[2];
  auto const S = kt.shape[0], Hkv = kt.shape[1], Dv = vt.shape[2];
  auto const q = qt.as<E>(), k = kt.as<E>(), v = vt.as<E>();
  float const scale = ref.get(c + ".scale").as<float>()[0];
  auto const want = ref.get(c + "." + mask_name + ".out").as<float>();
  std::vector<float> out(static_cast<std::size_t>(T * Hq * Dv));
  sy::test::poison({out.data(), out.size()});
  at::attention_stats stats;
  with_mask(ref.get(c + "." + mask_name + ".mask").as<std::int64_t>(), [&](auto const& mask) {
    stats = at::flash_attention<Isa>(sy::make_view(q.data(), T, Hq, D), sy::make_view(k.data(), S, Hkv, D),
                                     sy::make_view(v.data(), S, Hkv, Dv), sy::make_view(out.data(), T, Hq, Dv), mask,
                                     scale, -1, pool);
  });
  double const bound = tol::attention(D, S);
  std::vector<double> vmax_of(static_cast<std::size_t>(Hkv), 0.0);  // max |v| per KV head
  for (sy::index_t s = 0; s < S; ++s)
    for (sy::index_t h = 0; h < Hkv; ++h)
      for (sy::index_t d = 0; d < Dv; ++d)
        vmax_of[h] = std::max(vmax_of[h], std::fabs(double(sy::attention::detail::widen(v[(s * Hkv + h) * Dv + d]))));
  double worst = 0;
  for (sy::index_t t = 0; t < T; ++t)
    for (sy::index_t h = 0; h < Hq; ++h) {
      double const vmax = vmax_of[static_cast<std::size_t>(h / (Hq / Hkv))];
      for (sy::index_t d = 0; d < Dv; ++d) {
        auto const i = (t * Hq + h) * Dv + d;
        double const err = std::fabs(double(out[i]) - double(want[i])) / vmax;
        worst = std::max(worst, err);
        if (!(err <= bound))  // (a plain test first: INFO per element is slow under the sanitizers)
          FAIL(c << " " << mask_name << " on " << Isa::name << ": token " << t << " head " << h << " dim " << d
                 << ": got " << out[i] << ", sdpa " << want[i] << ", error " << err << " of max|v| > bound " << bound);
      }
    }
  INFO(c << " " << mask_name << ": worst error " << worst / bound << " of the bound; tiles " << stats.tiles
         << ", skipped " << stats.skipped);
  CHECK(worst < bound);
  CHECK(stats.tiles > 0);
}

}  // namespace

TEMPLATE_LIST_TEST_CASE("flash attention matches float64 SDPA for every mask", "[attention]", sy::test::all_isas) {
  using Isa = TestType;
  if (!sy::test::runnable<Isa>()) return;
  sy::test::reference_file ref("attention_sdpa.safetensors");
  sy::thread_pool pool(3);
  int runs = 0;
  for (std::string c : {"t1", "t17", "gqa128", "mqa96", "mla", "chunk", "bf16", "f16", "odd", "long"}) {
    for (std::string m : {"none", "causal", "sliding", "sinks", "block_sparse"}) {
      if (!ref.contains(c + "." + m + ".out")) continue;
      std::string const dt = ref.get(c + ".q").dtype;
      if (dt == "BF16") run_case<Isa, sy::format::bf16>(ref, c, m, pool);
      else if (dt == "F16") run_case<Isa, sy::format::f16>(ref, c, m, pool);
      else run_case<Isa, float>(ref, c, m, pool);
      ++runs;
    }
  }
  CHECK(runs >= 25);
}

TEST_CASE("masked tiles are skipped, and the kept fraction follows the pattern", "[attention]") {
  sy::index_t const T = 512, H = 2, D = 64;
  std::vector<float> q(T * H * D), out(T * H * D);
  for (std::size_t i = 0; i < q.size(); ++i) q[i] = std::sin(0.37f * float(i)) + 0.01f * float(i % 7);
  auto const qv = sy::make_view(static_cast<float const*>(q.data()), T, H, D);
  auto const ov = sy::make_view(out.data(), T, H, D);
  sy::thread_pool pool(2);
  auto const full = at::flash_attention(qv, qv, qv, ov, at::no_mask{}, 0.125f, -1, pool);
  auto const causal = at::flash_attention(qv, qv, qv, ov, at::causal_mask{}, 0.125f, -1, pool);
  auto const window = at::flash_attention(qv, qv, qv, ov, at::sliding_window_mask(64), 0.125f, -1, pool);
  CHECK(full.skipped == 0);
  CHECK(full.partial == 0);
  CHECK(causal.kept_fraction() == Approx(0.5).margin(0.1));
  CHECK(window.kept_fraction() < 0.25);
  // Every row of a block-predicate mask that keeps only the diagonal block sees its own block.
  auto const diag = at::flash_attention(qv, qv, qv, ov, at::block_predicate_mask(64, [](sy::index_t qb, sy::index_t kb) {
                                          return qb == kb;
                                        }), 0.125f, -1, pool);
  CHECK(diag.kept_fraction() < 0.2);
  for (float x : out) REQUIRE(std::isfinite(x));
}

TEST_CASE("flash attention rejects inconsistent shapes", "[attention]") {
  std::vector<float> a(4 * 6 * 8), b(4 * 4 * 8), o(4 * 6 * 8);
  auto q = sy::make_view(static_cast<float const*>(a.data()), 4, 6, 8);
  auto kv = sy::make_view(static_cast<float const*>(b.data()), 4, 4, 8);
  CHECK_THROWS_WITH(at::flash_attention(q, kv, kv, sy::make_view(o.data(), 4, 6, 8), at::causal_mask{}, 0.3f),
                    Catch::Contains("query heads (6) must be a positive multiple of key/value heads (4)"));
  auto kv2 = sy::make_view(static_cast<float const*>(b.data()), 4, 2, 16);
  CHECK_THROWS_WITH(at::flash_attention(q, kv2, kv2, sy::make_view(o.data(), 4, 6, 8), at::causal_mask{}, 0.3f),
                    Catch::Contains("queries have head dimension 8 but keys have 16"));
  auto kv3 = sy::make_view(static_cast<float const*>(b.data()), 2, 2, 8);
  CHECK_THROWS_WITH(at::flash_attention(q, kv3, kv3, sy::make_view(o.data(), 4, 6, 8), at::causal_mask{}, 0.3f),
                    Catch::Contains("more queries (4) than keys (2)"));
  CHECK_THROWS_WITH(at::sliding_window_mask(0), Catch::Contains("window must be >= 1"));
}
