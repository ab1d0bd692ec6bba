// gpt-oss's learned attention sinks (tests/data/attention_gpt_oss.safetensors, written by
// tools/make_attention_reference.py):
//   - flash attention with sinks against a float64 reference of transformers' eager GptOss form
//     (causal and sliding window, GQA, Dv != D, T 1..128, S up to 1100, queries the last T of S,
//     sinks that dwarf every logit), on every ISA;
//   - paged attention with sinks against the same reference: the last T queries at once over the
//     cache, then token by token with two sequences batched, continuing as keys arrive; the long
//     sequences are split along the keys, so the sink must enter once, at the merge;
//   - GptOssAttention itself (YaRN rope, q/k/v/o biases, sinks), a sliding layer (window 8) and a
//     full one: whole sequences, a paged cache in chunks and one token at a time, batched decode;
//   - properties: -inf sinks change nothing, a row that sees no key stays 0, bad sinks are refused.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "support/isas.hpp"
#include "support/poison.hpp"
#include "support/random.hpp"
#include "support/reference_file.hpp"
#include "support/tolerance.hpp"
#include "switchyard/attention/gqa_attention.hpp"

namespace sy = switchyard;
namespace at = switchyard::attention;
namespace tol = sy::test::tolerance;

namespace {

sy::test::reference_file const& data() {
  static sy::test::reference_file const f("attention_gpt_oss.safetensors");
  return f;
}

// One raw-kernel case: q [T, Hq, D], k [S, Hkv, D], v [S, Hkv, Dv], sinks [Hq], the queries are
// the last T of the S positions; out.<mask> the float64 reference per mask.
struct sink_case {
  std::string name;
  sy::index_t T, S, Hq, Hkv, D, Dv;
  std::vector<float> q, k, v, sinks;
  float scale;
  explicit sink_case(std::string n) : name(std::move(n)) {
    auto const& f = data();
    auto const qt = f.get("sinks." + name + ".q"), vt = f.get("sinks." + name + ".v");
    T = qt.shape[0], Hq = qt.shape[1], D = qt.shape[2];
    S = vt.shape[0], Hkv = vt.shape[1], Dv = vt.shape[2];
    q = qt.as<float>(), k = f.get("sinks." + name + ".k").as<float>(), v = vt.as<float>();
    sinks = f.get("sinks." + name + ".sinks").as<float>();
    scale = f.get("sinks." + name + ".scale").as<float>()[0];
  }
  std::vector<float> want(std::string const& mask) const { return data().get("sinks." + name + "." + mask + ".out").as<float>(); }
  double vmax() const {
    double m = 0;
    for (float x : v) m = std::max(m, double(std::fabs(x)));
    return m;
  }
};

char const* const sink_cases[] = {"t1", "t17", "gqa128", "chunk", "big", "long", "long2"};

// Calls f with the mask the reference names: causal, or the sliding window it was made with.
template <class F>
void with_mask(sink_case const& c, std::string const& mask, F&& f) {
  auto const p = data().get("sinks." + c.name + "." + mask + ".mask").as<std::int64_t>();
  if (p[0] == 1) return f(at::causal_mask{});
  REQUIRE(p[0] == 2);
  f(at::sliding_window_mask(p[1]));
}

// rows [r0, r1) of got (starting at row r0) against the reference, |err| <= bound * vmax.
void compare_heads(std::vector<float> const& got, std::vector<float> const& want, sy::index_t r0, sy::index_t r1,
                   sy::index_t row, double bound, double vmax, std::string const& what) {
  for (sy::index_t r = r0; r < r1; ++r)
    for (sy::index_t i = 0; i < row; ++i) {
      double const g = got[(r - r0) * row + i], w = want[r * row + i];
      if (!(std::fabs(g - w) <= bound * vmax))  // (a plain test first: INFO per element is slow under the sanitizers)
        FAIL(what << ": query " << r << " element " << i << ": got " << g << ", reference " << w << ", bound "
                  << bound * vmax);
    }
}

template <class Isa>
void flash_case(sink_case const& c, std::string const& mask_name, sy::thread_pool& pool) {
  std::vector<float> out(static_cast<std::size_t>(c.T * c.Hq * c.Dv));
  sy::test::poison({out.data(), out.size()});
  with_mask(c, mask_name, [&](auto const& mask) {
    at::flash_attention<Isa>(sy::make_view(c.q.data(), c.T, c.Hq, c.D), sy::make_view(c.k.data(), c.S, c.Hkv, c.D),
                             sy::make_view(c.v.data(), c.S, c.Hkv, c.Dv), sy::make_view(out.data(), c.T, c.Hq, c.Dv),
                             mask, c.scale, std::span<float const>(c.sinks), -1, pool);
  });
  compare_heads(out, c.want(mask_name), 0, c.T, c.Hq * c.Dv, tol::attention(c.D, c.S), c.vmax(),
                c.name + " " + mask_name + " flash on " + Isa::name);
}

// Appends rows [r0, r1) of a case's keys and values to seq.
void append_rows(at::paged_kv_cache<float>& cache, at::kv_sequence& seq, sink_case const& c, sy::index_t r0,
                 sy::index_t r1) {
  cache.append(seq, sy::make_view(c.k.data() + r0 * c.Hkv * c.D, r1 - r0, c.Hkv, c.D),
               sy::make_view(c.v.data() + r0 * c.Hkv * c.Dv, r1 - r0, c.Hkv, c.Dv));
}

// The case's first S - T keys go into the cache in uneven pieces, then:
//   all T queries in one call over the whole sequence (chunked prefill over the cache);
//   again, one query per call as its key arrives (decode continuing the sequence).
template <class Isa>
void paged_case(sink_case const& c, std::string const& mask_name, sy::index_t block_size, sy::thread_pool& pool) {
  at::paged_kv_cache<float> cache({.kv_heads = c.Hkv, .key_dim = c.D, .value_dim = c.Dv, .block_size = block_size,
                                   .blocks = (c.S + block_size - 1) / block_size * 2 + 4});
  auto const want = c.want(mask_name);
  double const bound = tol::attention(c.D, c.S), vmax = c.vmax();
  std::string const what = c.name + " " + mask_name + " paged (block " + std::to_string(block_size) + ") on " + Isa::name;
  with_mask(c, mask_name, [&](auto const& mask) {
    at::kv_sequence whole;
    for (sy::index_t r = 0; r < c.S;) {
      sy::index_t const n = std::min<sy::index_t>(c.S - r, 1 + (r * 7919) % 53);
      append_rows(cache, whole, c, r, r + n);
      r += n;
    }
    std::vector<float> out(static_cast<std::size_t>(c.T * c.Hq * c.Dv));
    sy::test::poison({out.data(), out.size()});
    at::kv_sequence const* one = &whole;
    at::paged_attention<Isa>(cache, std::span<at::kv_sequence const* const>(&one, 1),
                             sy::make_view(c.q.data(), c.T, c.Hq, c.D), sy::make_view(out.data(), c.T, c.Hq, c.Dv),
                             mask, c.scale, std::span<float const>(c.sinks), pool);
    compare_heads(out, want, 0, c.T, c.Hq * c.Dv, bound, vmax, what + ", all queries at once");
    cache.release(whole);

    at::kv_sequence seq;
    append_rows(cache, seq, c, 0, c.S - c.T);
    sy::index_t const row = c.Hq * c.Dv;
    for (sy::index_t t = 0; t < c.T; ++t) {
      append_rows(cache, seq, c, c.S - c.T + t, c.S - c.T + t + 1);
      std::vector<float> o1(static_cast<std::size_t>(row));
      sy::test::poison({o1.data(), o1.size()});
      at::kv_sequence const* p = &seq;
      at::paged_attention<Isa>(cache, std::span<at::kv_sequence const* const>(&p, 1),
                               sy::make_view(c.q.data() + t * c.Hq * c.D, 1, c.Hq, c.D),
                               sy::make_view(o1.data(), 1, c.Hq, c.Dv), mask, c.scale, std::span<float const>(c.sinks),
                               pool);
      compare_heads(o1, want, t, t + 1, row, bound, vmax, what + ", one query per step");
    }
    cache.release(seq);
  });
  CHECK(cache.free_blocks() == cache.config().blocks);
}

}  // namespace

