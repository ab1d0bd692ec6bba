#pragma once
// The harness of the device MoE tests (test_moe_cuda.cu, test_moe_cuda_formats.cu): a layer case,
// random inputs, the host layer and the device layer built from the same weights, and the checks
// between them (see test_moe_cuda.cu for what each path must meet).
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

namespace switchyard::test::moe_cuda {

struct layer_case {
  int E = 8, H = 256, F = 512, Fs = 0;
  bool biases = false;       // gate bias and expert biases (gpt-oss)
  bool shared_gate = false;  // Qwen2-MoE's sigmoid-gated shared expert
  bool selection_bias = false;
  std::int64_t capacity = -1;
  float scaling = 1.0f;
  float p = 0.5f;
};

inline std::vector<float> normal(std::size_t n, float stddev) {
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
inline void require_rows_close(std::vector<float> const& y, std::vector<float> const& ref, index_t T, index_t H, double bound) {
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

inline double nmse(std::vector<float> const& y, std::vector<float> const& ref) {
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

}  // namespace switchyard::test::moe_cuda
