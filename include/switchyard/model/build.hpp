#pragma once
// Building a model from a checkpoint: the typed path, build<W, KV>(config, source), for engines that
// fix the formats at compile time, and the implementation of the dynamic front model::load
// (model/load.hpp), which picks the instantiation.
// The family's table (model/architectures/) says which attention and router a layer gets. The
// front picks among the instances listed in core/instances.hpp (top-k values, DeepSeek groups,
// weight and KV formats) and refuses the rest with unsupported_config, which lists them.
#include <filesystem>
#include <map>
#include <optional>
#include <memory>
#include <string>
#include <utility>

#include "switchyard/core/dispatch.hpp"
#include "switchyard/core/error.hpp"
#include "switchyard/core/format/gguf.hpp"
#include "switchyard/core/format/sparse24.hpp"
#include "switchyard/core/instances.hpp"
#include "switchyard/io/gguf.hpp"
#include "switchyard/io/safetensors.hpp"
#include "switchyard/model/architectures/registry.hpp"
#include "switchyard/model/causal_lm.hpp"
#include "switchyard/model/gguf_config.hpp"
#include "switchyard/model/hf_config.hpp"
#include "switchyard/model/load_options.hpp"
#include "switchyard/model/weight_source.hpp"
#include "switchyard/model/weight_store.hpp"
#include "switchyard/route/families.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace model {