TEMPLATE_LIST_TEST_CASE("flash attention with learned sinks matches the float64 reference", "[attention][sinks]",
                        sy::test::all_isas) {
  using Isa = TestType;
  if (!sy::test::runnable<Isa>()) return;
  sy::thread_pool pool(3);
  for (char const* name : sink_cases) {
    sink_case const c(name);
    for (std::string m : {"causal", "sliding"})
      if (data().contains("sinks." + c.name + "." + m + ".out")) flash_case<Isa>(c, m, pool);
  }
}

TEMPLATE_LIST_TEST_CASE("paged attention with learned sinks matches the float64 reference", "[attention][sinks][paged]",
                        sy::test::all_isas) {
  using Isa = TestType;
  if (!sy::test::runnable<Isa>()) return;
  sy::thread_pool pool(3);
  for (char const* name : {"t1", "t17", "chunk", "big", "long", "long2"}) {
    sink_case const c(name);
    for (std::string m : {"causal", "sliding"}) {
      if (!data().contains("sinks." + c.name + "." + m + ".out")) continue;
      paged_case<Isa>(c, m, 16, pool);
      paged_case<Isa>(c, m, 64, pool);
    }
  }
}

TEST_CASE("paged decode with sinks: two long sequences batched, split along their keys", "[attention][sinks][paged]") {
  // 1100 and 600 keys, Hkv = 2, 3 threads: splits per sequence = min(ceil(4 * 3 / (2 * 2)) = 3,
  // keys / 256) = 3 and 2, so every row merges several partial softmax states, some of which saw
  // no key at all under the window of 37 (their max is -inf).
  sink_case const a("long"), b("long2");
  REQUIRE((a.Hq == b.Hq && a.Hkv == b.Hkv && a.D == b.D && a.Dv == b.Dv && a.T == b.T));
  sy::thread_pool pool(3);
  for (std::string m : {"causal", "sliding"}) {
    at::paged_kv_cache<float> cache({.kv_heads = a.Hkv, .key_dim = a.D, .value_dim = a.Dv, .block_size = 16, .blocks = 256});
    at::kv_sequence sa, sb;
    append_rows(cache, sa, a, 0, a.S - a.T);
    append_rows(cache, sb, b, 0, b.S - b.T);
    // The sinks belong to the layer, so one call has one set: a's. Sequence a's rows match a's
    // reference; b's rows match flash attention with a's sinks on b's keys so far (flash with
    // sinks is checked against the reference above).
    auto const want_a = a.want(m);
    sy::index_t const row = a.Hq * a.Dv;
    with_mask(a, m, [&](auto const& mask) {
      for (sy::index_t t = 0; t < a.T; ++t) {
        append_rows(cache, sa, a, a.S - a.T + t, a.S - a.T + t + 1);
        append_rows(cache, sb, b, b.S - b.T + t, b.S - b.T + t + 1);
        std::vector<float> q(static_cast<std::size_t>(2 * a.Hq * a.D)), out(static_cast<std::size_t>(2 * row));
        std::copy_n(a.q.data() + t * a.Hq * a.D, a.Hq * a.D, q.data());
        std::copy_n(b.q.data() + t * b.Hq * b.D, b.Hq * b.D, q.data() + a.Hq * a.D);
        sy::test::poison({out.data(), out.size()});
        at::kv_sequence const* seqs[] = {&sa, &sb};
        at::paged_attention(cache, std::span<at::kv_sequence const* const>(seqs),
                            sy::make_view(static_cast<float const*>(q.data()), 2, a.Hq, a.D),
                            sy::make_view(out.data(), 2, a.Hq, a.Dv), mask, a.scale, std::span<float const>(a.sinks),
                            pool);
        compare_heads(std::vector<float>(out.begin(), out.begin() + row), want_a, t, t + 1, row,
                      tol::attention(a.D, a.S), a.vmax(), "long (batched) " + m);
        std::vector<float> dense(static_cast<std::size_t>(row));
        sy::index_t const len = sb.length;
        at::flash_attention(sy::make_view(b.q.data() + t * b.Hq * b.D, 1, b.Hq, b.D),
                            sy::make_view(b.k.data(), len, b.Hkv, b.D), sy::make_view(b.v.data(), len, b.Hkv, b.Dv),
                            sy::make_view(dense.data(), 1, b.Hq, b.Dv), mask, b.scale, std::span<float const>(a.sinks),
                            -1, pool);
        compare_heads(std::vector<float>(out.begin() + row, out.end()), dense, 0, 1, row, 2 * tol::attention(b.D, len),
                      b.vmax(), "long2 (batched) " + m);
      }
    });
    cache.release(sa);
    cache.release(sb);
  }
}

