#pragma once
// Typed reads of a config.json (model::detail::json_reader: every error names the file and the
// key) and the RoPE parameters every family shares (transformers 5's `rope_parameters`, or the
// older `rope_theta` + `rope_scaling`). The families' tables (model/architectures/) say which keys
// exist; model/hf_config.hpp loops over them.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "switchyard/attention/rope.hpp"
#include "switchyard/core/error.hpp"
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

inline std::vector<index_t> hf_index_list(json_reader const& r, char const* key) {
  std::vector<index_t> out;
  if (!r.has(key)) return out;
  auto const& v = r.raw().at(key);
  require<format_error>(v.is_array(), "model::hf_config", r.file(), ": '", key, "' must be a list of layer indices");
  for (auto const& e : v) {
    require<format_error>(e.is_number_integer() && e.get<std::int64_t>() >= 0, "model::hf_config", r.file(), ": '", key,
                          "' must hold non-negative integers, got ", e.dump());
    out.push_back(e.get<index_t>());
  }
  return out;
}

// transformers' layer_types list ("full_attention" / "sliding_attention"), when the file has one.
inline bool hf_layer_types(json_reader const& r, model_config& c) {
  if (!r.has("layer_types")) return false;
  auto const& v = r.raw().at("layer_types");
  require<format_error>(v.is_array() && static_cast<index_t>(v.size()) == c.layers, "model::hf_config", r.file(),
                        ": layer_types must list one kind per layer (", c.layers, ")");
  c.layer_types.clear();
  for (auto const& e : v) {
    std::string const s = e.is_string() ? e.get<std::string>() : "";
    require<unsupported_config>(s == "full_attention" || s == "sliding_attention", "model::hf_config", r.file(),
                                ": layer type ", e.dump(), " is not supported (full_attention, sliding_attention are)");
    c.layer_types.push_back(s == "full_attention" ? layer_attention::full : layer_attention::sliding);
  }
  return true;
}

}  // namespace detail

}  // namespace model
SWITCHYARD_NAMESPACE_END
