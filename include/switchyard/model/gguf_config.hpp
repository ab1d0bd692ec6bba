#pragma once
// GGUF metadata (llama.cpp's keys) -> model_config: a loop over the family's table
// (model/architectures/). general.architecture picks the family (several may share one: llama.cpp
// writes Llama and Mixtral as "llama", told apart by expert_count); each key row with a GGUF key
// fills its field from "<architecture>.<key>". Where llama.cpp fixes a behaviour in code rather
// than metadata (Mixtral and Qwen3 renormalize the top-k weights, Qwen2-MoE and OLMoE do not),
// the row's fallback is llama.cpp's behaviour.
#include <cmath>
#include <string>

#include "switchyard/core/error.hpp"
#include "switchyard/io/gguf.hpp"
#include "switchyard/model/architectures/registry.hpp"
#include "switchyard/model/config.hpp"
#include "switchyard/model/config_fields.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace model {

inline architectures::family const& family_of_gguf(io::gguf_file const& f) {
  std::string const a = f.get_string("general.architecture");
  for (auto const* fam : architectures::all)
    if (a == fam->gguf_arch && (!fam->claims_gguf || fam->claims_gguf(f))) return *fam;
  switchyard::detail::fail<unsupported_config>("model::config_from_gguf", f.origin(), ": architecture '", a,
                                               "' is not supported (",
                                               architectures::list(&architectures::family::gguf_arch), " are)");
}

inline model_config config_from_gguf(io::gguf_file const& f) {
  architectures::family const& fam = family_of_gguf(f);
  std::string const prefix = std::string(fam.gguf_arch) + ".";
  model_config c;
  c.arch = fam.id;
  c.qk = fam.qk;
  for (auto const& group : fam.keys)
    for (auto const& row : group) {
      if (!row.gguf) continue;
      std::string const key = prefix + row.gguf;
      bool const present = f.find_value(key) != nullptr;
      require<format_error>(present || !row.required, "model::config_from_gguf", f.origin(), ": missing key '", key, "'");
      bool const known = with_scalar_field(c, row.field, [&]<class T>(T& v) {
        if (!present) {
          if (!std::isnan(row.fallback)) v = static_cast<T>(row.fallback);
        } else if constexpr (std::is_same_v<T, bool>) {
          v = f.get_bool(key, false);
        } else if constexpr (std::is_same_v<T, float>) {
          v = static_cast<float>(f.get_float(key));
        } else {
          v = f.get_int(key);
        }
      });
      require<invalid_argument>(known, "model::config_from_gguf", "table row names no scalar model_config field '",
                                row.field, "'");
    }
  require<format_error>(c.hidden > 0 && c.layers > 0 && c.heads > 0 && c.layers < 4096, "model::config_from_gguf",
                        f.origin(), ": embedding_length, block_count and head counts must be positive");
  if (c.kv_heads == 0) c.kv_heads = c.heads;
  if (c.head_dim == 0) c.head_dim = c.hidden / c.heads;

  c.rope.theta = f.get_float(prefix + "rope.freq_base", 10000.0);
  c.rope.head_dim = c.head_dim;
  c.rope.rotary_dim = f.get_int(prefix + "rope.dimension_count", c.head_dim);
  c.rope.layout = fam.gguf_rope;
  if (f.find_value(prefix + "rope.scaling.type")) {
    std::string const t = f.get_string(prefix + "rope.scaling.type");
    if (t == "linear") {
      c.rope.scaling.type = attention::rope_scaling::kind::linear;
      c.rope.scaling.factor = f.get_float(prefix + "rope.scaling.factor");
    } else if (t == "yarn") {  // llama.cpp's converter: factor, original context, the betas when given
      auto& y = c.rope.scaling;
      y.type = attention::rope_scaling::kind::yarn;
      y.factor = f.get_float(prefix + "rope.scaling.factor");
      y.original_max_position = f.get_int(prefix + "rope.scaling.original_context_length");
      y.beta_fast = f.get_float(prefix + "rope.scaling.yarn_beta_fast", y.beta_fast);
      y.beta_slow = f.get_float(prefix + "rope.scaling.yarn_beta_slow", y.beta_slow);
      y.attention_factor = f.get_float(prefix + "rope.scaling.yarn_attn_factor", 0.0);
    } else {
      require<unsupported_config>(t == "none", "model::config_from_gguf", f.origin(), ": rope scaling '", t,
                                  "' is not supported from GGUF yet");
    }
  }
  // What the tensors say: the vocabulary (when no key does), a tied head, q/k/v biases.
  auto const* embd = f.find("token_embd.weight");
  require<format_error>(embd != nullptr && embd->shape.size() == 2, "model::config_from_gguf", f.origin(),
                        ": no 2-D token_embd.weight");
  if (c.vocab == 0) c.vocab = embd->shape[0];
  c.tie_embeddings = f.find("output.weight") == nullptr;
  c.attention_bias = f.find("blk.0.attn_q.bias") != nullptr;
  // Which layers slide: llama.cpp's sliding_window_pattern, a bool per layer (true: sliding) or a
  // period n (every n-th layer full).
  if (auto const* p = f.find_value(prefix + "attention.sliding_window_pattern"); p && c.sliding_window > 0) {
    c.layer_types.assign(static_cast<std::size_t>(c.layers), layer_attention::full);
    if (p->is_array()) {
      auto const& v = std::get<std::vector<io::gguf_value>>(p->v);
      require<format_error>(static_cast<index_t>(v.size()) == c.layers && (v.empty() || v[0].v.index() == 3),
                            "model::config_from_gguf", f.origin(), ": attention.sliding_window_pattern must hold one bool per layer");
      for (index_t l = 0; l < c.layers; ++l)
        if (std::get<bool>(v[static_cast<std::size_t>(l)].v)) c.layer_types[static_cast<std::size_t>(l)] = layer_attention::sliding;
    } else {
      index_t const n = f.get_int(prefix + "attention.sliding_window_pattern");
      require<format_error>(n > 0, "model::config_from_gguf", f.origin(), ": attention.sliding_window_pattern must be positive");
      for (index_t l = 0; l < c.layers; ++l)
        if (l % n < n - 1) c.layer_types[static_cast<std::size_t>(l)] = layer_attention::sliding;
    }
  }
  if (fam.from_gguf) fam.from_gguf(f, c);
  // A layer the keys make MoE but whose file has no router is dense (Qwen's mlp_only_layers,
  // which no GGUF key holds).
  if (auto const* router = fam.find_tensor(role::router); router && router->gguf)
    for (index_t l = 0; l < c.layers; ++l)
      if (c.is_moe_layer(l) && !f.find(architectures::expand(router->gguf, l))) c.mlp_only_layers.push_back(l);
  require<format_error>(c.kv_heads > 0, "model::config_from_gguf", f.origin(), ": head_count_kv must be positive");
  require<format_error>(c.experts == 0 || (c.experts_per_token > 0 && c.experts_per_token <= c.experts && c.moe_intermediate > 0),
                        "model::config_from_gguf", f.origin(), ": need 0 < expert_used_count <= expert_count and an expert width");
  return c;
}

}  // namespace model
SWITCHYARD_NAMESPACE_END
