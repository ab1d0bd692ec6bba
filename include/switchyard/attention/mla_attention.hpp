#pragma once
// Multi-head latent attention (DeepSeek-V2/V3): keys and values are expanded per head from one
// compressed latent c = RMSNorm(W_dkv x) of kv_lora_rank entries, plus one rotary key part k_pe
// shared by all heads:
//   q_h = W_q (RMSNorm(W_dq x))_h = [q_nope_h, RoPE(q_pe_h)]         (q_lora_rank > 0)
//   k_h = [W_uk_h c, RoPE(k_pe)],  v_h = W_uv_h c                   (W_uk_h, W_uv_h from kv_b_proj)
//   out = W_o concat_h softmax(scale q_h k_h^T) v_h
// Two forms of the same product:
//   expanded  (prefill): K and V built per head ([T, H, nope + rope], [T, H, v]), flash attention
//             with head dims 192/128 for V3 — compute-bound, so expanding costs little;
//   absorbed  (decode):  q_h k_h^T = (W_uk_h^T q_nope_h) . c + q_pe_h . k_pe, and
//             softmax(.) v_h = W_uv_h (softmax(.) c): attention becomes MQA over the cached
//             [c, k_pe] rows (one KV head, key_dim = rank + rope, value = the first rank entries of
//             the key), so the cache holds only rank + rope numbers per token (576 for V3, against
//             2 * 128 * 192 = 49152 expanded) and decode streams those once for all heads.
// RoPE is interleaved (DeepSeek's layout); the softmax scale is (nope + rope)^-0.5 times yarn's
// mscale(factor, mscale_all_dim)^2 when the rope is yarn-scaled (deepseek_softmax_scale).
#include <algorithm>
#include <cmath>
#include <span>
#include <type_traits>
#include <vector>

#include "switchyard/attention/flash_attention.hpp"
#include "switchyard/attention/paged_attention.hpp"
#include "switchyard/attention/paged_kv_cache.hpp"
#include "switchyard/attention/rope.hpp"
#include "switchyard/core/buffer.hpp"
#include "switchyard/core/probe.hpp"
#include "switchyard/linear/any_weight.hpp"
#include "switchyard/linear/linear.hpp"
#include "switchyard/linear/mixed_linear.hpp"
#include "switchyard/norm/rms_norm.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace attention {

struct mla_config {
  index_t hidden = 0, heads = 0;
  index_t q_lora_rank = 0;  // 0: one q_proj [heads * (nope + rope), hidden]
  index_t kv_lora_rank = 0, qk_nope_dim = 0, qk_rope_dim = 0, v_head_dim = 0;
  rope_config rope = {};  // head_dim = qk_rope_dim; layout interleaved for DeepSeek
  float norm_eps = 1e-6f;
  float scale = 0.0f;  // 0: deepseek_softmax_scale(nope + rope, rope.scaling)
  // The activation format of the projections in W (q_a / q_b or q, kv_a, o: linear.hpp); the
  // latent products (the absorbed W_uk, kv_b) take f32.
  activations act = activations::f32;
};

inline float deepseek_softmax_scale(index_t qk_head_dim, rope_scaling const& s) {
  double scale = 1.0 / std::sqrt(static_cast<double>(qk_head_dim));
  if (s.type == rope_scaling::kind::yarn && s.mscale_all_dim != 0.0) {
    double const m = yarn_mscale(s.factor, s.mscale_all_dim);
    scale *= m * m;
  }
  return static_cast<float>(scale);
}

// kv_b_proj's format for W: W when element-wise; f32 for block formats. The block reads it element
// by element (the absorbed query weights) and in per-head row slices of v_head_dim rows, neither of
// which a block format's rows of whole blocks allow; it is rank x heads x (nope + v) elements, a
// small part of an attention layer, widened once on load (exactly: f32 holds every block value).
// (format::mixed widens it too: its other matrices keep their own formats.)
template <class W>
using mla_kv_b_t = std::conditional_t<format::traits<W>::block_elems == 1 && !std::is_same_v<W, format::mixed>, W, float>;

