#pragma once
// The harness of the device MoE tests (test_moe_cuda.cu, test_moe_cuda_formats.cu): a layer case,
// random inputs, the host layer and the device layer built from the same weights, and the checks
// between them. Three rules keep a run from passing silently:
//   - the expert kernels that ran (kernels::moe::kernels_for, the decision operator() takes) must
//     be the ones this device and build should run for the requested path (require_path): a
//     wgmma request that fell back to mma fails;
//   - outputs and workspaces are poisoned (NaN, 0xFF bytes) before every call (run_layer);
//   - every element is checked, not only an NMSE (require_close), against bounds from
//     support/tolerance.hpp chosen by the kernels that ran.
// Each check prints one "switchyard-record:" line (path requested and run, worst error and its
// bound) that bench/gpu/run.sh gathers into its report.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <type_traits>
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

// The requested paths as types, for TEMPLATE_TEST_CASE: one test case per path, so that
// bench/gpu/run.sh runs each path in its own process and a sticky device fault or a hang on one
// path cannot hide the results of the others. (wgmma: the TMA + wgmma GEMM for bf16 weights on
// sm_90a; for other formats and devices it is mma, and the tests expect that.)
namespace paths {
struct gemv { static constexpr moe_path value = moe_path::gemv; };
struct mma { static constexpr moe_path value = moe_path::mma; };
struct mma_bf16 { static constexpr moe_path value = moe_path::mma_bf16; };
struct wgmma { static constexpr moe_path value = moe_path::wgmma; };
struct automatic { static constexpr moe_path value = moe_path::automatic; };
}  // namespace paths
#define SWITCHYARD_MOE_PATHS paths::gemv, paths::mma, paths::mma_bf16, paths::wgmma, paths::automatic

inline char const* path_name(moe_path p) {
  constexpr char const* names[] = {"automatic", "gemv", "mma", "mma_bf16", "wgmma"};
  return names[static_cast<int>(p)];
}

// The architecture of the code the driver runs here: the highest target this binary was built for
// (__CUDA_ARCH_LIST__, e.g. 800,900) that is not above the device's compute capability. Worked
// out from the device and the build, independently of the layer's own probes.
inline int device_code_arch() {
  int dev = 0, major = 0, minor = 0;
  SWITCHYARD_CUDA_CHECK(cudaGetDevice(&dev));
  SWITCHYARD_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev));
  SWITCHYARD_CUDA_CHECK(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev));
  int best = 0;
  for (int a : {__CUDA_ARCH_LIST__})
    if (a <= 100 * major + 10 * minor) best = std::max(best, a / 10);
  return best;
}

// The expert kernel a call should launch: `few` is automatic's decode condition for the bank.
// fp8 products need e4m3 weights and sm_89+ code; wgmma needs bf16 weights and sm_90a code (this
// project builds 90 only as 90a, so a 90 in the list is 90a); 2:4 sparse weights take the mma.sp
// GEMM for every tensor-core request but mma_bf16 (every build is sm_80+).
template <class Layer>
typename Layer::kernel_kind expected_kind(moe_path path, bool few) {
  using kind = typename Layer::kernel_kind;
  using W = typename Layer::weight_format;
  int const arch = device_code_arch();
  bool const fp8 = std::is_same_v<W, sy::format::e4m3> && arch >= 89;
  if (path == moe_path::gemv || (path == moe_path::automatic && few)) return kind::gemv;
  if (path == moe_path::wgmma && std::is_same_v<W, sy::format::bf16> && arch == 90) return kind::wgmma;
  if (path != moe_path::mma_bf16 && sy::format::is_sparse24<W>) return kind::mma_sp;
  return path != moe_path::mma_bf16 && fp8 ? kind::mma_fp8 : kind::mma;
}

// Fails unless the layer launches the expected kernels for this call (both banks).
template <class Layer>
void require_path(Layer const& layer, index_t T, moe_path path) {
  auto const ran = layer.kernels_for(T, path);
  auto const& s = layer.shape();
  auto const routed = expected_kind<Layer>(path, T * Layer::top_k <= 8 * index_t{s.experts});
  INFO("requested " << path_name(path) << " for T = " << T << " on code for sm_" << device_code_arch()
                    << ": routed experts ran " << name(ran.routed) << ", expected " << name(routed)
                    << " (wgmma_available " << layer.wgmma_available() << ", fp8_products " << layer.fp8_products()
                    << ")");
  REQUIRE(ran.routed == routed);
  if (s.shared_intermediate > 0) {
    auto const shared = expected_kind<Layer>(path, T <= 8);
    INFO("shared expert ran " << name(ran.shared) << ", expected " << name(shared));
    REQUIRE(ran.shared == shared);
  }
}

