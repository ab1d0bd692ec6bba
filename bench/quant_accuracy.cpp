// The accuracy tool: per format and quantizer, the error of linear and of a whole MoE layer
// against f32, on random weights and on weights with outliers, with activations whose few
// outlier channels are 10x the rest (as LLM activations are). Prints markdown tables
// (docs/quantization.md quotes them).
//
//   quant_accuracy
//
// Metrics, over all outputs: relative L2 error ||y - y32|| / ||y32||, max |y - y32| / max |y32|,
// and the cosine of y and y32 (columns "rel. L2", "max err / max abs y", "cosine"). Quantizers: RTN (each format's own), and for int4 groups the
// activation-aware clipping search (quant::quantize_activation_aware) calibrated on separate
// activations from the same distribution.
#include <cmath>
#include <cstdio>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "switchyard/core/format/gguf.hpp"
#include "switchyard/core/format/int4.hpp"
#include "switchyard/expert/glu_experts.hpp"
#include "switchyard/expert/moe.hpp"
#include "switchyard/linear/linear.hpp"
#include "switchyard/linear/quantize.hpp"
#include "switchyard/route/families.hpp"

namespace sy = switchyard;
namespace fmt = switchyard::format;
using sy::index_t;

namespace {

struct metrics {
  double rel_l2, max_rel, cosine;
};

metrics compare(std::vector<float> const& y, std::vector<float> const& ref) {
  double num = 0, den = 0, dot = 0, yy = 0, mx = 0, mref = 0;
  for (std::size_t i = 0; i < y.size(); ++i) {
    double const e = double(y[i]) - ref[i];
    num += e * e, den += double(ref[i]) * ref[i], dot += double(y[i]) * ref[i], yy += double(y[i]) * y[i];
    mx = std::max(mx, std::fabs(e)), mref = std::max(mref, std::fabs(double(ref[i])));
  }
  return {std::sqrt(num / den), mx / mref, dot / std::sqrt(yy * den)};
}

struct data {
  index_t K, N;
  std::vector<float> w, x, calib, act_sq;
};

data make(index_t N, index_t K, bool weight_outliers, std::uint32_t seed) {
  std::mt19937 g(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  data r{K, N, std::vector<float>(N * K), std::vector<float>(64 * K), std::vector<float>(256 * K), std::vector<float>(K)};
  for (auto& v : r.w) v = d(g) / std::sqrt(float(K)) * (weight_outliers && u(g) < 0.005f ? 8.0f : 1.0f);
  std::vector<float> channel(K);
  for (auto& c : channel) c = u(g) < 0.02f ? 10.0f : 1.0f;  // 2% outlier channels
  for (index_t i = 0; i < 64 * K; ++i) r.x[i] = d(g) * channel[i % K];
  for (index_t i = 0; i < 256 * K; ++i) r.calib[i] = d(g) * channel[i % K];
  for (index_t i = 0; i < 256 * K; ++i) r.act_sq[i % K] += r.calib[i] * r.calib[i] / 256.0f;
  return r;
}

template <class F>
std::vector<float> run_linear(data const& s, std::vector<F> const& q) {
  constexpr index_t B = fmt::traits<F>::block_elems;
  std::vector<float> y(64 * s.N);
  sy::linear<F>(sy::make_view(static_cast<F const*>(q.data()), s.N, s.K / B))(
      sy::make_view(s.x.data(), 64, s.K), sy::make_view(y.data(), 64, s.N));
  return y;
}

template <class F>
std::vector<F> rtn(std::vector<float> const& w, index_t N, index_t K) {
  constexpr index_t B = fmt::traits<F>::block_elems;
  std::vector<F> q(N * K / B);
  sy::quant::quantize_rtn(sy::make_view(w.data(), N, K), sy::make_view(q.data(), N, K / B));
  return q;
}

template <class F>
std::vector<F> aware(std::vector<float> const& w, std::vector<float> const& act_sq, index_t N, index_t K) {
  constexpr index_t B = fmt::traits<F>::block_elems;
  std::vector<F> q(N * K / B);
  sy::quant::quantize_activation_aware(sy::make_view(w.data(), N, K), std::span<float const>(act_sq),
                                       sy::make_view(q.data(), N, K / B));
  return q;
}

void row(char const* fmtname, char const* quantizer, double bpw, metrics m) {
  std::printf("| %s | %s | %.2f | %.2e | %.2e | %.6f |\n", fmtname, quantizer, bpw, m.rel_l2, m.max_rel, m.cosine);
}

void linear_table(bool outliers) {
  data const s = make(1024, 1024, outliers, outliers ? 2 : 1);
  std::vector<float> ref(64 * s.N);
  sy::linear<float>(sy::make_view(s.w.data(), s.N, s.K))(sy::make_view(s.x.data(), 64, s.K), sy::make_view(ref.data(), 64, s.N));
  std::printf("\nlinear 1024 -> 1024, 64 tokens, weights %s:\n\n", outliers ? "with 0.5% outliers (x8)" : "normal");
  std::printf("| format | quantizer | bits/weight | rel. L2 | max err / max abs y | cosine |\n|---|---|---|---|---|---|\n");
  auto bpw = [](auto f) { using F = decltype(f); return 8.0 * sizeof(F) / fmt::traits<F>::block_elems; };
  row("q8_0", "RTN", bpw(fmt::q8_0{}), compare(run_linear(s, rtn<fmt::q8_0>(s.w, s.N, s.K)), ref));
  row("q6_K", "RTN", bpw(fmt::q6_K{}), compare(run_linear(s, rtn<fmt::q6_K>(s.w, s.N, s.K)), ref));
  row("q4_K", "RTN", bpw(fmt::q4_K{}), compare(run_linear(s, rtn<fmt::q4_K>(s.w, s.N, s.K)), ref));
  row("q4_0", "RTN", bpw(fmt::q4_0{}), compare(run_linear(s, rtn<fmt::q4_0>(s.w, s.N, s.K)), ref));
  row("int4 sym g128", "RTN", bpw(fmt::int4_sym<128>{}), compare(run_linear(s, rtn<fmt::int4_sym<128>>(s.w, s.N, s.K)), ref));
  row("int4 sym g128", "activation-aware", bpw(fmt::int4_sym<128>{}),
      compare(run_linear(s, aware<fmt::int4_sym<128>>(s.w, s.act_sq, s.N, s.K)), ref));
  row("int4 asym g128", "RTN", bpw(fmt::int4_asym<128>{}), compare(run_linear(s, rtn<fmt::int4_asym<128>>(s.w, s.N, s.K)), ref));
  row("int4 asym g128", "activation-aware", bpw(fmt::int4_asym<128>{}),
      compare(run_linear(s, aware<fmt::int4_asym<128>>(s.w, s.act_sq, s.N, s.K)), ref));
  row("int4 asym g32", "RTN", bpw(fmt::int4_asym<32>{}), compare(run_linear(s, rtn<fmt::int4_asym<32>>(s.w, s.N, s.K)), ref));
  row("int4 asym g32", "activation-aware", bpw(fmt::int4_asym<32>{}),
      compare(run_linear(s, aware<fmt::int4_asym<32>>(s.w, s.act_sq, s.N, s.K)), ref));
}

// A Mixtral-style MoE layer (H 512, F 1024, 8 experts, top-2) with experts in format F.
template <class F>
metrics moe_error(data const& s, std::vector<float> const& gu, std::vector<float> const& dn, std::vector<float> const& gate,
                  std::vector<float> const& ref, bool activation_aware) {
  constexpr index_t B = fmt::traits<F>::block_elems, H = 512, Fi = 1024, E = 8;
  std::vector<F> gq, dq;
  if constexpr (requires { F::asymmetric; }) {
    if (activation_aware) {
      // gate_up sees x: calibrated on its statistics; down sees the expert's hidden activations,
      // whose statistics this tool does not collect: uniform weights (MSE-optimal clipping).
      gq = aware<F>(gu, s.act_sq, E * 2 * Fi, H);
      dq = aware<F>(dn, std::vector<float>(Fi, 1.0f), E * H, Fi);
    }
  }
  if (gq.empty()) gq = rtn<F>(gu, E * 2 * Fi, H), dq = rtn<F>(dn, E * H, Fi);
  using bank = sy::expert::glu_experts<F>;
  bank experts(sy::tensor_view<F const, sy::dextents<3>>(gq.data(), sy::dextents<3>(E, 2 * Fi, H / B)),
               sy::tensor_view<F const, sy::dextents<3>>(dq.data(), sy::dextents<3>(E, H, Fi / B)));
  sy::expert::moe<sy::route::mixtral<2>, bank> layer(sy::make_view(gate.data(), E, H), experts);
  std::vector<float> y(64 * H);
  sy::expert::moe_workspace ws;
  layer(sy::make_view(s.x.data(), 64, H), sy::make_view(y.data(), 64, H), ws);
  return compare(y, ref);
}

void moe_table() {
  constexpr index_t H = 512, Fi = 1024, E = 8;
  data const s = make(H, H, false, 3);  // x [64, 512] with outlier channels, and its act_sq
  std::mt19937 g(4);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> gu(E * 2 * Fi * H), dn(E * H * Fi), gate(E * H);
  for (auto& v : gu) v = d(g) / std::sqrt(float(H));
  for (auto& v : dn) v = d(g) / std::sqrt(float(Fi));
  for (auto& v : gate) v = d(g) / std::sqrt(float(H));
  using bank = sy::expert::glu_experts<float>;
  bank f32(sy::tensor_view<float const, sy::dextents<3>>(gu.data(), sy::dextents<3>(E, 2 * Fi, H)),
           sy::tensor_view<float const, sy::dextents<3>>(dn.data(), sy::dextents<3>(E, H, Fi)));
  sy::expert::moe<sy::route::mixtral<2>, bank> ref_layer(sy::make_view(gate.data(), E, H), f32);
  std::vector<float> ref(64 * H);
  sy::expert::moe_workspace ws;
  ref_layer(sy::make_view(s.x.data(), 64, H), sy::make_view(ref.data(), 64, H), ws);
  std::printf("\nMoE layer (H 512, F 1024, 8 experts, top-2, SwiGLU), 64 tokens, experts quantized, gate f32:\n\n");
  std::printf("| format | quantizer | bits/weight | rel. L2 | max err / max abs y | cosine |\n|---|---|---|---|---|---|\n");
  auto bpw = [](auto f) { using F = decltype(f); return 8.0 * sizeof(F) / fmt::traits<F>::block_elems; };
  row("q8_0", "RTN", bpw(fmt::q8_0{}), moe_error<fmt::q8_0>(s, gu, dn, gate, ref, false));
  row("q6_K", "RTN", bpw(fmt::q6_K{}), moe_error<fmt::q6_K>(s, gu, dn, gate, ref, false));
  row("q4_K", "RTN", bpw(fmt::q4_K{}), moe_error<fmt::q4_K>(s, gu, dn, gate, ref, false));
  row("q4_0", "RTN", bpw(fmt::q4_0{}), moe_error<fmt::q4_0>(s, gu, dn, gate, ref, false));
  row("int4 asym g128", "RTN", bpw(fmt::int4_asym<128>{}), moe_error<fmt::int4_asym<128>>(s, gu, dn, gate, ref, false));
  row("int4 asym g128", "activation-aware", bpw(fmt::int4_asym<128>{}),
      moe_error<fmt::int4_asym<128>>(s, gu, dn, gate, ref, true));
}

}  // namespace

int main() {
  linear_table(false);
  linear_table(true);
  moe_table();
  return 0;
}
