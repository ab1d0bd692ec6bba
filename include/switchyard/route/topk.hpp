#pragma once
// Top-k selection over one row of scores with the guarantees routing needs whatever the input:
// k distinct in-range ids; NaN ranks below everything (even -inf); ties go to the lower id;
// results in descending order of score. O(n k) insertion into a k-long list: k is small (<= 16)
// for every shipped family, and this beats a heap or nth_element at those sizes.
#include <cmath>
#include <cstdint>

#include "switchyard/config.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace route::detail {

// Strict "a ranks above b" for (score, id) pairs under the rules above.
SWITCHYARD_HOST_DEVICE inline bool ranks_above(float a, int ia, float b, int ib) noexcept {
  bool const na = std::isnan(a), nb = std::isnan(b);
  if (na || nb) return na && nb ? ia < ib : nb;  // a number ranks above NaN; NaNs by id
  if (a != b) return a > b;
  return ia < ib;
}

// Writes the ids of the k best of scores[0..n) into ids[0..k), best first. Requires 1 <= k <= n.
// `skip[i]`, when given, removes expert i from consideration (group masking) unless fewer than k
// remain, in which case skipped experts fill the remaining places in rank order.
SWITCHYARD_HOST_DEVICE inline void top_k(float const* scores, int n, int k, int* ids, bool const* skip = nullptr) noexcept {
  int filled = 0;
  for (int pass = 0; pass < 2 && filled < k; ++pass) {
    int const floor = filled;  // skipped experts only ever rank after every kept one
    for (int i = 0; i < n; ++i) {
      bool const skipped = skip && skip[i];
      if (pass == 0 ? skipped : !skipped) continue;
      float const s = scores[i];
      // Find the insertion point among the `filled` best (ranked list ids[0..filled)).
      int pos = filled;
      while (pos > floor && ranks_above(s, i, scores[ids[pos - 1]], ids[pos - 1])) --pos;
      if (pos >= k) continue;
      int const end = filled < k ? filled : k - 1;
      for (int j = end; j > pos; --j) ids[j] = ids[j - 1];
      ids[pos] = i;
      if (filled < k) ++filled;
    }
  }
}

}  // namespace route::detail
SWITCHYARD_NAMESPACE_END
