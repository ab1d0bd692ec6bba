#pragma once
// Hugging Face config.json -> model::model_config, for the shipped families (llama, mixtral,
// qwen2_moe, qwen3_moe, olmoe, deepseek_v3). Reads both transformers 5's `rope_parameters` and
// the older `rope_theta` + `rope_scaling`. Anything the library does not compute (another
// model_type, an activation other than SiLU, a RoPE scaling kind without an implementation, qkv
// clipping) is refused with unsupported_config naming the key; a missing or mistyped key is a
// format_error naming the file and the key.
//
// Model knowledge (which families exist, what their keys mean), so it lives in model/; io/json.hpp
// only reads and parses the file.
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "switchyard/core/error.hpp"
#include "switchyard/io/json.hpp"
#include "switchyard/model/config.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace model {

namespace detail {

class json_reader {
 public:
  json_reader(nlohmann::json const& j, std::string file) : j_(j), file_(std::move(file)) {}

  bool has(char const* key) const { return j_.contains(key) && !j_.at(key).is_null(); }
  index_t integer(char const* key) const {
    require<format_error>(has(key), "model::hf_config", file_, ": missing key '", key, "'");
    auto const& v = j_.at(key);
    require<format_error>(v.is_number_integer() && v.get<std::int64_t>() >= 0 && v.get<std::int64_t>() < (1LL << 40),
                          "model::hf_config", file_, ": '", key, "' must be a non-negative integer, got ", v.dump());
    return v.get<index_t>();
  }
  index_t integer(char const* key, index_t fallback) const { return has(key) ? integer(key) : fallback; }
  double number(char const* key) const {
    require<format_error>(has(key), "model::hf_config", file_, ": missing key '", key, "'");
    auto const& v = j_.at(key);
    require<format_error>(v.is_number(), "model::hf_config", file_, ": '", key, "' must be a number, got ", v.dump());
    return v.get<double>();
  }
  double number(char const* key, double fallback) const { return has(key) ? number(key) : fallback; }
  bool boolean(char const* key, bool fallback) const {
    if (!has(key)) return fallback;
    auto const& v = j_.at(key);
    require<format_error>(v.is_boolean(), "model::hf_config", file_, ": '", key, "' must be true or false, got ", v.dump());
    return v.get<bool>();
  }
  std::string string(char const* key, std::string fallback = {}) const {
    if (!has(key)) return fallback;
    auto const& v = j_.at(key);
    require<format_error>(v.is_string(), "model::hf_config", file_, ": '", key, "' must be a string, got ", v.dump());
    return v.get<std::string>();
  }
  nlohmann::json const& raw() const { return j_; }
  std::string const& file() const { return file_; }

 private:
  nlohmann::json const& j_;
  std::string file_;
};

inline attention::rope_config hf_rope(json_reader const& r) {
  attention::rope_config rope;
  nlohmann::json params = nlohmann::json::object();
  if (r.has("rope_parameters")) params = r.raw().at("rope_parameters");
  else if (r.has("rope_scaling")) params = r.raw().at("rope_scaling");
  require<format_error>(params.is_object(), "model::hf_config", r.file(), ": rope_parameters must be an object");
  json_reader const p(params, r.file() + " (rope parameters)");
  rope.theta = p.has("rope_theta") ? p.number("rope_theta") : r.number("rope_theta", 10000.0);
  std::string const type = p.string("rope_type", p.string("type", "default"));
  auto& s = rope.scaling;
  if (type == "default") {
    s.type = attention::rope_scaling::kind::none;
  } else if (type == "linear") {
    s.type = attention::rope_scaling::kind::linear;
    s.factor = p.number("factor");
  } else if (type == "yarn") {
    s.type = attention::rope_scaling::kind::yarn;
    s.factor = p.number("factor");
    s.original_max_position = p.integer("original_max_position_embeddings", r.integer("max_position_embeddings", 0));
    s.beta_fast = p.number("beta_fast", 32.0);
    s.beta_slow = p.number("beta_slow", 1.0);
    s.mscale = p.number("mscale", 0.0);
    s.mscale_all_dim = p.number("mscale_all_dim", 0.0);
    s.attention_factor = p.number("attention_factor", 0.0);
    s.truncate = p.boolean("truncate", true);
  } else {
    switchyard::detail::fail<unsupported_config>("model::hf_config", r.file(), ": rope_type '", type,
                                                 "' is not implemented (default, linear and yarn are)");
  }
  return rope;
}

}  // namespace detail

