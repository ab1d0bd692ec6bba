#pragma once
// Hugging Face config.json -> model::model_config: a loop over the family's table
// (model/architectures/): model_type picks the family, each key row fills its field, refused keys
// and anything the library does not compute (an activation other than SiLU, a RoPE scaling kind
// without an implementation) are refused with unsupported_config naming the key; a missing or
// mistyped key is a format_error naming the file and the key.
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "switchyard/core/error.hpp"
#include "switchyard/io/json.hpp"
#include "switchyard/model/architectures/registry.hpp"
#include "switchyard/model/config.hpp"
#include "switchyard/model/config_fields.hpp"
#include "switchyard/model/config_json.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace model {

namespace detail {

// The first of "a|b|c" that the file has, or "".
inline std::string first_present(json_reader const& r, std::string_view keys) {
  while (!keys.empty()) {
    auto const bar = keys.find('|');
    std::string const k(keys.substr(0, bar));
    if (r.has(k.c_str())) return k;
    keys = bar == std::string_view::npos ? std::string_view{} : keys.substr(bar + 1);
  }
  return {};
}

inline void read_hf_row(json_reader const& r, architectures::config_key const& row, model_config& c) {
  std::string const key = first_present(r, row.hf);
  require<format_error>(!key.empty() || !row.required, "model::hf_config", r.file(), ": missing key '", row.hf, "'");
  bool const known = with_scalar_field(c, row.field, [&]<class T>(T& v) {
    if (key.empty()) {
      if (!std::isnan(row.fallback)) v = static_cast<T>(row.fallback);
    } else if constexpr (std::is_same_v<T, bool>) {
      v = r.boolean(key.c_str(), false);
    } else if constexpr (std::is_same_v<T, float>) {
      v = static_cast<float>(r.number(key.c_str()));
    } else {
      v = r.integer(key.c_str());
    }
  });
  require<invalid_argument>(known, "model::hf_config", "table row names no scalar model_config field '", row.field, "'");
}

inline bool truthy(nlohmann::json const& v) {
  if (v.is_null()) return false;
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_number()) return v.get<double>() != 0;
  if (v.is_array() || v.is_object() || v.is_string()) return !v.empty();
  return true;
}

}  // namespace detail

// The family config.json's model_type names, or unsupported_config.
inline architectures::family const& family_of_hf(std::string const& model_type, std::string const& file) {
  for (auto const* f : architectures::all)
    if (model_type == f->hf_model_type) return *f;
  switchyard::detail::fail<unsupported_config>("model::hf_config", file, ": model_type '", model_type,
                                               "' is not supported (",
                                               architectures::list(&architectures::family::hf_model_type), " are)");
}

// Parses an already-loaded config.json; `file` names it in errors.
inline model_config parse_hf_config(nlohmann::json const& j, std::string const& file) {
  require<format_error>(j.is_object(), "model::hf_config", file, ": not a JSON object");
  detail::json_reader const r(j, file);
  architectures::family const& fam = family_of_hf(r.string("model_type"), file);
  for (auto const& k : fam.refused)
    require<unsupported_config>(!r.raw().contains(k.hf) || !detail::truthy(r.raw().at(k.hf)), "model::hf_config", file,
                                ": ", k.why);
  std::string const act = r.string("hidden_act", "silu");
  require<unsupported_config>(act == "silu", "model::hf_config", file, ": hidden_act '", act, "' is not supported (silu is)");

  model_config c;
  c.arch = fam.id;
  c.qk = fam.qk;
  for (auto const& group : fam.keys)
    for (auto const& row : group)
      if (row.hf) detail::read_hf_row(r, row, c);
  require<format_error>(c.heads > 0 && c.hidden > 0 && c.layers > 0 && c.vocab > 0, "model::hf_config", file,
                        ": vocab_size, hidden_size, num_hidden_layers and the head counts must be positive");
  if (c.kv_heads == 0) c.kv_heads = c.heads;
  if (c.head_dim == 0) c.head_dim = c.hidden / c.heads;
  c.rope = detail::hf_rope(r);
  c.rope.layout = fam.rope;
  c.rope.head_dim = c.head_dim;
  if (fam.from_hf) fam.from_hf(r, c);
  require<format_error>(c.kv_heads > 0, "model::hf_config", file, ": num_key_value_heads must be positive");
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
