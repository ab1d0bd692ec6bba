#pragma once
// The dispatch plan expressed with Thrust algorithms (stable sort-by-key, binary search, scan,
// an indexed for_each), so that one formulation runs on the host (Thrust's CPP or OMP system)
// and on CUDA (its device system) — the GPU plan of the CUDA backend starts from this code.
// It fills the same route::dispatch_plan as the counting sort, field for field (tests check).
//
// On the host the counting sort (dispatch_plan::build) is faster (bench/bench_plan.cpp,
// bench/NOTES.md) and is what the MoE layer uses; this header is optional and needs Thrust
// (CCCL from the CUDA toolkit, or Debian's libthrust-dev), never the CUDA runtime.
#include <thrust/binary_search.h>
#include <thrust/execution_policy.h>
#include <thrust/for_each.h>
#include <thrust/iterator/counting_iterator.h>
#include <thrust/scan.h>
#include <thrust/sequence.h>
#include <thrust/sort.h>
#include <thrust/transform.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "switchyard/route/dispatch_plan.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace route {
namespace detail {

struct thrust_plan_builder {
  template <class Policy>
  static void build(Policy const& policy, dispatch_plan& plan, matrix_view<std::int32_t const> ids, int experts,
                    index_t capacity) {
    index_t const T = ids.extent(0), K = ids.extent(1), n = T * K;
    require(experts >= 1, "route::dispatch_plan", "need at least one expert, got ", experts);
    require(ids.is_contiguous(), "route::dispatch_plan", "the Thrust plan needs contiguous ids");
    std::int32_t const* flat = ids.data();
    for (index_t i = 0; i < n; ++i)
      require(flat[i] >= -1 && flat[i] < experts, "route::dispatch_plan", "ids(", i / K, ", ", i % K, ") = ", flat[i],
              " is outside [0, ", experts, ") (and not -1)");

    // Sort the (token, choice) pairs by expert, stably (token order within an expert); unused
    // choices (-1) become key E and sort last.
    std::vector<std::int32_t> keys(flat, flat + n), pairs(static_cast<std::size_t>(n));
    thrust::transform(policy, keys.begin(), keys.end(), keys.begin(),
                      [experts](std::int32_t e) { return e < 0 ? experts : e; });
    thrust::sequence(policy, pairs.begin(), pairs.end());
    thrust::stable_sort_by_key(policy, keys.begin(), keys.end(), pairs.begin());

    // Segment starts by binary search, kept counts under the capacity, offsets by a scan.
    std::vector<std::int32_t> start(static_cast<std::size_t>(experts) + 1);
    thrust::lower_bound(policy, keys.begin(), keys.end(), thrust::counting_iterator<std::int32_t>(0),
                        thrust::counting_iterator<std::int32_t>(experts + 1), start.begin());
    plan.tokens_ = T;
    plan.k_ = K;
    plan.experts_ = experts;
    plan.counts_.resize(static_cast<std::size_t>(experts));
    plan.dropped_ = 0;
    for (int e = 0; e < experts; ++e) {
      std::int32_t const all = start[static_cast<std::size_t>(e) + 1] - start[static_cast<std::size_t>(e)];
      std::int32_t const kept = capacity >= 0 ? static_cast<std::int32_t>(std::min<index_t>(all, capacity)) : all;
      plan.counts_[static_cast<std::size_t>(e)] = kept;
      plan.dropped_ += all - kept;
    }
    plan.offsets_.assign(static_cast<std::size_t>(experts) + 1, 0);
    thrust::inclusive_scan(policy, plan.counts_.begin(), plan.counts_.end(), plan.offsets_.begin() + 1);

    // Place every sorted pair: rank within its expert decides kept or dropped.
    index_t const S = plan.offsets_.back();
    plan.slot_token_.resize(static_cast<std::size_t>(S));
    plan.slot_choice_.resize(static_cast<std::size_t>(S));
    plan.token_slot_.assign(static_cast<std::size_t>(n), -1);
    std::int32_t const* k = keys.data();
    std::int32_t const* p = pairs.data();
    std::int32_t const* st = start.data();
    std::int32_t const* cnt = plan.counts_.data();
    std::int32_t const* off = plan.offsets_.data();
    std::int32_t* slot_token = plan.slot_token_.data();
    std::int32_t* slot_choice = plan.slot_choice_.data();
    std::int32_t* token_slot = plan.token_slot_.data();
    auto const Ki = static_cast<std::int32_t>(K);
    thrust::for_each(policy, thrust::counting_iterator<std::int32_t>(0),
                     thrust::counting_iterator<std::int32_t>(static_cast<std::int32_t>(n)), [=](std::int32_t pos) {
                       std::int32_t const e = k[pos];
                       if (e >= experts) return;
                       std::int32_t const rank = pos - st[e];
                       if (rank >= cnt[e]) return;
                       std::int32_t const slot = off[e] + rank;
                       slot_token[slot] = p[pos] / Ki;
                       slot_choice[slot] = p[pos];
                       token_slot[p[pos]] = slot;
                     });
  }
};

}  // namespace detail

// Builds `plan` with Thrust under `policy` (thrust::host, thrust::cpp::par, thrust::omp::par).
template <class Policy>
void build_plan_thrust(Policy const& policy, dispatch_plan& plan, matrix_view<std::int32_t const> ids, int experts,
                       index_t capacity = -1) {
  detail::thrust_plan_builder::build(policy, plan, ids, experts, capacity);
}

}  // namespace route
SWITCHYARD_NAMESPACE_END
