#pragma once
// A decoder layer's MoE on the device: kernels::moe<Router, W, Act> behind a small virtual
// interface, built from the same weight_source roles as the host build (model/build.hpp's
// build_ffn / build_gpt_oss_moe): the router the family's table names (softmax top-k with or
// without renormalization, DeepSeek-V3's grouped sigmoid with its correction bias and scaling,
// gpt-oss's top-k of raw logits with the gate's bias), shared experts (Qwen2-MoE's sigmoid gate),
// gpt-oss's expert biases and clamped SwiGLU.
//
// The banks keep their file format where the device MoE has kernels for it and the format is
// compiled in (SWITCHYARD_DEVICE_EXPERT_FORMATS); otherwise -- f32 (no f32 expert kernels),
// banks whose matrices differ in format, a format not compiled -- every bank of the layer
// (routed and shared) is widened to bf16, or refused under exact formats.
//
// Instances: top-k values x router kinds x bank formats, each a kernels::moe. The lists are
// macros a program may narrow before including this file (the tests do) to cut compile time:
//   SWITCHYARD_DEVICE_TOP_K                     1, 2, 4, 6, 8
//   SWITCHYARD_DEVICE_EXPERT_FORMATS(X)         X(bf16, format::bf16) X(f16, ...) X(q8_0, ...) X(q4_0, ...) X(e4m3, ...)
#include <cstddef>
#include <cstdint>
#include <memory>
#include <type_traits>
#include <vector>

#include <cuda_runtime_api.h>

#include "switchyard/core/dispatch.hpp"
#include "switchyard/core/error.hpp"
#include "switchyard/core/instances.hpp"
#include "switchyard/device/weights.cuh"
#include "switchyard/expert/activation.hpp"
#include "switchyard/kernels/expert/moe.cuh"
#include "switchyard/model/architectures/registry.hpp"
#include "switchyard/model/config.hpp"
#include "switchyard/model/weight_source.hpp"
#include "switchyard/route/families.hpp"

#ifndef SWITCHYARD_DEVICE_TOP_K
#define SWITCHYARD_DEVICE_TOP_K 1, 2, 4, 6, 8
#endif
#ifndef SWITCHYARD_DEVICE_EXPERT_FORMATS
#define SWITCHYARD_DEVICE_EXPERT_FORMATS(X) \
  X(bf16, format::bf16) X(f16, format::f16) X(q8_0, format::q8_0) X(q4_0, format::q4_0) X(e4m3, format::e4m3)
#endif

SWITCHYARD_NAMESPACE_BEGIN
namespace device {

class moe_block {
 public:
  virtual ~moe_block() = default;
  virtual std::size_t workspace_bytes(std::int64_t max_tokens) const = 0;
  // x [T, H] -> y [T, H] (without the residual), device pointers.
  virtual void run(float const* x, float* y, std::int64_t T, void* workspace, std::size_t bytes,
                   cudaStream_t stream) const = 0;
  virtual dformat bank_format() const noexcept = 0;
};

namespace detail {

using device_top_k = value_list<SWITCHYARD_DEVICE_TOP_K>;
#define SWITCHYARD_DETAIL_DEVICE_FMT(n, W) +type_list<tagged<dformat::n, W>>{}
using expert_formats = decltype(type_list<>{} SWITCHYARD_DEVICE_EXPERT_FORMATS(SWITCHYARD_DETAIL_DEVICE_FMT));
#undef SWITCHYARD_DETAIL_DEVICE_FMT

template <class Router, class W, class Act>
class moe_block_of final : public moe_block {
 public:
  using layer_type = kernels::moe<Router, W, Act>;
  moe_block_of(kernels::moe_shape shape, kernels::moe_weights<W> w, kernels::route::device_router_params params, dformat f,
               kernels::moe_path path)
      : layer_(shape, w), params_(params), format_(f), path_(path) {}
  std::size_t workspace_bytes(std::int64_t max_tokens) const override {
    return layer_type::workspace_bytes(layer_.shape(), max_tokens);
  }
  void run(float const* x, float* y, std::int64_t T, void* workspace, std::size_t bytes,
           cudaStream_t stream) const override {
    layer_(x, y, T, workspace, bytes, stream, params_, path_);
  }
  dformat bank_format() const noexcept override { return format_; }

