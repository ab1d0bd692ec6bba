#pragma once
// A decoder layer's weights on the device, uploaded from a weight_source by the roles and checks
// model/build.hpp's build_attention / build_ffn use, so a checkpoint both backends load gives the
// same model: GQA (optional q/k/v biases, o bias, per-head or whole q/k RMSNorm, the layer's
// sliding window, learned sinks) or MLA (q_lora or a plain q, kv_a split into the latent and the
// rotary key rows, kv_b widened to f32 as mla_decode takes it), then a dense SwiGLU MLP or the
// MoE layer (moe_block.cuh). RoPE frequencies are the host rotary_embedding's own, uploaded.
#include <memory>

#include "switchyard/attention/mla_attention.hpp"
#include "switchyard/attention/paged_kv_cache.hpp"
#include "switchyard/attention/rope.hpp"
#include "switchyard/core/error.hpp"
#include "switchyard/device/moe_block.cuh"
#include "switchyard/device/weights.cuh"
#include "switchyard/kernels/attention/mask.cuh"
#include "switchyard/kernels/norm/rope.cuh"
#include "switchyard/model/config.hpp"
#include "switchyard/model/roles.hpp"
#include "switchyard/model/weight_source.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace device {

struct gqa_weights {
  any_matrix q, k, v, o;
  float const *q_bias = nullptr, *k_bias = nullptr, *v_bias = nullptr, *o_bias = nullptr;
  float const *q_norm = nullptr, *k_norm = nullptr;  // [D] per head or [heads D] whole
  int q_norm_n = 0, k_norm_n = 0;
  float const* sinks = nullptr;  // [q_heads]
  kernels::attention::device_mask mask;
  float scale = 1.0f;
  kernels::norm::device_rope rope;
};

struct mla_weights {
  any_matrix q, q_a, q_b;      // q without q_lora_rank; q_a, q_b with it
  any_matrix kv_a_latent;      // kv_a_proj's first rank rows
  any_matrix kv_a_rope;        // its last rope rows
  any_matrix o;
  float const *q_a_norm = nullptr, *kv_a_norm = nullptr;
  float const* kv_b = nullptr;  // [heads (nope + v), rank] f32
  float scale = 1.0f;
  kernels::norm::device_rope rope_q;  // over q's rope part: stride nope + rope per head
  kernels::norm::device_rope rope_k;  // over the latent row's rope part: stride rank + rope
};

struct layer_weights {
  float const *attn_norm = nullptr, *ffn_norm = nullptr;
  bool mla = false;
  gqa_weights gqa;
  mla_weights latent;
  std::unique_ptr<moe_block> moe;  // or the dense MLP:
  any_matrix gate_up, down;        // [2F, H] (gate rows, then up rows), [H, F]
  int intermediate = 0;
  switchyard::attention::kv_cache_config cache;  // blocks and block size filled by the model
};

