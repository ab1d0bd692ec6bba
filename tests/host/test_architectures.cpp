// The architecture tables (model/architectures/): every row names a real model_config field, every
// family is found by its names, and a config survives config.json -> GGUF (export_gguf) -> GGUF
// reader unchanged for every shipped test model (the reflected fields compared one by one).
#include <catch2/catch.hpp>
#include <filesystem>
#include <set>
#include <string>

#include "support/data_dir.hpp"
#include "switchyard/io/safetensors.hpp"
#include "switchyard/model/architectures/registry.hpp"
#include "switchyard/model/config_fields.hpp"
#include "switchyard/model/export_gguf.hpp"
#include "switchyard/model/gguf_config.hpp"
#include "switchyard/model/hf_config.hpp"
#include "switchyard/model/weight_source.hpp"

namespace sy = switchyard;
namespace md = sy::model;
namespace ar = sy::model::architectures;

TEST_CASE("every table row names a scalar model_config field, and every family is found by its names", "[model][arch]") {
  std::set<int> ids;
  for (ar::family const* f : ar::all) {
    INFO(f->name);
    CHECK(ids.insert(static_cast<int>(f->id)).second);
    CHECK(&md::family_of(f->id) == f);
    CHECK(std::string(md::name(f->id)) == f->name);
    CHECK(&md::family_of_hf(f->hf_model_type, "config.json") == f);
    md::model_config c;
    for (auto const& group : f->keys)
      for (auto const& row : group) {
        INFO(row.field);
        CHECK((row.hf || row.gguf));
        CHECK(md::with_scalar_field(c, row.field, [](auto&) {}));
      }
    for (auto const& group : f->tensors)
      for (auto const& t : group) CHECK((t.hf || t.gguf));
  }
  CHECK_THROWS_AS(md::family_of_hf("gpt2", "config.json"), sy::unsupported_config);
}

TEST_CASE("describe_fields walks every field", "[model][arch]") {
  md::model_config c{.vocab = 7, .hidden = 64};
  c.layer_types = {md::layer_attention::sliding, md::layer_attention::full};
  std::string const d = md::describe_fields(c);
  CHECK(d.find("vocab = 7\n") != std::string::npos);
  CHECK(d.find("layer_types = [sliding full]\n") != std::string::npos);
  CHECK(d.find("qk = none\n") != std::string::npos);
  CHECK(d.find("routed_scaling = 1\n") != std::string::npos);
}

TEST_CASE("configs survive config.json -> GGUF -> config for every shipped test model", "[model][arch]") {
  auto const dir = std::filesystem::temp_directory_path() / "switchyard_test_arch";
  std::filesystem::create_directories(dir);
  for (std::string arch : {"llama", "mixtral", "qwen2_moe", "qwen3_moe", "olmoe", "deepseek_v3", "mixtral_swa",
                           "qwen2_moe_swa", "qwen3_moe_swa", "gpt_oss"}) {
    INFO(arch);
    std::filesystem::path const src_dir = std::string(SWITCHYARD_TEST_DATA_DIR) + "/models/" + arch;
    md::model_config const hf = md::read_hf_config(src_dir);
    sy::io::safetensors_checkpoint const ck(src_dir);
    auto const path = (dir / (arch + ".gguf")).string();
    md::export_gguf(hf, md::hf_source(ck, hf), path, sy::io::dtype::f32);
    sy::io::gguf_file const file(path);
    md::model_config back = md::config_from_gguf(file);
    // What differs by design: llama.cpp's "llama" files hold q/k rows permuted for interleaved RoPE,
    // and GGUF always states the rotary width.
    md::model_config want = hf;
    want.rope.layout = md::family_of(hf.arch).gguf_rope;
    if (want.rope.rotary_dim == 0) want.rope.rotary_dim = want.head_dim;
    if (want.sliding_window == 0) want.layer_types.clear();  // a pattern without a window says nothing
    CHECK(md::describe_fields(back) == md::describe_fields(want));
    std::filesystem::remove(path);
  }
  std::filesystem::remove_all(dir);
}
