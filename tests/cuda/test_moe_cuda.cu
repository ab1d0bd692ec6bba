// The MoE layer on the device (kernels::moe) against the host layer (expert::moe) on fresh random
// inputs, for the router families, shared experts, biases, capacity and the weight formats:
//   decode path (GEMV, f32 activations): per element within tolerance::moe_output of the row's
//     largest |ref| (the same f32 arithmetic, summed in another order);
//   prefill path (tensor-core GEMM, bf16 activations): NMSE within tolerance::cuda_mma_nmse;
//     e4m3 weights on sm_89+ multiply in fp8 there (mma_bf16 forces the widening path):
//     tolerance::cuda_fp8_mma_nmse; bf16 weights on sm_90a also take the TMA + wgmma GEMM
//     (moe_path::wgmma), within tolerance::cuda_mma_nmse.
// Then: a token's output does not depend on its batch (bit for bit), a CUDA graph replays the
// call exactly, and bad shapes and workspaces are refused with messages.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "cuda/device_array.cuh"
#include "support/random.hpp"
#include "support/tolerance.hpp"
#include "switchyard/expert/moe.hpp"
#include "switchyard/kernels/expert/moe.cuh"
#include "switchyard/linear/quantize.hpp"
#include "switchyard/linear/scaled_linear.hpp"
#include "switchyard/route/families.hpp"

namespace sy = switchyard;
namespace tol = sy::test::tolerance;
using sy::index_t;
using sy::kernels::moe_path;
using sy::test::device_array;

namespace {

struct layer_case {
  int E = 8, H = 256, F = 512, Fs = 0;
  bool biases = false;       // gate bias and expert biases (gpt-oss)
  bool shared_gate = false;  // Qwen2-MoE's sigmoid-gated shared expert
  bool selection_bias = false;
  std::int64_t capacity = -1;
  float scaling = 1.0f;
  float p = 0.5f;
};

std::vector<float> normal(std::size_t n, float stddev) {
  std::vector<float> v(n);
  sy::test::fill_normal<float>(v, 0.0f, stddev);
  return v;
}

template <class W>
std::vector<W> quantize(std::vector<float> const& w, index_t rows, index_t cols) {
  constexpr index_t B = sy::format::traits<W>::block_elems;
  std::vector<W> q(static_cast<std::size_t>(rows * cols / B));
  sy::quant::quantize_rtn<W>(sy::make_view<float const>(w.data(), rows, cols), sy::make_view(q.data(), rows, cols / B));
  return q;
}

// The decode path's check: every element within `bound` times the largest |ref| of its row.
void require_rows_close(std::vector<float> const& y, std::vector<float> const& ref, index_t T, index_t H, double bound) {
  for (index_t t = 0; t < T; ++t) {
    float m = 0.0f;
    for (index_t i = 0; i < H; ++i) m = std::max(m, std::fabs(ref[static_cast<std::size_t>(t * H + i)]));
    for (index_t i = 0; i < H; ++i) {
      auto const at = static_cast<std::size_t>(t * H + i);
      INFO("token " << t << " element " << i << ": device " << y[at] << ", host " << ref[at]);
      REQUIRE(std::fabs(y[at] - ref[at]) <= bound * m);
    }
  }
}

double nmse(std::vector<float> const& y, std::vector<float> const& ref) {
  double num = 0, den = 0;
  for (std::size_t i = 0; i < y.size(); ++i) {
    double const d = double(y[i]) - double(ref[i]);
    num += d * d;
    den += double(ref[i]) * double(ref[i]);
  }
  return num / den;
}

// The grouped GEMM's NMSE bound for a layer and path: fp8 products (e4m3 on sm_89+) or bf16.
template <class Layer>
double mma_bound(Layer const& layer, moe_path path) {
  return layer.fp8_products() && path != moe_path::mma_bf16 ? tol::cuda_fp8_mma_nmse : tol::cuda_mma_nmse;
}

template <class R, class W, class Act = sy::expert::silu_glu>
struct harness {
  static constexpr index_t B = sy::format::traits<W>::block_elems;
  static constexpr int K = R::max_k;
  using host_experts = sy::expert::glu_experts<W, Act>;
  using device_layer = sy::kernels::moe<R, W, Act>;

