#pragma once
// kernels::moe<Router, W, Act>: the MoE layer on a CUDA device. The same router type and expert
// weight format as the host layer (expert::moe<Router, expert::glu_experts<W, Act>>), the same
// weight layout (transformers 5: gate [E, H] f32, gate_up [E, 2F, H], down [E, H, F]; block
// formats count blocks in the last dimension), the same results up to the rounding of the path:
//
//   gate (f32)  ->  top-k router (one warp per token)  ->  dispatch plan (CUB, on the device)
//     -> experts: decode path (GEMV per expert, f32 activations) or prefill path (grouped
//        tensor-core GEMM, bf16 activations; f16 for f16 weights)
//     -> shared expert (optional, with Qwen2-MoE's sigmoid gate)  ->  deterministic combine
//
//   using layer = sy::kernels::moe<sy::route::mixtral<2>, sy::format::bf16>;
//   layer moe(shape, weights);                                 // device pointers, validated once
//   std::size_t bytes = layer::workspace_bytes(shape, max_T);  // the caller allocates once
//   moe(x, y, T, workspace, bytes, stream);                    // no allocation, no host sync
//
// Every launch goes on the caller's stream, nothing allocates or synchronizes, so a call can be
// captured in a CUDA graph. Launch failures become switchyard::cuda_error naming the launch.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "switchyard/core/dispatch.hpp"
#include "switchyard/core/error.hpp"
#include "switchyard/expert/activation.hpp"
#include "switchyard/kernels/common/cuda_check.cuh"
#include "switchyard/kernels/common/sm90.cuh"
#include "switchyard/kernels/common/device_format.cuh"
#include "switchyard/kernels/common/workspace.cuh"
#include "switchyard/kernels/expert/combine.cuh"
#include "switchyard/kernels/expert/gemv.cuh"
#include "switchyard/kernels/expert/grouped_mma.cuh"
#include "switchyard/kernels/expert/grouped_mma_fp8.cuh"
#include "switchyard/kernels/expert/grouped_mma_sparse24.cuh"
#include "switchyard/kernels/expert/grouped_wgmma.cuh"
#include "switchyard/kernels/common/tensor_map.cuh"
#include "switchyard/kernels/expert/quantize_fp8.cuh"
#include "switchyard/kernels/route/gate.cuh"
#include "switchyard/kernels/route/plan.cuh"
#include "switchyard/kernels/route/topk_kernel.cuh"