template <class W>
struct mla_weights {
  // any_matrix for format::mixed (linear/any_weight.hpp).
  weight_matrix_t<W> q_proj = {};                      // without q_lora_rank
  weight_matrix_t<W> q_a_proj = {};                    // [q_lora_rank, hidden]
  vector_view<norm_weight_t<W> const> q_a_norm = {};   // [q_lora_rank]
  weight_matrix_t<W> q_b_proj = {};                    // [heads * (nope + rope), q_lora_rank]
  weight_matrix_t<W> kv_a_proj;                        // [kv_lora_rank + rope, hidden]
  vector_view<norm_weight_t<W> const> kv_a_norm;       // [kv_lora_rank]
  matrix_view<mla_kv_b_t<W> const> kv_b_proj;          // [heads * (nope + v), kv_lora_rank]
  weight_matrix_t<W> o_proj;                           // [hidden, heads * v]
};

template <class W>
class mla_attention {
  using Kb = mla_kv_b_t<W>;

 public:
  mla_attention(mla_config const& c, mla_weights<W> const& w) : cfg_(c), w_(w), rope_(rope_for(c)) {
    char const* where = "attention::mla_attention";
    index_t const H = c.heads, R = c.kv_lora_rank, nope = c.qk_nope_dim, rd = c.qk_rope_dim, vd = c.v_head_dim;
    require(c.hidden > 0 && H > 0 && R > 0 && nope > 0 && rd > 0 && vd > 0 && c.q_lora_rank >= 0, where,
            "dimensions must be positive");
    auto shape = [&](char const* name, auto const& m, index_t rows, index_t cols) {
      index_t const elems = weight_cols(m);  // a block format's view counts blocks
      require(m.extent(0) == rows && elems == cols, where, name, " is [", m.extent(0), ", ", elems,
              "] but should be [", rows, ", ", cols, "]");
    };
    if (c.q_lora_rank > 0) {
      shape("q_a_proj", w.q_a_proj, c.q_lora_rank, c.hidden);
      shape("q_b_proj", w.q_b_proj, H * (nope + rd), c.q_lora_rank);
      require(w.q_a_norm.extent(0) == c.q_lora_rank, where, "q_a_norm must have q_lora_rank elements");
    } else {
      shape("q_proj", w.q_proj, H * (nope + rd), c.hidden);
    }
    shape("kv_a_proj", w.kv_a_proj, R + rd, c.hidden);
    shape("kv_b_proj", w.kv_b_proj, H * (nope + vd), R);
    shape("o_proj", w.o_proj, c.hidden, H * vd);
    require(w.kv_a_norm.extent(0) == R, where, "kv_a_norm must have kv_lora_rank elements");
    require(w.kv_b_proj.stride(1) == 1, where, "kv_b_proj rows must be contiguous");
    scale_ = c.scale > 0.0f ? c.scale : deepseek_softmax_scale(nope + rd, c.rope.scaling);
    // Absorbed query weights W_uk_h^T [rank, nope] per head for the decode GEMV, a transposed copy
    // in kv_b's own element format (exact; the only weights this block owns). Not for f32 kv_b
    // (block-format models): there the decode adds kv_b's W_uk rows scaled by the query entries
    // (absorb_queries), reading the same bytes without a second copy of them (8 MB at
    // DeepSeek-V3-like sizes, 8 layers).
    if constexpr (!std::is_same_v<Kb, float>) {
      absorb_k_ = buffer<Kb>(static_cast<std::size_t>(H * R * nope));
      for (index_t h = 0; h < H; ++h)
        for (index_t i = 0; i < nope; ++i)
          for (index_t r = 0; r < R; ++r)
            absorb_k_[static_cast<std::size_t>((h * R + r) * nope + i)] = w.kv_b_proj(h * (nope + vd) + i, r);
    }
  }

  mla_config const& config() const noexcept { return cfg_; }
  float scale() const noexcept { return scale_; }
  // What one cached token costs in a latent cache: rank + rope entries, one KV head.
  kv_cache_config latent_cache_config(index_t block_size, index_t blocks) const noexcept {
    return {.kv_heads = 1, .key_dim = cfg_.kv_lora_rank + cfg_.qk_rope_dim, .value_dim = cfg_.kv_lora_rank,
            .block_size = block_size, .blocks = blocks, .value_is_key_prefix = true};
  }

