#pragma once
// The command-line names of model::load's formats, shared by the examples and the benchmarks:
//   --weights auto|f32|bf16|f16|q8_0|q4_0|q4_K|q6_K|mixed   --activations auto|f32|bf16|int8   --kv f32|bf16
// parse_*: an unknown name throws std::invalid_argument naming the option and the accepted values;
// *_names: the same tables for CLI11's CheckedTransformer (which lists them in --help and errors).
#include <map>
#include <stdexcept>
#include <string>

#include <switchyard/model/load_options.hpp>

namespace switchyard_examples {

inline std::map<std::string, switchyard::model::weight_format> const& weight_format_names() {
  using wf = switchyard::model::weight_format;
  static std::map<std::string, wf> const m = {{"auto", wf::automatic}, {"f32", wf::f32},   {"bf16", wf::bf16},
                                              {"f16", wf::f16},        {"q8_0", wf::q8_0}, {"q4_0", wf::q4_0},
                                              {"q4_K", wf::q4_K},      {"q6_K", wf::q6_K}, {"sparse24_bf16", wf::sparse24_bf16},
                                              {"mixed", wf::mixed}};
  return m;
}

inline std::map<std::string, switchyard::model::activation_format> const& activation_format_names() {
  using af = switchyard::model::activation_format;
  static std::map<std::string, af> const m = {{"auto", af::automatic}, {"f32", af::f32}, {"bf16", af::bf16}, {"int8", af::int8}};
  return m;
}

inline std::map<std::string, switchyard::model::kv_format> const& kv_format_names() {
  using kf = switchyard::model::kv_format;
  static std::map<std::string, kf> const m = {{"f32", kf::f32}, {"bf16", kf::bf16}};
  return m;
}

template <class Map>
auto parse_name(Map const& m, char const* option, std::string const& v) {
  if (auto it = m.find(v); it != m.end()) return it->second;
  std::string names;
  for (auto const& [k, _] : m) names += (names.empty() ? "" : ", ") + k;
  throw std::invalid_argument(std::string(option) + " takes " + names + ", not '" + v + "'");
}

inline switchyard::model::weight_format parse_weight_format(std::string const& v) {
  return parse_name(weight_format_names(), "--weights", v);
}

inline switchyard::model::activation_format parse_activation_format(std::string const& v) {
  return parse_name(activation_format_names(), "--activations", v);
}

}  // namespace switchyard_examples