  layer_case c;
  std::vector<float> gate, gate_bias, gu_bias, down_bias, sel_bias, shared_gate;
  std::vector<W> gate_up, down, s_gate_up, s_down;
  device_array<float> d_gate, d_gate_bias, d_gu_bias, d_down_bias, d_sel_bias, d_shared_gate;
  device_array<W> d_gate_up, d_down, d_s_gate_up, d_s_down;

  explicit harness(layer_case cc) : c(cc) {
    auto const E = static_cast<std::size_t>(c.E), H = static_cast<std::size_t>(c.H), F = static_cast<std::size_t>(c.F);
    gate = normal(E * H, 3.0f / std::sqrt(float(c.H)));  // spread router logits: no near-ties
    gate_up = quantize<W>(normal(E * 2 * F * H, 1.0f / std::sqrt(float(c.H))), c.E * 2 * c.F, c.H);
    down = quantize<W>(normal(E * H * F, 1.0f / std::sqrt(float(c.F))), c.E * c.H, c.F);
    if (c.biases) {
      gate_bias = normal(E, 0.5f);
      gu_bias = normal(E * 2 * F, 0.1f);
      down_bias = normal(E * H, 0.1f);
    }
    if (c.selection_bias) sel_bias = normal(E, 0.3f);
    if (c.Fs > 0) {
      auto const Fs = static_cast<std::size_t>(c.Fs);
      s_gate_up = quantize<W>(normal(2 * Fs * H, 1.0f / std::sqrt(float(c.H))), 2 * c.Fs, c.H);
      s_down = quantize<W>(normal(H * Fs, 1.0f / std::sqrt(float(c.Fs))), c.H, c.Fs);
      if (c.shared_gate) shared_gate = normal(H, 1.0f / std::sqrt(float(c.H)));
    }
    d_gate = device_array<float>(gate);
    d_gate_bias = device_array<float>(gate_bias);
    d_gu_bias = device_array<float>(gu_bias);
    d_down_bias = device_array<float>(down_bias);
    d_sel_bias = device_array<float>(sel_bias);
    d_shared_gate = device_array<float>(shared_gate);
    d_gate_up = device_array<W>(gate_up);
    d_down = device_array<W>(down);
    d_s_gate_up = device_array<W>(s_gate_up);
    d_s_down = device_array<W>(s_down);
  }

  sy::kernels::moe_shape shape() const { return {c.E, c.H, c.F, c.Fs, c.capacity}; }

  device_layer device() const {
    sy::kernels::moe_weights<W> w;
    w.gate = d_gate.get();
    w.gate_bias = d_gate_bias.get();
    w.gate_up = d_gate_up.get();
    w.down = d_down.get();
    w.gate_up_bias = d_gu_bias.get();
    w.down_bias = d_down_bias.get();
    w.shared_gate_up = d_s_gate_up.get();
    w.shared_down = d_s_down.get();
    w.shared_gate = d_shared_gate.get();
    return device_layer(shape(), w);
  }

  sy::kernels::route::device_router_params device_params() const {
    sy::kernels::route::device_router_params p;
    p.scaling = c.scaling;
    p.p = c.p;
    p.selection_bias = d_sel_bias.get();
    return p;
  }

  std::vector<float> host(std::vector<float> const& x, index_t T) const {
    using bank = host_experts;
    auto view3 = [](std::vector<W> const& v, index_t a, index_t b, index_t cc) {
      return sy::tensor_view<W const, sy::dextents<3>>(v.data(), sy::dextents<3>(a, b, cc));
    };
    bank experts(view3(gate_up, c.E, 2 * c.F, c.H / B), view3(down, c.E, c.H, c.F / B),
                 c.biases ? sy::make_view<float const>(gu_bias.data(), c.E, 2 * c.F) : sy::matrix_view<float const>{},
                 c.biases ? sy::make_view<float const>(down_bias.data(), c.E, c.H) : sy::matrix_view<float const>{});
    sy::expert::moe<R, bank> layer(sy::make_view<float const>(gate.data(), c.E, c.H), std::move(experts),
                                   c.biases ? sy::make_view<float const>(gate_bias.data(), c.E)
                                            : sy::vector_view<float const>{},
                                   c.capacity);
    if (c.Fs > 0)
      layer.set_shared(bank(view3(s_gate_up, 1, 2 * c.Fs, c.H / B), view3(s_down, 1, c.H, c.Fs / B)),
                       c.shared_gate ? sy::make_view<float const>(shared_gate.data(), c.H)
                                     : sy::vector_view<float const>{});
    sy::route::router_params hp;
    hp.scaling = c.scaling;
    hp.p = c.p;
    if (c.selection_bias) hp.selection_bias = sy::make_view<float const>(sel_bias.data(), c.E);
    std::vector<float> y(static_cast<std::size_t>(T * c.H));
    sy::expert::moe_workspace ws;
    layer(sy::make_view<float const>(x.data(), T, c.H), sy::make_view(y.data(), T, c.H), ws, hp);
    return y;
  }

