// Pruning masks (prune/masks.hpp): the pattern is met exactly, what is dropped scores no higher
// than what is kept, activation-aware scores follow the inputs, 2:4 magnitude pruning is what
// format::sparse24's conversion keeps, and bad requests are refused with a clear message. Expert
// pruning (prune/experts.hpp): the kept experts are the most used, and the cut-down layer equals
// the full one with the dropped experts masked out of routing.
#include <catch2/catch.hpp>

#include <cmath>
#include <random>
#include <stdexcept>
#include <vector>

#include "switchyard/core/format/sparse24.hpp"
#include "switchyard/expert/moe.hpp"
#include "switchyard/prune/calibration.hpp"
#include "switchyard/prune/experts.hpp"
#include "switchyard/prune/masks.hpp"
#include "switchyard/route/families.hpp"

namespace sy = switchyard;
namespace prune = switchyard::prune;
using sy::index_t;

namespace {

std::vector<float> random_matrix(index_t rows, index_t cols, unsigned seed) {
  std::mt19937 g(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> w(static_cast<std::size_t>(rows * cols));
  for (auto& v : w) v = d(g);
  return w;
}
std::vector<float> random_norms(index_t cols, unsigned seed) {
  std::mt19937 g(seed);
  std::lognormal_distribution<float> d(0.0f, 1.0f);  // features of very different sizes
  std::vector<float> n(static_cast<std::size_t>(cols));
  for (auto& v : n) v = d(g);
  return n;
}
float score(float w, std::vector<float> const& norms, index_t j) {
  return std::fabs(w) * (norms.empty() ? 1.0f : norms[static_cast<std::size_t>(j)]);
}

}  // namespace

TEST_CASE("unstructured pruning zeroes the lowest-scoring share of every row", "[prune]") {
  index_t const rows = 13, cols = 96;
  for (bool aware : {false, true})
    for (double s : {0.5, 0.25, 0.9}) {
      auto const orig = random_matrix(rows, cols, 5);
      auto w = orig;
      auto const norms = aware ? random_norms(cols, 6) : std::vector<float>{};
      index_t const zeroed = prune::unstructured(sy::make_view(w.data(), rows, cols), s, norms);
      index_t const drop = static_cast<index_t>(std::llround(s * cols));
      CHECK(zeroed == rows * drop);
      CHECK(prune::sparsity(sy::make_view(static_cast<float const*>(w.data()), rows, cols)) == Approx(double(drop) / cols));
      for (index_t i = 0; i < rows; ++i) {
        float max_dropped = 0.0f, min_kept = INFINITY;
        index_t zeros = 0;
        for (index_t j = 0; j < cols; ++j) {
          float const o = orig[static_cast<std::size_t>(i * cols + j)], now = w[static_cast<std::size_t>(i * cols + j)];
          if (now == 0.0f) {
            ++zeros;
            max_dropped = std::max(max_dropped, score(o, norms, j));
          } else {
            CHECK(now == o);  // kept weights are untouched
            min_kept = std::min(min_kept, score(o, norms, j));
          }
        }
        INFO("aware " << aware << " sparsity " << s << " row " << i);
        CHECK(zeros == drop);
        CHECK(max_dropped <= min_kept);
      }
    }
}

TEST_CASE("n:m pruning keeps the n highest scores of every m consecutive weights", "[prune]") {
  index_t const rows = 9, cols = 64;
  for (bool aware : {false, true})
    for (auto [n, m] : {std::pair{2, 4}, std::pair{1, 4}, std::pair{4, 8}}) {
      auto const orig = random_matrix(rows, cols, 7);
      auto w = orig;
      auto const norms = aware ? random_norms(cols, 8) : std::vector<float>{};
      index_t const zeroed = prune::n_m(sy::make_view(w.data(), rows, cols), n, m, norms);
      CHECK(zeroed == rows * (cols / m) * (m - n));
      CHECK(prune::satisfies_n_m(sy::make_view(static_cast<float const*>(w.data()), rows, cols), n, m));
      CHECK(prune::sparsity(sy::make_view(static_cast<float const*>(w.data()), rows, cols)) == Approx(double(m - n) / m));
      for (index_t i = 0; i < rows; ++i)
        for (index_t g = 0; g < cols / m; ++g) {
          float max_dropped = 0.0f, min_kept = INFINITY;
          for (index_t k = 0; k < m; ++k) {
            index_t const j = g * m + k;
            float const o = orig[static_cast<std::size_t>(i * cols + j)], now = w[static_cast<std::size_t>(i * cols + j)];
            if (now == 0.0f) max_dropped = std::max(max_dropped, score(o, norms, j));
            else min_kept = std::min(min_kept, score(o, norms, j));
          }
          INFO(n << ":" << m << " aware " << aware << " row " << i << " group " << g);
          CHECK(max_dropped <= min_kept);
        }
    }
}

TEST_CASE("activation-aware scores keep small weights on loud features", "[prune]") {
  // One row, one group of 4: magnitude keeps columns 0 and 1; with column 3's input 100x louder,
  // Wanda keeps 3 over 1.
  std::vector<float> w = {1.0f, 0.9f, 0.1f, 0.05f}, norms = {1.0f, 1.0f, 1.0f, 100.0f};
  auto mag = w;
  prune::n_m(sy::make_view(mag.data(), 1, 4), 2, 4);
  CHECK(mag == std::vector<float>{1.0f, 0.9f, 0.0f, 0.0f});
  prune::n_m(sy::make_view(w.data(), 1, 4), 2, 4, norms);
  CHECK(w == std::vector<float>{1.0f, 0.0f, 0.0f, 0.05f});
}

TEST_CASE("2:4 magnitude pruning is what sparse24's conversion keeps", "[prune][sparse]") {
  index_t const rows = 7, cols = 128;
  auto w = random_matrix(rows, cols, 9);
  for (std::size_t i = 0; i < w.size(); i += 5) w[i] = w[(i + 1) % w.size()];  // ties within groups
  std::vector<float> via_format(w.size());
  using Tr = sy::format::traits<sy::format::sparse24<float>>;
  for (std::size_t b = 0; b < w.size() / 32; ++b) {
    sy::format::sparse24<float> blk;
    Tr::quantize(w.data() + 32 * b, &blk);
    Tr::dequantize(&blk, via_format.data() + 32 * b);
  }
  prune::n_m(sy::make_view(w.data(), rows, cols), 2, 4);
  CHECK(w == via_format);
}

TEST_CASE("input_norms accumulates per-feature L2 norms over batches", "[prune]") {
  index_t const cols = 10;
  auto const a = random_matrix(3, cols, 1), b = random_matrix(5, cols, 2);
  prune::input_norms acc(cols);
  acc.add(sy::make_view(a.data(), 3, cols));
  acc.add(sy::make_view(b.data(), 5, cols));
  CHECK(acc.tokens() == 8);
  auto const n = acc.norms();
  for (index_t j = 0; j < cols; ++j) {
    double s = 0;
    for (index_t t = 0; t < 3; ++t) s += double(a[static_cast<std::size_t>(t * cols + j)]) * a[static_cast<std::size_t>(t * cols + j)];
    for (index_t t = 0; t < 5; ++t) s += double(b[static_cast<std::size_t>(t * cols + j)]) * b[static_cast<std::size_t>(t * cols + j)];
    CHECK(n[static_cast<std::size_t>(j)] == Approx(std::sqrt(s)).epsilon(1e-6));
  }
}

TEST_CASE("pruning refuses bad requests with a clear message", "[prune][errors]") {
  std::vector<float> w(4 * 12, 1.0f);
  auto view = sy::make_view(w.data(), 4, 12);
  for (double s : {0.0, 1.0, -0.1, 1.5, std::nan("")})
    CHECK_THROWS_WITH(prune::unstructured(view, s), Catch::Contains("sparsity must be in (0, 1)"));
  std::vector<float> odd(2 * 6, 1.0f);
  CHECK_THROWS_WITH(prune::n_m(sy::make_view(odd.data(), 2, 6), 2, 4),
                    Catch::Contains("the 2:4 pattern needs a width divisible by 4, got 6"));
  CHECK_THROWS_WITH(prune::n_m(view, 4, 4), Catch::Contains("needs 0 < n < m"));
  CHECK_THROWS_WITH(prune::n_m(view, 0, 4), Catch::Contains("needs 0 < n < m"));
  std::vector<float> short_norms(5, 1.0f);
  CHECK_THROWS_WITH(prune::unstructured(view, 0.5, short_norms), Catch::Contains("input_norms has 5 features but the matrix has 12"));
  std::vector<float> bad_norms(12, 1.0f);
  bad_norms[3] = -1.0f;
  CHECK_THROWS_WITH(prune::n_m(view, 2, 4, bad_norms), Catch::Contains("input norm 3 is -1"));
  CHECK_THROWS_WITH(prune::input_norms(0), Catch::Contains("at least one feature"));
}

namespace {

// An MoE layer cut to the experts a calibration batch uses most, against the same layer with the
// dropped experts' logits at -inf (gate bias): the same outputs, for a router that renormalizes
// over the chosen experts and one that takes the softmax over all of them.
template <class Router>
void check_expert_pruning(prune::expert_criterion criterion) {
  index_t const E = 8, H = 32, F = 48, T = 40, kept = 5;
  auto const gate = random_matrix(E, H, 21), gate_up = random_matrix(E * 2 * F, H, 22), down = random_matrix(E * H, F, 23);
  auto const x = random_matrix(T, H, 24), calib = random_matrix(64, H, 25);
  using bank = sy::expert::glu_experts<float>;
  auto bank_of = [&](std::vector<float> const& gu, std::vector<float> const& dn, index_t e) {
    return bank(sy::tensor_view<float const, sy::dextents<3>>(gu.data(), sy::dextents<3>(e, 2 * F, H)),
                sy::tensor_view<float const, sy::dextents<3>>(dn.data(), sy::dextents<3>(e, H, F)));
  };
  // Usage over the calibration batch, from the router's own choices.
  std::vector<float> logits(static_cast<std::size_t>(64 * E)), weights(static_cast<std::size_t>(64 * Router::slots(E)));
  std::vector<std::int32_t> ids(weights.size());
  sy::linear<float>(sy::make_view(gate.data(), E, H))(sy::make_view(calib.data(), 64, H), sy::make_view(logits.data(), 64, E));
  Router{}(sy::make_view(static_cast<float const*>(logits.data()), 64, E), sy::make_view(ids.data(), 64, Router::slots(E)),
           sy::make_view(weights.data(), 64, Router::slots(E)));
  prune::expert_usage usage(E);
  usage.add(sy::make_view(static_cast<std::int32_t const*>(ids.data()), 64, Router::slots(E)),
            sy::make_view(static_cast<float const*>(weights.data()), 64, Router::slots(E)));
  if (criterion == prune::expert_criterion::contribution)
    for (index_t e = 0; e < E; ++e) usage.add_contribution(e, double((e * 5) % E));  // a made-up ranking
  auto const keep = usage.keep(kept, criterion);
  REQUIRE(static_cast<index_t>(keep.size()) == kept);
  auto const& s = usage.scores(criterion);
  for (index_t e = 0; e < E; ++e)
    if (std::find(keep.begin(), keep.end(), e) == keep.end())
      for (index_t k : keep) CHECK(s[static_cast<std::size_t>(e)] <= s[static_cast<std::size_t>(k)]);

  auto const gate_k = prune::keep_experts<float>(gate, E, keep), gu_k = prune::keep_experts<float>(gate_up, E, keep),
             down_k = prune::keep_experts<float>(down, E, keep);
  sy::expert::moe<Router, bank> pruned(sy::make_view(gate_k.data(), kept, H), bank_of(gu_k, down_k, kept));
  std::vector<float> mask(static_cast<std::size_t>(E), -INFINITY);
  for (index_t k : keep) mask[static_cast<std::size_t>(k)] = 0.0f;
  sy::expert::moe<Router, bank> masked(sy::make_view(gate.data(), E, H), bank_of(gate_up, down, E),
                                       sy::make_view(static_cast<float const*>(mask.data()), E));
  std::vector<float> a(static_cast<std::size_t>(T * H)), b(a.size());
  sy::expert::moe_workspace ws;
  pruned(sy::make_view(x.data(), T, H), sy::make_view(a.data(), T, H), ws);
  masked(sy::make_view(x.data(), T, H), sy::make_view(b.data(), T, H), ws);
  for (std::size_t i = 0; i < a.size(); ++i) {
    INFO("element " << i);
    CHECK(std::fabs(a[i] - b[i]) <= 1e-5f * (1.0f + std::fabs(b[i])));
  }
  // The dropped experts mattered: the full layer gives other outputs.
  sy::expert::moe<Router, bank> full(sy::make_view(gate.data(), E, H), bank_of(gate_up, down, E));
  std::vector<float> c(a.size());
  full(sy::make_view(x.data(), T, H), sy::make_view(c.data(), T, H), ws);
  double diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) diff = std::max(diff, double(std::fabs(a[i] - c[i])));
  CHECK(diff > 1e-3);
}

}  // namespace

