#pragma once
// Where a model's tensors come from, by role rather than by name: the builder asks for "layer 3's
// q projection" or "expert 5's up projection of layer 1", and a source answers from its
// checkpoint's naming, as the family's table (model/architectures/) spells it: Hugging Face names
// in safetensors (per-expert tensors, or transformers 5's fused banks), llama.cpp's names in GGUF
// (experts stacked in one [E, F, H] tensor per projection).
#include <algorithm>
#include <deque>
#include <optional>
#include <set>
#include <vector>
#include <string>

#include "switchyard/core/error.hpp"
#include "switchyard/core/format/mxfp4.hpp"
#include "switchyard/io/gguf.hpp"
#include "switchyard/io/safetensors.hpp"
#include "switchyard/model/architectures/registry.hpp"
#include "switchyard/model/config.hpp"
#include "switchyard/model/roles.hpp"
#include "switchyard/model/weight_store.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace model {


class weight_source {
 public:
  virtual ~weight_source() = default;
  // The tensor for a role (layer ignored for model-level roles), or nothing if absent.
  virtual std::optional<matrix_slice> find(role r, index_t layer) const = 0;
  // Expert e's projection in layer l: gate / up [F, H], down [H, F].
  virtual matrix_slice expert(expert_proj p, index_t layer, index_t e, model_config const& c) const = 0;
  // The biases of projection p's bank in layer l, [E, F] (gate, up) or [E, H] (down), or nothing.
  virtual std::optional<matrix_slice> expert_bias(expert_proj, index_t, model_config const&) const { return std::nullopt; }
  virtual std::string const& origin() const = 0;
  // Whether q/k rows are already in llama.cpp's order (a GGUF source): export_gguf then copies them.
  virtual bool qk_rows_in_gguf_order() const { return false; }
  // Gives back the file pages of a tensor the loader has converted into a buffer of its own
  // (io::mapped_file::release_pages); bytes outside the checkpoint's files are ignored.
  virtual void release_pages(std::span<std::byte const>) const {}

  matrix_slice need(role r, index_t layer, char const* what) const {
    auto s = find(r, layer);
    require<format_error>(s.has_value(), "model::load", origin(), ": missing ", what, " of layer ", layer);
    return *s;
  }

  // Tensors of the checkpoint the model did not take (after building): a checkpoint of another
  // architecture or size, or a corrupt one, shows up here.
  std::vector<std::string> unused(io::tensor_directory const& dir) const {
    std::vector<std::string> out;
    for (auto const& t : dir.tensors())
      if (!used_.contains(t.name) && !t.name.ends_with("rotary_emb.inv_freq")) out.push_back(t.name);
    return out;
  }

 protected:
  void mark(std::string const& name) const { used_.insert(name); }

 private:
  mutable std::set<std::string> used_;
};

namespace detail {

// Expert e's [rows, cols] slice of a stacked [E, rows, cols] tensor (rows offset `row0`).
inline matrix_slice stacked_slice(io::tensor_entry const& t, index_t e, index_t row0, index_t rows, std::string const& origin) {
  require<format_error>(t.shape.size() == 3 && e < t.shape[0] && row0 + rows <= t.shape[1], "model::load", origin,
                        ": tensor '", t.name, "' ", t.shape_string(), " has no expert ", e, " rows [", row0, ", ",
                        row0 + rows, ")");
  io::dtype_info const d = io::info(t.dtype);
  index_t const row_bytes = t.shape[2] / d.block_elems * d.block_bytes;
  return {t.name + "[" + std::to_string(e) + "]", t.dtype, rows, t.shape[2],
          t.data.subspan(static_cast<std::size_t>((e * t.shape[1] + row0) * row_bytes), static_cast<std::size_t>(rows * row_bytes))};
}

}  // namespace detail

// Hugging Face naming, over a safetensors checkpoint.
class hf_source : public weight_source {
 public:
  hf_source(io::tensor_directory const& dir, model_config const& c) : dir_(dir), fam_(family_of(c.arch)) {}

  std::optional<matrix_slice> find(role r, index_t l) const override {
    auto const* names = fam_.find_tensor(r);
    if (!names || !names->hf) return std::nullopt;
    auto const* t = dir_.find(architectures::expand(names->hf, l));
    if (!t) return std::nullopt;
    mark(t->name);
    return as_matrix(*t);
  }

