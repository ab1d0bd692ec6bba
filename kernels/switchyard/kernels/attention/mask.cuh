#pragma once
// The host's mask policies (include/switchyard/attention/mask.hpp) on the device. A device mask
// is a kind (a template parameter of the kernels, so keep() inlines to a compare or two) plus its
// run-time numbers; keep() and coverage() are the host policies' own rules, written again as
// __host__ __device__ functions over int positions (the host ones are constexpr host code).
// from_host() converts each host policy; block_predicate_mask (an arbitrary host callable) has no
// device form.
//
// coverage() answers for a tile of queries [q_lo, q_hi] x keys [k_lo, k_hi] exactly as the host
// does (none / partial / full), so the device skips exactly the tiles the host would skip for the
// same tile shape; tests/cuda/test_attention_cuda_prefill.cu compares the counts.
#include <type_traits>

#include "switchyard/attention/mask.hpp"
#include "switchyard/config.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace kernels::attention {

using switchyard::attention::tile_coverage;

enum class mask_kind { none, causal, sliding_window, sink_window, block_sparse };

inline char const* name(mask_kind k) {
  constexpr char const* names[] = {"none", "causal", "sliding_window", "sink_window", "block_sparse"};
  return names[static_cast<int>(k)];
}

struct device_mask {
  mask_kind kind = mask_kind::causal;
  int window = 0;                                             // sliding_window, sink_window
  int sinks = 0;                                              // sink_window
  int block = 1, local_blocks = 1, global_blocks = 0, stride = 0;  // block_sparse
};

inline device_mask from_host(switchyard::attention::no_mask) { return {.kind = mask_kind::none}; }
inline device_mask from_host(switchyard::attention::causal_mask) { return {.kind = mask_kind::causal}; }
inline device_mask from_host(switchyard::attention::sliding_window_mask m) {
  return {.kind = mask_kind::sliding_window, .window = static_cast<int>(m.window)};
}
inline device_mask from_host(switchyard::attention::sink_window_mask m) {
  return {.kind = mask_kind::sink_window, .window = static_cast<int>(m.window), .sinks = static_cast<int>(m.sinks)};
}
inline device_mask from_host(switchyard::attention::block_sparse_mask m) {
  return {.kind = mask_kind::block_sparse,
          .block = static_cast<int>(m.block),
          .local_blocks = static_cast<int>(m.local_blocks),
          .global_blocks = static_cast<int>(m.global_blocks),
          .stride = static_cast<int>(m.stride)};
}

template <mask_kind K>
struct mask_rules {
  __host__ __device__ __forceinline__ static bool keep_block(device_mask const& m, int qb, int kb) {
    return qb - kb < m.local_blocks || kb < m.global_blocks || (m.stride > 0 && (qb - kb) % m.stride == 0);
  }

  __host__ __device__ __forceinline__ static bool keep(device_mask const& m, int q, int k) {
    if constexpr (K == mask_kind::none) return true;
    else if constexpr (K == mask_kind::causal) return k <= q;
    else if constexpr (K == mask_kind::sliding_window) return k <= q && k > q - m.window;
    else if constexpr (K == mask_kind::sink_window) return k <= q && (k < m.sinks || k > q - m.window);
    else return k <= q && keep_block(m, q / m.block, k / m.block);
  }

  __host__ __device__ __forceinline__ static tile_coverage coverage(device_mask const& m, int q_lo, int q_hi, int k_lo,
                                                                    int k_hi) {
    if constexpr (K == mask_kind::none) {
      return tile_coverage::full;
    } else if constexpr (K == mask_kind::causal) {
      if (k_lo > q_hi) return tile_coverage::none;
      return k_hi <= q_lo ? tile_coverage::full : tile_coverage::partial;
    } else if constexpr (K == mask_kind::sliding_window) {
      if (k_lo > q_hi || k_hi <= q_lo - m.window) return tile_coverage::none;
      return (k_hi <= q_lo && k_lo > q_hi - m.window) ? tile_coverage::full : tile_coverage::partial;
    } else if constexpr (K == mask_kind::sink_window) {
      if (k_lo > q_hi) return tile_coverage::none;
      if (k_lo >= m.sinks && k_hi <= q_lo - m.window) return tile_coverage::none;
      int const first_window_key = k_lo > m.sinks ? k_lo : m.sinks;
      bool const window_ok = first_window_key > k_hi || first_window_key > q_hi - m.window;
      return (k_hi <= q_lo && window_ok) ? tile_coverage::full : tile_coverage::partial;
    } else {
      if (k_lo > q_hi) return tile_coverage::none;
      bool any = false, all = true;
      int const k_top = (k_hi < q_hi ? k_hi : q_hi) / m.block;
      for (int qb = q_lo / m.block; qb <= q_hi / m.block; ++qb)
        for (int kb = k_lo / m.block; kb <= k_top; ++kb) {
          bool const kept = kb <= qb && keep_block(m, qb, kb);
          any = any || kept;
          all = all && kept;
        }
      if (!any) return tile_coverage::none;
      return (all && k_hi <= q_lo) ? tile_coverage::full : tile_coverage::partial;
    }
  }
};

// Calls f(std::integral_constant<mask_kind, K>{}) for the mask's kind: the run-time kind to its
// compiled kernel instance.
template <class F>
void dispatch_mask(mask_kind k, F&& f) {
  switch (k) {
    case mask_kind::none: f(std::integral_constant<mask_kind, mask_kind::none>{}); return;
    case mask_kind::causal: f(std::integral_constant<mask_kind, mask_kind::causal>{}); return;
    case mask_kind::sliding_window: f(std::integral_constant<mask_kind, mask_kind::sliding_window>{}); return;
    case mask_kind::sink_window: f(std::integral_constant<mask_kind, mask_kind::sink_window>{}); return;
    case mask_kind::block_sparse: f(std::integral_constant<mask_kind, mask_kind::block_sparse>{}); return;
  }
}

}  // namespace kernels::attention
SWITCHYARD_NAMESPACE_END
