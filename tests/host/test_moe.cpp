// The MoE layer against Hugging Face transformers' own modules (tools/make_moe_reference.py):
// Mixtral, Qwen3-MoE, OLMoE, DeepSeek-V3 (with its shared expert) and Qwen2-MoE (with its gated
// shared expert), f32 and bf16 expert weights, T in {1, 7, 64}. Router ids must match exactly (as
// sets: DeepSeek-V3's top-k is unsorted), router weights and outputs within tolerance.hpp.
// Then: the output of a token does not depend on its batch (deterministic mode), bit for bit.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "support/poison.hpp"
#include "support/reference_file.hpp"
#include "support/tolerance.hpp"
#include "switchyard/expert/moe.hpp"
#include "switchyard/route/families.hpp"

namespace sy = switchyard;
namespace tol = sy::test::tolerance;
using sy::index_t;

namespace {

// "T<n>", built without operator+ on std::string: GCC 12 reports a false -Wrestrict there.
std::string tnames(index_t T) {
  std::string c = std::to_string(T);
  c.insert(c.begin(), 'T');
  return c;
}

template <class W>
struct expert_weights {
  std::vector<W> gate_up, down;
  index_t E = 0, F = 0, H = 0;
  sy::expert::glu_experts<W> bank() const {
    return {sy::tensor_view<W const, sy::dextents<3>>(gate_up.data(), sy::dextents<3>(E, 2 * F, H)),
            sy::tensor_view<W const, sy::dextents<3>>(down.data(), sy::dextents<3>(E, H, F))};
  }
};

template <class W>
expert_weights<W> routed(sy::test::reference_file const& f) {
  auto const gu = f.get("experts.gate_up_proj");
  expert_weights<W> w;
  w.E = gu.shape[0], w.F = gu.shape[1] / 2, w.H = gu.shape[2];
  w.gate_up = gu.as<W>();
  w.down = f.get("experts.down_proj").as<W>();
  return w;
}

// A shared MLP (gate_proj, up_proj, down_proj) as a bank of one expert: gate rows then up rows.
template <class W>
expert_weights<W> shared(sy::test::reference_file const& f, std::string const& prefix) {
  auto const g = f.get(prefix + ".gate_proj.weight");
  expert_weights<W> w;
  w.E = 1, w.F = g.shape[0], w.H = g.shape[1];
  w.gate_up = g.as<W>();
  auto const up = f.get(prefix + ".up_proj.weight").as<W>();
  w.gate_up.insert(w.gate_up.end(), up.begin(), up.end());
  w.down = f.get(prefix + ".down_proj.weight").as<W>();
  return w;
}

template <class Router, class W>
void check_family(std::string const& file, bool has_bias, std::string const& shared_prefix, float scaling,
                  bool shared_gate) {
  sy::test::reference_file f(file);
  auto const ew = routed<W>(f);
  auto const gate = f.get("gate.weight").as<float>();
  using layer_t = sy::expert::moe<Router, sy::expert::glu_experts<W>>;
  layer_t layer(sy::make_view(gate.data(), ew.E, ew.H), ew.bank());
  expert_weights<W> sw;
  std::vector<float> sgate;
  if (!shared_prefix.empty()) {
    sw = shared<W>(f, shared_prefix);
    if (shared_gate) sgate = f.get("shared_expert_gate.weight").as<float>();
    layer.set_shared(sw.bank(), shared_gate ? sy::make_view(sgate.data(), ew.H) : sy::vector_view<float const>{});
  }
  std::vector<float> bias = has_bias ? f.get("gate.e_score_correction_bias").as<float>() : std::vector<float>{};
  sy::route::router_params params;
  params.scaling = scaling;
  if (has_bias) params.selection_bias = sy::make_view(bias.data(), ew.E);

  sy::thread_pool pool(2);
  sy::expert::moe_workspace ws;
  constexpr int K = Router::max_k;
  for (index_t T : {1, 7, 64}) {
    std::string const c = tnames(T);
    auto const x = f.get(c + ".x").as<float>();
    auto const want_ids = f.get(c + ".ids").as<std::int32_t>();
    auto const want_w = f.get(c + ".weights").as<float>();
    auto const want_y = f.get(c + ".y").as<float>();

    // The router alone, on logits from the gate.
    std::vector<float> logits(static_cast<std::size_t>(T * ew.E)), w(static_cast<std::size_t>(T * K));
    std::vector<std::int32_t> ids(static_cast<std::size_t>(T * K));
    sy::linear<float>(sy::make_view(gate.data(), ew.E, ew.H))(sy::make_view(x.data(), T, ew.H), sy::make_view(logits.data(), T, ew.E), pool);
    Router{}(sy::make_view<float const>(logits.data(), T, ew.E), sy::make_view(ids.data(), T, K), sy::make_view(w.data(), T, K),
             params, pool);
    for (index_t t = 0; t < T; ++t) {
      std::map<int, float> ours, theirs;
      for (int j = 0; j < K; ++j) {
        ours[ids[t * K + j]] = w[t * K + j];
        theirs[want_ids[t * K + j]] = want_w[t * K + j];
      }
      INFO(file << " " << c << " token " << t);
      REQUIRE(ours.size() == static_cast<std::size_t>(K));
      for (auto const& [id, weight] : theirs) {
        REQUIRE(ours.count(id) == 1);
        REQUIRE(std::fabs(ours[id] - weight) <= tol::router_weight(ew.E) * std::fabs(weight));
      }
    }

    // The whole layer.
    std::vector<float> y(static_cast<std::size_t>(T * ew.H));
    sy::test::poison(y);
    sy::expert::load_stats stats;
    layer(sy::make_view(x.data(), T, ew.H), sy::make_view(y.data(), T, ew.H), ws, params, pool, &stats);
    index_t const F = std::max(ew.F, sw.F);
    for (index_t t = 0; t < T; ++t) {
      double scale = 0;
      for (index_t i = 0; i < ew.H; ++i) scale = std::max(scale, double(std::fabs(want_y[t * ew.H + i])));
      for (index_t i = 0; i < ew.H; ++i) {
        INFO(file << " " << c << " y(" << t << ", " << i << ") = " << y[t * ew.H + i] << ", transformers " << want_y[t * ew.H + i]);
        REQUIRE(std::fabs(y[t * ew.H + i] - want_y[t * ew.H + i]) <= tol::moe_output(ew.H, F, K) * scale);
      }
    }
    index_t kept = 0;
    for (auto n : stats.tokens_per_expert) kept += n;
    CHECK(kept == T * K);
    CHECK(stats.dropped == 0);
    CHECK(stats.load_entropy >= 0.0);
    CHECK(stats.load_entropy <= std::log(double(ew.E)) + 1e-12);
  }
}

}  // namespace