// Parses an already-loaded config.json; `file` names it in errors.
inline model_config parse_hf_config(nlohmann::json const& j, std::string const& file) {
  require<format_error>(j.is_object(), "model::hf_config", file, ": not a JSON object");
  detail::json_reader const r(j, file);
  std::string const type = r.string("model_type");
  model_config c;
  if (type == "llama") c.arch = architecture::llama;
  else if (type == "mixtral") c.arch = architecture::mixtral;
  else if (type == "qwen2_moe") c.arch = architecture::qwen2_moe;
  else if (type == "qwen3_moe") c.arch = architecture::qwen3_moe;
  else if (type == "olmoe") c.arch = architecture::olmoe;
  else if (type == "deepseek_v3") c.arch = architecture::deepseek_v3;
  else
    switchyard::detail::fail<unsupported_config>("model::hf_config", file, ": model_type '", type,
                                                 "' is not supported (llama, mixtral, qwen2_moe, qwen3_moe, olmoe, "
                                                 "deepseek_v3 are)");
  std::string const act = r.string("hidden_act", "silu");
  require<unsupported_config>(act == "silu", "model::hf_config", file, ": hidden_act '", act, "' is not supported (silu is)");
  c.vocab = r.integer("vocab_size");
  c.hidden = r.integer("hidden_size");
  c.layers = r.integer("num_hidden_layers");
  c.heads = r.integer("num_attention_heads");
  c.kv_heads = r.integer("num_key_value_heads", c.heads);
  require<format_error>(c.heads > 0 && c.kv_heads > 0 && c.hidden > 0 && c.layers > 0 && c.vocab > 0, "model::hf_config",
                        file, ": vocab_size, hidden_size, num_hidden_layers and the head counts must be positive");
  c.head_dim = r.integer("head_dim", c.hidden / c.heads);
  c.intermediate = r.integer("intermediate_size", 0);
  c.rms_eps = static_cast<float>(r.number("rms_norm_eps", 1e-6));
  c.tie_embeddings = r.boolean("tie_word_embeddings", false);
  c.rope = detail::hf_rope(r);
  if (r.has("sliding_window") && (type == "mixtral" || r.boolean("use_sliding_window", false)))
    c.sliding_window = r.integer("sliding_window");

  switch (c.arch) {
    case architecture::llama:
      c.attention_bias = r.boolean("attention_bias", false);
      require<unsupported_config>(!r.boolean("mlp_bias", false), "model::hf_config", file, ": mlp_bias is not supported");
      break;
    case architecture::mixtral:
      c.experts = r.integer("num_local_experts");
      c.experts_per_token = r.integer("num_experts_per_tok");
      c.moe_intermediate = c.intermediate;
      c.norm_topk_prob = true;
      break;
    case architecture::qwen2_moe:
    case architecture::qwen3_moe:
      // Hub configs say num_experts; transformers 5 saves Qwen3-MoE's as num_local_experts.
      c.experts = r.has("num_experts") ? r.integer("num_experts") : r.integer("num_local_experts");
      c.experts_per_token = r.integer("num_experts_per_tok");
      c.moe_intermediate = r.integer("moe_intermediate_size");
      c.norm_topk_prob = r.boolean("norm_topk_prob", c.arch == architecture::qwen3_moe);
      c.moe_every = r.integer("decoder_sparse_step", 1);
      require<unsupported_config>(!r.has("mlp_only_layers") || r.raw().at("mlp_only_layers").empty(), "model::hf_config",
                                  file, ": mlp_only_layers is not supported yet");
      if (c.arch == architecture::qwen2_moe) {
        c.attention_bias = r.boolean("qkv_bias", true);
        c.shared_intermediate = r.integer("shared_expert_intermediate_size", 0);
        c.shared_gate = c.shared_intermediate > 0;
      } else {
        c.qk = qk_norm::per_head;
        c.attention_bias = r.boolean("attention_bias", false);
      }
      break;
    case architecture::olmoe:
      c.experts = r.has("num_experts") ? r.integer("num_experts") : r.integer("num_local_experts");
      c.experts_per_token = r.integer("num_experts_per_tok");
      c.moe_intermediate = c.intermediate;
      c.norm_topk_prob = r.boolean("norm_topk_prob", false);
      c.qk = qk_norm::whole;
      c.attention_bias = r.boolean("attention_bias", false);
      require<unsupported_config>(!r.has("clip_qkv"), "model::hf_config", file, ": clip_qkv is not supported");
      break;
    case architecture::deepseek_v3:
      c.experts = r.integer("n_routed_experts");
      c.experts_per_token = r.integer("num_experts_per_tok");
      c.moe_intermediate = r.integer("moe_intermediate_size");
      c.norm_topk_prob = r.boolean("norm_topk_prob", true);
      c.shared_intermediate = r.integer("n_shared_experts", 0) * c.moe_intermediate;
      c.first_dense_layers = r.integer("first_k_dense_replace", 0);
      c.moe_every = r.integer("moe_layer_freq", 1);
      c.q_lora_rank = r.integer("q_lora_rank", 0);
      c.kv_lora_rank = r.integer("kv_lora_rank");
      c.qk_nope_dim = r.integer("qk_nope_head_dim");
      c.qk_rope_dim = r.integer("qk_rope_head_dim");
      c.v_head_dim = r.integer("v_head_dim");
      c.head_dim = c.qk_nope_dim + c.qk_rope_dim;
      c.n_group = r.integer("n_group", 1);
      c.topk_group = r.integer("topk_group", 1);
      c.routed_scaling = static_cast<float>(r.number("routed_scaling_factor", 1.0));
      c.rope.layout = attention::rope_layout::interleaved;
      require<unsupported_config>(!r.boolean("attention_bias", false), "model::hf_config", file,
                                  ": attention_bias is not supported for deepseek_v3");
      break;
  }
  c.rope.head_dim = c.arch == architecture::deepseek_v3 ? c.qk_rope_dim : c.head_dim;
  require<format_error>(c.experts == 0 || (c.experts_per_token > 0 && c.experts_per_token <= c.experts &&
                                           c.moe_intermediate > 0),
                        "model::hf_config", file, ": need 0 < num_experts_per_tok <= experts and an expert width; got ",
                        c.experts_per_token, " of ", c.experts, ", width ", c.moe_intermediate);
  return c;
}

// Reads <dir>/config.json (or the file itself).
inline model_config read_hf_config(std::filesystem::path const& path) {
  std::filesystem::path const p = std::filesystem::is_directory(path) ? path / "config.json" : path;
  nlohmann::json const j = io::parse_json_unique(io::read_text_file(p, std::uint64_t{16} << 20), p.string());
  return parse_hf_config(j, p.string());
}

}  // namespace model
SWITCHYARD_NAMESPACE_END