 private:
  layer_type layer_;
  kernels::route::device_router_params params_;
  dformat format_;
  kernels::moe_path path_;
};

// The bank format: the slices' one format where compiled for the device MoE, else bf16.
inline dformat expert_bank_format(weight_uploader const& up, std::vector<model::matrix_slice> const& all) {
  dformat f = up.choose(all, /*f32_allowed*/ false);
  bool compiled = false;
  for_each_type(expert_formats{}, [&]<class E>() { compiled = compiled || E::tag == f; });
  if (compiled) return f;
  require<unsupported_config>(!up.exact(), "device::load", "expert banks in ", name(f),
                              " have no compiled device MoE instance (SWITCHYARD_DEVICE_EXPERT_FORMATS); "
                              "load_options::exact_formats refuses widening them to bf16");
  bool bf16_compiled = false;
  for_each_type(expert_formats{}, [&]<class E>() { bf16_compiled = bf16_compiled || E::tag == dformat::bf16; });
  require<unsupported_config>(bf16_compiled, "device::load", "expert banks need the bf16 device MoE instance, which "
                              "SWITCHYARD_DEVICE_EXPERT_FORMATS leaves out");
  return dformat::bf16;
}

}  // namespace detail

// Layer l's MoE, uploaded. The same roles and checks as model::detail::build_ffn.
inline std::unique_ptr<moe_block> make_moe(model::model_config const& c, model::weight_source const& src,
                                           weight_uploader& up, index_t l,
                                           kernels::moe_path path = kernels::moe_path::automatic) {
  using model::expert_proj;
  using model::role;
  index_t const E = c.experts, F = c.moe_intermediate, H = c.hidden, Fs = c.shared_intermediate;
  auto const& fam = model::family_of(c.arch);
  std::vector<model::matrix_slice> gu, dn, shared_gu, shared_dn;
  for (index_t e = 0; e < E; ++e) {
    gu.push_back(src.expert(expert_proj::gate, l, e, c));
    gu.push_back(src.expert(expert_proj::up, l, e, c));
    dn.push_back(src.expert(expert_proj::down, l, e, c));
  }
  for (index_t e = 0; e < E; ++e)
    require<format_error>(gu[2 * e].rows == F && gu[2 * e + 1].rows == F && dn[e].rows == H && dn[e].cols == F,
                          "device::load", src.origin(), ": layer ", l, " expert ", e, " shapes do not match [", F, ", ",
                          H, "] / [", H, ", ", F, "]");
  if (Fs > 0) {
    shared_gu = {src.need(role::shared_gate, l, "shared expert gate_proj"), src.need(role::shared_up, l, "shared expert up_proj")};
    shared_dn = {src.need(role::shared_down, l, "shared expert down_proj")};
  }
  std::vector<model::matrix_slice> all = gu;
  all.insert(all.end(), dn.begin(), dn.end());
  all.insert(all.end(), shared_gu.begin(), shared_gu.end());
  all.insert(all.end(), shared_dn.begin(), shared_dn.end());
  bool const gpt_oss = fam.activation == model::architectures::expert_activation::gpt_oss_clamped;
  dformat f = detail::expert_bank_format(up, all);
  // gpt-oss's clamped SwiGLU has no e4m3 instance: its fp8 GEMV / GEMM spill (ptxas puts the
  // division's slow path under the fp8 kernels' register pressure), and gpt-oss ships MXFP4
  // experts (widened to bf16 here) anyway; an e4m3 gpt-oss bank is widened too.
  if (gpt_oss && f == dformat::e4m3) {
    require<unsupported_config>(!up.exact(), "device::load", "gpt-oss expert banks in e4m3 have no device kernel; "
                                "load_options::exact_formats refuses widening them to bf16");
    f = dformat::bf16;
  }

  void const* gate_up = up.stacked(gu, H, f).data;
  void const* down = up.stacked(dn, F, f).data;
  void const* shared_gate_up = Fs > 0 ? up.stacked(shared_gu, H, f).data : nullptr;
  void const* shared_down = Fs > 0 ? up.stacked(shared_dn, Fs, f).data : nullptr;
  float const* gate = up.matrix_f32(src.need(role::router, l, "router gate"), E, H);
  float const* shared_gate = Fs > 0 && c.shared_gate ? up.vector(src.need(role::shared_router, l, "shared expert gate"), H)
                                                     : nullptr;
  kernels::moe_shape const shape{.experts = static_cast<int>(E), .hidden = static_cast<int>(H),
                                 .intermediate = static_cast<int>(F), .shared_intermediate = static_cast<int>(Fs)};
  kernels::route::device_router_params params;
  float const *gate_bias = nullptr, *gate_up_bias = nullptr, *down_bias = nullptr;
  if (gpt_oss) {
    auto const gb = src.expert_bias(expert_proj::gate, l, c), ub = src.expert_bias(expert_proj::up, l, c),
               db = src.expert_bias(expert_proj::down, l, c);
    require<format_error>(gb.has_value() == ub.has_value(), "device::load", src.origin(), ": layer ", l,
                          " has a bias for only one of the experts' gate and up projections");
    if (gb) {  // [E, 2F]: each expert's gate biases, then its up biases (the bank's row order)
      std::vector<float> b(static_cast<std::size_t>(E * 2 * F));
      for (index_t e = 0; e < E; ++e) {
        model::detail::widen_row(*gb, e, b.data() + e * 2 * F);
        model::detail::widen_row(*ub, e, b.data() + e * 2 * F + F);
      }
      gate_up_bias = up.floats(b);
    }
    if (db) down_bias = up.matrix_f32(*db, E, H);
    if (auto b = src.find(role::router_gate_bias, l)) gate_bias = up.vector(*b, E);
  } else {
    params.scaling = c.routed_scaling;
    if (auto rb = src.find(role::router_bias, l)) params.selection_bias = up.vector(*rb, E);
  }

  return dispatch_type(detail::expert_formats{}, f, {"device::load", "expert bank format", "device MoE instance"},
                       [&]<class W>() -> std::unique_ptr<moe_block> {
    kernels::moe_weights<W> w;
    w.gate = gate;
    w.gate_bias = gate_bias;
    w.gate_up = static_cast<W const*>(gate_up);
    w.down = static_cast<W const*>(down);
    w.gate_up_bias = gate_up_bias;
    w.down_bias = down_bias;
    w.shared_gate_up = static_cast<W const*>(shared_gate_up);
    w.shared_down = static_cast<W const*>(shared_down);
    w.shared_gate = shared_gate;
    return dispatch_value(detail::device_top_k{}, c.experts_per_token,
                          {"device::load", "num_experts_per_tok", "device router (SWITCHYARD_DEVICE_TOP_K)"},
                          [&]<int K>() -> std::unique_ptr<moe_block> {
      auto make = [&]<class Router, class Act = expert::silu_glu>() -> std::unique_ptr<moe_block> {
        return std::make_unique<detail::moe_block_of<Router, W, Act>>(shape, w, params, f, path);
      };
      if constexpr (!std::is_same_v<W, format::e4m3>) {  // e4m3 gpt-oss banks were widened above
        if (gpt_oss) return make.template operator()<route::gpt_oss<K>, expert::gpt_oss_glu>();
      }
      if (fam.router == model::architectures::router_kind::sigmoid_grouped) {
        require<unsupported_config>(c.norm_topk_prob, "device::load", "deepseek_v3 without norm_topk_prob has no compiled router");
        using instances::group_limit;
        group_limit const g = c.n_group == c.topk_group ? group_limit{}
                                                        : group_limit{static_cast<int>(c.n_group), static_cast<int>(c.topk_group)};
        return dispatch_value(instances::deepseek_groups{}, g, {"device::load", "deepseek n_group / topk_group", "router"},
                              [&]<group_limit G>() -> std::unique_ptr<moe_block> {
                                return make.template operator()<route::deepseek_v3<K, G.groups, G.kept, true>>();
                              });
      }
      if (c.norm_topk_prob)
        return make.template operator()<route::topk_router<route::topk_config{.top_k = K, .renormalize = true}>>();
      return make.template operator()<route::topk_router<route::topk_config{.top_k = K, .renormalize = false}>>();
    });
  });
}

}  // namespace device
SWITCHYARD_NAMESPACE_END