TEST_CASE("sinks of -inf change nothing; a row that sees no key stays 0 with a sink", "[attention][sinks]") {
  sink_case const c("t17");
  sy::thread_pool pool(2);
  std::vector<float> plain(static_cast<std::size_t>(c.T * c.Hq * c.Dv)), with(plain.size());
  std::vector<float> none(static_cast<std::size_t>(c.Hq), -std::numeric_limits<float>::infinity());
  auto q = sy::make_view(c.q.data(), c.T, c.Hq, c.D);
  auto k = sy::make_view(c.k.data(), c.S, c.Hkv, c.D);
  auto v = sy::make_view(c.v.data(), c.S, c.Hkv, c.Dv);
  at::flash_attention(q, k, v, sy::make_view(plain.data(), c.T, c.Hq, c.Dv), at::causal_mask{}, c.scale, -1, pool);
  at::flash_attention(q, k, v, sy::make_view(with.data(), c.T, c.Hq, c.Dv), at::causal_mask{}, c.scale,
                      std::span<float const>(none), -1, pool);
  CHECK(plain == with);

  // Keys 0..15 only see queries of the same 4-block; query block 4 (position 16) sees none.
  auto const no_key = at::block_predicate_mask(4, [](sy::index_t qb, sy::index_t kb) { return qb < 4 && qb == kb; });
  sy::test::poison({with.data(), with.size()});
  at::flash_attention(q, k, v, sy::make_view(with.data(), c.T, c.Hq, c.Dv), no_key, c.scale,
                      std::span<float const>(c.sinks), -1, pool);
  for (sy::index_t i = 0; i < c.Hq * c.Dv; ++i) REQUIRE(with[16 * c.Hq * c.Dv + i] == 0.0f);
  for (float x : with) REQUIRE(std::isfinite(x));

  at::paged_kv_cache<float> cache({.kv_heads = c.Hkv, .key_dim = c.D, .value_dim = c.Dv, .block_size = 16, .blocks = 4});
  at::kv_sequence s;
  append_rows(cache, s, c, 0, c.S);
  std::vector<float> o1(static_cast<std::size_t>(c.Hq * c.Dv));
  sy::test::poison({o1.data(), o1.size()});
  at::kv_sequence const* p = &s;
  at::paged_attention(cache, std::span<at::kv_sequence const* const>(&p, 1),
                      sy::make_view(c.q.data() + 16 * c.Hq * c.D, 1, c.Hq, c.D), sy::make_view(o1.data(), 1, c.Hq, c.Dv),
                      no_key, c.scale, std::span<float const>(c.sinks), pool);
  for (float x : o1) REQUIRE(x == 0.0f);
}

