#pragma once
// Writes a model's checkpoint as GGUF under llama.cpp's names and metadata keys, its matrices in
// a chosen format (f32, f16, bf16, or quantized: q8_0, q4_0, q4_K, q6_K, mxfp4, by round-to-nearest),
// vectors (norms, biases) in f32 — the file llama.cpp's own converter would write. A loop over the
// family's table (model/architectures/): its key rows become metadata, its tensor names the
// tensors; what llama.cpp does beyond renaming is the table's flags (q/k rows permuted so that RoPE
// rotates adjacent pairs, for its "llama" architecture) and MLA's kv_b_proj split into attn_k_b /
// attn_v_b. model::load reads it back; so do llama.cpp and the gguf package.
//
//   auto c = model::read_hf_config(dir);
//   io::safetensors_checkpoint ck(dir);
//   model::export_gguf(c, model::hf_source(ck, c), "model-q8_0.gguf", io::dtype::q8_0);
#include <algorithm>
#include <cstring>
#include <deque>
#include <functional>
#include <utility>
#include <set>
#include <string>
#include <vector>

#include "switchyard/core/error.hpp"
#include "switchyard/core/format/gguf.hpp"
#include "switchyard/io/gguf_writer.hpp"
#include "switchyard/model/architectures/registry.hpp"
#include "switchyard/model/config.hpp"
#include "switchyard/model/config_fields.hpp"
#include "switchyard/model/weight_source.hpp"
#include "switchyard/model/weight_store.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace model {

namespace detail {

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
    case io::dtype::mxfp4: rows.template operator()<format::mxfp4>(); break;
    default:
      switchyard::detail::fail<unsupported_config>("model::export_gguf", io::info(to).name,
                                                   " is not a weight format GGUF files hold");
  }
  return out;
}

