#pragma once
// A bank of plain two-matrix expert FFNs, y = down act(up x) (Switch Transformer's DenseActDense),
// weights in format W: up [E, F, H], down [E, H, F], each projection through linear<W>.
#include <algorithm>

#include "switchyard/core/concepts.hpp"
#include "switchyard/core/error.hpp"
#include "switchyard/core/tensor_view.hpp"
#include "switchyard/core/thread_pool.hpp"
#include "switchyard/expert/activation.hpp"
#include "switchyard/expert/detail/for_each_element.hpp"
#include "switchyard/linear/linear.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace expert {

template <class W, class Act = relu>
class ffn_experts {
  static_assert(check_format<W>());

 public:
  using weight_format = W;
  using activation = Act;
  static constexpr index_t B = format::traits<W>::block_elems;  // weights per block (1: scalar formats)

  // up [E, F, H], down [E, H, F]; for a block format the last dimension counts blocks
  // (up [E, F, H / B], down [E, H, F / B]).
  ffn_experts(tensor_view<W const, dextents<3>> up, tensor_view<W const, dextents<3>> down,
              activations act = activations::f32, summation sum = summation::batch_invariant)
      : up_(up), down_(down), act_(act), sum_(sum) {
    char const* where = "expert::ffn_experts";
    require(down.extent(0) == up.extent(0) && down.extent(1) == up.extent(2) * B && down.extent(2) * B == up.extent(1),
            where, "down must be [", up.extent(0), ", ", up.extent(2) * B, ", ", up.extent(1) / B, "], got [",
            down.extent(0), ", ", down.extent(1), ", ", down.extent(2), "]");
    require(up.is_contiguous() && down.is_contiguous(), where, "expert weights must be contiguous");
  }

  index_t experts() const noexcept { return up_.extent(0); }
  index_t hidden() const noexcept { return up_.extent(2) * B; }
  index_t intermediate() const noexcept { return up_.extent(1); }
  index_t scratch_cols() const noexcept { return intermediate(); }

  // Expert e on rows x [n, H] -> y [n, H]; h [n, >= F] is scratch.
  void run(index_t e, matrix_view<float const> x, matrix_view<float> h, matrix_view<float> y, thread_pool& pool) const {
    index_t const H = hidden(), F = intermediate(), n = x.extent(0);
    matrix_view<float> hf(h.data(), dextents<2>(n, F), strides<2>{{h.stride(0), 1}});
    linear<W>{make_view(up_.data() + e * F * (H / B), F, H / B), {}, act_, sum_}(x, hf, pool);
    detail::for_each_element(hf, n, F, pool, [](float* row, index_t i0, index_t i1) {
      for (index_t i = i0; i < i1; ++i) row[i] = Act::apply(row[i]);
    });
    linear<W>{make_view(down_.data() + e * H * (F / B), H, F / B), {}, act_, sum_}(matrix_view<float const>(hf), y, pool);
  }

 private:
  tensor_view<W const, dextents<3>> up_;
  tensor_view<W const, dextents<3>> down_;
  activations act_;
  summation sum_;
};

}  // namespace expert
SWITCHYARD_NAMESPACE_END
