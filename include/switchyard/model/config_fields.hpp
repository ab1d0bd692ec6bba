#pragma once
// model_config's fields, reflected with Boost.Hana, so that the loops that fill, print and check a
// config walk the struct itself: the architecture tables (model/architectures/) name a field by its
// member name ("hidden", "experts"), and set_field finds it. Adding a field to model_config means
// adding it to the list below too; tests/host/test_architectures.cpp checks that every field a table
// names exists. Host-only (Boost.Hana), included by the config readers and writers, not by the
// model's compute headers.
#include <boost/hana/accessors.hpp>
#include <boost/hana/adapt_struct.hpp>
#include <boost/hana/for_each.hpp>
#include <boost/hana/string.hpp>
#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>

#include "switchyard/model/config.hpp"

BOOST_HANA_ADAPT_STRUCT(switchyard::model::model_config, arch, vocab, hidden, layers, heads, kv_heads, head_dim,
                        intermediate, max_positions, rms_eps, rope, tie_embeddings, attention_bias, qk, sliding_window, layer_types,
                        experts, experts_per_token, moe_intermediate, norm_topk_prob, shared_intermediate, shared_gate,
                        first_dense_layers, moe_every, mlp_only_layers, q_lora_rank, kv_lora_rank, qk_nope_dim,
                        qk_rope_dim, v_head_dim, n_group, topk_group, routed_scaling);

SWITCHYARD_NAMESPACE_BEGIN
namespace model {

// The kinds of field a key table may fill from a single JSON or GGUF value.
template <class T>
concept scalar_field = std::is_same_v<T, index_t> || std::is_same_v<T, float> || std::is_same_v<T, bool>;

// f(name, field&) for every field, in declaration order (C might be const).
template <class C, class F>
  requires std::is_same_v<std::remove_const_t<C>, model_config>
void for_each_field(C& c, F&& f) {
  boost::hana::for_each(boost::hana::accessors<model_config>(), [&](auto pair) {
    f(std::string_view(boost::hana::to<char const*>(boost::hana::first(pair))), boost::hana::second(pair)(c));
  });
}

// Calls f(field&) on the scalar field called `name` (C might be const); false when there is none
// (or it is not a scalar).
template <class C, class F>
  requires std::is_same_v<std::remove_const_t<C>, model_config>
bool with_scalar_field(C& c, std::string_view name, F&& f) {
  bool found = false;
  for_each_field(c, [&](std::string_view n, auto& v) {
    if constexpr (scalar_field<std::remove_cvref_t<decltype(v)>>)
      if (n == name) f(v), found = true;
  });
  return found;
}

namespace detail {
template <class T>
void print_value(std::ostream& os, T const& v) {
  if constexpr (std::is_same_v<T, bool>) os << (v ? "true" : "false");
  else if constexpr (std::is_same_v<T, qk_norm>) os << (v == qk_norm::none ? "none" : v == qk_norm::per_head ? "per_head" : "whole");
  else if constexpr (std::is_same_v<T, layer_attention>) os << (v == layer_attention::full ? "full" : "sliding");
  else if constexpr (std::is_enum_v<T>) os << static_cast<int>(v);
  else if constexpr (std::is_same_v<T, attention::rope_config>) {
    using K = attention::rope_scaling::kind;
    os << "{theta " << v.theta << ", rotary_dim " << v.rotary_dim << ", "
       << (v.layout == attention::rope_layout::interleaved ? "interleaved" : "rotate_half");
    if (v.scaling.type != K::none) os << ", " << (v.scaling.type == K::linear ? "linear" : "yarn") << " x" << v.scaling.factor;
    os << '}';
  }
  else if constexpr (requires { v.begin(); v.size(); }) {
    os << '[';
    bool first = true;
    for (auto const& e : v) {
      if (!first) os << ' ';
      print_value(os, e), first = false;
    }
    os << ']';
  } else os << v;
}
}  // namespace detail

// Every field as "name = value" lines (architecture by number; model/architectures/registry.hpp's
// describe() prints its name).
inline std::string describe_fields(model_config const& c) {
  std::ostringstream os;
  for_each_field(c, [&](std::string_view n, auto const& v) {
    os << n << " = ";
    detail::print_value(os, v);
    os << '\n';
  });
  return os.str();
}

}  // namespace model
SWITCHYARD_NAMESPACE_END