// One call with poisoned output and workspace: an element the kernels forget to write stays NaN
// and fails every check below.
template <class Layer>
std::vector<float> run_layer(Layer const& layer, std::vector<float> const& x, index_t T, moe_path path,
                             sy::kernels::route::device_router_params const& params, cudaStream_t stream = nullptr) {
  device_array<float> dx(x), dy(x.size());
  dy.poison();
  std::size_t const bytes = Layer::workspace_bytes(layer.shape(), T);
  device_array<char> ws(bytes);
  ws.poison();
  layer(dx.get(), dy.get(), T, ws.get(), bytes, stream, params, path);
  SWITCHYARD_CUDA_CHECK(cudaStreamSynchronize(stream));
  return dy.download();
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

// The element of [T, H] outputs farthest from the reference, as |y - ref| over its row's scale
// (the row's largest |ref|, or its RMS); a NaN counts as infinitely far.
struct worst_element {
  double err = 0;
  index_t token = -1, index = -1;
  float y = 0, ref = 0;
};
enum class row_scale { max, rms };
inline worst_element find_worst(std::vector<float> const& y, std::vector<float> const& ref, index_t T, index_t H,
                                row_scale scale) {
  worst_element w;
  for (index_t t = 0; t < T; ++t) {
    double m = 0, ss = 0;
    for (index_t i = 0; i < H; ++i) {
      double const r = ref[static_cast<std::size_t>(t * H + i)];
      m = std::max(m, std::fabs(r));
      ss += r * r;
    }
    double const s = scale == row_scale::max ? m : std::sqrt(ss / double(H));
    for (index_t i = 0; i < H; ++i) {
      auto const at = static_cast<std::size_t>(t * H + i);
      double const d = std::fabs(double(y[at]) - double(ref[at]));
      double const e = std::isnan(d) ? std::numeric_limits<double>::infinity() : d == 0 ? 0.0 : d / s;
      if (e > w.err || w.token < 0) w = {e, t, i, y[at], ref[at]};
    }
  }
  return w;
}

// The output check, chosen by the kernels that ran. All GEMV (f32 arithmetic, as the host): every
// element within `exact` (tolerance::moe_output) of its row's largest |ref|. Any tensor-core GEMM
// (bf16 / f16 operands, or e4m3): every element within cuda_mma_element (cuda_fp8_mma_element)
// of its row's RMS, and the NMSE within cuda_mma_nmse (cuda_fp8_mma_nmse).
template <class Layer>
void require_close(Layer const& layer, std::vector<float> const& y, std::vector<float> const& ref, index_t T,
                   moe_path path, double exact) {
  using kind = typename Layer::kernel_kind;
  auto const ran = layer.kernels_for(T, path);
  bool const shared = layer.shape().shared_intermediate > 0;
  bool const gemv = ran.routed == kind::gemv && (!shared || ran.shared == kind::gemv);
  bool const fp8 = ran.routed == kind::mma_fp8 || (shared && ran.shared == kind::mma_fp8);
  index_t const H = layer.shape().hidden;
  REQUIRE(y.size() == ref.size());
  REQUIRE(std::any_of(ref.begin(), ref.end(), [](float v) { return v != 0.0f; }));  // else any y is "close"
  auto const w = find_worst(y, ref, T, H, gemv ? row_scale::max : row_scale::rms);
  double const bound = gemv ? exact : fp8 ? tol::cuda_fp8_mma_element : tol::cuda_mma_element;
  double const e = nmse(y, ref);
  double const e_bound = gemv ? 0.0 : fp8 ? tol::cuda_fp8_mma_nmse : tol::cuda_mma_nmse;
  std::printf("switchyard-record: requested=%s ran=%s%s%s check=%s err=%.3g bound=%.3g nmse=%.3g nmse_bound=%.3g T=%lld\n",
              path_name(path), name(ran.routed), shared ? "+shared:" : "", shared ? name(ran.shared) : "",
              gemv ? "row-max" : "row-rms", w.err, bound, e, e_bound, static_cast<long long>(T));
  std::fflush(stdout);
  INFO("worst element: token " << w.token << ", element " << w.index << ": device " << w.y << ", host " << w.ref
                               << ", |error| / row " << (gemv ? "max" : "RMS") << " = " << w.err << " (bound " << bound
                               << "); NMSE " << e);
  REQUIRE(w.err <= bound);
  if (!gemv) REQUIRE(e <= e_bound);
}

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
    return run_layer(layer, x, T, path, device_params(), stream);
  }

  // The device layer against the host layer on `path` for each token count.
  void check(std::vector<index_t> const& tokens, moe_path path) const {
    auto const layer = device();
    for (index_t T : tokens) {
      INFO(sy::format::traits<W>::name << " E " << c.E << " H " << c.H << " F " << c.F << " Fs " << c.Fs << " T " << T
                                       << " path " << path_name(path) << " seed " << sy::test::seed());
      auto const x = normal(static_cast<std::size_t>(T * c.H), 1.0f);
      auto const ref = host(x, T);
      auto const y = run(layer, x, T, path);
      require_path(layer, T, path);
      require_close(layer, y, ref, T, path, tol::moe_output(c.H, std::max(c.F, c.Fs), K + 1));
    }
  }
};

}  // namespace switchyard::test::moe_cuda
