#pragma once
// Writes a model's checkpoint as GGUF under llama.cpp's names and metadata keys, its matrices in
// a chosen format (f32, f16, bf16, or quantized: q8_0, q4_0, q4_K, q6_K, by round-to-nearest),
// vectors (norms, biases) in f32 — the file llama.cpp's own converter would write for the
// architectures it names llama (Llama, Mixtral: q/k rows permuted so RoPE rotates adjacent pairs),
// qwen2moe, qwen3moe, olmoe and deepseek2 (DeepSeek-V3: kv_b_proj split into attn_k_b / attn_v_b). model::load reads it back; so do llama.cpp and the gguf package.
//
//   auto c = model::read_hf_config(dir);
//   io::safetensors_checkpoint ck(dir);
//   model::export_gguf(c, model::hf_source(ck, c), "model-q8_0.gguf", io::dtype::q8_0);
#include <algorithm>
#include <cstring>
#include <deque>
#include <string>
#include <vector>

#include "switchyard/core/error.hpp"
#include "switchyard/core/format/gguf.hpp"
#include "switchyard/io/gguf_writer.hpp"
#include "switchyard/model/config.hpp"
#include "switchyard/model/weight_source.hpp"
#include "switchyard/model/weight_store.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace model {

namespace detail {

inline char const* gguf_architecture(architecture a) {
  switch (a) {
    case architecture::llama:
    case architecture::mixtral: return "llama";
    case architecture::qwen2_moe: return "qwen2moe";
    case architecture::qwen3_moe: return "qwen3moe";
    case architecture::olmoe: return "olmoe";
    case architecture::deepseek_v3: return "deepseek2";
  }
  return "?";
}

// Rows of `s` converted to dtype `to`, in `order` (row indices; empty: as they are).
inline std::vector<std::byte> convert_rows(matrix_slice const& s, io::dtype to, std::vector<index_t> const& order = {}) {
  io::dtype_info const d = io::info(to);
  require<unsupported_config>(s.cols % d.block_elems == 0, "model::export_gguf", "tensor '", s.name, "' has ", s.cols,
                              " columns, not whole ", d.name, " blocks of ", d.block_elems);
  index_t const row_bytes = s.cols / d.block_elems * d.block_bytes;
  std::vector<std::byte> out(static_cast<std::size_t>(s.rows * row_bytes));
  std::vector<float> scratch;
  auto rows = [&]<class W>() {
    for (index_t r = 0; r < s.rows; ++r)
      convert_row<W>(s, order.empty() ? r : order[static_cast<std::size_t>(r)],
                     reinterpret_cast<W*>(out.data() + r * row_bytes), scratch);
  };
  switch (to) {
    case io::dtype::f32: rows.template operator()<float>(); break;
    case io::dtype::f16: rows.template operator()<format::f16>(); break;
    case io::dtype::bf16: rows.template operator()<format::bf16>(); break;
    case io::dtype::q8_0: rows.template operator()<format::q8_0>(); break;
    case io::dtype::q4_0: rows.template operator()<format::q4_0>(); break;
    case io::dtype::q4_K: rows.template operator()<format::q4_K>(); break;
    case io::dtype::q6_K: rows.template operator()<format::q6_K>(); break;
    default:
      switchyard::detail::fail<unsupported_config>("model::export_gguf", io::info(to).name,
                                                   " is not a weight format GGUF files hold");
  }
  return out;
}

// llama.cpp's q/k row permutation for its "llama" architecture: within each head, row 2i + j
// takes row j * D/2 + i (rotate-half pairs become adjacent pairs).
inline std::vector<index_t> llama_qk_order(index_t heads, index_t head_dim) {
  std::vector<index_t> order(static_cast<std::size_t>(heads * head_dim));
  for (index_t h = 0; h < heads; ++h)
    for (index_t i = 0; i < head_dim / 2; ++i)
      for (index_t j = 0; j < 2; ++j) order[static_cast<std::size_t>(h * head_dim + 2 * i + j)] = h * head_dim + j * head_dim / 2 + i;
  return order;
}

}  // namespace detail

inline void widen_row_into(matrix_slice const& s, index_t r, float* out) { detail::widen_row(s, r, out); }