TEST_CASE("bad sinks are refused", "[attention][sinks]") {
  std::vector<float> a(4 * 4 * 8), o(4 * 4 * 8), three(3, 0.5f), nan(4, 0.5f);
  nan[2] = std::numeric_limits<float>::quiet_NaN();
  auto q = sy::make_view(static_cast<float const*>(a.data()), 4, 4, 8);
  auto kv = sy::make_view(static_cast<float const*>(a.data()), 4, 2, 8);
  CHECK_THROWS_WITH(at::flash_attention(q, kv, kv, sy::make_view(o.data(), 4, 4, 8), at::causal_mask{}, 0.3f,
                                        std::span<float const>(three)),
                    Catch::Contains("sinks has 3 entries but there are 4 query heads"));
  CHECK_THROWS_WITH(at::flash_attention(q, kv, kv, sy::make_view(o.data(), 4, 4, 8), at::causal_mask{}, 0.3f,
                                        std::span<float const>(nan)),
                    Catch::Contains("sink of head 2 is nan"));
  std::vector<float> w(8 * 16, 0.1f);
  auto m = sy::make_view(static_cast<float const*>(w.data()), 8, 16);
  at::gqa_weights<float> gw{.q = m, .k = sy::make_view(static_cast<float const*>(w.data()), 4, 16),
                            .v = sy::make_view(static_cast<float const*>(w.data()), 4, 16),
                            .o = sy::make_view(static_cast<float const*>(w.data()), 16, 8)};
  gw.sinks = sy::make_view(static_cast<float const*>(three.data()), 3);
  CHECK_THROWS_WITH((at::gqa_attention<float>({.hidden = 16, .q_heads = 2, .kv_heads = 1, .head_dim = 4}, gw)),
                    Catch::Contains("sinks must have q_heads (2) elements, got 3"));
}