namespace detail {

inline kernels::norm::device_rope strided_rope(switchyard::attention::rotary_embedding const& e, float const* inv_freq,
                                               int stride) {
  kernels::norm::device_rope r = kernels::norm::describe(e, inv_freq);
  r.head_dim = stride;  // the kernel's distance between heads; the rotated dims are the first rotary_dim
  return r;
}

inline void build_gqa(model::model_config const& c, model::weight_source const& src, weight_uploader& up, index_t l,
                      layer_weights& out) {
  using model::role;
  index_t const H = c.hidden, Hq = c.heads, Hkv = c.kv_heads, D = c.head_dim;
  gqa_weights& w = out.gqa;
  w.q = up.matrix(src.need(role::q, l, "q_proj"), Hq * D, H);
  w.k = up.matrix(src.need(role::k, l, "k_proj"), Hkv * D, H);
  w.v = up.matrix(src.need(role::v, l, "v_proj"), Hkv * D, H);
  w.o = up.matrix(src.need(role::o, l, "o_proj"), H, Hq * D);
  if (c.attention_bias) {
    w.q_bias = up.vector(src.need(role::q_bias, l, "q_proj bias"), Hq * D);
    w.k_bias = up.vector(src.need(role::k_bias, l, "k_proj bias"), Hkv * D);
    w.v_bias = up.vector(src.need(role::v_bias, l, "v_proj bias"), Hkv * D);
  }
  if (auto ob = src.find(role::o_bias, l)) w.o_bias = up.vector(*ob, H);
  if (auto sk = src.find(role::sinks, l)) w.sinks = up.vector(*sk, Hq);
  if (c.qk != model::qk_norm::none) {
    w.q_norm_n = static_cast<int>(c.qk == model::qk_norm::per_head ? D : Hq * D);
    w.k_norm_n = static_cast<int>(c.qk == model::qk_norm::per_head ? D : Hkv * D);
    w.q_norm = up.vector(src.need(role::q_norm, l, "q_norm"), w.q_norm_n);
    w.k_norm = up.vector(src.need(role::k_norm, l, "k_norm"), w.k_norm_n);
  }
  index_t const window = c.window(l);
  // A layer without a window keeps what the causal mask keeps (the host's unbounded window).
  w.mask = window > 0 ? kernels::attention::from_host(switchyard::attention::sliding_window_mask(window))
                      : kernels::attention::from_host(switchyard::attention::causal_mask{});
  w.scale = 1.0f / std::sqrt(static_cast<float>(D));
  switchyard::attention::rope_config rc = c.rope;
  if (rc.head_dim == 0) rc.head_dim = D;
  require(rc.head_dim == D, "device::load", "rope.head_dim (", rc.head_dim, ") differs from head_dim (", D, ")");
  switchyard::attention::rotary_embedding const e(rc);
  w.rope = kernels::norm::describe(e, up.floats(e.inv_freq()));
  out.cache = {.kv_heads = Hkv, .key_dim = D, .value_dim = D};
}

inline void build_mla(model::model_config const& c, model::weight_source const& src, weight_uploader& up, index_t l,
                      layer_weights& out) {
  using model::role;
  index_t const H = c.hidden, heads = c.heads, R = c.kv_lora_rank, nope = c.qk_nope_dim, rd = c.qk_rope_dim,
                vd = c.v_head_dim, qd = nope + rd;
  require(H > 0 && heads > 0 && R > 0 && nope > 0 && rd > 0 && vd > 0, "device::load", "MLA dimensions must be positive");
  mla_weights& w = out.latent;
  if (c.q_lora_rank > 0) {
    w.q_a = up.matrix(src.need(role::q_a, l, "q_a_proj"), c.q_lora_rank, H);
    w.q_a_norm = up.vector(src.need(role::q_a_norm, l, "q_a_layernorm"), c.q_lora_rank);
    w.q_b = up.matrix(src.need(role::q_b, l, "q_b_proj"), heads * qd, c.q_lora_rank);
  } else {
    w.q = up.matrix(src.need(role::q, l, "q_proj"), heads * qd, H);
  }
  any_matrix const kv_a = up.matrix(src.need(role::kv_a, l, "kv_a_proj_with_mqa"), R + rd, H);
  w.kv_a_latent = kv_a.rows_view(0, static_cast<int>(R));
  w.kv_a_rope = kv_a.rows_view(static_cast<int>(R), static_cast<int>(rd));
  w.kv_a_norm = up.vector(src.need(role::kv_a_norm, l, "kv_a_layernorm"), R);
  // kv_b in f32 (mla_decode's operand); a GGUF's is rebuilt from attn_k_b / attn_v_b by the source.
  w.kv_b = up.matrix_f32(src.need(role::kv_b, l, "kv_b_proj"), heads * (nope + vd), R, up.all_bf16());
  w.o = up.matrix(src.need(role::o, l, "o_proj"), H, heads * vd);
  w.scale = switchyard::attention::deepseek_softmax_scale(qd, c.rope.scaling);
  switchyard::attention::rope_config rc = c.rope;
  if (rc.head_dim == 0) rc.head_dim = rd;
  require(rc.head_dim == rd, "device::load", "rope.head_dim must equal qk_rope_dim");
  switchyard::attention::rotary_embedding const e(rc);
  float const* inv = up.floats(e.inv_freq());
  w.rope_q = strided_rope(e, inv, static_cast<int>(qd));
  w.rope_k = strided_rope(e, inv, static_cast<int>(R + rd));
  out.mla = true;
  out.cache = {.kv_heads = 1, .key_dim = R + rd, .value_dim = R, .value_is_key_prefix = true};
}

}  // namespace detail

// Layer l, uploaded.
inline layer_weights build_layer(model::model_config const& c, model::weight_source const& src, weight_uploader& up,
                                 index_t l, kernels::moe_path moe_path = kernels::moe_path::automatic) {
  using model::role;
  index_t const H = c.hidden;
  layer_weights out;
  if (model::family_of(c.arch).attention == model::architectures::attention_kind::mla)
    detail::build_mla(c, src, up, l, out);
  else
    detail::build_gqa(c, src, up, l, out);
  if (c.is_moe_layer(l)) {
    out.moe = make_moe(c, src, up, l, moe_path);
  } else {
    index_t const F = c.intermediate;
    auto g = src.need(role::ffn_gate, l, "mlp gate_proj"), u = src.need(role::ffn_up, l, "mlp up_proj"),
         d = src.need(role::ffn_down, l, "mlp down_proj");
    require<format_error>(g.rows == F && u.rows == F && d.rows == H && d.cols == F, "device::load", src.origin(),
                          ": layer ", l, " dense MLP shapes do not match intermediate_size ", F);
    model::matrix_slice const gu[] = {g, u};
    out.gate_up = up.stacked(gu, H, up.choose(gu));
    out.down = up.matrix(d, H, F);
    out.intermediate = static_cast<int>(F);
  }
  out.attn_norm = up.vector(src.need(role::attn_norm, l, "input norm"), H);
  out.ffn_norm = up.vector(src.need(role::ffn_norm, l, "post-attention norm"), H);
  return out;
}

}  // namespace device
SWITCHYARD_NAMESPACE_END