  std::vector<float> run(device_layer const& layer, std::vector<float> const& x, index_t T, moe_path path,
                         cudaStream_t stream = nullptr) const {
    device_array<float> dx(x), dy(x.size());
    dy.poison();
    std::size_t const bytes = device_layer::workspace_bytes(shape(), T);
    device_array<char> ws(bytes);
    ws.poison();
    layer(dx.get(), dy.get(), T, ws.get(), bytes, stream, device_params(), path);
    SWITCHYARD_CUDA_CHECK(cudaStreamSynchronize(stream));
    return dy.download();
  }

  void check(std::vector<index_t> const& tokens) const {
    auto const layer = device();
    for (index_t T : tokens) {
      auto const x = normal(static_cast<std::size_t>(T * c.H), 1.0f);
      auto const ref = host(x, T);
      // (wgmma: the TMA + wgmma GEMM on sm_90a for bf16 weights, else the same as mma.)
      for (moe_path path : {moe_path::gemv, moe_path::mma, moe_path::mma_bf16, moe_path::wgmma, moe_path::automatic}) {
        INFO(sy::format::traits<W>::name << " E " << c.E << " H " << c.H << " F " << c.F << " Fs " << c.Fs << " T " << T
                                         << " path " << int(path) << " seed " << sy::test::seed());
        auto const y = run(layer, x, T, path);
        bool const exact_path = path == moe_path::gemv || (path == moe_path::automatic && T * K <= 8 * c.E &&
                                                           (c.Fs == 0 || T <= 8));
        if (exact_path) {
          require_rows_close(y, ref, T, c.H, tol::moe_output(c.H, std::max(c.F, c.Fs), K + 1));
        } else {
          REQUIRE(std::all_of(y.begin(), y.end(), [](float v) { return std::isfinite(v); }));
          REQUIRE(nmse(y, ref) <= mma_bound(layer, path));
        }
      }
    }
  }
};

}  // namespace

TEST_CASE("device MoE layers equal the host layers: router families", "[cuda][moe]") {
  std::vector<index_t> const tokens{1, 5, 64, 200};
  harness<sy::route::mixtral<2>, sy::format::bf16>({.E = 8, .H = 256, .F = 512}).check(tokens);
  harness<sy::route::qwen_moe<8>, sy::format::bf16>({.E = 64, .H = 128, .F = 96}).check(tokens);
  // DeepSeek-V3: sigmoid, correction bias, 8 groups keep 4, scaling 2.5, one shared expert of 2F.
  harness<sy::route::deepseek_v3<6, 8, 4>, sy::format::bf16>(
      {.E = 64, .H = 128, .F = 64, .Fs = 128, .selection_bias = true, .scaling = 2.5f})
      .check(tokens);
  // Qwen2-MoE: a sigmoid-gated shared expert.
  harness<sy::route::qwen_moe<4, false>, sy::format::bf16>({.E = 16, .H = 128, .F = 64, .Fs = 256, .shared_gate = true})
      .check(tokens);
  // gpt-oss: gate bias, expert biases, clamped SwiGLU, softmax over the chosen.
  harness<sy::route::gpt_oss<4>, sy::format::bf16, sy::expert::gpt_oss_glu>({.E = 32, .H = 128, .F = 128, .biases = true})
      .check(tokens);
  // Dynamic k.
  harness<sy::route::cumulative_k<4, 1>, sy::format::bf16>({.E = 16, .H = 128, .F = 64, .p = 0.6f}).check(tokens);
  // Switch: top-1 with a capacity of 4 slots per expert (dropped tokens get y = 0).
  harness<sy::route::topk_router<sy::route::topk_config{.top_k = 1}>, sy::format::bf16>(
      {.E = 8, .H = 128, .F = 256, .capacity = 4})
      .check(tokens);
}

