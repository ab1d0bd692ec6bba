#pragma once
// One decoder layer: x += attention(rms_norm(x)); x += ffn(rms_norm(x)) — the pre-norm residual
// block of every shipped family. Attention is gqa_attention (Llama, Mixtral, Qwen, OLMoE) or
// mla_attention (DeepSeek-V3); the FFN any block with operator()(x, y, pool) (ffn.hpp).
//
// Static composition: decoder_layer<gqa_attention<bf16>, moe_ffn<route::mixtral<2>, bf16>>; layers
// of a few kinds: Attention and Ffn may be std::variants of blocks (visited once per call). A
// loaded model, whose layers may differ, uses decoder_layer<any_attention<W>, any_ffn>.
#include <memory>
#include <span>
#include <type_traits>
#include <variant>
#include <vector>

#include "switchyard/attention/gqa_attention.hpp"
#include "switchyard/attention/mla_attention.hpp"
#include "switchyard/attention/paged_kv_cache.hpp"
#include "switchyard/core/probe.hpp"
#include "switchyard/model/ffn.hpp"
#include "switchyard/norm/rms_norm.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace model {

// GQA or MLA, in any weight format (MLA keeps kv_b_proj element-wise: attention::mla_kv_b_t). GQA
// under a window mask: a layer without a window gets one longer than any sequence
// (unbounded_window), which keeps exactly what the causal mask keeps.
template <class W>
using any_attention =
    std::variant<attention::gqa_attention<W, attention::sliding_window_mask>, attention::mla_attention<W>>;
inline constexpr index_t unbounded_window = index_t{1} << 40;
using any_ffn = std::unique_ptr<ffn_block>;

// The tokens of one sequence inside a layer call: rows [row, row + tokens) of the activations.
struct layer_span {
  attention::kv_sequence* kv;  // this layer's share of the sequence
  index_t row, tokens;
};

template <class Attention, class Ffn>
class decoder_layer {
 public:
  decoder_layer(Attention attn, Ffn ffn, vector_view<float const> attn_norm, vector_view<float const> ffn_norm, float eps)
      : attn_(std::move(attn)), ffn_(std::move(ffn)), attn_norm_(attn_norm), ffn_norm_(ffn_norm), eps_(eps) {}
  // A copy gets a scratch of its own (sharing is only ever asked for: share_scratch), so copies
  // may run on different threads.
  decoder_layer(decoder_layer const& o)
      : attn_(o.attn_), ffn_(o.ffn_), attn_norm_(o.attn_norm_), ffn_norm_(o.ffn_norm_), eps_(o.eps_) {}
  decoder_layer(decoder_layer&&) = default;
  decoder_layer& operator=(decoder_layer const& o) {
    if (this != &o) *this = decoder_layer(o);
    return *this;
  }
  decoder_layer& operator=(decoder_layer&&) = default;

  Attention const& attention() const noexcept { return attn_; }

  // Use `other`'s activation scratch from now on: the layers of one model run one after another,
  // so they can share it (causal_lm does) instead of each holding [tokens, hidden] x 2 of its own.
  void share_scratch(decoder_layer const& other) noexcept { s_ = other.s_; }

  // The cache this layer's attention needs.
  attention::kv_cache_config cache_config(index_t block_size, index_t blocks) const {
    return visit_attention([&](auto const& a) -> attention::kv_cache_config {
      using A = std::decay_t<decltype(a)>;
      if constexpr (requires { a.latent_cache_config(block_size, blocks); }) {
        return a.latent_cache_config(block_size, blocks);
      } else {
        static_assert(requires { a.config().kv_heads; }, "an attention block must say what cache it needs");
        (void)sizeof(A);
        auto const& c = a.config();
        return {.kv_heads = c.kv_heads, .key_dim = c.head_dim, .value_dim = c.head_dim, .block_size = block_size,
                .blocks = blocks};
      }
    });
  }

