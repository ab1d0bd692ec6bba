// A GGUF file quantized by llama.cpp's own llama-quantize into its Q4_K_M mix (tests/data/mixed_gguf,
// made by tools/make_mixed_gguf_reference.py): a Mixtral-like model, 2 layers at hidden 256, q4_K
// beside q6_K, q8_0 (the other mixes and types: test_conformance.cpp). It loads with every matrix
// in the format it is stored in (format::mixed), and:
// - with f32 activations computes what the same file widened to f32 on load computes (f32 holds
//   every block value exactly): the same logits row by row within model_logits, so no matrix was
//   converted, in prefill and in decode;
// - with int8 activations (the arithmetic llama.cpp does: activations rounded to 8 bits per block,
//   q8_0 / q8_K, then integer dot products; switchyard rounds for q8_0, q4_0 and q4_K, the
//   other formats take f32) stays near llama.cpp's logits on the same file, with the argmax
//   equal wherever llama.cpp's top two logits are clearly apart. (With f32 activations a token's
//   expert choice may flip against llama.cpp's rounding; the first case covers f32.) int8 is asked
//   for explicitly, so every build checks the same numbers: without VNNI it is computed in f32 on
//   the rounded inputs.
// A single-format file asked for as weights = mixed computes exactly what its typed model does.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "support/llama_logits.hpp"
#include "support/reference_file.hpp"
#include "support/tolerance.hpp"
#include "switchyard/io/gguf.hpp"
#include "switchyard/model/load.hpp"

namespace sy = switchyard;
namespace md = switchyard::model;
namespace tol = switchyard::test::tolerance;

namespace {

std::string mixed_path(std::string const& name) {
  return (std::filesystem::path(SWITCHYARD_TEST_DATA_DIR) / "mixed_gguf" / name).string();
}

std::set<std::string> matrix_dtypes(std::string const& path) {
  sy::io::gguf_file const f(path);
  std::set<std::string> d;
  for (auto const& t : f.tensors())
    if (t.shape.size() >= 2) d.insert(std::string(sy::io::info(t.dtype).name));
  return d;
}

// The other mixes this file once held (Q4_0, Q4_1, Q2_K, Q3_K_M, IQ4_XS, Qwen3 / DeepSeek Q4_K_M)
// are covered by the conformance suite (test_conformance.cpp: every type on every architecture);
// this one stays as test_quantize_llama's input.
std::vector<std::string> const files = {"mixtral-Q4_K_M.gguf"};

}  // namespace

TEST_CASE("llama-quantize's mixes load with every matrix in its stored format, exactly", "[model][gguf][mixed]") {
  for (auto const& name : files) {
    INFO(name);
    auto const path = mixed_path(name);
    auto const dtypes = matrix_dtypes(path);
    CHECK(dtypes.size() >= 3);  // f32 routers and at least two quantized formats
    auto stored = md::load(path, {.activations = md::activation_format::f32});
    auto widened = md::load(path, {.weights = md::weight_format::f32, .activations = md::activation_format::f32});
    sy::test::reference_file const ref("mixed_gguf/reference.safetensors");
    auto const toks = ref.get(name + ".tokens").as<std::int32_t>();
    auto const a = sy::test::prefill_and_decode(*stored, toks), b = sy::test::prefill_and_decode(*widened, toks);
    sy::index_t const V = stored->config().vocab;
    for (std::size_t r = 0; r < a.size() / static_cast<std::size_t>(V); ++r) {
      INFO("row " << r << " (rows >= " << toks.size() << " are decode steps)");
      CHECK(sy::test::row_error(a.data() + r * V, b.data() + r * V, V) <= tol::model_logits);
    }
  }
}

TEST_CASE("llama-quantize's mixes stay near llama.cpp's logits on the same files", "[model][gguf][mixed]") {
  sy::test::reference_file const ref("mixed_gguf/reference.safetensors");
  for (auto const& name : files) {
    auto const toks = ref.get(name + ".tokens").as<std::int32_t>();
    auto const want = ref.get(name + ".logits").as<float>();
    INFO(name);
    auto lm = md::load(mixed_path(name), {.activations = md::activation_format::int8});
    sy::test::check_near_llama_cpp(*lm, toks, want);
  }
}

TEST_CASE("weights = mixed on a single-format file computes what the typed model computes", "[model][gguf][mixed]") {
  // The shipped model's q8_0 GGUF: every matrix q8_0, so the mixed model holds linear<q8_0> for
  // each and must give the typed model's logits bit for bit.
  auto const path = std::string(SWITCHYARD_TEST_DATA_DIR) + "/../../models/switchyard-tiny-moe/model-q8_0.gguf";
  auto typed = md::load(path);
  auto mixed = md::load(path, {.weights = md::weight_format::mixed});
  std::vector<std::int32_t> const toks = {1, 17, 42, 7, 99, 3, 64, 5, 250, 11};
  auto const a = sy::test::prefill_and_decode(*typed, toks), b = sy::test::prefill_and_decode(*mixed, toks);
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) REQUIRE(a[i] == b[i]);
}