TEST_CASE("Mixtral MoE block matches transformers", "[moe]") {
  check_family<sy::route::mixtral<2>, float>("moe_mixtral.safetensors", false, "", 1.0f, false);
  check_family<sy::route::mixtral<2>, sy::format::bf16>("moe_mixtral_bf16.safetensors", false, "", 1.0f, false);
}
TEST_CASE("Qwen3-MoE block matches transformers", "[moe]") {
  check_family<sy::route::qwen_moe<2, true>, float>("moe_qwen3_moe.safetensors", false, "", 1.0f, false);
}
TEST_CASE("OLMoE block matches transformers", "[moe]") {
  check_family<sy::route::olmoe<2, false>, float>("moe_olmoe.safetensors", false, "", 1.0f, false);
}
TEST_CASE("DeepSeek-V3 MoE (group-limited, biased selection, shared expert) matches transformers", "[moe]") {
  using router = sy::route::deepseek_v3<2, 4, 2, true>;
  check_family<router, float>("moe_deepseek_v3.safetensors", true, "shared_experts", 2.5f, false);
  check_family<router, sy::format::bf16>("moe_deepseek_v3_bf16.safetensors", true, "shared_experts", 2.5f, false);
}
TEST_CASE("Qwen2-MoE block (sigmoid-gated shared expert) matches transformers", "[moe]") {
  check_family<sy::route::qwen_moe<2, false>, float>("moe_qwen2_moe.safetensors", false, "shared_expert", 1.0f, true);
}

