#pragma once
// Expert activations as types with one hook, apply(gate, up) -> float (FlashInfer's variant idea):
// the expert FFN calls it element-wise on the gate and up projections. Host and device: the CUDA
// kernels fuse the same hook into their epilogues.
#include <algorithm>
#include <cmath>

#include "switchyard/config.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace expert {

// SwiGLU (Mixtral, Qwen, DeepSeek, OLMoE): silu(gate) * up, silu(g) = g / (1 + e^-g).
struct silu_glu {
  static constexpr char const* name = "swiglu";
  SWITCHYARD_HOST_DEVICE static float apply(float gate, float up) noexcept { return gate / (1.0f + std::exp(-gate)) * up; }
};

// GeGLU with the tanh approximation of GELU (as gelu_pytorch_tanh).
struct gelu_tanh_glu {
  static constexpr char const* name = "geglu_tanh";
  SWITCHYARD_HOST_DEVICE static float apply(float gate, float up) noexcept {
    constexpr float c = 0.7978845608028654f;  // sqrt(2 / pi)
    return 0.5f * gate * (1.0f + std::tanh(c * (gate + 0.044715f * gate * gate * gate))) * up;
  }
};

// gpt-oss's clamped SwiGLU: gate clamped above at `limit`, up to [-limit, limit], then
// (up + 1) * gate * sigmoid(alpha * gate). The constants are gpt-oss's (swiglu_alpha, swiglu_limit);
// another model's values are another hook type.
struct gpt_oss_glu {
  static constexpr char const* name = "gpt_oss_swiglu";
  static constexpr float alpha = 1.702f;
  static constexpr float limit = 7.0f;
  SWITCHYARD_HOST_DEVICE static float apply(float gate, float up) noexcept {
    gate = gate < limit ? gate : limit;  // ternaries rather than std::min/clamp: callable on the device
    up = up < -limit ? -limit : (up > limit ? limit : up);
    return (up + 1.0f) * (gate / (1.0f + std::exp(-alpha * gate)));
  }
};

// Single-input activations for the plain two-matrix FFN (Switch Transformer's DenseActDense).
struct relu {
  static constexpr char const* name = "relu";
  SWITCHYARD_HOST_DEVICE static float apply(float v) noexcept { return v > 0.0f ? v : 0.0f; }
};
// GELU with the exact erf form (PyTorch's nn.GELU(), "gelu").
struct gelu {
  static constexpr char const* name = "gelu";
  SWITCHYARD_HOST_DEVICE static float apply(float v) noexcept { return 0.5f * v * (1.0f + std::erf(v * 0.7071067811865476f)); }
};

}  // namespace expert
SWITCHYARD_NAMESPACE_END