SWITCHYARD_NAMESPACE_BEGIN
namespace kernels {

// Which expert path a call takes. automatic: the decode path while the slots per expert average
// at most 8 (T k <= 8 E; every weight byte is then read about once), the grouped GEMM beyond.
// mma: the grouped GEMM; for e4m3 weights on a device with fp8 tensor cores (sm_89+) it multiplies
// in fp8 (activations quantized per row and 128 columns, grouped_mma_fp8.cuh); for 2:4 sparse
// weights (format::sparse24<bf16 / f16>) it multiplies on the sparse tensor cores, mma.sp, straight
// from the compressed blocks (grouped_mma_sparse24.cuh). mma_bf16: the grouped GEMM with every
// format widened to bf16 (f16 for f16 weights), on any device.
// wgmma: bf16 weights on sm_90a, the TMA + wgmma grouped GEMM (grouped_wgmma.cuh; opt-in until a
// Hopper run validates it), elsewhere mma.
enum class moe_path { automatic, gemv, mma, mma_bf16, wgmma };

struct moe_shape {
  int experts = 0;
  int hidden = 0;
  int intermediate = 0;
  int shared_intermediate = 0;  // width of the always-on expert (DeepSeek: n_shared x F), 0: none
  std::int64_t capacity = -1;   // slots an expert keeps per call (Switch), < 0: unlimited
};

// Device pointers. Optional ones may be null.
template <class W>
struct moe_weights {
  float const* gate = nullptr;            // [E, H]
  float const* gate_bias = nullptr;       // [E] (gpt-oss)
  W const* gate_up = nullptr;             // [E, 2F, H / B]
  W const* down = nullptr;                // [E, H, F / B]
  float const* gate_up_bias = nullptr;    // [E, 2F] (gpt-oss)
  float const* down_bias = nullptr;       // [E, H]
  float const* gate_up_scales = nullptr;  // [E, 2F]: per-channel scales of int8 / fp8 codes
  float const* down_scales = nullptr;     // [E, H]
  W const* shared_gate_up = nullptr;      // [2 Fs, H / B]
  W const* shared_down = nullptr;         // [H, Fs / B]
  float const* shared_gate_up_scales = nullptr;  // [2 Fs]
  float const* shared_down_scales = nullptr;     // [H]
  float const* shared_gate = nullptr;     // [H]: scale the shared output by sigmoid(shared_gate . x)
  // 128 x 128 block scales of fp8 / int8 codes (DeepSeek-V3's weight_scale_inv), instead of the
  // per-channel ones: per matrix of R rows and K columns, ceil(R/128) x ceil(K/128), row-major.
  // gate_up's are the gate rows' blocks, then the up rows' (the two checkpoint tensors stacked).
  float const* gate_up_block_scales = nullptr;         // [E, 2 ceil(F/128), ceil(H/128)]
  float const* down_block_scales = nullptr;            // [E, ceil(H/128), ceil(F/128)]
  float const* shared_gate_up_block_scales = nullptr;  // [2 ceil(Fs/128), ceil(H/128)]
  float const* shared_down_block_scales = nullptr;     // [ceil(H/128), ceil(Fs/128)]
};

// The workspace of one call, carved from the caller's buffer (or sized, with a null base).
struct moe_buffers {
  float* logits;
  std::int32_t* ids;
  float* route_weights;
  route::device_plan plan;
  void* h;           // [S, F]: f32 (decode path) or 16-bit operands (GEMM path)
  float* slot_out;   // [S, H]
  route::identity_plan shared_plan;
  void* shared_h;    // [T, Fs]
  float* shared_out; // [T, H]
  // e4m3 weights only (the fp8 GEMM's operands): x and h as e4m3 codes with per-128 scales.
  std::uint8_t* x_codes;   // [T, H]
  float* x_scales;         // [T, ceil(H/128)]
  std::uint8_t* h_codes;   // [max(S F, T Fs)]
  float* h_scales;         // [max(S ceil(F/128), T ceil(Fs/128))]
};

namespace detail {
template <class Router>
consteval bool check_device_router() {
  static_assert(requires { switchyard::route::topk_config{Router::config}; },
                "switchyard::kernels::moe: the device layer takes routers built from a route::topk_config "
                "(route::topk_router and the families in route/families.hpp); expert-choice routing is host-only");
  return true;
}
}  // namespace detail

template <class Router, class W, class Act = switchyard::expert::silu_glu>
class moe {
  static_assert(detail::check_device_router<Router>());
  static constexpr switchyard::route::topk_config C = Router::config;
  static_assert(check_device_format<W>());
  static_assert(C.top_k <= 32, "switchyard::kernels::moe: top_k <= 32 on the device");

 public:
  using weight_format = W;
  using activation = Act;
  static constexpr int top_k = C.top_k;

  // The device current at construction decides whether e4m3 weights may take the fp8 GEMM: the
  // code its driver would run for the fp8 kernel must come from a target with the instruction
  // (the kernel's PTX version, not the device's capability: an sm_80 build on an sm_89 card runs
  // the sm_80 code, where the fp8 product traps).
  moe(moe_shape shape, moe_weights<W> weights) : shape_(shape), w_(weights) {
    validate();
    if constexpr (std::is_same_v<W, format::e4m3>) {
      cudaFuncAttributes attr{};
      if (cudaFuncGetAttributes(&attr, expert::mma_fp8_gate_up_kernel<Act, false>) == cudaSuccess)
        fp8_products_ = mma::fp8_mma_supported(attr.ptxVersion);
      else
        (void)cudaGetLastError();  // no device: the widening paths only
    }
    // TMA maps of the four weight matrices, on sm_90a code only: sm90a_code_available() asks the
    // code the driver picked (a kernel's ptxVersion cannot tell 90a from plain 90 or from sm_100+
    // code, where the wgmma wrappers trap).
    if constexpr (std::is_same_v<W, format::bf16>) {
      if (sm90::sm90a_code_available() && tensor_map_encoder_available()) {
        auto const E = static_cast<std::uint64_t>(shape_.experts), H = static_cast<std::uint64_t>(shape_.hidden),
                   F = static_cast<std::uint64_t>(shape_.intermediate),
                   Fs = static_cast<std::uint64_t>(shape_.shared_intermediate);
        try {  // a map the driver refuses to encode leaves the layer on its other paths
          maps_[0] = make_bf16_tensor_map(w_.gate_up, E * 2 * F, H, 32, expert::wg_bk);
          maps_[1] = make_bf16_tensor_map(w_.down, E * H, F, 64, expert::wg_bk);
          if (Fs > 0) {
            maps_[2] = make_bf16_tensor_map(w_.shared_gate_up, 2 * Fs, H, 32, expert::wg_bk);
            maps_[3] = make_bf16_tensor_map(w_.shared_down, H, Fs, 64, expert::wg_bk);
          }
          wgmma_ = true;
        } catch (switchyard::error const&) {
          wgmma_ = false;
        }
      }
    }
  }

