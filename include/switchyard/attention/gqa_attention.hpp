#pragma once
// The decoder attention block of the Llama family and its MoE descendants (Mixtral, Qwen2/3-MoE,
// OLMoE, gpt-oss): optional input RMSNorm -> q/k/v projections (linear<W>, optional biases) ->
// optional per-head q/k RMSNorm (Qwen3) -> RoPE -> attention under a mask policy (causal,
// Mistral's and gpt-oss's sliding window, ...) with grouped-query heads and optional learned
// per-head sinks (gpt-oss's `sinks`: flash_attention.hpp) -> output projection.
//
// Three ways to run it:
//   forward(x, y)                      a whole sequence, no cache (positions 0..T-1);
//   forward(cache, seq, x, y)          the next T tokens of one sequence: their K/V go into the
//                                      paged cache; a fresh sequence runs flash attention on the
//                                      chunk, a continuing one attends over the cache;
//   decode(cache, seqs, x, y)          one new token for each of B sequences (x row b belongs to
//                                      seqs[b]), one batched projection, one paged attention call.
// Weights are views (the caller or a loaded model owns them); scratch is allocated per call.
#include <cmath>
#include <span>
#include <type_traits>
#include <vector>

#include "switchyard/attention/flash_attention.hpp"
#include "switchyard/attention/mask.hpp"
#include "switchyard/attention/paged_attention.hpp"
#include "switchyard/attention/paged_kv_cache.hpp"
#include "switchyard/attention/rope.hpp"
#include "switchyard/core/probe.hpp"
#include "switchyard/linear/any_weight.hpp"
#include "switchyard/linear/linear.hpp"
#include "switchyard/linear/mixed_linear.hpp"
#include "switchyard/norm/rms_norm.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace attention {

struct gqa_config {
  index_t hidden = 0, q_heads = 0, kv_heads = 0, head_dim = 0;
  rope_config rope = {};          // rope.head_dim defaults to head_dim
  float norm_eps = 1e-6f;         // input norm and q/k norms
  float scale = 0.0f;             // softmax scale; 0: 1 / sqrt(head_dim)
  activations act = activations::f32;
};

template <class W>
struct gqa_weights {
  // [Hq*D, hidden], [Hkv*D, hidden], [Hkv*D, hidden], [hidden, Hq*D]; any_matrix for format::mixed.
  weight_matrix_t<W> q, k, v, o;
  vector_view<float const> q_bias = {}, k_bias = {}, v_bias = {}, o_bias = {};  // optional
  // Optional q/k RMSNorm: [D] per head (Qwen3), or [Hq*D] / [Hkv*D] over all heads at once (OLMoE).
  vector_view<norm_weight_t<W> const> q_norm = {}, k_norm = {};
  vector_view<norm_weight_t<W> const> input_norm = {};  // optional, [hidden]
  // Optional learned attention sinks, [q_heads] logits (gpt-oss: self_attn.sinks; GGUF
  // attn_sinks): each joins its head's softmax denominator. f32 whatever W is: one number per
  // head, never block-quantized, read once per row at the softmax's end (a bf16 checkpoint
  // tensor is widened by the loader).
  vector_view<float const> sinks = {};
};

template <class W, attention_mask Mask = causal_mask>
class gqa_attention {
 public:
  gqa_attention(gqa_config const& c, gqa_weights<W> const& w, Mask mask = {})
      : cfg_(c), w_(w), mask_(mask), rope_(rope_for(c)),
        q_(w.q, w.q_bias, c.act), k_(w.k, w.k_bias, c.act), v_(w.v, w.v_bias, c.act), o_(w.o, w.o_bias, c.act) {
    char const* where = "attention::gqa_attention";
    index_t const H = c.hidden, Hq = c.q_heads, Hkv = c.kv_heads, D = c.head_dim;
    require(H > 0 && Hq > 0 && Hkv > 0 && D > 0 && Hq % Hkv == 0, where,
            "need hidden, heads, head_dim > 0 and q_heads a multiple of kv_heads; got hidden ", H, ", q_heads ", Hq,
            ", kv_heads ", Hkv, ", head_dim ", D);
    // Block formats count blocks in the last dimension: [rows, cols / block_elems].
    constexpr index_t B = format::traits<W>::block_elems;
    auto shape = [&](char const* name, weight_matrix_t<W> const& m, index_t rows, index_t cols) {
      require(m.extent(0) == rows && m.extent(1) * B == cols, where, name, " is [", m.extent(0), ", ", m.extent(1) * B,
              "] but should be [", rows, ", ", cols, "]");
    };
    shape("q weight", w.q, Hq * D, H);
    shape("k weight", w.k, Hkv * D, H);
    shape("v weight", w.v, Hkv * D, H);
    shape("o weight", w.o, H, Hq * D);
    require(w.q_norm.data() == nullptr || w.q_norm.extent(0) == D || w.q_norm.extent(0) == Hq * D, where,
            "q_norm must have head_dim (", D, ") or q_heads x head_dim (", Hq * D, ") elements");
    require(w.k_norm.data() == nullptr || w.k_norm.extent(0) == D || w.k_norm.extent(0) == Hkv * D, where,
            "k_norm must have head_dim (", D, ") or kv_heads x head_dim (", Hkv * D, ") elements");
    require(w.input_norm.data() == nullptr || w.input_norm.extent(0) == H, where, "input_norm must have hidden (", H,
            ") elements");
    require(w.sinks.data() == nullptr || w.sinks.extent(0) == Hq, where, "sinks must have q_heads (", Hq,
            ") elements, got ", w.sinks.extent(0));
    require(w.sinks.data() == nullptr || w.sinks.stride(0) == 1, where, "sinks must be contiguous");
    scale_ = c.scale > 0.0f ? c.scale : 1.0f / std::sqrt(static_cast<float>(D));
  }

