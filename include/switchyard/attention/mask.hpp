#pragma once
// Attention masks as compile-time policies. A mask answers two questions about absolute
// positions (query position q, key position k; keys sit at positions 0..S-1):
//   keep(q, k)                          may query q attend to key k?
//   coverage(q_lo, q_hi, k_lo, k_hi)    for the tile of queries [q_lo, q_hi] x keys [k_lo, k_hi]
//                                       (inclusive): none kept, all kept, or some.
// The kernels skip `none` tiles without touching them, compute `full` tiles without a mask, and
// apply keep() element by element only on `partial` tiles, so the work done falls with the
// fraction of tiles a pattern keeps. coverage() must be exact for none/full (a `partial` answer
// is always safe, only slower).
//
// Policies: no_mask, causal_mask, sliding_window_mask (Mistral/Mixtral), sink_window_mask
// (StreamingLLM), block_sparse_mask (local band + global blocks + strided blocks, Longformer /
// BigBird style) and block_predicate_mask (any predicate over (query block, key block)). All but
// no_mask are causal. Write your own: any type with these two members satisfies attention_mask.
#include <algorithm>
#include <concepts>
#include <utility>

#include "switchyard/core/check.hpp"
#include "switchyard/core/error.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace attention {

enum class tile_coverage { none, partial, full };

template <class M>
concept attention_mask = requires(M const& m, index_t q, index_t k) {
  { m.keep(q, k) } -> std::same_as<bool>;
  { m.coverage(q, q, k, k) } -> std::same_as<tile_coverage>;
};

struct no_mask {
  constexpr bool keep(index_t, index_t) const noexcept { return true; }
  constexpr tile_coverage coverage(index_t, index_t, index_t, index_t) const noexcept { return tile_coverage::full; }
};

struct causal_mask {
  constexpr bool keep(index_t q, index_t k) const noexcept { return k <= q; }
  constexpr tile_coverage coverage(index_t q_lo, index_t q_hi, index_t k_lo, index_t k_hi) const noexcept {
    if (k_lo > q_hi) return tile_coverage::none;
    return k_hi <= q_lo ? tile_coverage::full : tile_coverage::partial;
  }
};

// Causal, and only the last `window` keys up to and including the query: q - window < k <= q
// (transformers' sliding_window_overlay; Mistral's sliding_window = 4096).
struct sliding_window_mask {
  index_t window;
  constexpr explicit sliding_window_mask(index_t w) : window(w) {
    if (w < 1) throw invalid_argument("switchyard::attention::sliding_window_mask: window must be >= 1");
  }
  constexpr bool keep(index_t q, index_t k) const noexcept { return k <= q && k > q - window; }
  constexpr tile_coverage coverage(index_t q_lo, index_t q_hi, index_t k_lo, index_t k_hi) const noexcept {
    if (k_lo > q_hi || k_hi <= q_lo - window) return tile_coverage::none;
    return (k_hi <= q_lo && k_lo > q_hi - window) ? tile_coverage::full : tile_coverage::partial;
  }
};

// StreamingLLM: the first `sinks` tokens stay visible to every query, plus a causal window.
struct sink_window_mask {
  index_t sinks, window;
  constexpr sink_window_mask(index_t s, index_t w) : sinks(s), window(w) {
    if (s < 0 || w < 1) throw invalid_argument("switchyard::attention::sink_window_mask: need sinks >= 0 and window >= 1");
  }
  constexpr bool keep(index_t q, index_t k) const noexcept { return k <= q && (k < sinks || k > q - window); }
  constexpr tile_coverage coverage(index_t q_lo, index_t q_hi, index_t k_lo, index_t k_hi) const noexcept {
    if (k_lo > q_hi) return tile_coverage::none;
    if (k_lo >= sinks && k_hi <= q_lo - window) return tile_coverage::none;
    // Full: causal for every pair, and every non-sink key inside the window of the last query.
    index_t const first_window_key = std::max(k_lo, sinks);
    bool const window_ok = first_window_key > k_hi || first_window_key > q_hi - window;
    return (k_hi <= q_lo && window_ok) ? tile_coverage::full : tile_coverage::partial;
  }
};

namespace detail {
// Coverage of a causal mask defined block by block: walk the (query block, key block) pairs the
// tile overlaps (a tile spans a few blocks at most).
template <class KeepBlock>
constexpr tile_coverage block_coverage(index_t block, index_t q_lo, index_t q_hi, index_t k_lo, index_t k_hi,
                                       KeepBlock const& keep_block) {
  if (k_lo > q_hi) return tile_coverage::none;
  bool any = false, all = true;
  for (index_t qb = q_lo / block; qb <= q_hi / block; ++qb)
    for (index_t kb = k_lo / block; kb <= std::min(k_hi, q_hi) / block; ++kb) {
      bool const kept = kb <= qb && keep_block(qb, kb);
      any = any || kept;
      all = all && kept;
    }
  if (!any) return tile_coverage::none;
  return (all && k_hi <= q_lo) ? tile_coverage::full : tile_coverage::partial;
}
}  // namespace detail

// Causal block-sparse pattern over blocks of `block` positions: query block qb sees key block kb
// (kb <= qb) when it is in the local band (qb - kb < local_blocks), among the first global_blocks
// blocks, or on the stride (stride > 0 and (qb - kb) % stride == 0).
struct block_sparse_mask {
  index_t block, local_blocks, global_blocks, stride;
  constexpr block_sparse_mask(index_t b, index_t local, index_t global = 0, index_t strided = 0)
      : block(b), local_blocks(local), global_blocks(global), stride(strided) {
    if (b < 1 || local < 1 || global < 0 || strided < 0)
      throw invalid_argument(
          "switchyard::attention::block_sparse_mask: need block >= 1, local_blocks >= 1 (a query must see its own "
          "block), global_blocks >= 0, stride >= 0");
  }
  constexpr bool keep_block(index_t qb, index_t kb) const noexcept {
    return qb - kb < local_blocks || kb < global_blocks || (stride > 0 && (qb - kb) % stride == 0);
  }
  constexpr bool keep(index_t q, index_t k) const noexcept { return k <= q && keep_block(q / block, k / block); }
  constexpr tile_coverage coverage(index_t q_lo, index_t q_hi, index_t k_lo, index_t k_hi) const noexcept {
    return detail::block_coverage(block, q_lo, q_hi, k_lo, k_hi,
                                  [this](index_t qb, index_t kb) { return keep_block(qb, kb); });
  }
};

// Causal, plus any predicate over blocks: keep_block(query_block, key_block) -> bool. The block
// containing the query itself should be kept, or a query may see no key at all (its output is 0).
template <class KeepBlock>
  requires std::predicate<KeepBlock const&, index_t, index_t>
struct block_predicate_mask {
  index_t block;
  KeepBlock keep_block;
  constexpr block_predicate_mask(index_t b, KeepBlock f) : block(b), keep_block(std::move(f)) {
    if (b < 1) throw invalid_argument("switchyard::attention::block_predicate_mask: block must be >= 1");
  }
  constexpr bool keep(index_t q, index_t k) const { return k <= q && keep_block(q / block, k / block); }
  constexpr tile_coverage coverage(index_t q_lo, index_t q_hi, index_t k_lo, index_t k_hi) const {
    return detail::block_coverage(block, q_lo, q_hi, k_lo, k_hi, keep_block);
  }
};

}  // namespace attention
SWITCHYARD_NAMESPACE_END