namespace {
template <class W>
void check_batch_independence(std::string const& file, sy::activations act) {
  sy::test::reference_file f(file);
  auto const ew = routed<W>(f);
  auto const gate = f.get("gate.weight").as<float>();
  using bank = sy::expert::glu_experts<W>;
  bank const experts(sy::tensor_view<W const, sy::dextents<3>>(ew.gate_up.data(), sy::dextents<3>(ew.E, 2 * ew.F, ew.H)),
                     sy::tensor_view<W const, sy::dextents<3>>(ew.down.data(), sy::dextents<3>(ew.E, ew.H, ew.F)), {}, {}, act);
  sy::expert::moe<sy::route::mixtral<2>, bank> layer(sy::make_view(gate.data(), ew.E, ew.H), experts);
  auto const x = f.get("T64.x").as<float>();
  std::vector<float> batch(64 * ew.H), alone(ew.H);
  sy::expert::moe_workspace ws;
  sy::thread_pool two(2), one(1);
  layer(sy::make_view(x.data(), 64, ew.H), sy::make_view(batch.data(), 64, ew.H), ws, {}, two);
  for (index_t t = 0; t < 64; t += 9) {
    layer(sy::make_view(x.data() + t * ew.H, 1, ew.H), sy::make_view(alone.data(), 1, ew.H), ws, {}, one);
    for (index_t i = 0; i < ew.H; ++i) {
      INFO(file << (act == sy::activations::bf16 ? " bf16" : " f32") << " activations, token " << t << ", element " << i);
      REQUIRE(alone[i] == batch[t * ew.H + i]);  // bit-identical
    }
  }
  // Decode-sized calls (T <= 8) take moe's batched decode: every chosen expert in two parallel
  // regions, each split into row ranges across the threads. Still the same dot products.
  std::vector<float> few(3 * ew.H);
  for (index_t t = 0; t + 3 <= 64; t += 13)
    for (auto* pool : {&one, &two}) {
      layer(sy::make_view(x.data() + t * ew.H, 3, ew.H), sy::make_view(few.data(), 3, ew.H), ws, {}, *pool);
      for (index_t i = 0; i < 3 * ew.H; ++i) {
        INFO(file << " decode of 3 tokens from " << t << " on " << pool->size() << " thread(s), element " << i);
        REQUIRE(few[i] == batch[t * ew.H + i]);
      }
    }
}
}  // namespace

TEST_CASE("a token's output does not depend on its batch or the thread count", "[moe]") {
  check_batch_independence<float>("moe_mixtral.safetensors", sy::activations::f32);
  check_batch_independence<float>("moe_mixtral.safetensors", sy::activations::bf16);
  check_batch_independence<sy::format::bf16>("moe_mixtral_bf16.safetensors", sy::activations::f32);
  check_batch_independence<sy::format::bf16>("moe_mixtral_bf16.safetensors", sy::activations::bf16);  // vdpbf16ps
}