namespace detail {

// Calls f.template operator()<K>() for the run-time top-k (instances::router_top_k).
template <class F>
decltype(auto) with_top_k(index_t k, F&& f) {
  return dispatch_value(instances::router_top_k{}, k, {"model::load", "num_experts_per_tok", "router"},
                        std::forward<F>(f));
}

// Row e of a [rows, cols] slice, as a [1, cols] slice.
inline matrix_slice row_of(matrix_slice const& s, index_t e) {
  io::dtype_info const d = io::info(s.dtype);
  auto const row_bytes = static_cast<std::size_t>(s.cols / d.block_elems * d.block_bytes);
  return {s.name + "[" + std::to_string(e) + "]", s.dtype, 1, s.cols, s.data.subspan(static_cast<std::size_t>(e) * row_bytes, row_bytes)};
}

// gpt-oss's MoE over the stacked banks: experts with biases and the clamped SwiGLU, the router's
// gate with a bias of its own, top-k of the raw logits then softmax over the chosen (route::gpt_oss).
template <class W>
any_ffn build_gpt_oss_moe(model_config const& c, weight_source const& src, weight_store& store, index_t l, activations act,
                          std::shared_ptr<expert::moe_workspace> const& ws, weight_bank_t<W> gate_up,
                          weight_bank_t<W> down) {
  index_t const E = c.experts, F = c.moe_intermediate, H = c.hidden;
  auto const gb = src.expert_bias(expert_proj::gate, l, c), ub = src.expert_bias(expert_proj::up, l, c),
             db = src.expert_bias(expert_proj::down, l, c);
  require<format_error>(gb.has_value() == ub.has_value(), "model::load", src.origin(), ": layer ", l,
                        " has a bias for only one of the experts' gate and up projections");
  matrix_view<float const> gate_up_bias, down_bias;
  if (gb) {  // [E, 2F]: each expert's gate biases, then its up biases (the bank's row order)
    std::vector<matrix_slice> rows;
    for (index_t e = 0; e < E; ++e) rows.push_back(row_of(*gb, e)), rows.push_back(row_of(*ub, e));
    gate_up_bias = make_view(static_cast<float const*>(store.stack<float>(rows, F)), E, 2 * F);
  }
  if (db) down_bias = store.matrix_f32(*db, E, H);
  using bank = expert::glu_experts<W, expert::gpt_oss_glu>;
  bank const experts(gate_up, down, gate_up_bias, down_bias, act);
  auto const gate = store.matrix_f32(src.need(role::router, l, "router gate"), E, H);
  vector_view<float const> gate_bias;
  if (auto b = src.find(role::router_gate_bias, l)) gate_bias = store.vector(*b, E);
  return with_top_k(c.experts_per_token, [&]<int K>() -> any_ffn {
    using ffn = moe_ffn<route::gpt_oss<K>, W, expert::gpt_oss_glu>;
    return make_ffn(ffn(typename ffn::layer_type(gate, experts, gate_bias), route::router_params{}, ws));
  });
}

template <class W>
any_ffn build_ffn(model_config const& c, weight_source const& src, weight_store& store, index_t l, activations act,
                  std::shared_ptr<expert::moe_workspace> const& ws) {
  index_t const H = c.hidden;
  auto bank = [&](matrix_slice gate, matrix_slice up, matrix_slice down, index_t F) {
    matrix_slice const gu[] = {gate, up};
    matrix_slice const d[] = {down};
    return expert::glu_experts<W>(store.bank<W>(gu, 1, H), store.bank<W>(d, 1, F), {}, {}, act);
  };
  if (!c.is_moe_layer(l)) {
    index_t const F = c.intermediate;
    auto g = src.need(role::ffn_gate, l, "mlp gate_proj"), u = src.need(role::ffn_up, l, "mlp up_proj"),
         d = src.need(role::ffn_down, l, "mlp down_proj");
    require<format_error>(g.rows == F && u.rows == F && d.rows == H && d.cols == F, "model::load", src.origin(),
                          ": layer ", l, " dense MLP shapes do not match intermediate_size ", F);
    matrix_slice const gu[] = {g, u};
    matrix_slice const dd[] = {d};
    return make_ffn(dense_ffn<W>(store.bank<W>(gu, 1, H), store.bank<W>(dd, 1, F), act));
  }
  index_t const E = c.experts, F = c.moe_intermediate;
  std::vector<matrix_slice> gu, dn;
  for (index_t e = 0; e < E; ++e) {
    gu.push_back(src.expert(expert_proj::gate, l, e, c));
    gu.push_back(src.expert(expert_proj::up, l, e, c));
    dn.push_back(src.expert(expert_proj::down, l, e, c));
  }
  for (index_t e = 0; e < E; ++e)
    require<format_error>(gu[2 * e].rows == F && gu[2 * e + 1].rows == F && dn[e].rows == H && dn[e].cols == F,
                          "model::load", src.origin(), ": layer ", l, " expert ", e, " shapes do not match [", F, ", ", H,
                          "] / [", H, ", ", F, "]");
  auto const gate_up = store.bank<W>(gu, E, H);
  auto const down = store.bank<W>(dn, E, F);
  if (family_of(c.arch).activation == architectures::expert_activation::gpt_oss_clamped)
    return build_gpt_oss_moe<W>(c, src, store, l, act, ws, gate_up, down);
  expert::glu_experts<W> experts(gate_up, down, {}, {}, act);
  auto gate = store.matrix_f32(src.need(role::router, l, "router gate"), E, H);
  route::router_params params;
  params.scaling = c.routed_scaling;
  if (auto rb = src.find(role::router_bias, l)) params.selection_bias = store.vector(*rb, E);
  std::optional<expert::glu_experts<W>> shared;
  vector_view<float const> shared_gate;
  if (c.shared_intermediate > 0) {
    shared.emplace(bank(src.need(role::shared_gate, l, "shared expert gate_proj"),
                        src.need(role::shared_up, l, "shared expert up_proj"),
                        src.need(role::shared_down, l, "shared expert down_proj"), c.shared_intermediate));
    if (c.shared_gate) shared_gate = store.vector(src.need(role::shared_router, l, "shared expert gate"), H);
  }
  auto make = [&]<class Router>() -> any_ffn {
    typename moe_ffn<Router, W>::layer_type layer(gate, experts);
    if (shared) layer.set_shared(*shared, shared_gate);
    return make_ffn(moe_ffn<Router, W>(std::move(layer), params, ws));
  };
  return with_top_k(c.experts_per_token, [&]<int K>() -> any_ffn {
    if (family_of(c.arch).router == architectures::router_kind::sigmoid_grouped) {
      // With normalized top-k (every release).
      require<unsupported_config>(c.norm_topk_prob, "model::load", "deepseek_v3 without norm_topk_prob has no compiled router");
      using instances::group_limit;  // every group kept routes as one group
      group_limit const g = c.n_group == c.topk_group
                                ? group_limit{}
                                : group_limit{static_cast<int>(c.n_group), static_cast<int>(c.topk_group)};
      return dispatch_value(instances::deepseek_groups{}, g, {"model::load", "deepseek n_group / topk_group", "router"},
                            [&]<group_limit G>() -> any_ffn {
                              return make.template operator()<route::deepseek_v3<K, G.groups, G.kept, true>>();
                            });
    }
    if (c.norm_topk_prob) return make.template operator()<route::topk_router<route::topk_config{.top_k = K, .renormalize = true}>>();
    return make.template operator()<route::topk_router<route::topk_config{.top_k = K, .renormalize = false}>>();
  });
}

template <class W>
any_attention<W> build_attention(model_config const& c, weight_source const& src, weight_store& store, index_t l,
                                 activations act) {
  using N = norm_weight_t<W>;
  index_t const H = c.hidden;
  if (family_of(c.arch).attention == architectures::attention_kind::mla) {
    index_t const qd = c.qk_nope_dim + c.qk_rope_dim;
    attention::mla_config mc{.hidden = H, .heads = c.heads, .q_lora_rank = c.q_lora_rank, .kv_lora_rank = c.kv_lora_rank,
                             .qk_nope_dim = c.qk_nope_dim, .qk_rope_dim = c.qk_rope_dim, .v_head_dim = c.v_head_dim,
                             .rope = c.rope, .norm_eps = c.rms_eps, .act = act};
    attention::mla_weights<W> w;
    if (c.q_lora_rank > 0) {
      w.q_a_proj = store.matrix<W>(src.need(role::q_a, l, "q_a_proj"), c.q_lora_rank, H);
      w.q_a_norm = store.vector<N>(src.need(role::q_a_norm, l, "q_a_layernorm"), c.q_lora_rank);
      w.q_b_proj = store.matrix<W>(src.need(role::q_b, l, "q_b_proj"), c.heads * qd, c.q_lora_rank);
    } else {
      w.q_proj = store.matrix<W>(src.need(role::q, l, "q_proj"), c.heads * qd, H);
    }
    w.kv_a_proj = store.matrix<W>(src.need(role::kv_a, l, "kv_a_proj_with_mqa"), c.kv_lora_rank + c.qk_rope_dim, H);
    w.kv_a_norm = store.vector<N>(src.need(role::kv_a_norm, l, "kv_a_layernorm"), c.kv_lora_rank);
    // Block formats: kv_b_proj in f32, always a copy the store owns (a GGUF's kv_b is rebuilt from
    // attn_k_b / attn_v_b inside the source, which build()'s callers need not keep).
    index_t const kv_b_rows = c.heads * (c.qk_nope_dim + c.v_head_dim);
    if constexpr (std::is_same_v<attention::mla_kv_b_t<W>, float>)
      w.kv_b_proj = store.matrix_f32(src.need(role::kv_b, l, "kv_b_proj"), kv_b_rows, c.kv_lora_rank);
    else
      w.kv_b_proj = store.matrix<W>(src.need(role::kv_b, l, "kv_b_proj"), kv_b_rows, c.kv_lora_rank);
    w.o_proj = store.matrix<W>(src.need(role::o, l, "o_proj"), H, c.heads * c.v_head_dim);
    return attention::mla_attention<W>(mc, w);
  }
  index_t const D = c.head_dim;
  attention::gqa_config gc{.hidden = H, .q_heads = c.heads, .kv_heads = c.kv_heads, .head_dim = D, .rope = c.rope,
                           .norm_eps = c.rms_eps, .act = act};
  attention::gqa_weights<W> w{.q = store.matrix<W>(src.need(role::q, l, "q_proj"), c.heads * D, H),
                              .k = store.matrix<W>(src.need(role::k, l, "k_proj"), c.kv_heads * D, H),
                              .v = store.matrix<W>(src.need(role::v, l, "v_proj"), c.kv_heads * D, H),
                              .o = store.matrix<W>(src.need(role::o, l, "o_proj"), H, c.heads * D)};
  if (c.attention_bias) {
    w.q_bias = store.vector(src.need(role::q_bias, l, "q_proj bias"), c.heads * D);
    w.k_bias = store.vector(src.need(role::k_bias, l, "k_proj bias"), c.kv_heads * D);
    w.v_bias = store.vector(src.need(role::v_bias, l, "v_proj bias"), c.kv_heads * D);
  }
  if (auto ob = src.find(role::o_bias, l)) w.o_bias = store.vector(*ob, H);
  if (auto sk = src.find(role::sinks, l)) w.sinks = store.vector(*sk, c.heads);
  if (c.qk != qk_norm::none) {
    index_t const qn = c.qk == qk_norm::per_head ? D : c.heads * D, kn = c.qk == qk_norm::per_head ? D : c.kv_heads * D;
    w.q_norm = store.vector<N>(src.need(role::q_norm, l, "q_norm"), qn);
    w.k_norm = store.vector<N>(src.need(role::k_norm, l, "k_norm"), kn);
  }
  index_t const window = c.window(l);
  return attention::gqa_attention<W, attention::sliding_window_mask>(
      gc, w, attention::sliding_window_mask(window > 0 ? window : unbounded_window));
}

}  // namespace detail

