#pragma once
// The compiled instances: every run-time value the library maps onto a template instance, listed
// once. model::load and the CUDA launchers dispatch through these lists (core/dispatch.hpp), the
// CMake target switchyard::model_instances and the extern templates of model/build.hpp are made
// from SWITCHYARD_MODEL_WEIGHT_FORMATS, and a value missing here is refused with an error that
// lists what is here. Each entry multiplies compile time (the loader instantiates every router x
// weight format x KV format; docs/building.md), so list what shipped checkpoints use.
//
// To add an instance, add it here; nothing else changes. The device layer's expert-kernel kinds
// depend on its weight format and are listed beside it (kernels/expert/moe.cuh).
#include "switchyard/core/dispatch.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace instances {

// The num_experts_per_tok values model::load compiles routers for (every router kind for each):
// Switch 1, Mixtral 2, Qwen1.5-MoE / gpt-oss 4, DeepSeek-V2-Lite 6, Qwen3-MoE / OLMoE /
// DeepSeek-V3 8.
using router_top_k = value_list<1, 2, 4, 6, 8>;

// Group-limited routing (DeepSeek's n_group / topk_group): experts in `groups` equal groups, a
// token chooses within its best `kept`. {1, 1} is every group kept (any n_group == topk_group,
// which routes as one group).
struct group_limit {
  int groups = 1;
  int kept = 1;
  friend constexpr bool operator==(group_limit, group_limit) = default;
  friend std::ostream& operator<<(std::ostream& os, group_limit g) {
    if (g.groups == 1 && g.kept == 1) return os << "n/n";
    return os << g.groups << '/' << g.kept;
  }
};
// DeepSeek-V3 / R1 8/4, the small test configs 4/2, and every group kept (DeepSeek-V2-Lite).
using deepseek_groups = value_list<group_limit{8, 4}, group_limit{4, 2}, group_limit{1, 1}>;

// The device router (kernels/route/topk_kernel.cuh) holds E scores per warp, EPL per lane, in
// registers: an instance per EPL takes E <= 32 EPL experts (the smallest that fits runs).
using device_experts_per_lane = value_list<1, 2, 4, 8>;

}  // namespace instances

// The weight formats model::load compiles, as X(name, type): `name` is the enumerator of
// model::weight_format that asks for the type and (but for mixed) of io::dtype that a checkpoint
// stores it as. mixed: each matrix in the format it is stored in (linear/any_weight.hpp), what
// llama-quantize's mixes (Q4_K_M, ...) load as. sparse24_bf16: 2:4 sparse bf16 (format/sparse24.hpp)
// projections, only ever converted to on load (no checkpoint dtype), which prunes 2:4 by magnitude
// what is not 2:4 already; the embedding and LM head stay dense bf16 (model/causal_lm.hpp).
// One build instance each (every router and KV format beneath it); CMakeLists.txt reads this
// list, one unit of switchyard::model_instances per entry, so keep one X(...) per line. The types
// are named here, not included: the list expands where the formats are (model/build.hpp).
#define SWITCHYARD_MODEL_WEIGHT_FORMATS(X) \
  X(f32, float)                            \
  X(bf16, format::bf16)                    \
  X(f16, format::f16)                      \
  X(q8_0, format::q8_0)                    \
  X(q4_0, format::q4_0)                    \
  X(q4_K, format::q4_K)                    \
  X(q6_K, format::q6_K)                    \
  X(sparse24_bf16, format::sparse24_bf16) \
  X(mixed, format::mixed)

// The KV cache formats model::load compiles, X(name of model::kv_format, type).
#define SWITCHYARD_MODEL_KV_FORMATS(X) \
  X(f32, float)                        \
  X(bf16, format::bf16)

SWITCHYARD_NAMESPACE_END
