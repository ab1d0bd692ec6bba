#pragma once
// Expert activations as types with one hook, apply(gate, up) -> float (FlashInfer's variant idea):
// the expert FFN calls it element-wise on the gate and up projections.
#include <cmath>

#include "switchyard/config.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace expert {

// SwiGLU (Mixtral, Qwen, DeepSeek, OLMoE): silu(gate) * up, silu(g) = g / (1 + e^-g).
struct silu_glu {
  static constexpr char const* name = "swiglu";
  static float apply(float gate, float up) noexcept { return gate / (1.0f + std::exp(-gate)) * up; }
};

// GeGLU with the tanh approximation of GELU (as gelu_pytorch_tanh).
struct gelu_tanh_glu {
  static constexpr char const* name = "geglu_tanh";
  static float apply(float gate, float up) noexcept {
    constexpr float c = 0.7978845608028654f;  // sqrt(2 / pi)
    return 0.5f * gate * (1.0f + std::tanh(c * (gate + 0.044715f * gate * gate * gate))) * up;
  }
};

}  // namespace expert
SWITCHYARD_NAMESPACE_END