namespace {

struct gpt_oss_layer {
  std::vector<std::vector<float>> keep;
  at::gqa_config cfg;
  at::gqa_weights<float> w;
  sy::index_t window;

  sy::matrix_view<float const> mat(std::string const& n) {
    auto t = data().get(n);
    keep.push_back(t.as<float>());
    return sy::make_view(static_cast<float const*>(keep.back().data()), t.shape[0], t.shape[1]);
  }
  sy::vector_view<float const> vec(std::string const& n) {
    auto t = data().get(n);
    keep.push_back(t.as<float>());
    return sy::make_view(static_cast<float const*>(keep.back().data()), t.shape[0]);
  }

  explicit gpt_oss_layer(std::string const& kind) {
    auto const c = data().get("config").as<double>();
    cfg = {.hidden = sy::index_t(c[0]), .q_heads = sy::index_t(c[1]), .kv_heads = sy::index_t(c[2]),
           .head_dim = sy::index_t(c[3])};
    window = sy::index_t(c[4]);
    cfg.rope.theta = c[5];
    cfg.rope.scaling = {.type = at::rope_scaling::kind::yarn, .factor = c[6], .original_max_position = sy::index_t(c[7]),
                        .beta_fast = c[8], .beta_slow = c[9], .truncate = c[10] != 0.0};
    w = {.q = mat(kind + ".q_proj.weight"), .k = mat(kind + ".k_proj.weight"), .v = mat(kind + ".v_proj.weight"),
         .o = mat(kind + ".o_proj.weight"), .q_bias = vec(kind + ".q_proj.bias"), .k_bias = vec(kind + ".k_proj.bias"),
         .v_bias = vec(kind + ".v_proj.bias"), .o_bias = vec(kind + ".o_proj.bias")};
    w.sinks = vec(kind + ".sinks");
  }
};

// Rows [r0, r1) of got (starting at r0) against transformers, relative to the largest |y|.
void compare_rows(std::vector<float> const& got, std::vector<float> const& want, sy::index_t r0, sy::index_t r1,
                  sy::index_t cols, double bound, std::string const& what) {
  double scale = 0;
  for (float x : want) scale = std::max(scale, double(std::fabs(x)));
  compare_heads(got, want, r0, r1, cols, bound, scale, what);
}

template <class Mask>
void check_gpt_oss(std::string const& kind, Mask mask) {
  gpt_oss_layer L(kind);
  at::gqa_attention<float, Mask> block(L.cfg, L.w, mask);
  REQUIRE(block.sinks().size() == static_cast<std::size_t>(L.cfg.q_heads));
  sy::index_t const H = L.cfg.hidden;
  double const bound = tol::attention_block(H, L.cfg.q_heads * L.cfg.head_dim, L.cfg.head_dim, 40);
  sy::thread_pool pool(3);

  // The whole sequence at once.
  for (int T : {1, 20, 40}) {
    std::string t = "T";  // (built by appending: GCC 12 warns falsely, -Wrestrict, on "T" + to_string)
    t += std::to_string(T);
    auto const x = data().get(kind + "." + t + ".x").as<float>(), want = data().get(kind + "." + t + ".y").as<float>();
    std::vector<float> y(static_cast<std::size_t>(T * H));
    sy::test::poison({y.data(), y.size()});
    block.forward(sy::make_view(x.data(), T, H), sy::make_view(y.data(), T, H), pool);
    compare_rows(y, want, 0, T, H, bound, kind + " whole " + t);
  }

  // Through a paged cache: a prefill chunk (flash), a second chunk over the cache (paged, n > 1),
  // then one token per forward call, then batched decode of two sequences in one call.
  auto const xa = data().get(kind + ".T20.x").as<float>(), ya = data().get(kind + ".T20.y").as<float>();
  auto const xb = data().get(kind + ".T40.x").as<float>(), yb = data().get(kind + ".T40.y").as<float>();
  at::paged_kv_cache<float> cache({.kv_heads = L.cfg.kv_heads, .key_dim = L.cfg.head_dim, .value_dim = L.cfg.head_dim,
                                   .block_size = 16, .blocks = 16});
  at::kv_sequence a, b;
  auto chunk = [&](at::kv_sequence& s, std::vector<float> const& x, std::vector<float> const& y, sy::index_t r0,
                   sy::index_t r1, std::string const& what) {
    std::vector<float> out(static_cast<std::size_t>((r1 - r0) * H));
    sy::test::poison({out.data(), out.size()});
    block.forward(cache, s, sy::make_view(x.data() + r0 * H, r1 - r0, H), sy::make_view(out.data(), r1 - r0, H), pool);
    compare_rows(out, y, r0, r1, H, bound, kind + " " + what);
  };
  chunk(a, xa, ya, 0, 5, "prefill a");
  chunk(b, xb, yb, 0, 11, "prefill b");
  chunk(a, xa, ya, 5, 12, "second chunk a");
  chunk(b, xb, yb, 11, 24, "second chunk b");
  for (sy::index_t t = 12; t < 16; ++t) chunk(a, xa, ya, t, t + 1, "token by token a");
  for (sy::index_t t = 24; t < 30; ++t) chunk(b, xb, yb, t, t + 1, "token by token b");
  for (sy::index_t step = 0; step < 4; ++step) {
    sy::index_t const ta = 16 + step, tb = 30 + step;
    std::vector<float> x(static_cast<std::size_t>(2 * H)), out(static_cast<std::size_t>(2 * H));
    std::copy_n(xa.data() + ta * H, H, x.data());
    std::copy_n(xb.data() + tb * H, H, x.data() + H);
    sy::test::poison({out.data(), out.size()});
    at::kv_sequence* seqs[] = {&a, &b};
    block.decode(cache, std::span<at::kv_sequence* const>(seqs), sy::make_view(static_cast<float const*>(x.data()), 2, H),
                 sy::make_view(out.data(), 2, H), pool);
    compare_rows(std::vector<float>(out.begin(), out.begin() + H), ya, ta, ta + 1, H, bound, kind + " batched decode a");
    compare_rows(std::vector<float>(out.begin() + H, out.end()), yb, tb, tb + 1, H, bound, kind + " batched decode b");
  }
  for (sy::index_t t = 34; t < 40; ++t) chunk(b, xb, yb, t, t + 1, "token by token b after the batch");
  CHECK(a.length == 20);
  CHECK(b.length == 40);
  cache.release(a);
  cache.release(b);
}

}  // namespace