  // A whole sequence, expanded form, no cache.
  void forward(matrix_view<float const> x, matrix_view<float> y, thread_pool& pool = thread_pool::shared()) const {
    index_t const T = x.extent(0);
    auto st = project(x, 0, pool);
    expanded_attention(st, T, y, pool);
  }

  // The next T tokens of one sequence through a latent cache (latent_cache_config): the latents
  // are appended; a fresh sequence runs the expanded prefill, a continuing one the absorbed form.
  template <kv_element E>
  void forward(paged_kv_cache<E>& cache, kv_sequence& seq, matrix_view<float const> x, matrix_view<float> y,
               thread_pool& pool = thread_pool::shared()) const {
    auto const& cc = cache.config();
    require(cc.kv_heads == 1 && cc.key_dim == cfg_.kv_lora_rank + cfg_.qk_rope_dim && cc.value_dim == cfg_.kv_lora_rank &&
                cc.value_is_key_prefix,
            "attention::mla_attention", "the cache is not a latent cache for this block (use latent_cache_config)");
    index_t const T = x.extent(0), start = seq.length;
    auto st = project(x, start, pool);
    cache.append(seq, make_view(static_cast<float const*>(st.latent.data()), T, 1, cc.key_dim));
    if (start == 0) {
      expanded_attention(st, T, y, pool);
      return;
    }
    // Absorbed: q_lat_h = W_uk_h^T q_nope_h, queries [T, H, rank + rope] against the latent cache.
    index_t const H = cfg_.heads, R = cfg_.kv_lora_rank, nope = cfg_.qk_nope_dim, rd = cfg_.qk_rope_dim,
                  vd = cfg_.v_head_dim, qd = nope + rd;
    // Decode (T <= gemv_max_rows) multiplies all heads in one parallel region (host::gemv_heads:
    // the same dot products as a linear per head, without 2 H small regions a layer).
    bool const batched = T <= ::switchyard::host::gemv_max_rows;
    std::vector<float> qa(static_cast<std::size_t>(T * H * (R + rd)));
    if constexpr (std::is_same_v<Kb, float>)
      absorb_queries(st.q.data(), qa.data(), T, pool);
    else if (batched)
      ::switchyard::host::gemv_heads(st.q.data(), H * qd, qd, static_cast<Kb const*>(absorb_k_.data()), nope, R * nope,
                                     qa.data(), H * (R + rd), R + rd, H, T, R, nope, pool);
    for (index_t h = 0; h < H; ++h) {
      matrix_view<float const> q_nope(st.q.data() + h * qd, dextents<2>(T, nope), strides<2>{{H * qd, 1}});
      matrix_view<float> q_lat(qa.data() + h * (R + rd), dextents<2>(T, R), strides<2>{{H * (R + rd), 1}});
      if constexpr (!std::is_same_v<Kb, float>)
        if (!batched)
          linear<Kb>{make_view(static_cast<Kb const*>(absorb_k_.data()) + h * R * nope, R, nope)}(q_nope, q_lat, pool);
      for (index_t t = 0; t < T; ++t)
        std::copy_n(st.q.data() + (t * H + h) * qd + nope, rd, qa.data() + (t * H + h) * (R + rd) + R);
    }
    std::vector<float> lat(static_cast<std::size_t>(T * H * R));
    kv_sequence const* one = &seq;
    paged_attention(cache, std::span<kv_sequence const* const>(&one, 1),
                    make_view(static_cast<float const*>(qa.data()), T, H, R + rd), make_view(lat.data(), T, H, R),
                    causal_mask{}, scale_, pool);
    // out_h = W_uv_h lat_h: per head a [v, rank] slice of kv_b_proj through linear<W>.
    std::vector<float> att(static_cast<std::size_t>(T * H * vd));
    if (batched)
      ::switchyard::host::gemv_heads(static_cast<float const*>(lat.data()), H * R, R, &w_.kv_b_proj(nope, 0),
                                     w_.kv_b_proj.stride(0), (nope + vd) * w_.kv_b_proj.stride(0), att.data(), H * vd, vd,
                                     H, T, vd, R, pool);
    for (index_t h = 0; h < H && !batched; ++h) {
      matrix_view<Kb const> wv(&w_.kv_b_proj(h * (nope + vd) + nope, 0), dextents<2>(vd, R),
                               strides<2>{{w_.kv_b_proj.stride(0), 1}});
      matrix_view<float const> lat_h(lat.data() + h * R, dextents<2>(T, R), strides<2>{{H * R, 1}});
      matrix_view<float> out_h(att.data() + h * vd, dextents<2>(T, vd), strides<2>{{H * vd, 1}});
      linear<Kb>{wv}(lat_h, out_h, pool);
    }
    probe::report(probe::site::attention_output, make_view(static_cast<float const*>(att.data()), T, H * vd));
    linear<W>(w_.o_proj, {}, cfg_.act)(make_view(static_cast<float const*>(att.data()), T, H * vd), y, pool);
  }

