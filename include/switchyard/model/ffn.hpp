#pragma once
// The feed-forward half of a decoder layer, as blocks a layer can hold by value (static
// composition) or behind `ffn_block` (a loaded model whose layers differ: DeepSeek's first dense
// layers, Qwen2-MoE's sparse step):
//   dense_ffn<W>            a SwiGLU MLP (Llama; DeepSeek's dense layers): a bank of one expert;
//   moe_ffn<Router, W, Act> router -> experts -> combine (+ shared experts), expert::moe; Act
//                           the experts' gated activation (SiLU; gpt-oss's clamped SwiGLU).
// Both map x [T, H] -> y [T, H] without the residual.
#include <algorithm>
#include <memory>
#include <utility>

#include "switchyard/core/buffer.hpp"
#include "switchyard/core/tensor_view.hpp"
#include "switchyard/core/thread_pool.hpp"
#include "switchyard/expert/glu_experts.hpp"
#include "switchyard/expert/moe.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace model {

class ffn_block {
 public:
  virtual ~ffn_block() = default;
  virtual void operator()(matrix_view<float const> x, matrix_view<float> y, thread_pool& pool) = 0;
};

template <class W>
class dense_ffn {
 public:
  // gate_up [1, 2F, H] (gate rows, then up rows), down [1, H, F] (block formats: last dimension in
  // blocks); `act`: the projections' activation format (linear.hpp).
  dense_ffn(weight_bank_t<W> gate_up, weight_bank_t<W> down,
            activations act = activations::f32)
      : bank_(gate_up, down, {}, {}, act) {}
  // A prefill runs in chunks of about chunk_tokens rows (equal chunks, so none is a short GEMV
  // tail): the hidden rows [T, 2F] are scratch, 11.5 MB at T = 512 for F = 2816 (DeepSeek's dense
  // layer) against 2.9 MB per 128 rows, while the weights re-read per chunk are a few ms of a
  // compute-bound prefill. Each row's result does not depend on the other rows in the call.
  static constexpr index_t chunk_tokens = 128;
  void operator()(matrix_view<float const> x, matrix_view<float> y, thread_pool& pool) {
    index_t const T = x.extent(0), chunks = std::max<index_t>(1, T / chunk_tokens), rows = (T + chunks - 1) / chunks;
    index_t const cols = bank_.scratch_cols();
    if (static_cast<index_t>(h_.size()) < rows * cols) h_ = buffer<float>(static_cast<std::size_t>(rows * cols));
    for (index_t t0 = 0; t0 < T; t0 += rows) {
      index_t const n = std::min(rows, T - t0);
      bank_.run(0, matrix_view<float const>(x.row(t0), dextents<2>(n, x.extent(1)), strides<2>{{x.stride(0), 1}}),
                make_view(h_.data(), n, cols),
                matrix_view<float>(y.row(t0), dextents<2>(n, y.extent(1)), strides<2>{{y.stride(0), 1}}), pool);
    }
  }

 private:
  expert::glu_experts<W> bank_;
  buffer<float> h_;
};

template <class Router, class W, class Act = expert::silu_glu>
class moe_ffn {
 public:
  using layer_type = expert::moe<Router, expert::glu_experts<W, Act>>;
  // `ws`: the routing and expert scratch, which the MoE layers of one model may share (they run
  // one after another): one workspace instead of one per layer, ~40 MB a layer at a 512-token
  // prefill with top-8 of 1024 wide. Default: a workspace of its own.
  moe_ffn(layer_type layer, route::router_params params,
          std::shared_ptr<expert::moe_workspace> ws = std::make_shared<expert::moe_workspace>())
      : layer_(std::move(layer)), params_(params), ws_(std::move(ws)) {}
  // A copy gets a workspace of its own (so copies may run on different threads).
  moe_ffn(moe_ffn const& o) : layer_(o.layer_), params_(o.params_), ws_(std::make_shared<expert::moe_workspace>()) {}
  moe_ffn(moe_ffn&&) = default;
  moe_ffn& operator=(moe_ffn const& o) {
    if (this != &o) *this = moe_ffn(o);
    return *this;
  }
  moe_ffn& operator=(moe_ffn&&) = default;
  void operator()(matrix_view<float const> x, matrix_view<float> y, thread_pool& pool) {
    if (!ws_) ws_ = std::make_shared<expert::moe_workspace>();  // moved from, then reused
    layer_(x, y, *ws_, params_, pool);
  }
  layer_type const& layer() const noexcept { return layer_; }

 private:
  layer_type layer_;
  route::router_params params_;
  std::shared_ptr<expert::moe_workspace> ws_;
};

// Any of the above behind the virtual interface.
template <class Block>
class ffn_adapter final : public ffn_block {
 public:
  explicit ffn_adapter(Block b) : b_(std::move(b)) {}
  void operator()(matrix_view<float const> x, matrix_view<float> y, thread_pool& pool) override { b_(x, y, pool); }

 private:
  Block b_;
};

template <class Block>
std::unique_ptr<ffn_block> make_ffn(Block b) {
  return std::make_unique<ffn_adapter<Block>>(std::move(b));
}

}  // namespace model
SWITCHYARD_NAMESPACE_END