// The typed path: a model in weight format W with a KV cache of KV, from any weight source. The
// source's files must outlive the model (or be handed to it with keep()). `act`: the activation
// format of every projection (linear.hpp); MLA (DeepSeek) too, for its projections (its latent products stay f32). `progress`, when
// set, is told (layers built, layers) before the first layer and after each.
template <class W, class KV = float>
std::unique_ptr<causal_lm<W, KV>> build(model_config const& c, weight_source const& src, cache_options cache = {},
                                        activations act = activations::f32, load_progress const& progress = {}) {
  // Pages of converted tensors go back as soon as they are copied: peak RSS = the copies plus the
  // tensors used in place (docs/performance.md measures it against llama.cpp).
  std::shared_ptr<weight_store> const store =
      std::make_shared<weight_store>([&src](std::span<std::byte const> b) { src.release_pages(b); });
  index_t const H = c.hidden;
  using edge_weight = edge_format_t<W>;  // the embedding's and LM head's format (causal_lm.hpp)
  auto embed = store->matrix<edge_weight>(src.need(role::embed, 0, "token embedding"), c.vocab, H);
  auto final_norm = store->vector(src.need(role::final_norm, 0, "final norm"), H);
  weight_matrix_t<edge_weight> head;
  if (auto h = src.find(role::lm_head, 0)) head = store->matrix<edge_weight>(*h, c.vocab, H);
  else
    require<format_error>(c.tie_embeddings, "model::load", src.origin(),
                          ": no LM head tensor and the config does not tie it to the embedding");
  auto lm = std::make_unique<causal_lm<W, KV>>(c, embed, final_norm, head, cache, act);
  auto const moe_ws = std::make_shared<expert::moe_workspace>();  // one for all MoE layers
  if (progress) progress(0, c.layers);
  for (index_t l = 0; l < c.layers; ++l) {
    auto attn = detail::build_attention<W>(c, src, *store, l, act);
    auto ffn = detail::build_ffn<W>(c, src, *store, l, act, moe_ws);
    lm->add_layer(decoder_layer<any_attention<W>, any_ffn>(std::move(attn), std::move(ffn),
                                                           store->vector(src.need(role::attn_norm, l, "input norm"), H),
                                                           store->vector(src.need(role::ffn_norm, l, "post-attention norm"), H),
                                                           c.rms_eps));
    if (progress) progress(l + 1, c.layers);
  }
  store->stop_releasing();
  lm->keep(store);
  return lm;
}

