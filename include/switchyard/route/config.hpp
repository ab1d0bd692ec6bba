#pragma once
// Router configuration: the policies a router is composed of, as a structural aggregate that is
// passed as a template argument (C++20 class NTTP). Only what changes the generated code lives
// here (ints, bools, enums); real-valued knobs (scaling factor, dynamic-k mass) are run-time
// `router_params`, because clang 14 and nvcc do not take float template arguments portably.
//
//   using mixtral = route::topk_router<route::topk_config{.top_k = 2, .renormalize = true}>;
//
// Spell the config typed (route::topk_config{...}): the bare braced form does not compile with
// nvcc 13 or clang 14.

#include "switchyard/config.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace route {

// How logits become the scores that weight the experts.
enum class score_fn {
  softmax,  // softmax over all experts (Mixtral, Qwen2/3-MoE, OLMoE)
  sigmoid,  // independent sigmoid per expert (DeepSeek-V3)
  logits,   // the raw logits (gpt-oss selects on them, then weights by softmax_selected)
};

// How the chosen experts' weights are formed from their scores.
enum class weight_fn {
  scores,            // the (unbiased) scores of the chosen experts
  softmax_selected,  // softmax over the chosen experts' scores only (gpt-oss)
};

// How many experts a token takes.
enum class k_policy {
  fixed,       // exactly top_k
  cumulative,  // by descending probability until their mass reaches params.p, within [min_k, top_k]
};

struct topk_config {
  int top_k = 2;                        // k (or, for cumulative k, the most experts a token may take)
  score_fn scoring = score_fn::softmax;
  weight_fn weighting = weight_fn::scores;
  bool renormalize = false;             // divide the chosen weights by their sum (norm_topk_prob)
  bool selection_bias = false;          // add params.selection_bias to scores for choosing only
                                        // (DeepSeek-V3's e_score_correction_bias); weights stay unbiased
  int groups = 1;                       // group-limited selection: experts in `groups` equal groups...
  int groups_kept = 1;                  // ...a token chooses only within its best `groups_kept` groups,
  int group_score_top = 2;              // a group scored by the sum of its best `group_score_top` scores
  k_policy k = k_policy::fixed;
  int min_k = 1;                        // cumulative k: at least this many experts
};

// Validated where the user's configuration first arrives (the router's class body).
consteval bool check_topk_config(topk_config c) {
  return c.top_k >= 1 && c.groups >= 1 && c.groups_kept >= 1 && c.groups_kept <= c.groups && c.group_score_top >= 1 &&
         c.min_k >= 1 && c.min_k <= c.top_k;
}

}  // namespace route
SWITCHYARD_NAMESPACE_END
