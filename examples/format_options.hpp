#pragma once
// The command-line names of model::load's formats, shared by the examples and the benchmarks:
//   --weights auto|f32|bf16|f16|q8_0|q4_0|q4_K|q6_K   --activations auto|f32|bf16|int8
// An unknown name throws std::invalid_argument naming the option and the accepted values.
#include <stdexcept>
#include <string>

#include <switchyard/model/load.hpp>

namespace switchyard_examples {

inline switchyard::model::weight_format parse_weight_format(std::string const& v) {
  using wf = switchyard::model::weight_format;
  if (v == "auto") return wf::automatic;
  if (v == "f32") return wf::f32;
  if (v == "bf16") return wf::bf16;
  if (v == "f16") return wf::f16;
  if (v == "q8_0") return wf::q8_0;
  if (v == "q4_0") return wf::q4_0;
  if (v == "q4_K") return wf::q4_K;
  if (v == "q6_K") return wf::q6_K;
  throw std::invalid_argument("--weights takes auto, f32, bf16, f16, q8_0, q4_0, q4_K or q6_K, not '" + v + "'");
}

inline switchyard::model::activation_format parse_activation_format(std::string const& v) {
  using af = switchyard::model::activation_format;
  if (v == "auto") return af::automatic;
  if (v == "f32") return af::f32;
  if (v == "bf16") return af::bf16;
  if (v == "int8") return af::int8;
  throw std::invalid_argument("--activations takes auto, f32, bf16 or int8, not '" + v + "'");
}

}  // namespace switchyard_examples
