#pragma once
// Weight pruning of one matrix W [out, in] in place: unstructured (a fraction of each output row
// set to zero) and n:m semi-structured (in every m consecutive weights of a row at most n stay;
// 2:4 is the pattern format::sparse24 stores and sparse tensor cores take).
//
// Two criteria choose what goes, each within a row (the comparison group Wanda uses; for
// magnitude too, so every row keeps the same share):
//   magnitude         score |W_ij|
//   activation-aware  score |W_ij| ||x_j|| (Wanda, Sun et al. 2023): x_j is input feature j over
//                     calibration tokens (input_norms), so a small weight on a feature that is
//                     large on real inputs is kept over a larger one on a quiet feature.
// Ties go to the lower column (the lower one is kept), so the result is deterministic.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <span>
#include <vector>

#include "switchyard/core/error.hpp"
#include "switchyard/core/tensor_view.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace prune {

// The per-feature L2 norms of calibration inputs, accumulated over batches of rows x [T, in].
class input_norms {
 public:
  explicit input_norms(index_t features) : sumsq_(checked(features), 0.0) {}
  void add(matrix_view<float const> x) {
    require(x.extent(1) == static_cast<index_t>(sumsq_.size()), "prune::input_norms::add", "x has ", x.extent(1),
            " columns but the norms count ", sumsq_.size(), " features");
    for (index_t t = 0; t < x.extent(0); ++t)
      for (index_t j = 0; j < x.extent(1); ++j) sumsq_[static_cast<std::size_t>(j)] += double(x(t, j)) * x(t, j);
    tokens_ += x.extent(0);
  }
  index_t tokens() const noexcept { return tokens_; }
  std::vector<float> norms() const {
    std::vector<float> n(sumsq_.size());
    for (std::size_t j = 0; j < n.size(); ++j) n[j] = static_cast<float>(std::sqrt(sumsq_[j]));
    return n;
  }

 private:
  static std::size_t checked(index_t features) {
    require(features > 0, "prune::input_norms", "needs at least one feature, got ", features);
    return static_cast<std::size_t>(features);
  }
  std::vector<double> sumsq_;
  index_t tokens_ = 0;
};

namespace detail {
inline void check_norms(matrix_view<float> w, std::span<float const> norms, char const* where) {
  require(norms.empty() || static_cast<index_t>(norms.size()) == w.extent(1), where, "input_norms has ", norms.size(),
          " features but the matrix has ", w.extent(1), " input columns");
  require(w.stride(1) == 1, where, "matrix rows must be contiguous");
  for (std::size_t j = 0; j < norms.size(); ++j)
    require(std::isfinite(norms[j]) && norms[j] >= 0.0f, where, "input norm ", j, " is ", norms[j], ", not a finite value >= 0");
}
// A weight's score; a NaN or infinite one (a NaN weight, inf x 0) would break the orderings below.
inline float score(matrix_view<float> w, index_t i, index_t j, std::span<float const> norms, char const* where) {
  float const s = std::fabs(w(i, j)) * (norms.empty() ? 1.0f : norms[static_cast<std::size_t>(j)]);
  require(std::isfinite(s), where, "weight (", i, ", ", j, ") = ", w(i, j), " has no finite score");
  return s;
}
}  // namespace detail

// Zeroes round(sparsity * in) weights of every row, the lowest-scoring ones; norms empty:
// magnitude, else activation-aware. Returns how many weights it set to zero (some may have been
// zero already). sparsity in (0, 1).
inline index_t unstructured(matrix_view<float> w, double sparsity, std::span<float const> norms = {}) {
  constexpr char const* where = "prune::unstructured";
  require(sparsity > 0.0 && sparsity < 1.0, where, "sparsity must be in (0, 1), got ", sparsity);
  detail::check_norms(w, norms, where);
  index_t const rows = w.extent(0), cols = w.extent(1);
  index_t const drop = static_cast<index_t>(std::llround(sparsity * static_cast<double>(cols)));
  if (drop == 0) return 0;
  std::vector<index_t> order(static_cast<std::size_t>(cols));
  std::vector<float> s(static_cast<std::size_t>(cols));
  for (index_t i = 0; i < rows; ++i) {
    for (index_t j = 0; j < cols; ++j) s[static_cast<std::size_t>(j)] = detail::score(w, i, j, norms, where);
    std::iota(order.begin(), order.end(), index_t{0});
    // The `drop` lowest scores, the higher column first among equals (so the lower one stays).
    std::nth_element(order.begin(), order.begin() + (drop - 1), order.end(), [&](index_t a, index_t b) {
      float const sa = s[static_cast<std::size_t>(a)], sb = s[static_cast<std::size_t>(b)];
      return sa < sb || (sa == sb && a > b);
    });
    for (index_t k = 0; k < drop; ++k) w(i, order[static_cast<std::size_t>(k)]) = 0.0f;
  }
  return rows * drop;
}

// In every m consecutive weights of a row (columns m g .. m g + m - 1), keeps the n highest
// scores and zeroes the rest; in % m == 0, 0 < n < m. Returns how many weights it set to zero.
inline index_t n_m(matrix_view<float> w, int n, int m, std::span<float const> norms = {}) {
  constexpr char const* where = "prune::n_m";
  require(m >= 2 && m <= 64 && n > 0 && n < m, where, "needs 0 < n < m <= 64, got ", n, ":", m);
  require(w.extent(1) % m == 0, where, "the ", n, ":", m, " pattern needs a width divisible by ", m, ", got ", w.extent(1));
  detail::check_norms(w, norms, where);
  index_t const rows = w.extent(0), groups = w.extent(1) / m;
  int idx[64];
  float s[64];
  for (index_t i = 0; i < rows; ++i)
    for (index_t g = 0; g < groups; ++g) {
      for (int k = 0; k < m; ++k) {
        index_t const j = g * m + k;
        s[k] = detail::score(w, i, j, norms, where), idx[k] = k;
      }
      // Highest first, the lower column first among equals.
      std::sort(idx, idx + m, [&](int a, int b) { return s[a] > s[b] || (s[a] == s[b] && a < b); });
      for (int k = n; k < m; ++k) w(i, g * m + idx[k]) = 0.0f;
    }
  return rows * groups * (m - n);
}

// Whether every m consecutive weights of every row hold at most n non-zeros.
inline bool satisfies_n_m(matrix_view<float const> w, int n, int m) {
  if (m <= 0 || w.extent(1) % m != 0) return false;
  for (index_t i = 0; i < w.extent(0); ++i)
    for (index_t g = 0; g < w.extent(1) / m; ++g) {
      int nonzero = 0;
      for (int k = 0; k < m; ++k) nonzero += w(i, g * m + k) != 0.0f;
      if (nonzero > n) return false;
    }
  return true;
}

// The fraction of zero weights.
inline double sparsity(matrix_view<float const> w) {
  index_t zeros = 0;
  for (index_t i = 0; i < w.extent(0); ++i)
    for (index_t j = 0; j < w.extent(1); ++j) zeros += w(i, j) == 0.0f;
  index_t const all = w.extent(0) * w.extent(1);
  return all == 0 ? 0.0 : static_cast<double>(zeros) / static_cast<double>(all);
}

}  // namespace prune
SWITCHYARD_NAMESPACE_END