  // Whether moe_path::wgmma runs the TMA + wgmma GEMM here (bf16 weights, sm_90a code).
  bool wgmma_available() const noexcept { return wgmma_; }

  // Whether calls on the grouped-GEMM path multiply in fp8 (e4m3 weights, code built for sm_89+).
  bool fp8_products() const noexcept { return fp8_products_; }

  // The expert kernels a call launches: the GEMV (decode), the bf16 / f16 mma.sync GEMM, the fp8
  // mma.sync GEMM, the TMA + wgmma GEMM, the 2:4 sparse mma.sp GEMM.
  enum class kernel_kind { gemv, mma, mma_fp8, wgmma, mma_sp };
  friend constexpr char const* name(kernel_kind k) {
    constexpr char const* names[] = {"gemv", "mma", "mma_fp8", "wgmma", "mma_sp"};
    return names[static_cast<int>(k)];
  }
  struct expert_kernels {
    kernel_kind routed;  // the routed experts' bank
    kernel_kind shared;  // the shared expert's (launched only when shared_intermediate > 0)
  };
  // The kernels a call with T tokens on `path` launches; operator() takes this very decision. A
  // path the layer cannot take here falls back (wgmma to mma without sm_90a code or a tensor-map
  // encoder, mma_fp8 to mma below sm_89; sparse24 weights take mma_sp wherever mma or wgmma is
  // asked for, every build being sm_80+), so tests and benchmarks ask this to assert that what
  // they requested is what ran.
  expert_kernels kernels_for(std::int64_t T, moe_path path) const noexcept {
    auto kind_of = [&](bool few) {
      if (path == moe_path::gemv || (path == moe_path::automatic && few)) return kernel_kind::gemv;
      if (path == moe_path::wgmma && wgmma_) return kernel_kind::wgmma;
      if (path != moe_path::mma_bf16 && format::is_sparse24<W>) return kernel_kind::mma_sp;
      return path != moe_path::mma_bf16 && fp8_products_ ? kernel_kind::mma_fp8 : kernel_kind::mma;
    };
    return {kind_of(T * top_k <= 8 * std::int64_t{shape_.experts}), kind_of(T <= 8)};
  }

  moe_shape const& shape() const noexcept { return shape_; }

  // Bytes of device workspace a call with up to max_tokens tokens needs.
  static std::size_t workspace_bytes(moe_shape const& shape, std::int64_t max_tokens) {
    workspace_carver ws;
    carve(ws, shape, max_tokens);
    return ws.bytes();
  }

  // The arrays of a call with T tokens inside `workspace` (the router's ids and weights, the
  // plan with its per-expert counts, ...): how a caller reads stage results or load statistics.
  static moe_buffers buffers(moe_shape const& shape, std::int64_t T, void* workspace) {
    workspace_carver ws(workspace);
    return carve(ws, shape, T);
  }

