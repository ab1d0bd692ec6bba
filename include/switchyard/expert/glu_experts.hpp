#pragma once
// A bank of gated expert FFNs, y = down (act(gate x) * up x), weights in format W, stored as
// transformers 5 stores them: gate_up [E, 2F, H] (the F gate rows, then the F up rows) and
// down [E, H, F]. Each projection goes through linear<W>, so the quantized formats slot in
// without touching this file; with W = format::mixed the two banks are any_bank, each in the
// format its file stores it in (linear/any_weight.hpp). `act` picks the activation format of every projection
// (linear.hpp: f32, or bf16 as bf16 engines compute).
#include <algorithm>
#include <cstdint>

#include "switchyard/core/concepts.hpp"
#include "switchyard/core/error.hpp"
#include "switchyard/core/probe.hpp"
#include "switchyard/core/tensor_view.hpp"
#include "switchyard/core/thread_pool.hpp"
#include "switchyard/expert/activation.hpp"
#include "switchyard/expert/detail/apply_glu.hpp"
#include "switchyard/expert/detail/for_each_element.hpp"
#include "switchyard/linear/any_weight.hpp"
#include "switchyard/linear/linear.hpp"
#include "switchyard/linear/mixed_linear.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace expert {

template <class W, class Act = silu_glu>
class glu_experts {
  static_assert(check_weight_format<W>());

 public:
  using weight_format = W;
  using bank_type = weight_bank_t<W>;
  using activation = Act;
  static constexpr index_t B = format::traits<W>::block_elems;  // weights per block (1: scalar formats)

  // gate_up [E, 2F, H], down [E, H, F]; optional biases gate_up_bias [E, 2F] and down_bias
  // [E, H] (gpt-oss has them). For a block format W the last dimension counts blocks:
  // gate_up [E, 2F, H / B], down [E, H, F / B].
  glu_experts(bank_type gate_up, bank_type down,
              matrix_view<float const> gate_up_bias = {}, matrix_view<float const> down_bias = {},
              activations act = activations::f32, summation sum = summation::batch_invariant)
      : gate_up_(gate_up), down_(down), gate_up_bias_(gate_up_bias), down_bias_(down_bias), act_(act), sum_(sum) {
    char const* where = "expert::glu_experts";
    require(gate_up.extent(1) % 2 == 0, where, "gate_up has ", gate_up.extent(1), " rows per expert; need 2 x intermediate");
    require(down.extent(0) == gate_up.extent(0), where, "gate_up has ", gate_up.extent(0), " experts but down has ",
            down.extent(0));
    require(down.extent(1) == hidden() && down.extent(2) * B == intermediate(), where, "down must be [E, ", hidden(),
            ", ", intermediate() / B, B > 1 ? " blocks" : "", "], got [", down.extent(0), ", ", down.extent(1), ", ",
            down.extent(2), "]");
    require(gate_up.is_contiguous() && down.is_contiguous(), where, "expert weights must be contiguous");
    require(!gate_up_bias.data() || (gate_up_bias.extent(0) == experts() && gate_up_bias.extent(1) == 2 * intermediate() &&
                                     gate_up_bias.stride(1) == 1),
            where, "gate_up_bias must be [", experts(), ", ", 2 * intermediate(), "]");
    require(!down_bias.data() || (down_bias.extent(0) == experts() && down_bias.extent(1) == hidden() && down_bias.stride(1) == 1),
            where, "down_bias must be [", experts(), ", ", hidden(), "]");
  }

  index_t experts() const noexcept { return gate_up_.extent(0); }
  index_t hidden() const noexcept { return gate_up_.extent(2) * B; }
  index_t intermediate() const noexcept { return gate_up_.extent(1) / 2; }
  // Columns of the per-row scratch run() needs.
  index_t scratch_cols() const noexcept { return 2 * intermediate(); }

  // Expert e on rows x [n, H] -> y [n, H]; h [n, 2F] is scratch.
  void run(index_t e, matrix_view<float const> x, matrix_view<float> h, matrix_view<float> y, thread_pool& pool) const {
    index_t const H = hidden(), F = intermediate(), n = x.extent(0);
    linear<W> const gate_up(bank_expert(gate_up_, e),
                            gate_up_bias_.data() ? make_view(gate_up_bias_.row(e), 2 * F) : vector_view<float const>{}, act_, sum_);
    linear<W> const down(bank_expert(down_, e),
                         down_bias_.data() ? make_view(down_bias_.row(e), H) : vector_view<float const>{}, act_, sum_);
    gate_up(x, h, pool);  // gate and up in one pass over x: one [2F, H] projection
    // act(gate) * up into the gate half, split over the pool as (row, column) ranges so that a
    // single decode row with a wide F is split too.
    detail::for_each_element(h, n, F, pool,
                             [F](float* row, index_t i0, index_t i1) { detail::apply_glu<Act>(row + i0, row + F + i0, i1 - i0); });
    matrix_view<float const> const hidden_rows(h.data(), dextents<2>(n, F), strides<2>{{h.stride(0), 1}});
    probe::report(probe::site::ffn_hidden, hidden_rows, probe::current_bank() == probe::bank::routed ? e : -1);
    down(hidden_rows, y, pool);
  }

  // run() in pieces that a caller spreads over one parallel region for several experts at once
  // (moe's decode): gate rows [a, b) and up rows [F + a, F + b) of expert e on x [n, H] into
  // h[:, a:b) and h[:, F + a:F + b), then act into h[:, a:b) ...
  void gate_up_part(index_t e, matrix_view<float const> x, matrix_view<float> h, index_t a, index_t b,
                    thread_pool& pool) const {
    index_t const F = intermediate(), n = x.extent(0);
    auto const w = bank_expert(gate_up_, e);
    float const* bias = gate_up_bias_.data() ? gate_up_bias_.row(e) : nullptr;
    for (index_t half : {index_t{0}, F}) {
      linear<W> const part(weight_rows(w, half + a, b - a),
                           bias ? make_view(bias + half + a, b - a) : vector_view<float const>{}, act_, sum_);
      part(x, matrix_view<float>(h.data() + half + a, dextents<2>(n, b - a), strides<2>{{h.stride(0), 1}}), pool);
    }
    for (index_t t = 0; t < n; ++t) {
      float* row = h.row(t);
      detail::apply_glu<Act>(row + a, row + F + a, b - a);
    }
  }
  // ... and output columns [a, b) of expert e's down projection of hidden = h[:, 0:F) into y.
  void down_part(index_t e, matrix_view<float const> hidden, matrix_view<float> y, index_t a, index_t b,
                 thread_pool& pool) const {
    index_t const n = hidden.extent(0);
    float const* bias = down_bias_.data() ? down_bias_.row(e) : nullptr;
    linear<W> const part(weight_rows(bank_expert(down_, e), a, b - a),
                         bias ? make_view(bias + a, b - a) : vector_view<float const>{}, act_, sum_);
    part(hidden, matrix_view<float>(y.data() + a, dextents<2>(n, b - a), strides<2>{{y.stride(0), 1}}), pool);
  }

 private:
  bank_type gate_up_;
  bank_type down_;
  matrix_view<float const> gate_up_bias_, down_bias_;
  activations act_;
  summation sum_;
};

}  // namespace expert
SWITCHYARD_NAMESPACE_END