  matrix_slice expert(expert_proj p, index_t l, index_t e, model_config const& c) const override {
    auto const& x = fam_.experts;
    if (x.layout == architectures::fused_layout::interleaved_transposed) return interleaved_expert(p, l, e, c);
    // transformers 5's fused banks, when a checkpoint was saved that way.
    if (auto const* gu = x.hf_gate_up ? dir_.find(architectures::expand(x.hf_gate_up, l)) : nullptr; gu && p != expert_proj::down) {
      mark(gu->name);
      return detail::stacked_slice(*gu, e, p == expert_proj::gate ? 0 : c.moe_intermediate, c.moe_intermediate, origin());
    }
    if (auto const* d = x.hf_down ? dir_.find(architectures::expand(x.hf_down, l)) : nullptr; d && p == expert_proj::down) {
      mark(d->name);
      return detail::stacked_slice(*d, e, 0, c.hidden, origin());
    }
    char const* pattern = x.hf_each[static_cast<std::size_t>(p)];
    require<format_error>(pattern != nullptr, "model::load", origin(), ": ", fam_.name, " has no per-expert tensors");
    std::string const n = architectures::expand(pattern, l, e);
    mark(n);
    return as_matrix(dir_.at(n));
  }

  std::optional<matrix_slice> expert_bias(expert_proj p, index_t l, model_config const& c) const override {
    auto const& x = fam_.experts;
    char const* pattern = p == expert_proj::down ? x.hf_down_bias : x.hf_gate_up_bias;
    auto const* t = pattern ? dir_.find(architectures::expand(pattern, l)) : nullptr;
    if (!t) return std::nullopt;
    mark(t->name);
    index_t const E = c.experts, F = c.moe_intermediate;
    if (p == expert_proj::down) {
      require<format_error>(t->shape == std::vector<std::int64_t>{E, c.hidden}, "model::load", origin(), ": ", t->name, " ",
                            t->shape_string(), " is not [experts, hidden]");
      return as_matrix(*t);
    }
    // [E, 2F] with gate and up interleaved: the even or the odd columns.
    require<format_error>(t->shape == std::vector<std::int64_t>{E, 2 * F}, "model::load", origin(), ": ", t->name, " ",
                          t->shape_string(), " is not [experts, 2 x expert width]");
    matrix_slice const all{t->name, t->dtype, E, 2 * F, t->data};
    auto& out = owned_f32(static_cast<std::size_t>(E * F));
    std::vector<float> row(static_cast<std::size_t>(2 * F));
    for (index_t e = 0; e < E; ++e) {
      detail::widen_row(all, e, row.data());
      for (index_t i = 0; i < F; ++i) out[static_cast<std::size_t>(e * F + i)] = row[static_cast<std::size_t>(2 * i + (p == expert_proj::up))];
    }
    return matrix_slice{t->name + (p == expert_proj::gate ? " (gate)" : " (up)"), io::dtype::f32, E, F,
                        std::as_bytes(std::span<float const>(out))};
  }

  std::string const& origin() const override { return dir_.origin(); }
  void release_pages(std::span<std::byte const> b) const override { dir_.release_pages(b); }