TEST_CASE("gpt-oss MLP (raw-logit top-k, softmax over the chosen, clamped SwiGLU with biases) matches transformers", "[moe]") {
  sy::test::reference_file f("moe_gpt_oss.safetensors");
  // transformers stores gpt-oss experts for x @ W with gate and up interleaved by column:
  // gate_up_proj [E, H, 2F] (gate = even columns, up = odd), down_proj [E, F, H]. Re-lay them
  // as the bank's [E, 2F, H] (gate rows, then up rows) and [E, H, F].
  auto const gu_t = f.get("experts.gate_up_proj");
  index_t const E = gu_t.shape[0], H = gu_t.shape[1], F = gu_t.shape[2] / 2;
  auto const gu = gu_t.as<float>(), gub = f.get("experts.gate_up_proj_bias").as<float>();
  auto const dn = f.get("experts.down_proj").as<float>(), dnb = f.get("experts.down_proj_bias").as<float>();
  std::vector<float> gate_up(E * 2 * F * H), gate_up_bias(E * 2 * F), down(E * H * F);
  for (index_t e = 0; e < E; ++e) {
    for (index_t i = 0; i < F; ++i)
      for (index_t h = 0; h < H; ++h) {
        gate_up[(e * 2 * F + i) * H + h] = gu[(e * H + h) * 2 * F + 2 * i];
        gate_up[(e * 2 * F + F + i) * H + h] = gu[(e * H + h) * 2 * F + 2 * i + 1];
      }
    for (index_t i = 0; i < F; ++i) {
      gate_up_bias[e * 2 * F + i] = gub[e * 2 * F + 2 * i];
      gate_up_bias[e * 2 * F + F + i] = gub[e * 2 * F + 2 * i + 1];
    }
    for (index_t h = 0; h < H; ++h)
      for (index_t i = 0; i < F; ++i) down[(e * H + h) * F + i] = dn[(e * F + i) * H + h];
  }
  using bank = sy::expert::glu_experts<float, sy::expert::gpt_oss_glu>;
  bank const experts(sy::tensor_view<float const, sy::dextents<3>>(gate_up.data(), sy::dextents<3>(E, 2 * F, H)),
                     sy::tensor_view<float const, sy::dextents<3>>(down.data(), sy::dextents<3>(E, H, F)),
                     sy::make_view<float const>(gate_up_bias.data(), E, 2 * F), sy::make_view<float const>(dnb.data(), E, H));
  auto const gate = f.get("router.weight").as<float>(), gate_bias = f.get("router.bias").as<float>();
  sy::expert::moe<sy::route::gpt_oss<2>, bank> layer(sy::make_view(gate.data(), E, H), experts, sy::make_view(gate_bias.data(), E));
  sy::expert::moe_workspace ws;
  for (index_t T : {1, 7, 64}) {
    std::string const c = tnames(T);
    auto const x = f.get(c + ".x").as<float>(), want = f.get(c + ".y").as<float>();
    std::vector<float> y(T * H);
    sy::test::poison(y);
    layer(sy::make_view(x.data(), T, H), sy::make_view(y.data(), T, H), ws);
    for (index_t t = 0; t < T; ++t) {
      double scale = 0;
      for (index_t i = 0; i < H; ++i) scale = std::max(scale, double(std::fabs(want[t * H + i])));
      for (index_t i = 0; i < H; ++i) {
        INFO(c << " y(" << t << ", " << i << ") = " << y[t * H + i] << ", transformers " << want[t * H + i]);
        REQUIRE(std::fabs(y[t * H + i] - want[t * H + i]) <= tol::moe_output(H, F, 2) * scale);
      }
    }
  }
}