  gqa_config const& config() const noexcept { return cfg_; }
  rotary_embedding const& rope() const noexcept { return rope_; }
  float scale() const noexcept { return scale_; }
  // The learned sinks handed to the attention kernels; empty when the block has none.
  std::span<float const> sinks() const noexcept {
    return w_.sinks.data() == nullptr ? std::span<float const>{}
                                      : std::span<float const>(w_.sinks.data(), static_cast<std::size_t>(w_.sinks.extent(0)));
  }

  // A whole sequence without a cache: x [T, hidden] -> y [T, hidden].
  void forward(matrix_view<float const> x, matrix_view<float> y, thread_pool& pool = thread_pool::shared()) const {
    index_t const T = x.extent(0);
    projected p = project(x, pool);
    rope_.apply(p.q_heads(T, cfg_), index_t{0}, pool);
    rope_.apply(p.k_heads(T, cfg_), index_t{0}, pool);
    std::vector<float> att(static_cast<std::size_t>(T * cfg_.q_heads * cfg_.head_dim));
    flash_attention(p.q_heads(T, cfg_), heads_view<float const>(p.k_heads(T, cfg_)),
                    heads_view<float const>(p.v_heads(T, cfg_)), make_view(att.data(), T, cfg_.q_heads, cfg_.head_dim),
                    mask_, scale_, sinks(), -1, pool);
    o_input(make_view(static_cast<float const*>(att.data()), T, cfg_.q_heads * cfg_.head_dim), y, pool);
  }

  // The next T tokens of one sequence, through the paged cache.
  template <kv_element E>
  void forward(paged_kv_cache<E>& cache, kv_sequence& seq, matrix_view<float const> x, matrix_view<float> y,
               thread_pool& pool = thread_pool::shared()) const {
    check_cache(cache);
    index_t const T = x.extent(0), start = seq.length;
    projected p = project(x, pool);
    rope_.apply(p.q_heads(T, cfg_), start, pool);
    rope_.apply(p.k_heads(T, cfg_), start, pool);
    cache.append(seq, heads_view<float const>(p.k_heads(T, cfg_)), heads_view<float const>(p.v_heads(T, cfg_)));
    std::vector<float> att(static_cast<std::size_t>(T * cfg_.q_heads * cfg_.head_dim));
    auto const att_view = make_view(att.data(), T, cfg_.q_heads, cfg_.head_dim);
    if (start == 0) {  // prefill of a fresh sequence: the chunk is all there is
      flash_attention(p.q_heads(T, cfg_), heads_view<float const>(p.k_heads(T, cfg_)),
                      heads_view<float const>(p.v_heads(T, cfg_)), att_view, mask_, scale_, sinks(), -1, pool);
    } else {
      kv_sequence const* one = &seq;
      paged_attention(cache, std::span<kv_sequence const* const>(&one, 1), heads_view<float const>(p.q_heads(T, cfg_)),
                      att_view, mask_, scale_, sinks(), pool);
    }
    o_input(make_view(static_cast<float const*>(att.data()), T, cfg_.q_heads * cfg_.head_dim), y, pool);
  }

  // One new token per sequence: x [B, hidden], row b the next token of seqs[b].
  template <kv_element E>
  void decode(paged_kv_cache<E>& cache, std::span<kv_sequence* const> seqs, matrix_view<float const> x,
              matrix_view<float> y, thread_pool& pool = thread_pool::shared()) const {
    check_cache(cache);
    index_t const B = x.extent(0);
    require(static_cast<index_t>(seqs.size()) == B, "attention::gqa_attention::decode", "x has ", B,
            " rows but ", seqs.size(), " sequences were given");
    projected p = project(x, pool);
    std::vector<index_t> pos(static_cast<std::size_t>(B));
    for (index_t b = 0; b < B; ++b) pos[static_cast<std::size_t>(b)] = seqs[static_cast<std::size_t>(b)]->length;
    rope_.apply(p.q_heads(B, cfg_), std::span<index_t const>(pos), pool);
    rope_.apply(p.k_heads(B, cfg_), std::span<index_t const>(pos), pool);
    index_t const kd = cfg_.kv_heads * cfg_.head_dim;
    for (index_t b = 0; b < B; ++b)
      cache.append(*seqs[static_cast<std::size_t>(b)],
                   make_view(static_cast<float const*>(p.k.data()) + b * kd, 1, cfg_.kv_heads, cfg_.head_dim),
                   make_view(static_cast<float const*>(p.v.data()) + b * kd, 1, cfg_.kv_heads, cfg_.head_dim));
    std::vector<kv_sequence const*> ptrs(seqs.begin(), seqs.end());
    std::vector<float> att(static_cast<std::size_t>(B * cfg_.q_heads * cfg_.head_dim));
    paged_attention(cache, std::span<kv_sequence const* const>(ptrs), heads_view<float const>(p.q_heads(B, cfg_)),
                    make_view(att.data(), B, cfg_.q_heads, cfg_.head_dim), mask_, scale_, sinks(), pool);
    o_input(make_view(static_cast<float const*>(att.data()), B, cfg_.q_heads * cfg_.head_dim), y, pool);
  }