inline void export_gguf(model_config const& c, weight_source const& src, std::string const& path, io::dtype matrices) {
  std::string const a = detail::gguf_architecture(c.arch);
  require<unsupported_config>(c.rope.scaling.type == attention::rope_scaling::kind::none, "model::export_gguf",
                              "RoPE scaling is not written to GGUF yet");
  io::gguf_writer w;
  auto key = [&](char const* k) { return a + "." + k; };
  w.set_string("general.architecture", a);
  w.set_u32(key("block_count"), static_cast<std::uint32_t>(c.layers));
  w.set_u32(key("embedding_length"), static_cast<std::uint32_t>(c.hidden));
  w.set_u32(key("feed_forward_length"), static_cast<std::uint32_t>(c.arch == architecture::mixtral || c.arch == architecture::olmoe
                                                                         ? c.moe_intermediate
                                                                         : c.intermediate));
  w.set_u32(key("attention.head_count"), static_cast<std::uint32_t>(c.heads));
  if (c.arch != architecture::deepseek_v3) w.set_u32(key("attention.head_count_kv"), static_cast<std::uint32_t>(c.kv_heads));
  bool const mla = c.arch == architecture::deepseek_v3;
  if (mla) {  // llama.cpp's MLA convention: lengths of the latent cache, and the per-head *_mla ones
    w.set_u32(key("attention.head_count_kv"), 1);
    w.set_u32(key("attention.key_length"), static_cast<std::uint32_t>(c.kv_lora_rank + c.qk_rope_dim));
    w.set_u32(key("attention.value_length"), static_cast<std::uint32_t>(c.kv_lora_rank));
    w.set_u32(key("attention.key_length_mla"), static_cast<std::uint32_t>(c.qk_nope_dim + c.qk_rope_dim));
    w.set_u32(key("attention.value_length_mla"), static_cast<std::uint32_t>(c.v_head_dim));
    w.set_u32(key("attention.q_lora_rank"), static_cast<std::uint32_t>(c.q_lora_rank));
    w.set_u32(key("attention.kv_lora_rank"), static_cast<std::uint32_t>(c.kv_lora_rank));
    w.set_u32(key("leading_dense_block_count"), static_cast<std::uint32_t>(c.first_dense_layers));
    w.set_u32(key("expert_shared_count"), static_cast<std::uint32_t>(c.shared_intermediate / std::max<index_t>(c.moe_intermediate, 1)));
    w.set_f32(key("expert_weights_scale"), c.routed_scaling);
    w.set_u32(key("expert_gating_func"), 2);  // sigmoid
    w.set_u32(key("expert_group_count"), static_cast<std::uint32_t>(c.n_group));
    w.set_u32(key("expert_group_used_count"), static_cast<std::uint32_t>(c.topk_group));
  } else {
    w.set_u32(key("attention.key_length"), static_cast<std::uint32_t>(c.head_dim));
    w.set_u32(key("attention.value_length"), static_cast<std::uint32_t>(c.head_dim));
  }
  w.set_f32(key("attention.layer_norm_rms_epsilon"), c.rms_eps);
  w.set_f32(key("rope.freq_base"), static_cast<float>(c.rope.theta));
  w.set_u32(key("rope.dimension_count"),
            static_cast<std::uint32_t>(mla ? c.qk_rope_dim : c.rope.rotary_dim > 0 ? c.rope.rotary_dim : c.head_dim));
  w.set_u32(key("vocab_size"), static_cast<std::uint32_t>(c.vocab));
  if (c.experts > 0) {
    w.set_u32(key("expert_count"), static_cast<std::uint32_t>(c.experts));
    w.set_u32(key("expert_used_count"), static_cast<std::uint32_t>(c.experts_per_token));
    w.set_bool(key("expert_weights_norm"), c.norm_topk_prob);
    if (c.arch == architecture::qwen2_moe || c.arch == architecture::qwen3_moe || mla)
      w.set_u32(key("expert_feed_forward_length"), static_cast<std::uint32_t>(c.moe_intermediate));
    if (c.shared_intermediate > 0)
      w.set_u32(key("expert_shared_feed_forward_length"), static_cast<std::uint32_t>(c.shared_intermediate));
  }

  std::deque<std::vector<std::byte>> data;  // the writer copies at write(); a deque keeps earlier ones in place
  auto add = [&](std::string const& name, io::dtype t, std::vector<std::int64_t> shape, std::vector<std::byte> bytes) {
    data.push_back(std::move(bytes));
    w.add_tensor(name, t, std::move(shape), data.back());
  };
  bool const permute = a == "llama";
  auto put = [&](role r, index_t l, bool required) {
    auto s = src.find(r, l);
    if (!s) {
      require<format_error>(!required, "model::export_gguf", src.origin(), ": missing ", gguf_name(r, l));
      return;
    }
    bool const vec = s->rows == 1 || r == role::shared_router || r == role::router_bias;
    std::vector<index_t> order;
    if (permute && r == role::q) order = detail::llama_qk_order(c.heads, c.head_dim);
    if (permute && r == role::k) order = detail::llama_qk_order(c.kv_heads, c.head_dim);
    // Vectors and router gates stay f32 (llama.cpp keeps ffn_gate_inp in f32 in its quantized files too).
    io::dtype const t = vec || r == role::router ? io::dtype::f32 : matrices;
    std::vector<std::int64_t> shape = vec ? std::vector<std::int64_t>{s->rows * s->cols} : std::vector<std::int64_t>{s->rows, s->cols};
    add(gguf_name(r, l), t, std::move(shape), detail::convert_rows(*s, t, order));
  };
  // MLA's kv_b_proj [H * (nope + v), rank] as llama.cpp splits it: attn_k_b [H, rank, nope]
  // (each head's k rows transposed) and attn_v_b [H, v, rank]; each in the matrix format when its
  // rows are whole blocks, else f32.
  auto put_kv_b = [&](index_t l) {
    matrix_slice const s = src.need(role::kv_b, l, "kv_b_proj");
    index_t const H = c.heads, R = c.kv_lora_rank, nope = c.qk_nope_dim, vd = c.v_head_dim;
    require<format_error>(s.rows == H * (nope + vd) && s.cols == R, "model::export_gguf", src.origin(), ": ", s.name,
                          " is not [heads x (nope + v), kv_lora_rank]");
    std::vector<float> full(static_cast<std::size_t>(s.rows * R)), kb(static_cast<std::size_t>(H * R * nope)),
        vb(static_cast<std::size_t>(H * vd * R));
    for (index_t r = 0; r < s.rows; ++r) widen_row_into(s, r, full.data() + r * R);
    for (index_t h = 0; h < H; ++h) {
      for (index_t i = 0; i < nope; ++i)
        for (index_t r = 0; r < R; ++r) kb[static_cast<std::size_t>((h * R + r) * nope + i)] = full[static_cast<std::size_t>((h * (nope + vd) + i) * R + r)];
      std::copy_n(full.data() + (h * (nope + vd) + nope) * R, vd * R, vb.data() + h * vd * R);
    }
    auto emit = [&](std::string const& name, std::vector<float> const& v, index_t rows, index_t cols,
                    std::vector<std::int64_t> shape) {
      io::dtype const t = cols % io::info(matrices).block_elems == 0 ? matrices : io::dtype::f32;
      matrix_slice const m{name, io::dtype::f32, rows, cols, std::as_bytes(std::span<float const>(v))};
      add(name, t, std::move(shape), detail::convert_rows(m, t));
    };
    std::string const L = "blk." + std::to_string(l) + ".";
    emit(L + "attn_k_b.weight", kb, H * R, nope, {H, R, nope});
    emit(L + "attn_v_b.weight", vb, H * vd, R, {H, vd, R});
  };
  put(role::embed, 0, true);
  put(role::final_norm, 0, true);
  put(role::lm_head, 0, !c.tie_embeddings);
  for (index_t l = 0; l < c.layers; ++l) {
    for (role r : {role::attn_norm, role::ffn_norm, role::o}) put(r, l, true);
    if (mla) {
      for (role r : {role::q_a, role::q_a_norm, role::q_b}) put(r, l, c.q_lora_rank > 0);
      put(role::q, l, c.q_lora_rank == 0);
      for (role r : {role::kv_a, role::kv_a_norm}) put(r, l, true);
      put_kv_b(l);
    } else {
      for (role r : {role::q, role::k, role::v}) put(r, l, true);
      for (role r : {role::q_bias, role::k_bias, role::v_bias}) put(r, l, c.attention_bias);
      for (role r : {role::q_norm, role::k_norm}) put(r, l, c.qk != qk_norm::none);
    }
    if (!c.is_moe_layer(l)) {
      for (role r : {role::ffn_gate, role::ffn_up, role::ffn_down}) put(r, l, true);
      continue;
    }
    put(role::router, l, true);
    put(role::router_bias, l, false);
    for (auto p : {expert_proj::gate, expert_proj::up, expert_proj::down}) {
      std::vector<std::byte> bytes;
      index_t rows = 0, cols = 0;
      for (index_t e = 0; e < c.experts; ++e) {
        matrix_slice const s = src.expert(p, l, e, c);
        auto part = detail::convert_rows(s, matrices);
        bytes.insert(bytes.end(), part.begin(), part.end());
        rows = s.rows, cols = s.cols;
      }
      static constexpr char const* names[] = {"ffn_gate_exps", "ffn_up_exps", "ffn_down_exps"};
      add("blk." + std::to_string(l) + "." + names[static_cast<int>(p)] + ".weight", matrices, {c.experts, rows, cols},
          std::move(bytes));
    }
    if (c.shared_intermediate > 0) {
      for (role r : {role::shared_gate, role::shared_up, role::shared_down}) put(r, l, true);
      put(role::shared_router, l, c.shared_gate);
    }
  }
  w.write(path);
}

}  // namespace model
SWITCHYARD_NAMESPACE_END