 private:
  // gpt-oss's banks, made [F, H] / [H, F] per expert. MXFP4 (<name>_blocks u8 [E, rows, G, 16] and
  // <name>_scales u8 [E, rows, G], rows interleaved gate/up): the rows' blocks in ggml's nibble
  // order, values unchanged (format::mxfp4_from_hf). Otherwise [E, H, 2F] / [E, F, H] for x @ W:
  // transposed into f32 rows. Either is a copy this source owns (the model keeps the source).
  matrix_slice interleaved_expert(expert_proj p, index_t l, index_t e, model_config const& c) const {
    auto const& x = fam_.experts;
    bool const down = p == expert_proj::down;
    std::string const base = architectures::expand(down ? x.hf_down : x.hf_gate_up, l);
    index_t const F = c.moe_intermediate, H = c.hidden, rows = down ? H : F, cols = down ? F : H;
    auto pick = [&](index_t i) { return down ? i : 2 * i + (p == expert_proj::up); };  // output row in the bank
    std::string const name = base + "[" + std::to_string(e) + "]" + (down ? "" : p == expert_proj::gate ? " (gate)" : " (up)");
    if (auto const* blocks = dir_.find(base + "_blocks")) {
      auto const& scales = dir_.at(base + "_scales");
      index_t const G = cols / 32, bank_rows = down ? H : 2 * F;
      require<format_error>(cols % 32 == 0 && blocks->dtype == io::dtype::u8 && scales.dtype == io::dtype::u8 &&
                                blocks->shape == std::vector<std::int64_t>{c.experts, bank_rows, G, 16} &&
                                scales.shape == std::vector<std::int64_t>{c.experts, bank_rows, G},
                            "model::load", origin(), ": ", blocks->name, " ", blocks->shape_string(), " / ", scales.name, " ",
                            scales.shape_string(), " are not MXFP4 [experts, ", bank_rows, ", ", G, ", 16] / [..., ", G, "]");
      mark(blocks->name);
      mark(scales.name);
      auto& out = owned_.emplace_back(static_cast<std::size_t>(rows * G) * sizeof(format::mxfp4));
      auto* dst = reinterpret_cast<format::mxfp4*>(out.data());
      auto const* b = reinterpret_cast<std::uint8_t const*>(blocks->data.data());
      auto const* sc = reinterpret_cast<std::uint8_t const*>(scales.data.data());
      for (index_t i = 0; i < rows; ++i) {
        index_t const src_row = e * bank_rows + pick(i);
        format::mxfp4_from_hf(b + src_row * G * 16, sc + src_row * G, static_cast<std::size_t>(G), dst + i * G);
      }
      return matrix_slice{name, io::dtype::mxfp4, rows, cols, std::span<std::byte const>(out)};
    }
    auto const& t = dir_.at(base);
    require<format_error>(t.shape == (down ? std::vector<std::int64_t>{c.experts, F, H} : std::vector<std::int64_t>{c.experts, H, 2 * F}),
                          "model::load", origin(), ": ", t.name, " ", t.shape_string(), " is not ",
                          down ? "[experts, expert width, hidden]" : "[experts, hidden, 2 x expert width]");
    mark(t.name);
    index_t const in_cols = down ? H : 2 * F;  // the stored matrix: [E * cols, in_cols]
    matrix_slice const all{t.name, t.dtype, c.experts * cols, in_cols, t.data};
    auto& out = owned_f32(static_cast<std::size_t>(rows * cols));
    std::vector<float> row(static_cast<std::size_t>(in_cols));
    for (index_t j = 0; j < cols; ++j) {
      detail::widen_row(all, e * cols + j, row.data());
      for (index_t i = 0; i < rows; ++i) out[static_cast<std::size_t>(i * cols + j)] = row[static_cast<std::size_t>(pick(i))];
    }
    return matrix_slice{name, io::dtype::f32, rows, cols, std::as_bytes(std::span<float const>(out))};
  }
  std::vector<float>& owned_f32(std::size_t n) const { return owned_floats_.emplace_back(n); }

  io::tensor_directory const& dir_;
  architectures::family const& fam_;
  mutable std::deque<std::vector<std::byte>> owned_;
  mutable std::deque<std::vector<float>> owned_floats_;
};

// llama.cpp's name for a role in a family's GGUF files ("" when it has none).
inline std::string gguf_name(architectures::family const& fam, role r, index_t l) {
  auto const* names = fam.find_tensor(r);
  return names && names->gguf ? architectures::expand(names->gguf, l) : std::string{};
}

// llama.cpp naming, over a GGUF file.
class gguf_source : public weight_source {
 public:
  gguf_source(io::tensor_directory const& dir, model_config const& c) : dir_(dir), fam_(family_of(c.arch)) {}

  std::optional<matrix_slice> find(role r, index_t l) const override {
    std::string const n = gguf_name(fam_, r, l);
    auto const* t = n.empty() ? nullptr : dir_.find(n);
    if (!t && r == role::kv_b) return kv_b_from_split(l);
    if (!t) return std::nullopt;
    mark(t->name);
    return as_matrix(*t);
  }