  // x [T, H] f32 -> y [T, H] f32 (the layer's output, without the residual); device pointers.
  void operator()(float const* x, float* y, std::int64_t T, void* workspace, std::size_t workspace_size,
                  cudaStream_t stream, route::device_router_params const& params = {},
                  moe_path path = moe_path::automatic) const {
    char const* where = "kernels::moe";
    require(T >= 0 && T * top_k <= (std::int64_t{1} << 30), where, "T = ", T, " is out of range");
    std::size_t const need = workspace_bytes(shape_, T);
    require(workspace != nullptr && workspace_size >= need, where, "the workspace has ", workspace_size,
            " bytes; a call with T = ", T, " needs ", need, " (workspace_bytes)");
    require(aligned(x, 16) && aligned(y, 16), where, "x and y must be 16-byte aligned device pointers");
    require(aligned(workspace, workspace_carver::alignment), where, "the workspace must be ",
            workspace_carver::alignment, "-byte aligned (cudaMalloc's pointers are)");
    if (T == 0) return;
    int const E = shape_.experts, H = shape_.hidden, F = shape_.intermediate;
    moe_buffers const b = buffers(shape_, T, workspace);

    route::launch_gate(x, w_.gate, w_.gate_bias, b.logits, static_cast<int>(T), E, H, stream);
    check_launch("the gate");
    route::device_router_params rp = params;
    route::launch_topk<C>(b.logits, static_cast<int>(T), E, rp, b.ids, b.route_weights, stream);
    check_launch("the router");
    route::build_plan(b.ids, T, top_k, E, shape_.capacity, b.plan, stream);

    std::int64_t const S = T * top_k;
    int const active_bound = static_cast<int>(std::min<std::int64_t>(E, S));
    auto const [routed, shared_kind] = kernels_for(T, path);
    bool const shared = shape_.shared_intermediate > 0;
    if (routed == kernel_kind::mma_fp8 || (shared && shared_kind == kernel_kind::mma_fp8)) {
      if constexpr (std::is_same_v<W, format::e4m3>) {  // x to e4m3 once, for both banks
        expert::quantize_fp8_rows_kernel<float><<<dim3(static_cast<unsigned>(T), expert::block_scale_count(H)), 32, 0, stream>>>(
            x, H, b.x_codes, b.x_scales);
        check_launch("the fp8 quantization of x");
      }
    }
    run_experts(b.plan.view(E), x, b,
                {w_.gate_up, w_.gate_up_bias, w_.gate_up_scales, w_.gate_up_block_scales, &maps_[0]},
                {w_.down, w_.down_bias, w_.down_scales, w_.down_block_scales, &maps_[1]}, b.route_weights, b.h,
                b.slot_out, S, active_bound, F, routed, stream);

    if (shared) {
      route::build_identity_plan(T, b.shared_plan, stream);
      run_experts(b.shared_plan.view(), x, b,
                  {w_.shared_gate_up, nullptr, w_.shared_gate_up_scales, w_.shared_gate_up_block_scales, &maps_[2]},
                  {w_.shared_down, nullptr, w_.shared_down_scales, w_.shared_down_block_scales, &maps_[3]}, nullptr,
                  b.shared_h,
                  b.shared_out, T, 1, shape_.shared_intermediate, shared_kind, stream);
    }
    expert::combine_kernel<<<static_cast<unsigned>(T), expert::combine_threads, 0, stream>>>(
        b.plan.token_slot, top_k, b.slot_out, shared ? b.shared_out : nullptr, shared ? w_.shared_gate : nullptr, x, y,
        H);
    check_launch("the combine");
  }