  // x [N, H] in place: the rows of every span, each span the next tokens of its sequence.
  // Spans of one token that continue a sequence are decoded together in one batched call.
  template <class E>
  void forward(attention::paged_kv_cache<E>& cache, std::span<layer_span const> spans, matrix_view<float> x,
               thread_pool& pool) {
    index_t const N = x.extent(0), H = x.extent(1);
    if (!s_) s_ = std::make_shared<scratch>();  // moved from, then reused
    grow(s_->h, N * H);
    grow(s_->a, N * H);
    auto h = make_view(s_->h.data(), N, H);
    auto a = make_view(s_->a.data(), N, H);
    norm::rms_norm(matrix_view<float const>(x), attn_norm_, h, eps_, pool);
    probe::report(probe::site::attention_input, h);
    attend(cache, spans, h, a, pool);
    add(x, a);
    norm::rms_norm(matrix_view<float const>(x), ffn_norm_, h, eps_, pool);
    probe::report(probe::site::ffn_input, h);
    ffn_call(matrix_view<float const>(h), a, pool);
    add(x, a);
  }

 private:
  template <class F>
  decltype(auto) visit_attention(F&& f) const {
    if constexpr (requires { std::visit(f, attn_); }) return std::visit(f, attn_);
    else return f(attn_);
  }
  void ffn_call(matrix_view<float const> x, matrix_view<float> y, thread_pool& pool) {
    if constexpr (requires { (*ffn_)(x, y, pool); }) (*ffn_)(x, y, pool);  // any_ffn
    else if constexpr (requires { ffn_.index(); }) std::visit([&](auto& f) { f(x, y, pool); }, ffn_);  // a variant
    else ffn_(x, y, pool);
  }

  template <class E>
  void attend(attention::paged_kv_cache<E>& cache, std::span<layer_span const> spans, matrix_view<float> h,
              matrix_view<float> a, thread_pool& pool) {
    index_t const H = h.extent(1);
    std::vector<layer_span> batched;
    for (auto const& s : spans) {
      auto hx = make_view(static_cast<float const*>(h.row(s.row)), s.tokens, H);
      auto ax = make_view(a.row(s.row), s.tokens, H);
      bool const decode = s.tokens == 1 && s.kv->length > 0;
      visit_attention([&](auto const& at) {
        if constexpr (requires { at.decode(cache, std::span<attention::kv_sequence* const>{}, hx, ax, pool); }) {
          if (decode) {
            batched.push_back(s);
            return;
          }
        }
        at.forward(cache, *s.kv, hx, ax, pool);
      });
    }
    if (batched.empty()) return;
    index_t const B = static_cast<index_t>(batched.size());
    buffer<float>& dx = s_->dx;
    grow(dx, 2 * B * H);
    std::vector<attention::kv_sequence*> seqs;
    for (index_t b = 0; b < B; ++b) {
      auto const& s = batched[static_cast<std::size_t>(b)];
      std::copy_n(h.row(s.row), H, dx.data() + b * H);
      seqs.push_back(s.kv);
    }
    visit_attention([&](auto const& at) {
      if constexpr (requires { at.decode(cache, std::span<attention::kv_sequence* const>{}, h, a, pool); })
        at.decode(cache, std::span<attention::kv_sequence* const>(seqs),
                  make_view(static_cast<float const*>(dx.data()), B, H), make_view(dx.data() + B * H, B, H), pool);
    });
    for (index_t b = 0; b < B; ++b) std::copy_n(dx.data() + (B + b) * H, H, a.row(batched[static_cast<std::size_t>(b)].row));
  }

  static void add(matrix_view<float> x, matrix_view<float> a) {
    index_t const N = x.extent(0), H = x.extent(1);
    for (index_t t = 0; t < N; ++t) {
      float* xr = x.row(t);
      float const* ar = a.row(t);
      for (index_t i = 0; i < H; ++i) xr[i] += ar[i];
    }
  }
  static void grow(buffer<float>& b, index_t n) {
    if (static_cast<index_t>(b.size()) < n) b = buffer<float>(static_cast<std::size_t>(n));
  }

  Attention attn_;
  Ffn ffn_;
  vector_view<float const> attn_norm_, ffn_norm_;
  float eps_;
  struct scratch {
    buffer<float> h, a, dx;
  };
  std::shared_ptr<scratch> s_ = std::make_shared<scratch>();
};

}  // namespace model
SWITCHYARD_NAMESPACE_END