 private:
  // q_lat_h [T, rank] = W_uk_h^T q_nope_h for every head, from an f32 kv_b: the nope W_uk rows of
  // head h (each rank long) scaled by q_nope_h's entries and added, one head per task.
  void absorb_queries(float const* q, float* qa, index_t T, thread_pool& pool) const {
    index_t const H = cfg_.heads, R = cfg_.kv_lora_rank, nope = cfg_.qk_nope_dim, rd = cfg_.qk_rope_dim,
                  vd = cfg_.v_head_dim, qd = nope + rd;
    pool.parallel_for(0, H, 1, [&](index_t lo, index_t hi) {
      for (index_t h = lo; h < hi; ++h)
        for (index_t t = 0; t < T; ++t) {
          float* __restrict out = qa + (t * H + h) * (R + rd);
          float const* qh = q + (t * H + h) * qd;
          std::fill(out, out + R, 0.0f);
          for (index_t i = 0; i < nope; ++i) {
            float const qi = qh[i];
            float const* __restrict row = &w_.kv_b_proj(h * (nope + vd) + i, 0);
            for (index_t r = 0; r < R; ++r) out[r] += qi * row[r];
          }
        }
    });
  }

  struct state {
    std::vector<float> q;       // [T, H, nope + rope], rope part rotated
    std::vector<float> latent;  // [T, rank + rope]: normalized c, rotated k_pe
  };

  static rotary_embedding rope_for(mla_config c) {
    if (c.rope.head_dim == 0) c.rope.head_dim = c.qk_rope_dim;
    require(c.rope.head_dim == c.qk_rope_dim, "attention::mla_attention", "rope.head_dim must equal qk_rope_dim");
    return rotary_embedding(c.rope);
  }

  state project(matrix_view<float const> x, index_t start, thread_pool& pool) const {
    index_t const T = x.extent(0), H = cfg_.heads, R = cfg_.kv_lora_rank, nope = cfg_.qk_nope_dim,
                  rd = cfg_.qk_rope_dim, qd = nope + rd;
    require(x.extent(1) == cfg_.hidden, "attention::mla_attention", "x has ", x.extent(1), " columns but hidden is ",
            cfg_.hidden);
    state st;
    st.q.resize(static_cast<std::size_t>(T * H * qd));
    auto qv = make_view(st.q.data(), T, H * qd);
    if (cfg_.q_lora_rank > 0) {
      std::vector<float> qa(static_cast<std::size_t>(T * cfg_.q_lora_rank));
      auto qav = make_view(qa.data(), T, cfg_.q_lora_rank);
      linear<W>(w_.q_a_proj, {}, cfg_.act)(x, qav, pool);
      norm::rms_norm(matrix_view<float const>(qav), w_.q_a_norm, qav, cfg_.norm_eps, pool);
      linear<W>(w_.q_b_proj, {}, cfg_.act)(matrix_view<float const>(qav), qv, pool);
    } else {
      linear<W>(w_.q_proj, {}, cfg_.act)(x, qv, pool);
    }
    st.latent.resize(static_cast<std::size_t>(T * (R + rd)));
    auto lv = make_view(st.latent.data(), T, R + rd);
    linear<W>(w_.kv_a_proj, {}, cfg_.act)(x, lv, pool);
    matrix_view<float> c(st.latent.data(), dextents<2>(T, R), strides<2>{{R + rd, 1}});
    norm::rms_norm(matrix_view<float const>(c), w_.kv_a_norm, c, cfg_.norm_eps, pool);
    // RoPE on the last rd entries of every query head and of the latent row.
    tensor_view<float, dextents<3>> q_pe(st.q.data() + nope, dextents<3>(T, H, rd), strides<3>{{H * qd, qd, 1}});
    tensor_view<float, dextents<3>> k_pe(st.latent.data() + R, dextents<3>(T, 1, rd), strides<3>{{R + rd, rd, 1}});
    rope_.apply(q_pe, start, pool);
    rope_.apply(k_pe, start, pool);
    return st;
  }

