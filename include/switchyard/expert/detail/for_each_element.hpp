#pragma once
// Calls f(row_pointer, i0, i1) over the first `cols` columns of every row of h, split over the
// pool as flat (row, column) ranges, so that a single decode row with a wide intermediate size
// is split across threads too. Used by the expert banks' activation passes.
#include <algorithm>

#include "switchyard/core/tensor_view.hpp"
#include "switchyard/core/thread_pool.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace expert::detail {

template <class F>
void for_each_element(matrix_view<float> h, index_t rows, index_t cols, thread_pool& pool, F&& f) {
  pool.parallel_for(0, rows * cols, 4096, [&](index_t lo, index_t hi) {
    for (index_t idx = lo; idx < hi;) {
      index_t const r = idx / cols, i0 = idx % cols, i1 = std::min(cols, i0 + (hi - idx));
      f(h.row(r), i0, i1);
      idx += i1 - i0;
    }
  });
}

}  // namespace expert::detail
SWITCHYARD_NAMESPACE_END