TEST_CASE("an expert-pruned MoE layer is the full layer with the dropped experts masked out of routing", "[prune][moe]") {
  check_expert_pruning<sy::route::mixtral<2>>(prune::expert_criterion::frequency);
  check_expert_pruning<sy::route::qwen_moe<2, false>>(prune::expert_criterion::routing_weight);
  check_expert_pruning<sy::route::mixtral<2>>(prune::expert_criterion::contribution);
}

TEST_CASE("expert pruning refuses to prune every expert", "[prune][errors]") {
  prune::expert_usage usage(4);
  CHECK_THROWS_WITH(usage.keep(0, prune::expert_criterion::frequency), Catch::Contains("pruning every expert"));
  CHECK_THROWS_WITH(usage.keep(5, prune::expert_criterion::frequency), Catch::Contains("keeps 1 to 4 experts, not 5"));
  std::vector<float> gate(4 * 3, 1.0f);
  std::vector<sy::index_t> none, unordered = {2, 1};
  CHECK_THROWS_WITH(prune::keep_experts<float>(gate, 4, none), Catch::Contains("pruning every expert"));
  CHECK_THROWS_WITH(prune::keep_experts<float>(gate, 4, unordered), Catch::Contains("ascending ids below 4, got 1 after 2"));
  std::vector<std::int32_t> ids = {0, 7};
  std::vector<float> w = {0.5f, 0.5f};
  CHECK_THROWS_WITH(usage.add(sy::make_view(static_cast<std::int32_t const*>(ids.data()), 1, 2),
                              sy::make_view(static_cast<float const*>(w.data()), 1, 2)),
                    Catch::Contains("expert id 7 at token 0 is not below 4"));
}

