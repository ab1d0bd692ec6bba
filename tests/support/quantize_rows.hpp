#pragma once
// Test support: rows of f32 weights quantized into blocks of a block format, with their
// dequantized values (the exact weights a block-format layer computes with).
#include <cstddef>
#include <utility>
#include <vector>

#include "switchyard/core/check.hpp"
#include "switchyard/core/format/traits.hpp"

namespace switchyard::test {

// Quantizes rows of w [N, K] into blocks [N, K / B]; returns the blocks and their dequantized f32.
template <class F>
std::pair<std::vector<F>, std::vector<float>> quantize_rows(std::vector<float> const& w, switchyard::index_t N, switchyard::index_t K) {
  constexpr int B = format::traits<F>::block_elems;
  std::vector<F> q(static_cast<std::size_t>(N * K / B));
  std::vector<float> deq(w.size());
  for (std::size_t b = 0; b < q.size(); ++b) {
    format::traits<F>::quantize(w.data() + b * B, &q[b]);
    format::traits<F>::dequantize(&q[b], deq.data() + b * B);
  }
  return {std::move(q), std::move(deq)};
}

}  // namespace switchyard::test
