#pragma once
// A decoder-only language model: token embedding -> decoder layers -> final RMSNorm -> LM head,
// with one paged KV cache per layer, so prefill and decode are one call shape:
//
//   auto seq = lm.new_sequence();
//   lm.forward({{&seq, prompt}}, logits);        // prefill: the prompt's tokens
//   lm.forward({{&seq, next_token}}, logits);    // decode: one token, at position seq.length()
//
// A call takes any mix of sequences, each with its next tokens; positions continue from each
// sequence's length. Fresh prompts run flash attention over their chunk, continuing chunks attend
// over the cache, single-token continuations are decoded together in one batched attention call,
// and every FFN / MoE runs once over all the call's tokens (so experts see the whole batch).
//
// Layers are decoder_layer<Attention, Ffn> of any kinds (model/decoder_layer.hpp); the loaded
// models (model/build.hpp) use causal_lm<W, KV> with any_attention / any_ffn layers. Weights are
// views: whoever built the model keeps them alive (the loader hands the model its mapped files
// and its weight_store through `keep`).
#include <algorithm>
#include <any>
#include <cstdint>
#include <memory>
#include <span>
#include <type_traits>
#include <vector>

#include "switchyard/attention/paged_kv_cache.hpp"
#include "switchyard/core/buffer.hpp"
#include "switchyard/core/error.hpp"
#include "switchyard/core/format/sparse24.hpp"
#include "switchyard/core/format/traits.hpp"
#include "switchyard/core/probe.hpp"
#include "switchyard/linear/any_weight.hpp"
#include "switchyard/linear/linear.hpp"
#include "switchyard/linear/mixed_linear.hpp"
#include "switchyard/model/config.hpp"
#include "switchyard/model/decoder_layer.hpp"
#include "switchyard/model/language_model.hpp"
#include "switchyard/norm/rms_norm.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace model {

// The format of the token embedding and the LM head in a model of weight format W: W's own, but
// the dense value format for 2:4 sparse weights -- pruning those two matrices cost more perplexity
// than pruning every projection on the shipped model (docs/pruning.md), so a 2:4 model keeps them
// dense.
template <class W>
struct edge_format {
  using type = W;
};
template <class E>
struct edge_format<format::sparse24<E>> {
  using type = E;
};
template <class W>
using edge_format_t = typename edge_format<W>::type;

template <class W, class KV = float, class Layer = decoder_layer<any_attention<W>, any_ffn>>
class causal_lm final : public language_model {
 public:
  using edge_weight = edge_format_t<W>;  // the embedding's and LM head's format
  static constexpr index_t B = format::traits<edge_weight>::block_elems;

  // embed [vocab, hidden] (blocks in the last dimension for block formats); lm_head defaults to
  // the embedding (tied); head_act: the LM head's activation format (linear.hpp).
  // format::mixed: embed and lm_head are any_matrix, each in its own format.
  causal_lm(model_config const& c, weight_matrix_t<edge_weight> embed, vector_view<float const> final_norm,
            weight_matrix_t<edge_weight> lm_head = {}, cache_options cache = {}, activations head_act = activations::f32)
      : cfg_(c), embed_(embed), final_norm_(final_norm), head_(lm_head.data() ? lm_head : embed), cache_opts_(cache),
        head_act_(head_act) {
    char const* where = "model::causal_lm";
    require(embed.extent(0) == c.vocab && embed.extent(1) * B == c.hidden, where, "embed is [", embed.extent(0), ", ",
            embed.extent(1) * B, "] but the config says [", c.vocab, ", ", c.hidden, "]");
    require(final_norm.extent(0) == c.hidden, where, "final norm has ", final_norm.extent(0), " elements, not ", c.hidden);
    require(head_.extent(0) == c.vocab && head_.extent(1) * B == c.hidden, where, "lm_head is not [vocab, hidden]");
    require(cache.block_size > 0 && cache.blocks > 0, where, "cache block_size and blocks must be positive");
  }

  // Appends a layer (static composition: any Layer the model was instantiated with).
  void add_layer(Layer layer) {
    if constexpr (requires { layer.share_scratch(layer); })
      if (!layers_.empty()) layer.share_scratch(layers_.front());
    caches_.emplace_back(layer.cache_config(cache_opts_.block_size, cache_opts_.blocks));
    layers_.push_back(std::move(layer));
  }
  void keep(std::shared_ptr<void> owner) override { owned_.push_back(std::move(owner)); }

  model_config const& config() const noexcept override { return cfg_; }
  std::vector<Layer> const& layers() const noexcept { return layers_; }
  index_t free_blocks() const noexcept override { return caches_.empty() ? 0 : caches_[0].free_blocks(); }
  index_t cache_block_size() const noexcept override { return cache_opts_.block_size; }

  sequence new_sequence() const override {
    sequence s;
    s.layers_.resize(layers_.size());
    s.owner_ = this;
    return s;
  }
  void release(sequence& s) override {
    check_sequence(s);
    for (std::size_t l = 0; l < layers_.size(); ++l) caches_[l].release(s.layers_[l]);
  }
  void truncate(sequence& s, index_t length) override {
    check_sequence(s);
    require(length >= 0 && length <= s.length(), "model::causal_lm::truncate", "keeps ", length, " tokens of a sequence of ",
            s.length());
    for (std::size_t l = 0; l < layers_.size(); ++l) caches_[l].truncate(s.layers_[l], length);
  }

