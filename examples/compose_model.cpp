// A bespoke MoE model assembled from switchyard's parts, with the layer kinds fixed at compile
// time: sliding-window attention (window 16) in odd layers, causal attention in even ones; a dense
// SwiGLU FFN in layer 0 and MoE with dynamic k (experts taken until 60% of the probability mass,
// 1 to 4 of them) elsewhere — a combination no shipped architecture has. Random bf16 weights.
// It prefills a prompt, decodes greedily, and checks that every decoded step's logits equal those
// of a fresh prefill of the whole sequence (paged cache, batched decode and flash prefill agree).
#include <cmath>
#include <cstdio>
#include <random>
#include <variant>
#include <vector>

#include <switchyard/model/causal_lm.hpp>
#include <switchyard/route/families.hpp>

namespace sy = switchyard;
namespace md = switchyard::model;
namespace at = switchyard::attention;
using W = sy::format::bf16;

using causal_attn = at::gqa_attention<W, at::causal_mask>;
using window_attn = at::gqa_attention<W, at::sliding_window_mask>;
using moe = md::moe_ffn<sy::route::cumulative_k<4, 1>, W>;
using layer = md::decoder_layer<std::variant<causal_attn, window_attn>, std::variant<md::dense_ffn<W>, moe>>;

int main() {
  sy::index_t const V = 512, H = 128, Hq = 8, Hkv = 2, D = 16, F = 192, Fe = 64, E = 8, L = 4;
  std::mt19937 g(7);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<sy::buffer<W>> keep_w;
  std::vector<sy::buffer<float>> keep_f;
  auto weights = [&](sy::index_t n, float scale) {
    keep_w.emplace_back(static_cast<std::size_t>(n));
    for (auto& v : keep_w.back()) v = W(nd(g) * scale);
    return static_cast<W const*>(keep_w.back().data());
  };
  auto floats = [&](sy::index_t n, float base, float scale) {
    keep_f.emplace_back(static_cast<std::size_t>(n));
    for (auto& v : keep_f.back()) v = base + scale * nd(g);
    return sy::make_view(static_cast<float const*>(keep_f.back().data()), n);
  };
  keep_w.reserve(64);
  keep_f.reserve(64);
  md::model_config c{.arch = md::architecture::llama, .vocab = V, .hidden = H, .layers = L, .heads = Hq, .kv_heads = Hkv,
                     .head_dim = D, .rms_eps = 1e-6f};
  auto embed = sy::make_view(weights(V * H, 1.0f), V, H);
  md::causal_lm<W, float, layer> lm(c, embed, floats(H, 1.0f, 0.1f), sy::make_view(weights(V * H, 0.09f), V, H),
                                    {.block_size = 16, .blocks = 64});
  float const s = 1.0f / std::sqrt(float(H));
  for (sy::index_t l = 0; l < L; ++l) {
    at::gqa_config gc{.hidden = H, .q_heads = Hq, .kv_heads = Hkv, .head_dim = D, .rope = {.theta = 10000.0}};
    at::gqa_weights<W> aw{.q = sy::make_view(weights(Hq * D * H, s), Hq * D, H),
                          .k = sy::make_view(weights(Hkv * D * H, s), Hkv * D, H),
                          .v = sy::make_view(weights(Hkv * D * H, s), Hkv * D, H),
                          .o = sy::make_view(weights(H * Hq * D, 1.0f / std::sqrt(float(Hq * D))), H, Hq * D)};
    std::variant<causal_attn, window_attn> attn =
        l % 2 ? std::variant<causal_attn, window_attn>(window_attn(gc, aw, at::sliding_window_mask(16)))
              : std::variant<causal_attn, window_attn>(causal_attn(gc, aw));
    auto bank = [&](sy::index_t experts, sy::index_t width) {
      return sy::expert::glu_experts<W>(
          sy::tensor_view<W const, sy::dextents<3>>(weights(experts * 2 * width * H, s), sy::dextents<3>(experts, 2 * width, H)),
          sy::tensor_view<W const, sy::dextents<3>>(weights(experts * H * width, 1.0f / std::sqrt(float(width))),
                                                    sy::dextents<3>(experts, H, width)));
    };
    std::variant<md::dense_ffn<W>, moe> ffn = md::dense_ffn<W>(
        sy::tensor_view<W const, sy::dextents<3>>(weights(2 * F * H, s), sy::dextents<3>(1, 2 * F, H)),
        sy::tensor_view<W const, sy::dextents<3>>(weights(H * F, 1.0f / std::sqrt(float(F))), sy::dextents<3>(1, H, F)));
    if (l > 0) {
      keep_f.emplace_back(static_cast<std::size_t>(E * H));
      for (auto& v : keep_f.back()) v = 3.0f * s * nd(g);
      moe::layer_type m(sy::make_view(static_cast<float const*>(keep_f.back().data()), E, H), bank(E, Fe));
      sy::route::router_params p;
      p.p = 0.6f;
      ffn = moe(std::move(m), p);
    }
    lm.add_layer(layer(std::move(attn), std::move(ffn), floats(H, 1.0f, 0.1f), floats(H, 1.0f, 0.1f), 1e-6f));
  }

  std::vector<std::int32_t> tokens;
  for (int i = 0; i < 40; ++i) tokens.push_back(static_cast<std::int32_t>(g() % V));
  std::vector<float> logits(static_cast<std::size_t>(V));
  auto seq = lm.new_sequence();
  md::step st{&seq, tokens};
  lm.forward({&st, 1}, sy::make_view(logits.data(), 1, V));
  double worst = 0;
  for (int step = 0; step < 12; ++step) {
    auto const next = static_cast<std::int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    tokens.push_back(next);
    st.tokens = {&tokens.back(), 1};
    lm.forward({&st, 1}, sy::make_view(logits.data(), 1, V));
    // The same position from a fresh prefill of the whole sequence.
    auto fresh = lm.new_sequence();
    std::vector<float> all(tokens.size() * static_cast<std::size_t>(V));
    md::step fs{&fresh, tokens};
    lm.forward({&fs, 1}, sy::make_view(all.data(), static_cast<sy::index_t>(tokens.size()), V), md::which_logits::all);
    lm.release(fresh);
    double err = 0, scale = 0;
    for (sy::index_t i = 0; i < V; ++i) {
      err = std::max(err, std::abs(double(logits[static_cast<std::size_t>(i)]) - all[(tokens.size() - 1) * V + i]));
      scale = std::max(scale, std::abs(double(all[(tokens.size() - 1) * V + i])));
    }
    worst = std::max(worst, err / scale);
  }
  std::printf("compose_model: 4 layers (causal / window-16 attention, dense / cumulative-k MoE), bf16 weights\n");
  std::printf("generated:");
  for (std::size_t i = 40; i < tokens.size(); ++i) std::printf(" %d", tokens[i]);
  std::printf("\ndecode vs fresh prefill: max relative logit difference %.2e over 12 steps\n", worst);
  lm.release(seq);
  return worst < 1e-4 ? 0 : 1;
}
