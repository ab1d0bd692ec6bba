#pragma once
// Building a model from a checkpoint, and the dynamic front that picks the instantiation.
//
//   auto lm = model::load("path/to/hf_folder");          // config.json + safetensors
//   auto lm = model::load("path/to/model.gguf");         // GGUF, llama.cpp's naming
//   auto lm = model::load(path, {.weights = model::weight_format::q8_0});  // quantize on load
//
// Decode rows of q8_0, q4_0 and q4_K models take int8 activations by default (integer dot
// products, as llama.cpp computes them: 1.07-2x f32's decode, +0.02% perplexity; docs/quantization.md);
// {.activations = model::activation_format::f32} keeps every projection exact.
//
// build<W, KV>(config, source) is the typed path for engines that fix the formats at compile time.
// The family's table (model/architectures/) says which attention and router a layer gets. The
// front refuses, with unsupported_config, what has no instance: a top-k outside {1, 2, 4, 6, 8},
// DeepSeek group settings outside the shipped ones.
#include <filesystem>
#include <map>
#include <optional>
#include <memory>
#include <string>
#include <utility>

#include "switchyard/core/error.hpp"
#include "switchyard/core/format/gguf.hpp"
#include "switchyard/io/gguf.hpp"
#include "switchyard/io/safetensors.hpp"
#include "switchyard/model/architectures/registry.hpp"
#include "switchyard/model/causal_lm.hpp"
#include "switchyard/model/gguf_config.hpp"
#include "switchyard/model/hf_config.hpp"
#include "switchyard/model/weight_source.hpp"
#include "switchyard/model/weight_store.hpp"
#include "switchyard/route/families.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace model {

