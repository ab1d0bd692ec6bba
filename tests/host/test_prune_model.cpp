// examples/prune's 2:4 file (the examples' "prune 2:4" test writes it; CTest passes its path): every
// projection holds at most 2 non-zeros in every 4 consecutive weights, and the model loaded
// as 2:4 sparse blocks (weight_format::sparse24_bf16: the sparse GEMV for decode, the block GEMM
// for prefill; the embedding and LM head, left dense by prune, stay dense bf16) computes the logits the same file gives loaded as dense bf16 -- the same weights,
// summed in another order.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "support/data_dir.hpp"
#include "support/llama_logits.hpp"
#include "support/tolerance.hpp"
#include "switchyard/core/format/bf16.hpp"
#include "switchyard/io/gguf.hpp"
#include "switchyard/io/safetensors.hpp"
#include "switchyard/model/expert_subset.hpp"
#include "switchyard/model/export_gguf.hpp"
#include "switchyard/model/hf_config.hpp"
#include "switchyard/model/load.hpp"

namespace sy = switchyard;
namespace md = switchyard::model;

namespace {
std::string const shipped = std::string(SWITCHYARD_TEST_DATA_DIR) + "/../../models/switchyard-tiny-moe";

std::vector<float> logits_of(md::language_model& lm) {
  sy::index_t const V = lm.config().vocab;
  std::vector<std::int32_t> toks;
  for (int i = 0; i < 20; ++i) toks.push_back(static_cast<std::int32_t>((37 * i + 11) % V));
  return sy::test::prefill_and_decode(lm, toks);
}

// A tensor's bytes in a GGUF file (shape [E, rows, cols] or [E, cols]): expert e's slice.
std::span<std::byte const> expert_slice(sy::io::tensor_entry const& t, sy::index_t e) {
  std::size_t const per = t.data.size() / static_cast<std::size_t>(t.shape[0]);
  return t.data.subspan(per * static_cast<std::size_t>(e), per);
}
bool same_bytes(std::span<std::byte const> a, std::span<std::byte const> b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size()) == 0;
}
}  // namespace

TEST_CASE("prune's 2:4 file is 2:4 and decodes from sparse24 blocks as from dense bf16", "[model][prune][sparse]") {
  char const* path = std::getenv("SWITCHYARD_PRUNED_MODEL");
  REQUIRE(path != nullptr);  // set by CTest: the file the "prune 2:4" example test writes
  sy::io::gguf_file const f(path);
  int pruned = 0;
  for (auto const& t : f.tensors()) {
    if (t.shape.size() < 2 || t.name == "token_embd.weight" || t.name == "output.weight" ||
        t.name.find("ffn_gate_inp") != std::string::npos)
      continue;
    INFO(t.name);
    REQUIRE(t.dtype == sy::io::dtype::bf16);
    REQUIRE(t.shape.back() % 4 == 0);  // the innermost dimension (a row) is contiguous: groups of 4 never cross rows
    std::vector<std::uint16_t> bits(static_cast<std::size_t>(t.numel()));
    std::memcpy(bits.data(), t.data.data(), bits.size() * 2);
    std::size_t bad = 0, zeros = 0;
    for (std::size_t g = 0; g < bits.size(); g += 4) {
      int nonzero = 0;
      for (std::size_t i = g; i < g + 4; ++i) nonzero += (bits[i] & 0x7FFF) != 0;
      bad += nonzero > 2;
      zeros += 4 - static_cast<std::size_t>(nonzero);
    }
    CHECK(bad == 0);
    CHECK(zeros >= bits.size() / 2);
    ++pruned;
  }
  CHECK(pruned > 0);

  auto dense = md::load(path, {.weights = md::weight_format::bf16, .activations = md::activation_format::f32});
  auto sparse = md::load(path, {.weights = md::weight_format::sparse24_bf16});
  sy::index_t const V = dense->config().vocab;
  std::vector<std::int32_t> toks;
  for (int i = 0; i < 20; ++i) toks.push_back(static_cast<std::int32_t>((37 * i + 11) % V));
  auto const a = sy::test::prefill_and_decode(*sparse, toks), b = sy::test::prefill_and_decode(*dense, toks);
  for (std::size_t r = 0; r < a.size() / static_cast<std::size_t>(V); ++r) {
    INFO("row " << r);
    CHECK(sy::test::row_error(a.data() + r * V, b.data() + r * V, V) <= sy::test::tolerance::model_logits);
  }
}