TEST_CASE("Switch Transformer MLP (top-1, capacity, dropped tokens get zero) matches transformers", "[moe]") {
  sy::test::reference_file f("moe_switch.safetensors");
  auto const gate = f.get("router.classifier.weight").as<float>();
  index_t const E = f.get("router.classifier.weight").shape[0], H = f.get("router.classifier.weight").shape[1];
  index_t const F = f.get("experts.expert_0.wi.weight").shape[0];
  std::vector<float> up, down;
  for (index_t e = 0; e < E; ++e) {
    auto const wi = f.get("experts.expert_" + std::to_string(e) + ".wi.weight").as<float>();
    auto const wo = f.get("experts.expert_" + std::to_string(e) + ".wo.weight").as<float>();
    up.insert(up.end(), wi.begin(), wi.end());
    down.insert(down.end(), wo.begin(), wo.end());
  }
  using bank = sy::expert::ffn_experts<float, sy::expert::relu>;
  bank const experts(sy::tensor_view<float const, sy::dextents<3>>(up.data(), sy::dextents<3>(E, F, H)),
                     sy::tensor_view<float const, sy::dextents<3>>(down.data(), sy::dextents<3>(E, H, F)));
  using switch_router = sy::route::topk_router<sy::route::topk_config{.top_k = 1}>;
  sy::expert::moe<switch_router, bank> layer(sy::make_view(gate.data(), E, H), experts, {}, /*capacity=*/6);
  sy::expert::moe_workspace ws;
  bool saw_drops = false;
  for (index_t T : {1, 7, 64}) {
    std::string const c = tnames(T);
    auto const x = f.get(c + ".x").as<float>(), want = f.get(c + ".y").as<float>();
    auto const kept = f.get(c + ".kept").as<std::int32_t>();
    std::vector<float> y(T * H);
    sy::test::poison(y);
    sy::expert::load_stats stats;
    layer(sy::make_view(x.data(), T, H), sy::make_view(y.data(), T, H), ws, {}, sy::thread_pool::shared(), &stats);
    index_t want_dropped = 0;
    for (auto k : kept) want_dropped += 1 - k;
    CHECK(stats.dropped == want_dropped);
    saw_drops = saw_drops || want_dropped > 0;
    for (index_t t = 0; t < T; ++t) {
      double scale = 0;
      for (index_t i = 0; i < H; ++i) scale = std::max(scale, double(std::fabs(want[t * H + i])));
      for (index_t i = 0; i < H; ++i) {
        INFO(c << " token " << t << (kept[t] ? "" : " (dropped)") << ": y = " << y[t * H + i] << ", transformers " << want[t * H + i]);
        if (!kept[t]) REQUIRE(y[t * H + i] == 0.0f);
        REQUIRE(std::fabs(y[t * H + i] - want[t * H + i]) <= tol::moe_output(H, F, 1) * scale);
      }
    }
  }
  CHECK(saw_drops);  // the reference must exercise the capacity
}

TEST_CASE("an expert-choice MoE layer equals the weighted sum of the experts that took each token", "[moe]") {
  sy::test::reference_file f("moe_mixtral.safetensors");
  auto const ew = routed<float>(f);
  auto const gate = f.get("gate.weight").as<float>();
  sy::expert::moe<sy::route::expert_choice, sy::expert::glu_experts<float>> layer(sy::make_view(gate.data(), ew.E, ew.H), ew.bank());
  auto const x = f.get("T64.x").as<float>();
  index_t const T = 64, H = ew.H, E = ew.E, F = ew.F;
  std::vector<float> y(T * H), logits(T * E), w(T * E);
  std::vector<std::int32_t> ids(T * E);
  sy::test::poison(y);
  sy::expert::moe_workspace ws;
  sy::route::router_params params;
  params.capacity_factor = 0.75f;  // fewer slots than tokens: some tokens get no expert
  layer(sy::make_view(x.data(), T, H), sy::make_view(y.data(), T, H), ws, params);
  // The routing, recomputed through the public pieces, then each expert in double precision.
  sy::linear<float>(sy::make_view(gate.data(), E, H))(sy::make_view(x.data(), T, H), sy::make_view(logits.data(), T, E));
  sy::route::expert_choice{}(sy::make_view<float const>(logits.data(), T, E), sy::make_view(ids.data(), T, E),
                             sy::make_view(w.data(), T, E), params);
  int untouched = 0;
  for (index_t t = 0; t < T; ++t) {
    std::vector<double> want(H, 0.0);
    int taken = 0;
    for (index_t e = 0; e < E; ++e) {
      if (ids[t * E + e] < 0) continue;
      ++taken;
      std::vector<double> a(F);
      for (index_t i = 0; i < F; ++i) {
        double g = 0, u = 0;
        for (index_t h = 0; h < H; ++h) {
          g += double(ew.gate_up[(e * 2 * F + i) * H + h]) * x[t * H + h];
          u += double(ew.gate_up[(e * 2 * F + F + i) * H + h]) * x[t * H + h];
        }
        a[i] = g / (1 + std::exp(-g)) * u;
      }
      for (index_t h = 0; h < H; ++h) {
        double d = 0;
        for (index_t i = 0; i < F; ++i) d += double(ew.down[(e * H + h) * F + i]) * a[i];
        want[h] += w[t * E + e] * d;
      }
    }
    untouched += taken == 0;
    double scale = 1e-30;
    for (double v : want) scale = std::max(scale, std::fabs(v));
    for (index_t h = 0; h < H; ++h) {
      INFO("token " << t << " (" << taken << " experts) y[" << h << "] = " << y[t * H + h] << ", direct " << want[h]);
      REQUIRE(std::fabs(y[t * H + h] - want[h]) <= tol::moe_output(H, F, E) * scale);
    }
  }
  CHECK(untouched > 0);  // capacity 0.75 leaves some tokens with no expert
}