// convert_rows with export_extras::transform applied first, when there is one.
inline std::vector<std::byte> convert_transformed(matrix_slice const& s, io::dtype to, std::string const& name, index_t expert,
                                                  std::function<void(std::string const&, index_t, matrix_view<float>)> const& transform,
                                                  std::vector<index_t> const& order = {}) {
  if (!transform) return convert_rows(s, to, order);
  std::vector<float> m(static_cast<std::size_t>(s.rows * s.cols));
  for (index_t r = 0; r < s.rows; ++r) widen_row(s, order.empty() ? r : order[static_cast<std::size_t>(r)], m.data() + r * s.cols);
  transform(name, expert, make_view(m.data(), s.rows, s.cols));
  matrix_slice const f{s.name, io::dtype::f32, s.rows, s.cols, std::as_bytes(std::span<float const>(m))};
  return convert_rows(f, to);
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

// What export_gguf writes besides the model: metadata keys to copy (a tokenizer's, general.*), a
// progress callback called after each layer with (layers done, layers), and a transform of the
// weight matrices: called with (GGUF tensor name, the matrix widened to f32 [rows, cols], rows in
// the order written, the expert's index for a bank's expert and -1 otherwise) for every weight
// matrix -- embeddings and LM head included, each expert of a bank on its own; not vectors or
// router gates -- before it is converted (the prune tool's pruning).
struct export_extras {
  std::vector<std::pair<std::string, io::gguf_value>> metadata = {};
  std::function<void(index_t, index_t)> progress = {};
  std::function<void(std::string const&, index_t, matrix_view<float>)> transform = {};
};

inline void export_gguf(model_config const& c, weight_source const& src, std::string const& path, io::dtype matrices,
                        export_extras const& extras = {}) {
  architectures::family const& fam = family_of(c.arch);
  auto const& scaling = c.rope.scaling;
  require<unsupported_config>(scaling.mscale == 0 && scaling.mscale_all_dim == 0 && scaling.attention_factor == 0,
                              "model::export_gguf", "YaRN's mscale / attention factor is not written to GGUF yet");
  io::gguf_writer w;
  std::string const prefix = std::string(fam.gguf_arch) + ".";
  for (auto const& [key, value] : extras.metadata)
    if (key != "general.architecture" && key != "general.alignment" && !key.starts_with(std::string(fam.gguf_arch) + "."))
      w.set(key, value);
  w.set_string("general.architecture", fam.gguf_arch);
  std::set<std::string> written;  // several rows may name one key: the first (the family's own) wins
  for (auto const& group : fam.keys)
    for (auto const& row : group) {
      if (!row.gguf || !written.insert(row.gguf).second) continue;
      with_scalar_field(c, row.field, [&]<class T>(T const& v) {
        std::string const key = prefix + row.gguf;
        if constexpr (std::is_same_v<T, bool>) w.set_bool(key, v);
        else if constexpr (std::is_same_v<T, float>) w.set_f32(key, v);
        else if (v != 0 || !row.omit_zero) w.set_u32(key, static_cast<std::uint32_t>(v));
      });
    }
  w.set_f32(prefix + "rope.freq_base", static_cast<float>(c.rope.theta));
  if (!written.contains("rope.dimension_count"))
    w.set_u32(prefix + "rope.dimension_count", static_cast<std::uint32_t>(c.rope.rotary_dim > 0 ? c.rope.rotary_dim : c.head_dim));
  using scaling_kind = attention::rope_scaling::kind;
  if (scaling.type == scaling_kind::linear) {
    w.set_string(prefix + "rope.scaling.type", "linear");
    w.set_f32(prefix + "rope.scaling.factor", static_cast<float>(scaling.factor));
  } else if (scaling.type == scaling_kind::yarn) {  // as llama.cpp's converter writes it
    w.set_string(prefix + "rope.scaling.type", "yarn");
    w.set_f32(prefix + "rope.scaling.factor", static_cast<float>(scaling.factor));
    w.set_u32(prefix + "rope.scaling.original_context_length", static_cast<std::uint32_t>(scaling.original_max_position));
    w.set_f32(prefix + "rope.scaling.yarn_beta_fast", static_cast<float>(scaling.beta_fast));
    w.set_f32(prefix + "rope.scaling.yarn_beta_slow", static_cast<float>(scaling.beta_slow));
  }
  if (fam.to_gguf) fam.to_gguf(c, w, prefix);
  if (c.sliding_window > 0 && !c.layer_types.empty()) {  // which layers slide, as gguf-py writes it
    std::vector<io::gguf_value> pattern;
    for (index_t l = 0; l < c.layers; ++l)
      pattern.push_back({io::gguf_type::boolean, io::gguf_type::u8, c.window(l) > 0});
    w.set(prefix + "attention.sliding_window_pattern", {io::gguf_type::array, io::gguf_type::boolean, std::move(pattern)});
  }

  std::deque<std::vector<std::byte>> data;  // the writer copies at write(); a deque keeps earlier ones in place
  auto add = [&](std::string const& name, io::dtype t, std::vector<std::int64_t> shape, std::vector<std::byte> bytes) {
    data.push_back(std::move(bytes));
    w.add_tensor(name, t, std::move(shape), data.back());
  };
  bool const mla = fam.attention == architectures::attention_kind::mla;
  // Every tensor of a role the source has, under its GGUF name.
  auto put = [&](role r, index_t l) {
    std::string const name = gguf_name(fam, r, l);
    auto s = name.empty() ? std::nullopt : src.find(r, l);
    if (!s) return;
    bool const vec = s->rows == 1 || r == role::shared_router || r == role::router_bias || r == role::router_gate_bias ||
                     r == role::sinks;
    std::vector<index_t> order;
    bool const permute = fam.gguf_permutes_qk && !src.qk_rows_in_gguf_order();
    if (permute && r == role::q) order = detail::llama_qk_order(c.heads, c.head_dim);
    if (permute && r == role::k) order = detail::llama_qk_order(c.kv_heads, c.head_dim);
    // Vectors and router gates stay f32 (llama.cpp keeps ffn_gate_inp in f32 in its quantized files too).
    io::dtype const t = vec || r == role::router ? io::dtype::f32 : matrices;
    std::vector<std::int64_t> shape = vec ? std::vector<std::int64_t>{s->rows * s->cols} : std::vector<std::int64_t>{s->rows, s->cols};
    add(name, t, std::move(shape),
        vec || r == role::router ? detail::convert_rows(*s, t, order) : detail::convert_transformed(*s, t, name, -1, extras.transform, order));
  };
  auto must = [&](role r, index_t l, char const* what) {
    require<format_error>(src.find(r, l).has_value(), "model::export_gguf", src.origin(), ": missing ", what, " of layer ", l);
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
      add(name, t, std::move(shape), detail::convert_transformed(m, t, name, -1, extras.transform));
    };
    std::string const L = "blk." + std::to_string(l) + ".";
    emit(L + "attn_k_b.weight", kb, H * R, nope, {H, R, nope});
    emit(L + "attn_v_b.weight", vb, H * vd, R, {H, vd, R});
  };
  for (role r : {role::embed, role::final_norm}) must(r, 0, "model tensor");
  for (role r : {role::embed, role::final_norm, role::lm_head}) put(r, 0);
  for (index_t l = 0; l < c.layers; ++l) {
    for (role r : {role::attn_norm, role::ffn_norm, role::o}) must(r, l, "a norm or the output projection");
    for (int i = static_cast<int>(role::attn_norm); i < role_count; ++i) {
      auto const r = static_cast<role>(i);
      if (mla && r == role::kv_b) put_kv_b(l);
      else put(r, l);
    }
    if (!c.is_moe_layer(l)) {
      if (extras.progress) extras.progress(l + 1, c.layers);
      continue;
    }
    must(role::router, l, "router");
    for (auto p : {expert_proj::gate, expert_proj::up, expert_proj::down}) {
      std::vector<std::byte> bytes;
      index_t rows = 0, cols = 0;
      std::string const bank = architectures::expand(fam.experts.gguf[static_cast<std::size_t>(p)], l);
      for (index_t e = 0; e < c.experts; ++e) {
        matrix_slice const s = src.expert(p, l, e, c);
        auto part = detail::convert_transformed(s, matrices, bank, e, extras.transform);
        bytes.insert(bytes.end(), part.begin(), part.end());
        rows = s.rows, cols = s.cols;
      }
      add(architectures::expand(fam.experts.gguf[static_cast<std::size_t>(p)], l), matrices, {c.experts, rows, cols}, std::move(bytes));
      if (auto b = src.expert_bias(p, l, c); b && fam.experts.gguf_bias[static_cast<std::size_t>(p)])
        add(architectures::expand(fam.experts.gguf_bias[static_cast<std::size_t>(p)], l), io::dtype::f32, {b->rows, b->cols},
            detail::convert_rows(*b, io::dtype::f32));
    }
    if (extras.progress) extras.progress(l + 1, c.layers);
  }
  w.write(path);
}

}  // namespace model
SWITCHYARD_NAMESPACE_END