  // logits: [sum of the steps' last_rows, vocab] for which_logits::last, [total tokens, vocab] for all.
  void forward(std::span<step const> steps, matrix_view<float> logits, which_logits which = which_logits::last,
               thread_pool& pool = thread_pool::shared()) override {
    char const* where = "model::causal_lm::forward";
    require(!layers_.empty(), where, "the model has no layers");
    index_t const H = cfg_.hidden, V = cfg_.vocab;
    index_t N = 0;
    std::vector<index_t> rows;
    for (std::size_t i = 0; i < steps.size(); ++i) {
      auto const& st = steps[i];
      require(st.seq != nullptr, where, "a step has no sequence");
      for (std::size_t j = 0; j < i; ++j)
        require(steps[j].seq != st.seq, where, "steps ", j, " and ", i, " name the same sequence");
      check_sequence(*st.seq);
      require(!st.tokens.empty(), where, "a step has no tokens");
      require(st.last_rows >= 1 && st.last_rows <= static_cast<index_t>(st.tokens.size()), where, "step ", i, " asks for the logits of its last ",
              st.last_rows, " tokens but has ", st.tokens.size());
      for (std::size_t k = 0; k < st.tokens.size(); ++k)
        require(st.tokens[k] >= 0 && st.tokens[k] < V, where, "token ", st.tokens[k], " at position ", k, " of step ", i,
                " is outside the vocabulary [0, ", V, ")");
      rows.push_back(N);
      N += static_cast<index_t>(st.tokens.size());
    }
    index_t last_total = 0;
    for (auto const& st : steps) last_total += st.last_rows;
    index_t const out_rows = which == which_logits::all ? N : last_total;
    require(logits.extent(0) == out_rows && logits.extent(1) == V, where, "logits must be [", out_rows, ", ", V,
            "], got [", logits.extent(0), ", ", logits.extent(1), "]");
    // The cache must hold every step before any layer appends (an error leaves the caches as they were).
    index_t need = 0;
    for (auto const& st : steps) {
      auto const& kv = st.seq->layers_[0];
      index_t const bs = cache_opts_.block_size;
      need += (kv.length + static_cast<index_t>(st.tokens.size()) + bs - 1) / bs - static_cast<index_t>(kv.block_table.size());
    }
    require<allocation_error>(need <= free_blocks(), where, "the KV cache has ", free_blocks(), " free blocks but ", need,
                              " are needed");
    if (static_cast<index_t>(x_.size()) < N * H) x_ = buffer<float>(static_cast<std::size_t>(N * H));
    auto x = make_view(x_.data(), N, H);
    for (std::size_t s = 0; s < steps.size(); ++s)
      for (std::size_t i = 0; i < steps[s].tokens.size(); ++i) embed_row(steps[s].tokens[i], x.row(rows[s] + static_cast<index_t>(i)));
    std::vector<layer_span> spans(steps.size());
    for (std::size_t l = 0; l < layers_.size(); ++l) {
      probe::set_layer(static_cast<index_t>(l));
      for (std::size_t s = 0; s < steps.size(); ++s)
        spans[s] = {&steps[s].seq->layers_[l], rows[s], static_cast<index_t>(steps[s].tokens.size())};
      layers_[l].forward(caches_[l], std::span<layer_span const>(spans), x, pool);
    }
    // Final norm and LM head on the rows asked for.
    if (static_cast<index_t>(h_.size()) < out_rows * H) h_ = buffer<float>(static_cast<std::size_t>(out_rows * H));
    auto h = make_view(h_.data(), out_rows, H);
    for (std::size_t s = 0, out = 0; s < steps.size() && which == which_logits::last; ++s) {
      index_t const n = static_cast<index_t>(steps[s].tokens.size()), last = steps[s].last_rows;
      std::copy_n(x.row(rows[s] + n - last), last * H, h.row(static_cast<index_t>(out)));  // rows are contiguous
      out += static_cast<std::size_t>(last);
    }
    matrix_view<float const> src = which == which_logits::all ? matrix_view<float const>(x) : matrix_view<float const>(h);
    norm::rms_norm(src, final_norm_, h, cfg_.rms_eps, pool);
    linear<edge_weight> const head(head_, {}, head_act_);
    head(matrix_view<float const>(h), logits, pool);
  }

 private:
  void check_sequence(sequence const& s) const {
    require(s.owner_ == this && s.layers_.size() == layers_.size(), "model::causal_lm",
            "the sequence was not made by this model's new_sequence()");
  }
  void embed_row(std::int32_t token, float* out) const {
    if constexpr (std::is_same_v<W, format::mixed>) {
      embed_.dequantize_row(token, out);
    } else {
      edge_weight const* row = embed_.row(token);
      for (index_t b = 0; b < embed_.extent(1); ++b) format::traits<edge_weight>::dequantize(row + b, out + b * B);
    }
  }

  model_config cfg_;
  weight_matrix_t<edge_weight> embed_;
  vector_view<float const> final_norm_;
  weight_matrix_t<edge_weight> head_;
  cache_options cache_opts_;
  activations head_act_;
  std::vector<Layer> layers_;
  std::vector<attention::paged_kv_cache<KV>> caches_;
  std::vector<std::shared_ptr<void>> owned_;
  buffer<float> x_, h_;
};

}  // namespace model
SWITCHYARD_NAMESPACE_END