TEST_CASE("device MoE layers equal the host layers: weight formats", "[cuda][moe][quant]") {
  std::vector<index_t> const tokens{3, 100};
  layer_case const c{.E = 8, .H = 256, .F = 384};
  harness<sy::route::mixtral<2>, sy::format::f16>(c).check(tokens);
  harness<sy::route::mixtral<2>, sy::format::e4m3>(c).check(tokens);
  harness<sy::route::mixtral<2>, sy::format::q8_0>(c).check(tokens);
  harness<sy::route::mixtral<2>, sy::format::q4_0>(c).check(tokens);
  harness<sy::route::mixtral<2>, sy::format::int4_asym<128>>(c).check(tokens);
}

// int8 and fp8 codes with scales -- per channel (W8A16, fp8 per channel) or in 128 x 128 blocks
// (DeepSeek-V3's layout) -- against the host's f32 layer on the dequantized weights (code x scale).
// Every matrix (each expert's gate, up and down; the shared expert's) is quantized on its own;
// gate_up's scales are stacked gate then up, as the device layer takes them. The device applies a
// per-channel scale once per output, a block scale to each weight as it is decoded.
template <class E>
void check_scaled(sy::scale_granularity granularity, index_t H, index_t F, index_t Fs, std::vector<index_t> const& tokens) {
  using R = sy::route::deepseek_v3<6, 8, 4>;
  constexpr int K = R::max_k;
  constexpr index_t B = sy::scale_block;
  bool const block = granularity == sy::scale_granularity::block;
  index_t const NE = 64;
  // `mats` matrices of rows x cols: appends their codes, scales and dequantized f32.
  auto quantize_mats = [&](index_t mats, index_t rows, index_t cols, std::vector<E>& codes, std::vector<float>& scales,
                           std::vector<float>& deq) {
    index_t const srows = block ? (rows + B - 1) / B : rows, scols = block ? (cols + B - 1) / B : 1;
    for (index_t m = 0; m < mats; ++m) {
      auto const w = normal(static_cast<std::size_t>(rows * cols), 1.0f / std::sqrt(float(cols)));
      std::vector<E> c(w.size());
      std::vector<float> sc(static_cast<std::size_t>(srows * scols), 0.0f);
      sy::quant::quantize_scaled<E>(sy::make_view<float const>(w.data(), rows, cols), granularity,
                                    sy::make_view(c.data(), rows, cols), sy::make_view(sc.data(), srows, scols));
      for (index_t r = 0; r < rows; ++r)
        for (index_t k = 0; k < cols; ++k)
          deq.push_back(sy::format::traits<E>::to_float(c[static_cast<std::size_t>(r * cols + k)]) *
                        sc[static_cast<std::size_t>(block ? (r / B) * scols + k / B : r)]);
      codes.insert(codes.end(), c.begin(), c.end());
      scales.insert(scales.end(), sc.begin(), sc.end());
    }
  };
  auto const gate = normal(static_cast<std::size_t>(NE * H), 3.0f / std::sqrt(float(H)));
  auto const sel = normal(static_cast<std::size_t>(NE), 0.3f);
  std::vector<E> gu, dn, sgu, sdn;
  std::vector<float> gu_s, dn_s, sgu_s, sdn_s, gu_f, dn_f, sgu_f, sdn_f;
  // Per expert: the gate matrix [F, H], then the up matrix (per channel the same as one [2F, H]).
  quantize_mats(2 * NE, F, H, gu, gu_s, gu_f);
  quantize_mats(NE, H, F, dn, dn_s, dn_f);
  quantize_mats(2, Fs, H, sgu, sgu_s, sgu_f);
  quantize_mats(1, H, Fs, sdn, sdn_s, sdn_f);

  using bank = sy::expert::glu_experts<float>;
  auto v3 = [](std::vector<float> const& v, index_t a, index_t b, index_t c) {
    return sy::tensor_view<float const, sy::dextents<3>>(v.data(), sy::dextents<3>(a, b, c));
  };
  sy::expert::moe<R, bank> host(sy::make_view<float const>(gate.data(), NE, H), bank(v3(gu_f, NE, 2 * F, H), v3(dn_f, NE, H, F)));
  host.set_shared(bank(v3(sgu_f, 1, 2 * Fs, H), v3(sdn_f, 1, H, Fs)));
  sy::route::router_params hp;
  hp.scaling = 2.5f;
  hp.selection_bias = sy::make_view<float const>(sel.data(), NE);

  device_array<float> d_gate(gate), d_sel(sel), d_gu_s(gu_s), d_dn_s(dn_s), d_sgu_s(sgu_s), d_sdn_s(sdn_s);
  device_array<E> d_gu(gu), d_dn(dn), d_sgu(sgu), d_sdn(sdn);
  sy::kernels::moe_weights<E> w;
  w.gate = d_gate.get();
  w.gate_up = d_gu.get();
  w.down = d_dn.get();
  w.shared_gate_up = d_sgu.get();
  w.shared_down = d_sdn.get();
  (block ? w.gate_up_block_scales : w.gate_up_scales) = d_gu_s.get();
  (block ? w.down_block_scales : w.down_scales) = d_dn_s.get();
  (block ? w.shared_gate_up_block_scales : w.shared_gate_up_scales) = d_sgu_s.get();
  (block ? w.shared_down_block_scales : w.shared_down_scales) = d_sdn_s.get();
  sy::kernels::moe_shape const shape{static_cast<int>(NE), static_cast<int>(H), static_cast<int>(F), static_cast<int>(Fs)};
  sy::kernels::moe<R, E> layer(shape, w);
  sy::kernels::route::device_router_params dp;
  dp.scaling = 2.5f;
  dp.selection_bias = d_sel.get();

  for (index_t T : tokens) {
    auto const x = normal(static_cast<std::size_t>(T * H), 1.0f);
    std::vector<float> ref(x.size());
    sy::expert::moe_workspace hws;
    host(sy::make_view<float const>(x.data(), T, H), sy::make_view(ref.data(), T, H), hws, hp);
    for (moe_path path : {moe_path::gemv, moe_path::mma, moe_path::mma_bf16}) {
      INFO(sy::format::traits<E>::name << (block ? " 128 x 128 blocks" : " per channel") << ", H " << H << " F " << F
                                       << " Fs " << Fs << " T " << T << " path " << int(path));
      device_array<float> dx(x), dy(x.size());
      dy.poison();
      std::size_t const bytes = sy::kernels::moe<R, E>::workspace_bytes(shape, T);
      device_array<char> ws(bytes);
      layer(dx.get(), dy.get(), T, ws.get(), bytes, nullptr, dp, path);
      SWITCHYARD_CUDA_CHECK(cudaDeviceSynchronize());
      auto const y = dy.download();
      if (path == moe_path::gemv) {
        require_rows_close(y, ref, T, H, tol::moe_output(H, std::max(F, Fs), K + 1));
      } else {
        REQUIRE(nmse(y, ref) <= mma_bound(layer, path));
      }
    }
  }
}

