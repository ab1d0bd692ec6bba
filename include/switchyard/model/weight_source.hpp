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
  virtual std::string const& origin() const = 0;
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

  std::string const& origin() const override { return dir_.origin(); }
  void release_pages(std::span<std::byte const> b) const override { dir_.release_pages(b); }

 private:
  io::tensor_directory const& dir_;
  architectures::family const& fam_;
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

  std::string const& origin() const override { return dir_.origin(); }
  void release_pages(std::span<std::byte const> b) const override { dir_.release_pages(b); }

 private:
  // llama.cpp writes MLA's kv_b_proj as attn_k_b [H, rank, nope] (transposed per head) and attn_v_b
  // [H, v, rank]; MLA takes the original [H * (nope + v), rank]. Rebuilt once, in f32, owned here.
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
    return matrix_slice{L + "attn_kv_b (from attn_k_b, attn_v_b)", io::dtype::f32, H * (nope + vd), R,
                        std::as_bytes(std::span<float const>(out))};
  }

  io::tensor_directory const& dir_;
  architectures::family const& fam_;
  mutable std::deque<std::vector<float>> owned_;
};

}  // namespace model
SWITCHYARD_NAMESPACE_END