namespace detail {

// A compiled format as the checkpoint dtype that selects it (none for format::mixed).
template <class W>
struct stored_as_entry {
  using type = type_list<tagged<dtype_of<W>(), W>>;
};
template <>
struct stored_as_entry<format::mixed> {
  using type = type_list<>;
};
template <>
struct stored_as_entry<format::sparse24<format::bf16>> {  // converted to on load, never stored
  using type = type_list<>;
};
template <class W>
using stored_as = typename stored_as_entry<W>::type;

// The instance lists of core/instances.hpp as (tag, type) entries: the formats that
// load_options::weights, a checkpoint's matrix dtype and load_options::kv select.
#define SWITCHYARD_DETAIL_BY_OPTION(n, W) +type_list<tagged<weight_format::n, W>>{}
#define SWITCHYARD_DETAIL_BY_DTYPE(n, W) +stored_as<W>{}
#define SWITCHYARD_DETAIL_KV(n, KV) +type_list<tagged<kv_format::n, KV>>{}
using weight_formats = decltype(type_list<>{} SWITCHYARD_MODEL_WEIGHT_FORMATS(SWITCHYARD_DETAIL_BY_OPTION));
using checkpoint_formats = decltype(type_list<>{} SWITCHYARD_MODEL_WEIGHT_FORMATS(SWITCHYARD_DETAIL_BY_DTYPE));
using kv_formats = decltype(type_list<>{} SWITCHYARD_MODEL_KV_FORMATS(SWITCHYARD_DETAIL_KV));
#undef SWITCHYARD_DETAIL_BY_OPTION
#undef SWITCHYARD_DETAIL_BY_DTYPE
#undef SWITCHYARD_DETAIL_KV

// Integer tensors are parts of another format (gpt-oss's MXFP4 `_blocks` / `_scales`, which the
// source reads as mxfp4 matrices), not matrices of their own.
inline bool is_integer(io::dtype d) {
  return d == io::dtype::i64 || d == io::dtype::i32 || d == io::dtype::i16 || d == io::dtype::i8 || d == io::dtype::u8 ||
         d == io::dtype::boolean;
}

// The dtype of a checkpoint's matrices (2-D tensors; norms and biases are 1-D): its one dtype
// besides f32 (routers, and norms some files store 2-D, are f32 in every file), f32 when all are,
// nullopt when they differ (a llama-quantize mix: the model is format::mixed).
inline std::optional<io::dtype> matrix_dtype(io::tensor_directory const& dir) {
  std::optional<io::dtype> one;
  bool any = false;
  for (auto const& t : dir.tensors()) {
    if (t.shape.size() < 2 || t.dtype == io::dtype::f32 || is_integer(t.dtype)) continue;
    if (any && *one != t.dtype) return std::nullopt;
    one = t.dtype, any = true;
  }
  return any ? one : std::optional<io::dtype>(io::dtype::f32);
}

// The activation format load_options asks for, for weights in W (refuses what W has no kernel for).
template <class W>
activations activations_for(activation_format a) {
  if constexpr (std::is_same_v<W, format::mixed>) {
    // Asked per model, given per matrix (linear/mixed_linear.hpp): int8 to the GGUF block types,
    // bf16 to the element-wise formats, f32 to the rest; automatic is int8 where the build has
    // integer kernels for the GGUF types (AVX512-VNNI or AVX2).
    switch (a) {
      case activation_format::automatic: return host::int8_gemv_native ? activations::int8 : activations::f32;
      case activation_format::f32: return activations::f32;
      case activation_format::bf16: return activations::bf16;
      case activation_format::int8: return activations::int8;
    }
    return activations::f32;
  }
  constexpr bool block = format::traits<W>::block_elems > 1;
  constexpr bool takes_int8 = linear<W>::takes_int8;
  switch (a) {
    case activation_format::automatic:  // int8 where it is integer arithmetic (AVX512-VNNI, or AVX2 for the GGUF types)
      return takes_int8 && host::int8_gemv_native_for<W> ? activations::int8 : activations::f32;
    case activation_format::f32: return activations::f32;
    case activation_format::bf16:
      require<unsupported_config>(!block, "model::load", "bf16 activations take element-wise weights (f32, bf16, f16), not ",
                                  format::traits<W>::name);
      return activations::bf16;
    case activation_format::int8:
      require<unsupported_config>(takes_int8, "model::load", "int8 activations take block-quantized GGUF weights (q8_0, q4_0, q4_1, q5_0, q5_1, q2_K .. q6_K, iq4_nl, iq4_xs), not ",
                                  format::traits<W>::name);
      return activations::int8;
  }
  return activations::f32;
}

template <class W>
std::unique_ptr<language_model> build_with_kv(model_config const& c, weight_source const& src, load_options const& o) {
  activations const act = activations_for<W>(o.activations);
  return dispatch_type(kv_formats{}, o.kv, {"model::load", "load_options::kv", "KV cache format"},
                       [&]<class KV>() -> std::unique_ptr<language_model> {
                         return build<W, KV>(c, src, o.cache, act, o.progress);
                       });
}

// The weight formats the dynamic front compiles, one build_with_kv<W> instance each: every format
// x KV format x router the loader can pick. That is most of the cost of a translation unit that
// calls load() (about 90 s with g++ -O2), so a program may compile the instances once instead:
// define SWITCHYARD_EXTERN_MODEL_INSTANCES where load.hpp is included, and compile, once each,
//   SWITCHYARD_NAMESPACE_BEGIN namespace model::detail { SWITCHYARD_MODEL_BUILD_INSTANCE(W) } SWITCHYARD_NAMESPACE_END
// for each X(name, W) of SWITCHYARD_MODEL_WEIGHT_FORMATS (core/instances.hpp; the CMake target
// switchyard::model_instances does both, one translation unit per format; docs/building.md).
#define SWITCHYARD_MODEL_BUILD_INSTANCE(W) \
  template std::unique_ptr<language_model> build_with_kv<W>(model_config const&, weight_source const&, load_options const&);
#if defined(SWITCHYARD_EXTERN_MODEL_INSTANCES)
#define SWITCHYARD_MODEL_EXTERN_INSTANCE(name, W) extern SWITCHYARD_MODEL_BUILD_INSTANCE(W)
SWITCHYARD_MODEL_WEIGHT_FORMATS(SWITCHYARD_MODEL_EXTERN_INSTANCE)
#undef SWITCHYARD_MODEL_EXTERN_INSTANCE
#endif

inline std::unique_ptr<language_model> build_any(model_config const& c, io::tensor_directory const& dir,
                                                 weight_source const& src, load_options const& o) {
  auto const build = [&]<class W>() { return build_with_kv<W>(c, src, o); };
  std::unique_ptr<language_model> lm;
  if (o.weights == weight_format::automatic) {
    std::string const what = std::string(dir.origin()) + ": matrix dtype";
    auto const dtype = matrix_dtype(dir);
    bool typed = false;  // one dtype with a compiled instance of its own; else as stored
    if (dtype) for_each_type(checkpoint_formats{}, [&]<class E>() { typed = typed || E::tag == *dtype; });
    if (dtype && !typed && !kind_of_dtype(*dtype)) typed = true;  // refused below, naming the dtype
    if (!typed) lm = build.template operator()<format::mixed>();
    else lm = dispatch_type(checkpoint_formats{}, *dtype, {"model::load", what, "weight format"}, build);
  } else {
    lm = dispatch_type(weight_formats{}, o.weights, {"model::load", "load_options::weights", "weight format"}, build);
  }
  if (!o.allow_extra_tensors) {
    auto const extra = src.unused(dir);
    require<format_error>(extra.empty(), "model::load", dir.origin(), ": ", extra.size(), " tensor(s) are not part of a ",
                          name(c.arch), " model of this config, first '", extra.empty() ? "" : extra[0],
                          "' (load_options::allow_extra_tensors ignores them)");
  }
  return lm;
}

// The config with load_options' overrides applied (experts_per_token).
inline model_config with_options(model_config c, load_options const& o) {
  if (o.experts_per_token == 0) return c;
  require<unsupported_config>(c.experts > 0, "model::load", "load_options::experts_per_token is ", o.experts_per_token,
                              " but the model has no experts");
  require(o.experts_per_token >= 1 && o.experts_per_token <= c.experts, "model::load", "load_options::experts_per_token must be in [1, ",
          c.experts, "], got ", o.experts_per_token);
  c.experts_per_token = o.experts_per_token;
  return c;
}

// model::load's body (model/load.hpp).
inline std::unique_ptr<language_model> load_checkpoint(std::filesystem::path const& path, load_options const& o) {
  namespace fs = std::filesystem;
  std::unique_ptr<language_model> lm;
  if (path.extension() == ".gguf") {
    auto file = std::make_shared<io::gguf_file>(path);
    model_config const c = with_options(config_from_gguf(*file), o);
    auto src = std::make_shared<gguf_source>(*file, c);  // may own rebuilt tensors the model views
    lm = detail::build_any(c, *file, *src, o);
    lm->keep(file);
    lm->keep(src);
  } else {
    fs::path const dir = fs::is_directory(path) ? path : path.parent_path();
    model_config const c = with_options(read_hf_config(dir), o);
    auto ckpt = std::make_shared<io::safetensors_checkpoint>(path);
    auto src = std::make_shared<hf_source>(*ckpt, c);
    lm = detail::build_any(c, *ckpt, *src, o);
    lm->keep(ckpt);
    lm->keep(src);
  }
  return lm;
}

}  // namespace detail

#if !defined(SWITCHYARD_EXTERN_MODEL_INSTANCES)
// Header-only (model/load.hpp): load() and every instance it picks compiled in this translation
// unit. A checkpoint: a folder (config.json + model.safetensors or a sharded index), or a .gguf file.
inline std::unique_ptr<language_model> load(std::filesystem::path const& path, load_options const& o = {}) {
  return detail::load_checkpoint(path, o);
}
#endif

}  // namespace model
SWITCHYARD_NAMESPACE_END