 private:
  static moe_buffers carve(workspace_carver& ws, moe_shape const& s, std::int64_t T) {
    auto const n = static_cast<std::size_t>(T);
    std::size_t const S = n * static_cast<std::size_t>(top_k);
    moe_buffers b{};
    b.logits = ws.take<float>(n * static_cast<std::size_t>(s.experts));
    b.ids = ws.take<std::int32_t>(S);
    b.route_weights = ws.take<float>(S);
    b.plan = route::device_plan::carve(ws, static_cast<std::int64_t>(S), s.experts);
    b.h = ws.take<float>(S * static_cast<std::size_t>(s.intermediate));
    b.slot_out = ws.take<float>(S * static_cast<std::size_t>(s.hidden));
    if (s.shared_intermediate > 0) {
      b.shared_plan = route::identity_plan::carve(ws, T);
      b.shared_h = ws.take<float>(n * static_cast<std::size_t>(s.shared_intermediate));
      b.shared_out = ws.take<float>(n * static_cast<std::size_t>(s.hidden));
    }
    if constexpr (std::is_same_v<W, format::e4m3>) {
      auto const F = static_cast<std::size_t>(s.intermediate), Fs = static_cast<std::size_t>(s.shared_intermediate);
      auto const blocks = [](std::size_t k) { return static_cast<std::size_t>(expert::block_scale_count(static_cast<int>(k))); };
      b.x_codes = ws.take<std::uint8_t>(n * static_cast<std::size_t>(s.hidden));
      b.x_scales = ws.take<float>(n * blocks(static_cast<std::size_t>(s.hidden)));
      b.h_codes = ws.take<std::uint8_t>(std::max(S * F, n * Fs));
      b.h_scales = ws.take<float>(std::max(S * blocks(F), n * blocks(Fs)));
    }
    return b;
  }

  // The expert kernels compiled for W: the GEMV and the mma GEMM for every format, the fp8 GEMM
  // for e4m3 weights, the TMA + wgmma GEMM for bf16 (the constructor says whether the device
  // runs these two; kernels_for picks among what it has), the mma.sp GEMM for sparse24.
  using kernel_kinds = decltype(value_list<kernel_kind::gemv, kernel_kind::mma>{} +
                                std::conditional_t<std::is_same_v<W, format::e4m3>, value_list<kernel_kind::mma_fp8>,
                                                   value_list<>>{} +
                                std::conditional_t<std::is_same_v<W, format::bf16>, value_list<kernel_kind::wgmma>,
                                                   value_list<>>{} +
                                std::conditional_t<format::is_sparse24<W>, value_list<kernel_kind::mma_sp>,
                                                   value_list<>>{});
  // 128 x 128 block scales (or none): compiled for int8 and fp8 codes only (validate() refuses the rest).
  using block_scale_modes =
      std::conditional_t<expert::takes_block_scales<W>, value_list<false, true>, value_list<false>>;

  // One projection of a bank: the weights and what scales them (each optional but the weights).
  struct projection {
    W const* w;
    float const* bias;
    float const* scales;        // per channel
    float const* block_scales;  // 128 x 128
    CUtensorMap const* map;     // bf16 on sm_90a: the TMA map of w
  };

  // One bank of experts over a plan: gate_up (+ activation) into h, then down into out.
  // slots bounds the plan's kept slots, active_bound its active experts (both known on the host
  // without reading the plan back).
  void run_experts(route::plan_view const& plan, float const* x, moe_buffers const& b, projection gu, projection dn,
                   float const* route_weights, void* h, float* out, std::int64_t slots, int active_bound, int F,
                   kernel_kind kind, cudaStream_t stream) const {
    bool const block_scales = gu.block_scales != nullptr;  // validate(): both projections or neither
    dispatch_value(kernel_kinds{}, kind, {"kernels::moe", "expert kernel", "instance for this format"},
                   [&]<kernel_kind K>() {
                     dispatch_value(block_scale_modes{}, block_scales,
                                    {"kernels::moe", "block scales", "expert kernel for this format"}, [&]<bool BS>() {
                                      launch_experts<K, BS>(plan, x, b, gu, dn, route_weights, h, out, slots,
                                                            active_bound, F, stream);
                                    });
                   });
  }

