#pragma once
// The dispatch plan: where each (token, choice) slot goes, computed once per layer call and
// reused by gather, the experts and combine.
//
//   counts[e]          kept slots of expert e
//   offsets[e]         first sorted position of expert e (offsets[E] = kept slots S)
//   slot_token[s]      token of sorted position s (rows grouped by expert, tokens ascending within)
//   slot_choice[s]     the (token, choice) pair of s, as t * K + j
//   token_slot[t*K+j]  sorted position of that pair, or -1 (unused choice, or dropped)
//   dropped            slots refused by the capacity limit
//
// Built by a stable counting sort over expert ids (O(T K + E), one pass to count, one to place).
// Stability gives Switch-style capacity its reference semantics: an expert keeps the first
// `capacity` slots in token order and drops the rest. Buffers are reused across calls (they grow,
// never shrink), so steady-state decoding does not allocate.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "switchyard/core/error.hpp"
#include "switchyard/core/tensor_view.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace route {

namespace detail {
struct thrust_plan_builder;  // route/dispatch_plan_thrust.hpp: the same plan from Thrust algorithms
}

class dispatch_plan {
  friend struct detail::thrust_plan_builder;

 public:
  // ids [T, K], each in [0, experts) or -1 (no expert). capacity < 0: unlimited.
  void build(matrix_view<std::int32_t const> ids, int experts, index_t capacity = -1) {
    index_t const T = ids.extent(0), K = ids.extent(1);
    require(experts >= 1, "route::dispatch_plan", "need at least one expert, got ", experts);
    tokens_ = T;
    k_ = K;
    experts_ = experts;
    counts_.assign(static_cast<std::size_t>(experts), 0);
    offsets_.assign(static_cast<std::size_t>(experts) + 1, 0);
    token_slot_.assign(static_cast<std::size_t>(T * K), -1);
    dropped_ = 0;

    for (index_t t = 0; t < T; ++t)
      for (index_t j = 0; j < K; ++j) {
        std::int32_t const e = ids(t, j);
        require(e >= -1 && e < experts, "route::dispatch_plan", "ids(", t, ", ", j, ") = ", e, " is outside [0, ", experts,
                ") (and not -1)");
        if (e >= 0) ++counts_[static_cast<std::size_t>(e)];
      }
    if (capacity >= 0)
      for (auto& c : counts_) {
        if (c > capacity) {
          dropped_ += c - capacity;
          c = static_cast<std::int32_t>(capacity);
        }
      }
    for (int e = 0; e < experts; ++e) offsets_[static_cast<std::size_t>(e) + 1] = offsets_[static_cast<std::size_t>(e)] + counts_[static_cast<std::size_t>(e)];
    index_t const S = offsets_.back();
    slot_token_.resize(static_cast<std::size_t>(S));
    slot_choice_.resize(static_cast<std::size_t>(S));

    fill_.assign(offsets_.begin(), offsets_.end() - 1);
    for (index_t t = 0; t < T; ++t)
      for (index_t j = 0; j < K; ++j) {
        std::int32_t const e = ids(t, j);
        if (e < 0) continue;
        auto& next = fill_[static_cast<std::size_t>(e)];
        if (next >= offsets_[static_cast<std::size_t>(e) + 1]) continue;  // over capacity: dropped
        slot_token_[static_cast<std::size_t>(next)] = static_cast<std::int32_t>(t);
        slot_choice_[static_cast<std::size_t>(next)] = static_cast<std::int32_t>(t * K + j);
        token_slot_[static_cast<std::size_t>(t * K + j)] = next++;
      }
  }

  index_t tokens() const noexcept { return tokens_; }
  index_t k() const noexcept { return k_; }
  int experts() const noexcept { return experts_; }
  index_t kept() const noexcept { return offsets_.empty() ? 0 : offsets_.back(); }
  index_t dropped() const noexcept { return dropped_; }
  std::int32_t count(int e) const { return counts_[static_cast<std::size_t>(e)]; }
  std::int32_t offset(int e) const { return offsets_[static_cast<std::size_t>(e)]; }
  std::vector<std::int32_t> const& counts() const noexcept { return counts_; }
  std::vector<std::int32_t> const& offsets() const noexcept { return offsets_; }
  std::vector<std::int32_t> const& slot_token() const noexcept { return slot_token_; }
  std::vector<std::int32_t> const& slot_choice() const noexcept { return slot_choice_; }
  std::vector<std::int32_t> const& token_slot() const noexcept { return token_slot_; }

 private:
  index_t tokens_ = 0, k_ = 0, dropped_ = 0;
  int experts_ = 0;
  std::vector<std::int32_t> counts_, offsets_, slot_token_, slot_choice_, token_slot_, fill_;
};

}  // namespace route
SWITCHYARD_NAMESPACE_END