TEST_CASE("expert_subset exports the kept experts and their router rows, and keeping all changes nothing", "[model][prune][moe]") {
  md::model_config const c = md::read_hf_config(shipped);
  sy::io::safetensors_checkpoint const ck(shipped);
  md::hf_source const src(ck, c);
  auto const dir = std::filesystem::temp_directory_path();
  auto const all_path = (dir / "switchyard-test-subset-all.gguf").string(), some_path = (dir / "switchyard-test-subset-some.gguf").string();
  std::vector<std::vector<sy::index_t>> all(static_cast<std::size_t>(c.layers)), some(all);
  for (sy::index_t l = 0; l < c.layers; ++l)
    for (sy::index_t e = 0; e < c.experts; ++e) {
      all[static_cast<std::size_t>(l)].push_back(e);
      if (e != l && e != (l + 3) % c.experts) some[static_cast<std::size_t>(l)].push_back(e);  // drop 2 per layer
    }
  md::expert_subset const keep_all(c, src, all), keep_some(c, src, some);
  CHECK(keep_some.config().experts == c.experts - 2);
  md::export_gguf(keep_all.config(), keep_all, all_path, sy::io::dtype::bf16);
  md::export_gguf(keep_some.config(), keep_some, some_path, sy::io::dtype::bf16);

  // Keeping every expert: the model's own logits.
  md::load_options const opt{.weights = md::weight_format::bf16, .activations = md::activation_format::f32};
  auto base = md::load(shipped, opt), same = md::load(all_path, opt);
  auto const a = logits_of(*same), b = logits_of(*base);
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) REQUIRE(a[i] == b[i]);

  // Dropping two: layer l's expert i is the original expert some[l][i], router rows included.
  sy::io::gguf_file const full(all_path), cut(some_path);
  for (sy::index_t l = 0; l < c.layers; ++l)
    for (char const* name : {"ffn_gate_inp", "ffn_gate_exps", "ffn_up_exps", "ffn_down_exps"}) {
      std::string const t = "blk." + std::to_string(l) + "." + name + ".weight";
      INFO(t);
      auto const* f = full.find(t);
      auto const* g = cut.find(t);
      REQUIRE(f != nullptr);
      REQUIRE(g != nullptr);
      REQUIRE(g->shape[0] == c.experts - 2);
      for (std::size_t i = 0; i < some[static_cast<std::size_t>(l)].size(); ++i)
        CHECK(same_bytes(expert_slice(*g, static_cast<sy::index_t>(i)), expert_slice(*f, some[static_cast<std::size_t>(l)][i])));
    }
  auto pruned = md::load(some_path, opt);
  CHECK(pruned->config().experts == c.experts - 2);
  for (float v : logits_of(*pruned)) REQUIRE(std::isfinite(v));

  std::vector<std::vector<sy::index_t>> too_few(static_cast<std::size_t>(c.layers), std::vector<sy::index_t>{3});
  CHECK_THROWS_WITH(md::expert_subset(c, src, too_few), Catch::Contains("fewer than the 2 each token routes to"));
  std::vector<std::vector<sy::index_t>> uneven = some;
  uneven[1].pop_back();
  CHECK_THROWS_WITH(md::expert_subset(c, src, uneven), Catch::Contains("one count for the model"));
  std::filesystem::remove(all_path);
  std::filesystem::remove(some_path);
}

TEST_CASE("prune's expert-pruned and Wanda files load and keep their promises", "[model][prune][moe]") {
  char const* magnitude_path = std::getenv("SWITCHYARD_PRUNED_MODEL");
  REQUIRE(magnitude_path != nullptr);  // set by CTest; the examples' prune tests write the others beside it
  auto const dir = std::filesystem::path(magnitude_path).parent_path();
  std::string const experts_path = (dir / "tiny-moe-6of8.gguf").string(), wanda_path = (dir / "tiny-moe-2of4-wanda.gguf").string();
  md::model_config const c = md::read_hf_config(shipped);
  auto cut = md::load(experts_path, {.weights = md::weight_format::bf16});
  CHECK(cut->config().experts == 6);  // --drop-experts 0.25 of 8
  for (float v : logits_of(*cut)) REQUIRE(std::isfinite(v));

  // Wanda's 2:4 file: the pattern holds, and the calibration changed which weights stay.
  sy::io::gguf_file const w(wanda_path), m(magnitude_path);
  std::size_t differ = 0;
  for (auto const& t : w.tensors()) {
    if (t.shape.size() < 2 || t.name == "token_embd.weight" || t.name.find("ffn_gate_inp") != std::string::npos) continue;
    auto const* other = m.find(t.name);
    REQUIRE(other != nullptr);
    differ += !same_bytes(t.data, other->data);
  }
  CHECK(differ > 0);
  auto wanda = md::load(wanda_path, {.weights = md::weight_format::sparse24_bf16});
  for (float v : logits_of(*wanda)) REQUIRE(std::isfinite(v));
  (void)c;
}
