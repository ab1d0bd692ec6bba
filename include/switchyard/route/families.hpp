#pragma once
// The routers of the shipped model families, as configurations of route::topk_router.
// Semantics follow each model's original implementation (docs/moe.md lists where Hugging Face
// transformers differs and what we do).
#include "switchyard/route/router.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace route {

// Mixtral: softmax over all experts, top-k, renormalized over the k chosen.
template <int K = 2>
using mixtral = topk_router<topk_config{.top_k = K, .renormalize = true}>;

// Qwen2-MoE / Qwen3-MoE: softmax, top-k, renormalized when norm_topk_prob (Qwen3: true).
template <int K = 8, bool NormTopkProb = true>
using qwen_moe = topk_router<topk_config{.top_k = K, .renormalize = NormTopkProb}>;

// OLMoE: softmax, top-k, norm_topk_prob false in the released models.
template <int K = 8, bool NormTopkProb = false>
using olmoe = topk_router<topk_config{.top_k = K, .renormalize = NormTopkProb}>;

// DeepSeek-V3: sigmoid scores; selection on scores + e_score_correction_bias within the best
// TopkGroup of NGroup groups (a group scored by its two best); weights from the unbiased scores,
// normalized, times routed_scaling_factor (router_params::scaling, 2.5 in the release).
template <int K = 8, int NGroup = 8, int TopkGroup = 4, bool NormTopkProb = true>
using deepseek_v3 = topk_router<topk_config{.top_k = K,
                                            .scoring = score_fn::sigmoid,
                                            .renormalize = NormTopkProb,
                                            .selection_bias = true,
                                            .groups = NGroup,
                                            .groups_kept = TopkGroup,
                                            .group_score_top = 2}>;

// gpt-oss: top-k on the raw logits (the gate has a bias), softmax over the k chosen.
template <int K = 4>
using gpt_oss = topk_router<topk_config{.top_k = K, .scoring = score_fn::logits, .weighting = weight_fn::softmax_selected}>;

// Dynamic k: experts by descending probability until their mass reaches router_params::p,
// at least MinK and at most MaxK; weights renormalized over the experts taken.
template <int MaxK = 4, int MinK = 1>
using cumulative_k = topk_router<topk_config{.top_k = MaxK, .renormalize = true, .k = k_policy::cumulative, .min_k = MinK}>;

}  // namespace route
SWITCHYARD_NAMESPACE_END