// Both summation orders: batch-invariant (the default) and fastest (prefill experts with more than
// 8 rows take the outer-product GEMM where AVX512-BF16 exists).
TEST_CASE("bf16 activations: the Mixtral block stays within the bf16 rounding bound of transformers' f32 output", "[moe]") {
  sy::test::reference_file f("moe_mixtral_bf16.safetensors");
  auto const ew = routed<sy::format::bf16>(f);
  auto const gate = f.get("gate.weight").as<float>();
  using bank = sy::expert::glu_experts<sy::format::bf16>;
  for (auto const sum : {sy::summation::batch_invariant, sy::summation::fastest}) {
    bank const experts(sy::tensor_view<sy::format::bf16 const, sy::dextents<3>>(ew.gate_up.data(), sy::dextents<3>(ew.E, 2 * ew.F, ew.H)),
                       sy::tensor_view<sy::format::bf16 const, sy::dextents<3>>(ew.down.data(), sy::dextents<3>(ew.E, ew.H, ew.F)), {},
                       {}, sy::activations::bf16, sum);
    sy::expert::moe<sy::route::mixtral<2>, bank> layer(sy::make_view(gate.data(), ew.E, ew.H), experts);
    sy::expert::moe_workspace ws;
    for (index_t T : {1, 7, 64}) {
      std::string const c = tnames(T);
      auto const x = f.get(c + ".x").as<float>(), want = f.get(c + ".y").as<float>();
      std::vector<float> y(T * ew.H);
      sy::test::poison(y);
      layer(sy::make_view(x.data(), T, ew.H), sy::make_view(y.data(), T, ew.H), ws);
      double err = 0, ref = 0;
      for (std::size_t i = 0; i < y.size(); ++i) {
        err += (double(y[i]) - want[i]) * (double(y[i]) - want[i]);
        ref += double(want[i]) * want[i];
      }
      INFO(c << (sum == sy::summation::fastest ? " (summation::fastest)" : "") << ": NMSE " << err / ref);
      REQUIRE(ref > 0);
      CHECK(err / ref <= tol::moe_bf16_activations_nmse);
      CHECK(err > 0);  // the rounding must actually happen: identical output would mean f32 ran
    }
  }
}

TEST_CASE("expert activation hooks match torch.nn.functional", "[moe]") {
  sy::test::reference_file f("activations.safetensors");
  auto const gate = f.get("gate").as<float>(), up = f.get("up").as<float>();
  // Each hook is a few f32 operations and one exp/tanh/erf (within 2 ulp in both libraries):
  // 8 ulp of the result, plus an absolute floor for values near 0.
  auto check = [&](char const* name, auto&& fn) {
    auto const want = f.get(name).as<float>();
    for (std::size_t i = 0; i < gate.size(); ++i) {
      float const got = fn(gate[i], up[i]);
      INFO(name << "(" << gate[i] << ", " << up[i] << ") = " << got << ", torch " << want[i]);
      REQUIRE(std::fabs(got - want[i]) <= 8 * 2 * tol::u32 * std::fabs(want[i]) + 1e-6);
    }
  };
  check("silu_glu", [](float g, float u) { return sy::expert::silu_glu::apply(g, u); });
  check("gelu_tanh_glu", [](float g, float u) { return sy::expert::gelu_tanh_glu::apply(g, u); });
  check("gpt_oss_glu", [](float g, float u) { return sy::expert::gpt_oss_glu::apply(g, u); });
  check("relu", [](float g, float) { return sy::expert::relu::apply(g); });
  check("gelu", [](float g, float) { return sy::expert::gelu::apply(g); });
}