  template <kernel_kind K, bool BS>
  void launch_experts(route::plan_view const& plan, float const* x, moe_buffers const& b, projection gu, projection dn,
                      float const* route_weights, void* h, float* out, std::int64_t slots, int active_bound, int F,
                      cudaStream_t stream) const {
    int const H = shape_.hidden;
    if constexpr (K == kernel_kind::mma_fp8) {
      auto* h16 = static_cast<std::uint16_t*>(h);
      auto const tiles = static_cast<unsigned>((slots + expert::mma_bm - 1) / expert::mma_bm + active_bound);
      dim3 const g1(tiles, (F + expert::mma_bn / 2 - 1) / (expert::mma_bn / 2));
      expert::mma_fp8_gate_up_kernel<Act, BS><<<g1, expert::mma_threads, 0, stream>>>(
          plan, b.x_codes, b.x_scales, gu.w, gu.bias, gu.scales, gu.block_scales, h16, H, F);
      check_launch("the expert gate_up GEMM (fp8)");
      // h's rows are slot-indexed: quantize all `slots` of them (rows past the kept slots are never read).
      expert::quantize_fp8_rows_kernel<std::uint16_t>
          <<<dim3(static_cast<unsigned>(slots), expert::block_scale_count(F)), 32, 0, stream>>>(h16, F, b.h_codes,
                                                                                                b.h_scales);
      check_launch("the fp8 quantization of h");
      dim3 const g2(tiles, (H + expert::mma_bn - 1) / expert::mma_bn);
      expert::mma_fp8_down_kernel<BS><<<g2, expert::mma_threads, 0, stream>>>(
          plan, b.h_codes, b.h_scales, dn.w, dn.bias, dn.scales, dn.block_scales, route_weights, out, H, F);
      check_launch("the expert down GEMM (fp8)");
    } else if constexpr (K == kernel_kind::wgmma) {
      auto* h16 = static_cast<std::uint16_t*>(h);
      auto const tiles = static_cast<unsigned>((slots + expert::mma_bm - 1) / expert::mma_bm + active_bound);
      dim3 const g1(tiles, (F + 31) / 32);
      expert::wgmma_gate_up_kernel<Act><<<g1, expert::wg_threads, expert::wg_smem_bytes, stream>>>(
          plan, x, *gu.map, gu.bias, h16, H, F);
      check_launch("the expert gate_up GEMM (wgmma)");
      dim3 const g2(tiles, (H + 63) / 64);
      expert::wgmma_down_kernel<<<g2, expert::wg_threads, expert::wg_smem_bytes, stream>>>(plan, h16, *dn.map, dn.bias,
                                                                                        route_weights, out, H, F);
      check_launch("the expert down GEMM (wgmma)");
    } else if constexpr (K == kernel_kind::mma_sp) {
      using E = typename expert::sparse24_value<W>::type;
      auto* h16 = static_cast<std::uint16_t*>(h);
      auto const tiles = static_cast<unsigned>((slots + expert::sp_bn - 1) / expert::sp_bn + active_bound);
      dim3 const g1(tiles, (F + expert::sp_bm / 2 - 1) / (expert::sp_bm / 2));
      expert::sparse24_gate_up_kernel<E, Act><<<g1, expert::sp_threads, 0, stream>>>(plan, x, gu.w, gu.bias, h16, H, F);
      check_launch("the expert gate_up GEMM (mma.sp)");
      dim3 const g2(tiles, (H + expert::sp_bm - 1) / expert::sp_bm);
      expert::sparse24_down_kernel<E><<<g2, expert::sp_threads, 0, stream>>>(plan, h16, dn.w, dn.bias, route_weights,
                                                                             out, H, F);
      check_launch("the expert down GEMM (mma.sp)");
    } else if constexpr (K == kernel_kind::gemv) {
      auto* hf = static_cast<float*>(h);
      dim3 const g1((F + expert::gemv_warps - 1) / expert::gemv_warps, active_bound);
      expert::gemv_gate_up_kernel<W, Act, BS><<<g1, expert::gemv_warps * 32, 0, stream>>>(
          plan, x, gu.w, gu.bias, gu.scales, gu.block_scales, hf, H, F);
      check_launch("the expert gate_up GEMV");
      dim3 const g2((H + expert::gemv_warps - 1) / expert::gemv_warps, active_bound);
      expert::gemv_down_kernel<W, BS><<<g2, expert::gemv_warps * 32, 0, stream>>>(
          plan, hf, dn.w, dn.bias, dn.scales, dn.block_scales, route_weights, out, H, F);
      check_launch("the expert down GEMV");
    } else {
      auto* h16 = static_cast<std::uint16_t*>(h);
      // Tiles: sum over experts of ceil(count / 64) <= S / 64 + (experts with any slot).
      auto const tiles = static_cast<unsigned>((slots + expert::mma_bm - 1) / expert::mma_bm + active_bound);
      dim3 const g1(tiles, (F + expert::mma_bn / 2 - 1) / (expert::mma_bn / 2));
      expert::mma_gate_up_kernel<W, Act, BS><<<g1, expert::mma_threads, 0, stream>>>(
          plan, x, gu.w, gu.bias, gu.scales, gu.block_scales, h16, H, F);
      check_launch("the expert gate_up GEMM");
      dim3 const g2(tiles, (H + expert::mma_bn - 1) / expert::mma_bn);
      expert::mma_down_kernel<W, BS><<<g2, expert::mma_threads, 0, stream>>>(
          plan, h16, dn.w, dn.bias, dn.scales, dn.block_scales, route_weights, out, H, F);
      check_launch("the expert down GEMM");
    }
  }