 private:
  // The o projection, its input reported to an attached probe (calibration).
  void o_input(matrix_view<float const> att, matrix_view<float> y, thread_pool& pool) const {
    probe::report(probe::site::attention_output, att);
    o_(att, y, pool);
  }
  struct projected {
    std::vector<float> q, k, v;
    heads_view<float> q_heads(index_t T, gqa_config const& c) { return make_view(q.data(), T, c.q_heads, c.head_dim); }
    heads_view<float> k_heads(index_t T, gqa_config const& c) { return make_view(k.data(), T, c.kv_heads, c.head_dim); }
    heads_view<float> v_heads(index_t T, gqa_config const& c) { return make_view(v.data(), T, c.kv_heads, c.head_dim); }
  };

  static rotary_embedding rope_for(gqa_config c) {
    if (c.rope.head_dim == 0) c.rope.head_dim = c.head_dim;
    require(c.rope.head_dim == c.head_dim, "attention::gqa_attention", "rope.head_dim (", c.rope.head_dim,
            ") differs from head_dim (", c.head_dim, ")");
    return rotary_embedding(c.rope);
  }

  template <class E>
  void check_cache(paged_kv_cache<E> const& cache) const {
    auto const& cc = cache.config();
    require(cc.kv_heads == cfg_.kv_heads && cc.key_dim == cfg_.head_dim && cc.value_dim == cfg_.head_dim &&
                !cc.value_is_key_prefix,
            "attention::gqa_attention", "the cache holds [", cc.kv_heads, " heads, key_dim ", cc.key_dim,
            ", value_dim ", cc.value_dim, "] but the block needs [", cfg_.kv_heads, ", ", cfg_.head_dim, ", ",
            cfg_.head_dim, "]");
  }

  // Input norm, q/k/v projections and the per-head q/k norms.
  projected project(matrix_view<float const> x, thread_pool& pool) const {
    index_t const T = x.extent(0), D = cfg_.head_dim;
    require(x.extent(1) == cfg_.hidden, "attention::gqa_attention", "x has ", x.extent(1), " columns but hidden is ",
            cfg_.hidden);
    std::vector<float> normed;
    matrix_view<float const> in = x;
    if (w_.input_norm.data() != nullptr) {
      normed.resize(static_cast<std::size_t>(T * cfg_.hidden));
      norm::rms_norm(x, w_.input_norm, make_view(normed.data(), T, cfg_.hidden), cfg_.norm_eps, pool);
      in = make_view(static_cast<float const*>(normed.data()), T, cfg_.hidden);
    }
    projected p;
    p.q.resize(static_cast<std::size_t>(T * cfg_.q_heads * D));
    p.k.resize(static_cast<std::size_t>(T * cfg_.kv_heads * D));
    p.v.resize(static_cast<std::size_t>(T * cfg_.kv_heads * D));
    q_(in, make_view(p.q.data(), T, cfg_.q_heads * D), pool);
    k_(in, make_view(p.k.data(), T, cfg_.kv_heads * D), pool);
    v_(in, make_view(p.v.data(), T, cfg_.kv_heads * D), pool);
    // Per head: rows of D; over all heads: rows of heads x D (the norm's length says which).
    if (w_.q_norm.data() != nullptr) {
      index_t const n = w_.q_norm.extent(0);
      auto qv = make_view(p.q.data(), T * cfg_.q_heads * D / n, n);
      norm::rms_norm(matrix_view<float const>(qv), w_.q_norm, qv, cfg_.norm_eps, pool);
    }
    if (w_.k_norm.data() != nullptr) {
      index_t const n = w_.k_norm.extent(0);
      auto kv = make_view(p.k.data(), T * cfg_.kv_heads * D / n, n);
      norm::rms_norm(matrix_view<float const>(kv), w_.k_norm, kv, cfg_.norm_eps, pool);
    }
    return p;
  }

  gqa_config cfg_;
  gqa_weights<W> w_;
  Mask mask_;
  rotary_embedding rope_;
  linear<W> q_, k_, v_, o_;
  float scale_ = 1.0f;
};

}  // namespace attention
SWITCHYARD_NAMESPACE_END