  matrix_slice expert(expert_proj p, index_t l, index_t e, model_config const& c) const override {
    auto const& t = dir_.at(architectures::expand(fam_.experts.gguf[static_cast<std::size_t>(p)], l));
    mark(t.name);
    return detail::stacked_slice(t, e, 0, p == expert_proj::down ? c.hidden : c.moe_intermediate, origin());
  }

  std::optional<matrix_slice> expert_bias(expert_proj p, index_t l, model_config const& c) const override {
    char const* pattern = fam_.experts.gguf_bias[static_cast<std::size_t>(p)];
    auto const* t = pattern ? dir_.find(architectures::expand(pattern, l)) : nullptr;
    if (!t) return std::nullopt;
    index_t const n = p == expert_proj::down ? c.hidden : c.moe_intermediate;
    require<format_error>(t->shape == std::vector<std::int64_t>{c.experts, n}, "model::load", origin(), ": ", t->name, " ",
                          t->shape_string(), " is not [", c.experts, ", ", n, "]");
    mark(t->name);
    return as_matrix(*t);
  }

  bool qk_rows_in_gguf_order() const override { return true; }
  std::string const& origin() const override { return dir_.origin(); }
  // A rebuilt kv_b, once the store has copied it, is freed (its storage would otherwise live as
  // long as the source: 2 MB a layer in f32 at DeepSeek-V3-like sizes); file bytes go back to the
  // directory.
  void release_pages(std::span<std::byte const> b) const override {
    for (auto& v : owned_)
      if (!v.empty() && b.data() == reinterpret_cast<std::byte const*>(v.data())) {
        std::vector<float>().swap(v);
        return;
      }
    dir_.release_pages(b);
  }

 private:
  // llama.cpp writes MLA's kv_b_proj as attn_k_b [H, rank, nope] (transposed per head) and attn_v_b
  // [H, v, rank]; MLA takes the original [H * (nope + v), rank]. Rebuilt once, in f32, owned here
  // until the weight store has copied it (release_pages).
  std::optional<matrix_slice> kv_b_from_split(index_t l) const {
    std::string const L = "blk." + std::to_string(l) + ".";
    auto const* kb = dir_.find(L + "attn_k_b.weight");
    auto const* vb = dir_.find(L + "attn_v_b.weight");
    if (!kb || !vb) return std::nullopt;
    require<format_error>(kb->shape.size() == 3 && vb->shape.size() == 3 && kb->shape[0] == vb->shape[0] &&
                              kb->shape[1] == vb->shape[2],
                          "model::load", origin(), ": ", kb->name, " ", kb->shape_string(), " and ", vb->name, " ",
                          vb->shape_string(), " are not [heads, rank, nope] and [heads, v, rank]");
    mark(kb->name);
    mark(vb->name);
    index_t const H = kb->shape[0], R = kb->shape[1], nope = kb->shape[2], vd = vb->shape[1];
    auto& out = owned_.emplace_back(static_cast<std::size_t>(H * (nope + vd) * R));
    std::vector<float> row(static_cast<std::size_t>(std::max(nope, R)));
    matrix_slice const k{kb->name, kb->dtype, H * R, nope, kb->data}, v{vb->name, vb->dtype, H * vd, R, vb->data};
    for (index_t h = 0; h < H; ++h) {
      for (index_t r = 0; r < R; ++r) {  // k_b row (h, r) holds column r of the original k rows
        detail::widen_row(k, h * R + r, row.data());
        for (index_t i = 0; i < nope; ++i) out[static_cast<std::size_t>((h * (nope + vd) + i) * R + r)] = row[static_cast<std::size_t>(i)];
      }
      for (index_t j = 0; j < vd; ++j) {
        detail::widen_row(v, h * vd + j, row.data());
        std::copy_n(row.data(), R, out.data() + (h * (nope + vd) + nope + j) * R);
      }
    }
    dir_.release_pages(kb->data);  // widened into `out`: the file's pages need not stay resident
    dir_.release_pages(vb->data);
    return matrix_slice{L + "attn_kv_b (from attn_k_b, attn_v_b)", io::dtype::f32, H * (nope + vd), R,
                        std::as_bytes(std::span<float const>(out))};
  }

  io::tensor_directory const& dir_;
  architectures::family const& fam_;
  mutable std::deque<std::vector<float>> owned_;
};

}  // namespace model
SWITCHYARD_NAMESPACE_END