  void validate() const {
    char const* where = "kernels::moe";
    int const E = shape_.experts, H = shape_.hidden, F = shape_.intermediate, Fs = shape_.shared_intermediate;
    int const align = std::max(32, device_format<W>::row_align);
    require(E >= C.top_k && E <= route::max_device_experts, where, "the device layer takes top_k <= E <= ",
            route::max_device_experts, " experts, got E = ", E);
    require(H > 0 && H % align == 0 && F > 0 && F % align == 0 && Fs >= 0 && Fs % align == 0, where,
            "hidden, intermediate and shared_intermediate must be positive multiples of ", align, " (got ", H, ", ", F,
            ", ", Fs, ")");
    require(w_.gate && w_.gate_up && w_.down, where, "gate, gate_up and down are required");
    require(aligned(w_.gate_up, 16) && aligned(w_.down, 16), where, "expert weights must be 16-byte aligned");
    require(Fs == 0 || (w_.shared_gate_up && w_.shared_down && aligned(w_.shared_gate_up, 16) &&
                        aligned(w_.shared_down, 16)),
            where, "shared_intermediate = ", Fs, " needs 16-byte aligned shared_gate_up and shared_down");
    require(w_.shared_gate == nullptr || Fs > 0, where, "a shared gate without a shared expert");
    require(device_format<W>::block_elems == 1 || (!w_.gate_up_scales && !w_.down_scales &&
                                                   !w_.shared_gate_up_scales && !w_.shared_down_scales),
            where, "per-channel scales are for int8 and fp8 codes; ", format::traits<W>::name,
            " blocks carry their own");
    bool const block = w_.gate_up_block_scales || w_.down_block_scales;
    require(!block || expert::takes_block_scales<W>, where, "128 x 128 block scales are for int8 and fp8 codes, not ",
            format::traits<W>::name);
    require(!block || (w_.gate_up_block_scales && w_.down_block_scales), where,
            "block scales need both gate_up_block_scales and down_block_scales");
    require(Fs == 0 || block == (w_.shared_gate_up_block_scales && w_.shared_down_block_scales), where,
            block ? "the routed experts have block scales; the shared expert needs both of its own"
                  : "shared-expert block scales without the routed experts' (both banks scale the same way)");
    require(Fs > 0 || (!w_.shared_gate_up_block_scales && !w_.shared_down_block_scales), where,
            "shared-expert block scales without a shared expert");
    require(!block || (!w_.gate_up_scales && !w_.down_scales && !w_.shared_gate_up_scales && !w_.shared_down_scales),
            where, "per-channel scales and block scales together: give one kind");
    route::launch_topk_checks(E, C.top_k, C.groups, C.groups_kept, C.group_score_top);
  }

  static bool aligned(void const* p, std::size_t a) { return reinterpret_cast<std::uintptr_t>(p) % a == 0; }
  static void check_launch(char const* what) {
    cudaError_t const status = cudaGetLastError();
    if (status != cudaSuccess)
      switchyard::detail::fail<cuda_error>("kernels::moe", "launching ", what, " failed: ", cudaGetErrorName(status), " (",
                       cudaGetErrorString(status), ")");
  }

  moe_shape shape_;
  moe_weights<W> w_;
  bool fp8_products_ = false;
  bool wgmma_ = false;
  CUtensorMap maps_[4]{};  // gate_up, down, shared gate_up, shared down (wgmma_ only)
};

}  // namespace kernels
SWITCHYARD_NAMESPACE_END