TEST_CASE("calibration sees an MoE call's routing, expert inputs and hidden rows, only while attached", "[prune][moe]") {
  index_t const E = 6, H = 16, F = 24, T = 30, K = 2;
  using Router = sy::route::mixtral<2>;
  using bank = sy::expert::glu_experts<float>;
  auto const gate = random_matrix(E, H, 31), gate_up = random_matrix(E * 2 * F, H, 32), down = random_matrix(E * H, F, 33);
  auto const x = random_matrix(T, H, 34);
  sy::expert::moe<Router, bank> layer(
      sy::make_view(gate.data(), E, H),
      bank(sy::tensor_view<float const, sy::dextents<3>>(gate_up.data(), sy::dextents<3>(E, 2 * F, H)),
           sy::tensor_view<float const, sy::dextents<3>>(down.data(), sy::dextents<3>(E, H, F))));
  std::vector<float> y(static_cast<std::size_t>(T * H));
  sy::expert::moe_workspace ws;
  prune::calibration cal;
  cal.set_experts(E);
  layer(sy::make_view(x.data(), T, H), sy::make_view(y.data(), T, H), ws);  // not attached: nothing seen
  CHECK(cal.usage(-1) == nullptr);
  {
    sy::probe::attach const on(cal);
    layer(sy::make_view(x.data(), T, H), sy::make_view(y.data(), T, H), ws);
  }
  CHECK(sy::probe::active() == nullptr);

  // The reference: the router's own choices, and each expert run alone on its tokens.
  std::vector<float> logits(static_cast<std::size_t>(T * E)), weights(static_cast<std::size_t>(T * K));
  std::vector<std::int32_t> ids(weights.size());
  sy::linear<float>(sy::make_view(gate.data(), E, H))(sy::make_view(x.data(), T, H), sy::make_view(logits.data(), T, E));
  Router{}(sy::make_view(static_cast<float const*>(logits.data()), T, E), sy::make_view(ids.data(), T, K),
           sy::make_view(weights.data(), T, K));
  auto const* usage = cal.usage(-1);  // a layer outside a model reports layer -1
  REQUIRE(usage != nullptr);
  CHECK(cal.routed_tokens(-1) == T);
  bank const experts(sy::tensor_view<float const, sy::dextents<3>>(gate_up.data(), sy::dextents<3>(E, 2 * F, H)),
                     sy::tensor_view<float const, sy::dextents<3>>(down.data(), sy::dextents<3>(E, H, F)));
  std::vector<double> count(E, 0.0), weight(E, 0.0), contribution(E, 0.0);
  std::vector<double> in_sq(static_cast<std::size_t>(E * H), 0.0), hid_sq(static_cast<std::size_t>(E * F), 0.0);
  std::vector<float> h(static_cast<std::size_t>(2 * F)), out(static_cast<std::size_t>(H));
  for (index_t t = 0; t < T; ++t)
    for (index_t j = 0; j < K; ++j) {
      index_t const e = ids[static_cast<std::size_t>(t * K + j)];
      float const w = weights[static_cast<std::size_t>(t * K + j)];
      experts.run(e, sy::make_view(x.data() + t * H, 1, H), sy::make_view(h.data(), 1, 2 * F), sy::make_view(out.data(), 1, H),
                  sy::thread_pool::shared());
      double sq = 0;
      for (float v : out) sq += double(v) * v;
      count[static_cast<std::size_t>(e)] += 1, weight[static_cast<std::size_t>(e)] += w;
      contribution[static_cast<std::size_t>(e)] += w * std::sqrt(sq);
      for (index_t i = 0; i < H; ++i) in_sq[static_cast<std::size_t>(e * H + i)] += double(x[static_cast<std::size_t>(t * H + i)]) * x[static_cast<std::size_t>(t * H + i)];
      for (index_t i = 0; i < F; ++i) hid_sq[static_cast<std::size_t>(e * F + i)] += double(h[static_cast<std::size_t>(i)]) * h[static_cast<std::size_t>(i)];
    }
  for (index_t e = 0; e < E; ++e) {
    INFO("expert " << e);
    auto const u = static_cast<std::size_t>(e);
    CHECK(usage->scores(prune::expert_criterion::frequency)[u] == count[u]);
    CHECK(usage->scores(prune::expert_criterion::routing_weight)[u] == Approx(weight[u]).epsilon(1e-6));
    CHECK(usage->scores(prune::expert_criterion::contribution)[u] == Approx(contribution[u]).epsilon(1e-4));
    auto const* in = cal.norms({.layer = -1, .at = sy::probe::site::expert_input, .of = sy::probe::bank::routed, .expert = e});
    auto const* hid = cal.norms({.layer = -1, .at = sy::probe::site::ffn_hidden, .of = sy::probe::bank::routed, .expert = e});
    if (count[u] == 0) {
      CHECK(in == nullptr);
      continue;
    }
    REQUIRE(in != nullptr);
    REQUIRE(hid != nullptr);
    CHECK(in->tokens() == static_cast<index_t>(count[u]));
    auto const ni = in->norms(), nh = hid->norms();
    for (index_t i = 0; i < H; ++i) CHECK(ni[static_cast<std::size_t>(i)] == Approx(std::sqrt(in_sq[static_cast<std::size_t>(e * H + i)])).epsilon(1e-5));
    for (index_t i = 0; i < F; ++i) CHECK(nh[static_cast<std::size_t>(i)] == Approx(std::sqrt(hid_sq[static_cast<std::size_t>(e * F + i)])).epsilon(1e-4));
  }
}