TEST_CASE("device MoE layers take int8 and fp8 codes with per-channel scales", "[cuda][moe][quant]") {
  check_scaled<std::int8_t>(sy::scale_granularity::per_channel, 128, 64, 128, {2, 90});
  check_scaled<sy::format::e4m3>(sy::scale_granularity::per_channel, 128, 64, 128, {2, 90});
}

TEST_CASE("device MoE layers take int8 and fp8 codes with 128 x 128 block scales", "[cuda][moe][quant]") {
  // Partial blocks on both axes: H = 2.5 blocks, F = 1.25, Fs = 0.75.
  check_scaled<sy::format::e4m3>(sy::scale_granularity::block, 320, 160, 96, {2, 90});
  check_scaled<std::int8_t>(sy::scale_granularity::block, 256, 384, 128, {3, 70});
}

TEST_CASE("a token's device output does not depend on its batch", "[cuda][moe]") {
  harness<sy::route::qwen_moe<8>, sy::format::bf16> h({.E = 64, .H = 128, .F = 96});
  auto const layer = h.device();
  auto const x = normal(200 * 128, 1.0f);
  std::vector<float> const x3(x.begin(), x.begin() + 3 * 128);
  for (moe_path path : {moe_path::gemv, moe_path::mma, moe_path::wgmma}) {
    auto const all = h.run(layer, x, 200, path);
    auto const few = h.run(layer, x3, 3, path);
    REQUIRE(std::equal(few.begin(), few.end(), all.begin()));
  }
}