  // Heads in groups of expand_heads: a group's expanded K and V ([T, g, nope + v] and [T, g, nope
  // + rope]) and flash attention's packed K are the prefill's largest transients, 10.5 MB at T =
  // 512 for 16 heads of DeepSeek-V3-like sizes when expanded at once, a quarter of that per group
  // of 4. Each output element is the same dot product either way.
  static constexpr index_t expand_heads = 4;
  void expanded_attention(state const& st, index_t T, matrix_view<float> y, thread_pool& pool) const {
    index_t const H = cfg_.heads, R = cfg_.kv_lora_rank, nope = cfg_.qk_nope_dim, rd = cfg_.qk_rope_dim,
                  vd = cfg_.v_head_dim, qd = nope + rd, kvd = nope + vd;
    index_t const G = std::min(H, expand_heads);
    std::vector<float> kv(static_cast<std::size_t>(T * G * kvd)), k(static_cast<std::size_t>(T * G * qd));
    std::vector<float> att(static_cast<std::size_t>(T * H * vd));
    matrix_view<float const> c(st.latent.data(), dextents<2>(T, R), strides<2>{{R + rd, 1}});
    for (index_t h0 = 0; h0 < H; h0 += G) {
      index_t const g = std::min(G, H - h0);
      matrix_view<Kb const> rows(&w_.kv_b_proj(h0 * kvd, 0), dextents<2>(g * kvd, R), strides<2>{{w_.kv_b_proj.stride(0), 1}});
      linear<Kb>{rows}(c, make_view(kv.data(), T, g * kvd), pool);
      for (index_t t = 0; t < T; ++t)
        for (index_t j = 0; j < g; ++j) {
          std::copy_n(kv.data() + (t * g + j) * kvd, nope, k.data() + (t * g + j) * qd);
          std::copy_n(st.latent.data() + t * (R + rd) + R, rd, k.data() + (t * g + j) * qd + nope);
        }
      heads_view<float const> qv(st.q.data() + h0 * qd, dextents<3>(T, g, qd), strides<3>{{H * qd, qd, 1}});
      heads_view<float const> kvw(k.data(), dextents<3>(T, g, qd), strides<3>{{g * qd, qd, 1}});
      heads_view<float const> v(kv.data() + nope, dextents<3>(T, g, vd), strides<3>{{g * kvd, kvd, 1}});
      heads_view<float> out(att.data() + h0 * vd, dextents<3>(T, g, vd), strides<3>{{H * vd, vd, 1}});
      flash_attention(qv, kvw, v, out, causal_mask{}, scale_, -1, pool);
    }
    probe::report(probe::site::attention_output, make_view(static_cast<float const*>(att.data()), T, H * vd));
    linear<W>(w_.o_proj, {}, cfg_.act)(make_view(static_cast<float const*>(att.data()), T, H * vd), y, pool);
  }

  mla_config cfg_;
  mla_weights<W> w_;
  rotary_embedding rope_;
  float scale_ = 1.0f;
  buffer<std::conditional_t<std::is_same_v<Kb, float>, char, Kb>> absorb_k_;  // empty for f32 kv_b
};

}  // namespace attention
SWITCHYARD_NAMESPACE_END