namespace detail {

// Calls f.template operator()<K>() for the run-time top-k (the instances the front compiles).
template <class F>
decltype(auto) with_top_k(index_t k, F&& f) {
  switch (k) {
    case 1: return f.template operator()<1>();
    case 2: return f.template operator()<2>();
    case 4: return f.template operator()<4>();
    case 6: return f.template operator()<6>();
    case 8: return f.template operator()<8>();
    default:
      switchyard::detail::fail<unsupported_config>("model::load", "num_experts_per_tok = ", k,
                                                   " has no compiled router (1, 2, 4, 6, 8 do)");
  }
}

template <class W>
any_ffn build_ffn(model_config const& c, weight_source const& src, weight_store& store, index_t l, activations act,
                  std::shared_ptr<expert::moe_workspace> const& ws) {
  constexpr index_t B = format::traits<W>::block_elems;
  index_t const H = c.hidden;
  auto bank = [&](matrix_slice gate, matrix_slice up, matrix_slice down, index_t F) {
    matrix_slice const gu[] = {gate, up};
    W const* gate_up = store.stack<W>(gu, H);
    matrix_slice const d[] = {down};
    W const* dn = store.stack<W>(d, F);
    return expert::glu_experts<W>(tensor_view<W const, dextents<3>>(gate_up, dextents<3>(1, 2 * F, H / B)),
                                  tensor_view<W const, dextents<3>>(dn, dextents<3>(1, H, F / B)), {}, {}, act);
  };
  if (!c.is_moe_layer(l)) {
    index_t const F = c.intermediate;
    auto g = src.need(role::ffn_gate, l, "mlp gate_proj"), u = src.need(role::ffn_up, l, "mlp up_proj"),
         d = src.need(role::ffn_down, l, "mlp down_proj");
    require<format_error>(g.rows == F && u.rows == F && d.rows == H && d.cols == F, "model::load", src.origin(),
                          ": layer ", l, " dense MLP shapes do not match intermediate_size ", F);
    matrix_slice const gu[] = {g, u};
    W const* gate_up = store.stack<W>(gu, H);
    matrix_slice const dd[] = {d};
    W const* dn = store.stack<W>(dd, F);
    return make_ffn(dense_ffn<W>(tensor_view<W const, dextents<3>>(gate_up, dextents<3>(1, 2 * F, H / B)),
                                 tensor_view<W const, dextents<3>>(dn, dextents<3>(1, H, F / B)), act));
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
  W const* gate_up = store.stack<W>(gu, H);
  W const* down = store.stack<W>(dn, F);
  expert::glu_experts<W> experts(tensor_view<W const, dextents<3>>(gate_up, dextents<3>(E, 2 * F, H / B)),
                                 tensor_view<W const, dextents<3>>(down, dextents<3>(E, H, F / B)), {}, {}, act);
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
      if (c.n_group == 8 && c.topk_group == 4) return make.template operator()<route::deepseek_v3<K, 8, 4, true>>();
      if (c.n_group == 4 && c.topk_group == 2) return make.template operator()<route::deepseek_v3<K, 4, 2, true>>();
      require<unsupported_config>(c.n_group == c.topk_group, "model::load", "deepseek n_group ", c.n_group,
                                  " / topk_group ", c.topk_group, " has no compiled router (8/4, 4/2, or all groups kept)");
      return make.template operator()<route::deepseek_v3<K, 1, 1, true>>();
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
                             .rope = c.rope, .norm_eps = c.rms_eps};
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
    if constexpr (format::traits<W>::block_elems > 1)
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
// format of every projection (linear.hpp); MLA (DeepSeek) always computes in f32.
template <class W, class KV = float>
std::unique_ptr<causal_lm<W, KV>> build(model_config const& c, weight_source const& src, cache_options cache = {},
                                        activations act = activations::f32) {
  // Pages of converted tensors go back as soon as they are copied: peak RSS = the copies plus the
  // tensors used in place (docs/performance.md measures it against llama.cpp).
  std::shared_ptr<weight_store> const store =
      std::make_shared<weight_store>([&src](std::span<std::byte const> b) { src.release_pages(b); });
  index_t const H = c.hidden;
  auto embed = store->matrix<W>(src.need(role::embed, 0, "token embedding"), c.vocab, H);
  auto final_norm = store->vector(src.need(role::final_norm, 0, "final norm"), H);
  matrix_view<W const> head;
  if (auto h = src.find(role::lm_head, 0)) head = store->matrix<W>(*h, c.vocab, H);
  else
    require<format_error>(c.tie_embeddings, "model::load", src.origin(),
                          ": no LM head tensor and the config does not tie it to the embedding");
  auto lm = std::make_unique<causal_lm<W, KV>>(c, embed, final_norm, head, cache, act);
  auto const moe_ws = std::make_shared<expert::moe_workspace>();  // one for all MoE layers
  for (index_t l = 0; l < c.layers; ++l) {
    auto attn = detail::build_attention<W>(c, src, *store, l, act);
    auto ffn = detail::build_ffn<W>(c, src, *store, l, act, moe_ws);
    lm->add_layer(decoder_layer<any_attention<W>, any_ffn>(std::move(attn), std::move(ffn),
                                                           store->vector(src.need(role::attn_norm, l, "input norm"), H),
                                                           store->vector(src.need(role::ffn_norm, l, "post-attention norm"), H),
                                                           c.rms_eps));
  }
  store->stop_releasing();
  lm->keep(store);
  return lm;
}

enum class weight_format { automatic, f32, bf16, f16, q8_0, q4_0, q4_K, q6_K };
enum class kv_format { f32, bf16 };
// What the projections round their inputs to (linear.hpp). f32 keeps every projection exact; int8
// takes q8_0, q4_0 and q4_K weights (their decode rows become integer dot products, as llama.cpp
// computes them: +0.02% perplexity on the shipped model, docs/quantization.md); bf16 takes
// element-wise weights (bf16 engines' arithmetic). automatic: the fastest measured for the format
// -- int8 for q8_0, q4_0 and q4_K where the build has the VNNI kernels (whole-model decode
// 1.07-1.08x, 1.47-1.59x and ~2x f32, bench/NOTES.md; without AVX512-VNNI int8 runs as f32 on
// rounded inputs, no faster), f32 for the others.
enum class activation_format { automatic, f32, bf16, int8 };

struct load_options {
  weight_format weights = weight_format::automatic;  // automatic: the checkpoint's matrix dtype
  kv_format kv = kv_format::f32;
  activation_format activations = activation_format::automatic;
  cache_options cache = {};
  bool allow_extra_tensors = false;  // true: ignore checkpoint tensors the model does not use
};

namespace detail {

inline weight_format format_of(io::tensor_directory const& dir) {
  // The dtype of the most 2-D tensors decides (norms and biases are 1-D).
  std::map<io::dtype, int> count;
  for (auto const& t : dir.tensors())
    if (t.shape.size() >= 2) ++count[t.dtype];
  io::dtype best = io::dtype::f32;
  int n = -1;
  for (auto [d, k] : count)
    if (k > n) best = d, n = k;
  switch (best) {
    case io::dtype::f32: return weight_format::f32;
    case io::dtype::bf16: return weight_format::bf16;
    case io::dtype::f16: return weight_format::f16;
    case io::dtype::q8_0: return weight_format::q8_0;
    case io::dtype::q4_0: return weight_format::q4_0;
    case io::dtype::q4_K: return weight_format::q4_K;
    case io::dtype::q6_K: return weight_format::q6_K;
    default:
      switchyard::detail::fail<unsupported_config>("model::load", dir.origin(), ": weights in ", io::info(best).name,
                                                   " are not a supported weight format");
  }
}

// The activation format load_options asks for, for weights in W (refuses what W has no kernel for).
template <class W>
activations activations_for(activation_format a) {
  constexpr bool block = format::traits<W>::block_elems > 1;
  constexpr bool takes_int8 = linear<W>::takes_int8;
  switch (a) {
    case activation_format::automatic:  // int8 where it is integer arithmetic (AVX512-VNNI builds)
      return takes_int8 && host::int8_gemv_native ? activations::int8 : activations::f32;
    case activation_format::f32: return activations::f32;
    case activation_format::bf16:
      require<unsupported_config>(!block, "model::load", "bf16 activations take element-wise weights (f32, bf16, f16), not ",
                                  format::traits<W>::name);
      return activations::bf16;
    case activation_format::int8:
      require<unsupported_config>(takes_int8, "model::load", "int8 activations take q8_0, q4_0 or q4_K weights, not ",
                                  format::traits<W>::name);
      return activations::int8;
  }
  return activations::f32;
}

template <class W>
std::unique_ptr<language_model> build_with_kv(model_config const& c, weight_source const& src, load_options const& o) {
  activations const act = activations_for<W>(o.activations);
  if (o.kv == kv_format::bf16) return build<W, format::bf16>(c, src, o.cache, act);
  return build<W, float>(c, src, o.cache, act);
}

// The weight formats the dynamic front compiles, one build_with_kv<W> instance each: every format
// x KV format x router the loader can pick. That is most of the cost of a translation unit that
// calls load() (about 90 s with g++ -O2), so a program may compile the instances once instead:
// define SWITCHYARD_EXTERN_MODEL_INSTANCES where load.hpp is included, and compile, once each,
//   SWITCHYARD_NAMESPACE_BEGIN namespace model::detail { SWITCHYARD_MODEL_BUILD_INSTANCE(W) } SWITCHYARD_NAMESPACE_END
// for the W of SWITCHYARD_MODEL_WEIGHT_FORMATS (the CMake target switchyard::model_instances
// does both, one translation unit per format; docs/building.md).
#define SWITCHYARD_MODEL_WEIGHT_FORMATS(X) \
  X(float) X(format::bf16) X(format::f16) X(format::q8_0) X(format::q4_0) X(format::q4_K) X(format::q6_K)
#define SWITCHYARD_MODEL_BUILD_INSTANCE(W) \
  template std::unique_ptr<language_model> build_with_kv<W>(model_config const&, weight_source const&, load_options const&);
#if defined(SWITCHYARD_EXTERN_MODEL_INSTANCES)
#define SWITCHYARD_MODEL_EXTERN_INSTANCE(W) extern SWITCHYARD_MODEL_BUILD_INSTANCE(W)
SWITCHYARD_MODEL_WEIGHT_FORMATS(SWITCHYARD_MODEL_EXTERN_INSTANCE)
#undef SWITCHYARD_MODEL_EXTERN_INSTANCE
#endif

inline std::unique_ptr<language_model> build_format(model_config const& c, weight_source const& src,
                                                    load_options const& o, weight_format f);

inline std::unique_ptr<language_model> build_any(model_config const& c, io::tensor_directory const& dir,
                                                 weight_source const& src, load_options const& o) {
  weight_format const f = o.weights == weight_format::automatic ? format_of(dir) : o.weights;
  std::unique_ptr<language_model> lm = build_format(c, src, o, f);
  if (!o.allow_extra_tensors) {
    auto const extra = src.unused(dir);
    require<format_error>(extra.empty(), "model::load", dir.origin(), ": ", extra.size(), " tensor(s) are not part of a ",
                          name(c.arch), " model of this config, first '", extra.empty() ? "" : extra[0],
                          "' (load_options::allow_extra_tensors ignores them)");
  }
  return lm;
}

inline std::unique_ptr<language_model> build_format(model_config const& c, weight_source const& src, load_options const& o,
                                                    weight_format f) {
  switch (f) {
    case weight_format::f32: return build_with_kv<float>(c, src, o);
    case weight_format::bf16: return build_with_kv<format::bf16>(c, src, o);
    case weight_format::f16: return build_with_kv<format::f16>(c, src, o);
    case weight_format::q8_0: return build_with_kv<format::q8_0>(c, src, o);
    case weight_format::q4_0: return build_with_kv<format::q4_0>(c, src, o);
    case weight_format::q4_K: return build_with_kv<format::q4_K>(c, src, o);
    case weight_format::q6_K: return build_with_kv<format::q6_K>(c, src, o);
    case weight_format::automatic: break;
  }
  return nullptr;
}

}  // namespace detail

// A checkpoint: a folder (config.json + model.safetensors or a sharded index), or a .gguf file.
inline std::unique_ptr<language_model> load(std::filesystem::path const& path, load_options const& o = {}) {
  namespace fs = std::filesystem;
  std::unique_ptr<language_model> lm;
  if (path.extension() == ".gguf") {
    auto file = std::make_shared<io::gguf_file>(path);
    model_config const c = config_from_gguf(*file);
    auto src = std::make_shared<gguf_source>(*file, c);  // may own rebuilt tensors the model views
    lm = detail::build_any(c, *file, *src, o);
    lm->keep(file);
    lm->keep(src);
  } else {
    fs::path const dir = fs::is_directory(path) ? path : path.parent_path();
    model_config const c = read_hf_config(dir);
    auto ckpt = std::make_shared<io::safetensors_checkpoint>(path);
    auto src = std::make_shared<hf_source>(*ckpt, c);
    lm = detail::build_any(c, *ckpt, *src, o);
    lm->keep(ckpt);
    lm->keep(src);
  }
  return lm;
}

}  // namespace model
SWITCHYARD_NAMESPACE_END