TEST_CASE("a CUDA graph replays the device MoE layer exactly", "[cuda][moe]") {
  harness<sy::route::deepseek_v3<6, 8, 4>, sy::format::bf16> h(
      {.E = 64, .H = 128, .F = 64, .Fs = 128, .selection_bias = true, .scaling = 2.5f});
  auto const layer = h.device();
  index_t const T = 77;
  auto const x = normal(static_cast<std::size_t>(T * 128), 1.0f);
  auto const direct = h.run(layer, x, T, moe_path::mma);

  cudaStream_t stream;
  SWITCHYARD_CUDA_CHECK(cudaStreamCreate(&stream));
  device_array<float> dx(x), dy(x.size());
  dy.poison();
  std::size_t const bytes = decltype(h)::device_layer::workspace_bytes(h.shape(), T);
  device_array<char> ws(bytes);
  cudaGraph_t graph;
  cudaGraphExec_t exec;
  SWITCHYARD_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal));
  layer(dx.get(), dy.get(), T, ws.get(), bytes, stream, h.device_params(), moe_path::mma);
  SWITCHYARD_CUDA_CHECK(cudaStreamEndCapture(stream, &graph));
  SWITCHYARD_CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
  SWITCHYARD_CUDA_CHECK(cudaGraphLaunch(exec, stream));
  SWITCHYARD_CUDA_CHECK(cudaStreamSynchronize(stream));
  REQUIRE(dy.download() == direct);
  SWITCHYARD_CUDA_CHECK(cudaGraphExecDestroy(exec));
  SWITCHYARD_CUDA_CHECK(cudaGraphDestroy(graph));
  SWITCHYARD_CUDA_CHECK(cudaStreamDestroy(stream));
}

TEST_CASE("the device MoE layer refuses bad shapes and workspaces", "[cuda][moe]") {
  harness<sy::route::mixtral<2>, sy::format::bf16> h({.E = 8, .H = 256, .F = 512});
  auto const layer = h.device();
  device_array<float> x(256 * 4), y(256 * 4);
  std::size_t const need = decltype(h)::device_layer::workspace_bytes(h.shape(), 4);
  device_array<char> ws(need);
  REQUIRE_THROWS_WITH(layer(x.get(), y.get(), 4, ws.get(), need - 1, nullptr), Catch::Contains("workspace_bytes"));
  REQUIRE_THROWS_WITH(layer(x.get(), y.get(), 5, ws.get(), need, nullptr), Catch::Contains("needs"));
  sy::kernels::moe_weights<sy::format::bf16> w;
  w.gate = h.d_gate.get();
  w.gate_up = h.d_gate_up.get();
  w.down = h.d_down.get();
  using layer_t = decltype(h)::device_layer;
  REQUIRE_THROWS_WITH(layer_t({8, 100, 512}, w), Catch::Contains("multiples of 32"));
  REQUIRE_THROWS_WITH(layer_t({300, 256, 512}, w), Catch::Contains("256 experts"));
  REQUIRE_THROWS_WITH(layer_t({8, 256, 512}, {}), Catch::Contains("required"));
  sy::kernels::moe_weights<sy::format::q4_0> wq;
  wq.gate = h.d_gate.get();
  wq.gate_up = reinterpret_cast<sy::format::q4_0 const*>(h.d_gate_up.get());
  wq.down = reinterpret_cast<sy::format::q4_0 const*>(h.d_down.get());
  wq.down_scales = h.d_gate.get();
  using q_layer = sy::kernels::moe<sy::route::mixtral<2>, sy::format::q4_0>;
  REQUIRE_THROWS_WITH(q_layer({8, 256, 512}, wq), Catch::Contains("blocks carry their own"));
  wq.down_scales = nullptr;
  wq.gate_up_block_scales = wq.down_block_scales = h.d_gate.get();
  REQUIRE_THROWS_WITH(q_layer({8, 256, 512}, wq), Catch::Contains("block scales are for int8 and fp8 codes"));
  sy::kernels::moe_weights<sy::format::e4m3> w8;
  w8.gate = h.d_gate.get();
  w8.gate_up = reinterpret_cast<sy::format::e4m3 const*>(h.d_gate_up.get());
  w8.down = reinterpret_cast<sy::format::e4m3 const*>(h.d_down.get());
  w8.gate_up_block_scales = h.d_gate.get();
  using f8_layer = sy::kernels::moe<sy::route::mixtral<2>, sy::format::e4m3>;
  REQUIRE_THROWS_WITH(f8_layer({8, 256, 512}, w8), Catch::Contains("both gate_up_block_scales and down_block_scales"));
  w8.down_block_scales = h.d_gate.get();
  w8.down_scales = h.d_gate.get();
  REQUIRE_THROWS_WITH(f8_layer({8, 256, 512}, w8), Catch::Contains("give one kind"));
}