TEST_CASE("the gpt-oss YaRN rope matches GptOssRotaryEmbedding", "[attention][sinks][rope]") {
  gpt_oss_layer L("full");
  at::rope_config rc = L.cfg.rope;
  rc.head_dim = L.cfg.head_dim;
  at::rotary_embedding rope(rc);
  auto const inv_freq = data().get("rope.inv_freq").as<float>();
  REQUIRE(rope.inv_freq().size() == inv_freq.size());
  // inv_freq to one ulp (tolerance.hpp, rope: PyTorch's f32 pow is not always correctly rounded).
  for (std::size_t i = 0; i < inv_freq.size(); ++i)
    CHECK(std::fabs(rope.inv_freq()[i] - inv_freq[i]) <= 2 * tol::u32 * inv_freq[i]);
  CHECK(rope.attention_factor() == Approx(data().get("rope.attention_factor").as<float>()[0]).epsilon(1e-6));
}

TEST_CASE("gpt-oss sliding-window attention with sinks matches transformers, whole and through the cache",
          "[attention][sinks][blocks]") {
  gpt_oss_layer L("sliding");
  check_gpt_oss("sliding", at::sliding_window_mask(L.window));
}

TEST_CASE("gpt-oss full attention with sinks matches transformers, whole and through the cache",
          "[attention][sinks][blocks]") {
  check_gpt_oss("full", at::causal_mask{});
}
