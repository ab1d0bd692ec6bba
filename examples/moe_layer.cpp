// Composing MoE layers from switchyard's routers and expert banks, on random data: one layer
// per router family, each run on the same tokens, printing what routing did (load per expert,
// dropped slots, load entropy) and a checksum of the output. docs/moe.md walks through it.
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include <switchyard/expert/moe.hpp>
#include <switchyard/route/expert_choice.hpp>
#include <switchyard/route/families.hpp>

namespace sy = switchyard;
using sy::index_t;

namespace {

constexpr index_t tokens = 48, hidden = 64, inter = 96, experts = 8;

// Runs one layer type and prints its routing statistics.
template <class Layer>
void report(char const* name, Layer const& layer, std::vector<float> const& x, sy::route::router_params const& params = {}) {
  std::vector<float> y(tokens * hidden);
  sy::expert::moe_workspace ws;
  sy::expert::load_stats stats;
  layer(sy::make_view(x.data(), tokens, hidden), sy::make_view(y.data(), tokens, hidden), ws, params, sy::thread_pool::shared(),
        &stats);
  double sum = 0;
  for (float v : y) sum += std::fabs(v);
  std::printf("%-28s load", name);
  for (auto c : stats.tokens_per_expert) std::printf(" %3d", c);
  std::printf("  dropped %3ld  entropy %.3f / %.3f  sum|y| %.4f\n", long(stats.dropped), stats.load_entropy,
              std::log(double(experts)), sum);
}

}  // namespace

int main() {
  std::mt19937 g(11);
  std::normal_distribution<float> d(0.0f, 1.0f);
  auto randoms = [&](index_t n, float scale) {
    std::vector<float> v(n);
    for (auto& e : v) e = d(g) * scale;
    return v;
  };
  std::vector<float> const x = randoms(tokens * hidden, 1.0f);
  std::vector<float> const gate = randoms(experts * hidden, 0.3f), gate_bias = randoms(experts, 0.1f);
  std::vector<float> const bias = randoms(experts, 0.05f);
  // Expert weights in bf16, laid out as transformers 5 stores them.
  auto bf16s = [&](index_t n, float scale) {
    std::vector<sy::format::bf16> v(n);
    for (auto& e : v) e = sy::format::bf16(d(g) * scale);
    return v;
  };
  auto const gate_up = bf16s(experts * 2 * inter * hidden, 0.1f), down = bf16s(experts * hidden * inter, 0.1f);
  auto const up = bf16s(experts * inter * hidden, 0.1f);
  auto const shared_gate_up = bf16s(2 * inter * hidden, 0.1f), shared_down = bf16s(hidden * inter, 0.1f);

  using t3 = sy::tensor_view<sy::format::bf16 const, sy::dextents<3>>;
  using glu = sy::expert::glu_experts<sy::format::bf16>;                   // SwiGLU
  using ffn = sy::expert::ffn_experts<sy::format::bf16, sy::expert::relu>;  // Switch's ReLU FFN
  glu const swiglu(t3(gate_up.data(), sy::dextents<3>(experts, 2 * inter, hidden)),
                   t3(down.data(), sy::dextents<3>(experts, hidden, inter)));
  auto const gate_view = sy::make_view(gate.data(), experts, hidden);

  // Mixtral: softmax, top-2, renormalized.
  report("mixtral (top-2)", sy::expert::moe<sy::route::mixtral<2>, glu>(gate_view, swiglu), x);

  // DeepSeek-V3: sigmoid, biased group-limited top-k (4 groups, keep 2), scaled, + a shared expert.
  sy::expert::moe<sy::route::deepseek_v3<2, 4, 2>, glu> deepseek(gate_view, swiglu);
  deepseek.set_shared(glu(t3(shared_gate_up.data(), sy::dextents<3>(1, 2 * inter, hidden)),
                          t3(shared_down.data(), sy::dextents<3>(1, hidden, inter))));
  sy::route::router_params ds;
  ds.scaling = 2.5f;
  ds.selection_bias = sy::make_view(bias.data(), experts);
  report("deepseek-v3 (groups, shared)", deepseek, x, ds);

  // gpt-oss: the gate has a bias; top-k on raw logits, softmax over the chosen.
  report("gpt-oss (softmax of chosen)",
         sy::expert::moe<sy::route::gpt_oss<2>, glu>(gate_view, swiglu, sy::make_view(gate_bias.data(), experts)), x);

  // Switch Transformer: top-1, capacity 4 per expert: tokens beyond it are dropped (y = 0).
  using switch_router = sy::route::topk_router<sy::route::topk_config{.top_k = 1}>;
  ffn const relu_ffn(t3(up.data(), sy::dextents<3>(experts, inter, hidden)), t3(down.data(), sy::dextents<3>(experts, hidden, inter)));
  report("switch (top-1, capacity 4)", sy::expert::moe<switch_router, ffn>(gate_view, relu_ffn, {}, 4), x);

  // Dynamic k: experts by probability until 60% of the mass, between 1 and 4 per token.
  sy::route::router_params p60;
  p60.p = 0.6f;
  report("cumulative k (p = 0.6)", sy::expert::moe<sy::route::cumulative_k<4, 1>, glu>(gate_view, swiglu), x, p60);

  // Expert choice: each expert takes its top ceil(T * 1.0 / E) tokens.
  report("expert choice (cf = 1)", sy::expert::moe<sy::route::expert_choice, glu>(gate_view, swiglu), x);

  // A router no model ships: sigmoid scores, top-3 within the best 2 of 4 groups, softmax over the chosen.
  using custom = sy::route::topk_router<sy::route::topk_config{.top_k = 3,
                                                               .scoring = sy::route::score_fn::sigmoid,
                                                               .weighting = sy::route::weight_fn::softmax_selected,
                                                               .groups = 4,
                                                               .groups_kept = 2}>;
  report("custom (sigmoid, groups)", sy::expert::moe<custom, glu>(gate_view, swiglu), x);
}
