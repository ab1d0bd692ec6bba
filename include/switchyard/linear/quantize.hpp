#pragma once
// Quantizing a weight matrix [rows, cols] (f32, PyTorch layout) into blocks [rows, cols / B].
//
//   quantize_rtn<F>               round-to-nearest with each format's own block quantizer.
//   quantize_activation_aware<G,A> int4 groups whose clipping range is chosen per group to minimize
//                                 the error that matters, the output's: sum_k E[x_k^2] (w_k - w^_k)^2,
//                                 with E[x_k^2] measured on calibration activations (AWQ's
//                                 observation, Lin et al. 2023: a few input channels carry large
//                                 activations, and their weights deserve the precision). The
//                                 search shrinks the group's range by r in {1, 0.97, ..., 0.55}
//                                 and keeps the best; the result is ordinary int4 blocks, so
//                                 nothing changes for the kernels.
#include <algorithm>
#include <cmath>
#include <limits>
#include <span>

#include "switchyard/core/error.hpp"
#include "switchyard/core/format/int4.hpp"
#include "switchyard/core/tensor_view.hpp"
#include "switchyard/core/thread_pool.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace quant {

namespace detail {
template <class F>
void check_shapes(char const* where, matrix_view<float const> w, matrix_view<F> out) {
  constexpr index_t B = format::traits<F>::block_elems;
  require(w.extent(1) % B == 0, where, "cols (", w.extent(1), ") must be a multiple of the block size ", B);
  require(out.extent(0) == w.extent(0) && out.extent(1) * B == w.extent(1), where, "out is [", out.extent(0), ", ",
          out.extent(1), "] blocks but should be [", w.extent(0), ", ", w.extent(1) / B, "]");
  require(w.stride(1) == 1 && out.stride(1) == 1, where, "rows must be contiguous");
}
}  // namespace detail

template <class F>
void quantize_rtn(matrix_view<float const> w, matrix_view<F> out, thread_pool& pool = thread_pool::shared()) {
  detail::check_shapes("quant::quantize_rtn", w, out);
  constexpr index_t B = format::traits<F>::block_elems;
  pool.parallel_for(0, w.extent(0), 1, [&](index_t lo, index_t hi) {
    for (index_t r = lo; r < hi; ++r)
      for (index_t b = 0; b < out.extent(1); ++b) format::traits<F>::quantize(&w(r, b * B), &out(r, b));
  });
}

// act_sq[k] = mean over calibration tokens of x_k^2 (k < cols).
template <int G, bool A>
void quantize_activation_aware(matrix_view<float const> w, std::span<float const> act_sq,
                               matrix_view<format::int4_group<G, A>> out, thread_pool& pool = thread_pool::shared()) {
  using F = format::int4_group<G, A>;
  using Tr = format::traits<F>;
  char const* where = "quant::quantize_activation_aware";
  detail::check_shapes(where, w, out);
  require(static_cast<index_t>(act_sq.size()) == w.extent(1), where, "act_sq has ", act_sq.size(),
          " entries but the weight has ", w.extent(1), " input channels");
  pool.parallel_for(0, w.extent(0), 1, [&](index_t lo, index_t hi) {
    float clipped[G], deq[G];
    for (index_t r = lo; r < hi; ++r)
      for (index_t b = 0; b < out.extent(1); ++b) {
        float const* x = &w(r, b * G);
        float const* a = act_sq.data() + b * G;
        double best = std::numeric_limits<double>::infinity();
        for (int step = 0; step <= 15; ++step) {
          float const ratio = 1.0f - 0.03f * static_cast<float>(step);
          // Clipping the inputs to ratio * range makes the block quantizer choose that range.
          float lo_v = 0.0f, hi_v = 0.0f;
          for (int i = 0; i < G; ++i) lo_v = std::min(lo_v, x[i]), hi_v = std::max(hi_v, x[i]);
          float const amax = std::max(-lo_v, hi_v);
          for (int i = 0; i < G; ++i)
            clipped[i] = A ? std::clamp(x[i], ratio * lo_v, ratio * hi_v) : std::clamp(x[i], -ratio * amax, ratio * amax);
          F q;
          Tr::quantize(clipped, &q);
          Tr::dequantize(&q, deq);
          double err = 0;
          for (int i = 0; i < G; ++i) err += double(a[i]) * (double(deq[i]) - x[i]) * (double(deq[i]) - x[i]);
          if (err < best) best = err, out(r, b) = q;
        }
      }
  });
}

}  // namespace quant
SWITCHYARD_NAMESPACE_END
