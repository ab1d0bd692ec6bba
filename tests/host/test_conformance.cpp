// The llama.cpp conformance suite (tests/data/conformance, made by tools/make_conformance_reference.py):
// every architecture switchyard loads from GGUF (llama, Mixtral, Qwen2-MoE, Qwen3-MoE, OLMoE,
// DeepSeek-V3 as deepseek2, gpt-oss) x every quant type people download (f16, bf16, q8_0, q4_0,
// q4_1, q5_0, q5_1, q2_K, q3_K, q4_K, q5_K, q6_K, iq4_nl, iq4_xs, mxfp4), in files that
// llama.cpp's converter layout and llama.cpp's own llama-quantize made: two "rotations" per
// architecture that between them hold every type (and, over the architectures, every type on an
// expert bank and on a dense matrix), and llama-quantize's Q4_K_M mix. Each file is loaded with every matrix in the format it is
// stored in, and:
// - with f32 activations, its logits at every position (one prefill call, then one token per call)
//   are within tolerance::conformance_logits of a float64 NumPy forward pass of the same file;
// - its greedy continuation of the prompt equals llama.cpp's, with f32 activations, with int8
//   activations (llama.cpp's arithmetic; matrices without an int8 kernel take f32) and with what
//   model::load picks by default;
// - with int8 activations its logits stay near llama.cpp's (check_near_llama_cpp).
// The prompts were chosen so that these are well posed: llama.cpp's greedy tokens equal the
// float64 argmax with a margin of 2% of the row at every step, and no expert choice is within 1e-3
// of a tie in float64.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <set>
#include <fstream>
#include <nlohmann/json.hpp>
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

struct conformance_case {
  std::string file, arch;
  std::size_t prompt = 0, generated = 0;
  std::vector<std::string> types;
};

std::filesystem::path data_dir() { return std::filesystem::path(SWITCHYARD_TEST_DATA_DIR) / "conformance"; }

std::vector<conformance_case> const& cases() {
  static std::vector<conformance_case> const all = [] {
    std::ifstream f(data_dir() / "cases.json");
    if (!f) throw std::runtime_error("cannot open tests/data/conformance/cases.json (tools/make_conformance_reference.py)");
    std::vector<conformance_case> v;
    for (auto const& c : nlohmann::json::parse(f))
      v.push_back({c.at("file").get<std::string>(), c.at("arch").get<std::string>(), c.at("prompt").get<std::size_t>(),
                   c.at("new").get<std::size_t>(), c.at("types").get<std::vector<std::string>>()});
    return v;
  }();
  return all;
}

sy::test::reference_file const& reference() {
  static sy::test::reference_file const ref("conformance/reference.safetensors");
  return ref;
}

std::string path_of(conformance_case const& c) { return (data_dir() / c.file).string(); }



// Greedy continuation: the prompt in one call, then `n` tokens, each the argmax of the last logits.
std::vector<std::int32_t> greedy(md::language_model& lm, std::vector<std::int32_t> const& prompt, std::size_t n) {
  sy::index_t const V = lm.config().vocab;
  std::vector<float> logits(static_cast<std::size_t>(V));
  std::vector<std::int32_t> out;
  auto seq = lm.new_sequence();
  std::vector<std::int32_t> feed = prompt;
  for (std::size_t i = 0; i < n; ++i) {
    md::step const s{&seq, feed};
    lm.forward(std::span<md::step const>(&s, 1), sy::make_view(logits.data(), 1, V));
    auto const next = static_cast<std::int32_t>(sy::test::argmax(logits.data(), V));
    out.push_back(next);
    feed = {next};
  }
  lm.release(seq);
  return out;
}

// Runs `check` for every case of every architecture, each under its own INFO.
template <class F>
void for_each_case(F&& check) {
  REQUIRE(cases().size() >= 7 * 3);
  for (auto const& c : cases()) {
    INFO(c.file << " (types:" << [&] {
      std::string s;
      for (auto const& t : c.types) s += " " + t;
      return s;
    }() << ")");
    check(c);
  }
}

}  // namespace

TEST_CASE("conformance: the suite covers every architecture x type", "[model][gguf][conformance]") {
  // What the files hold (read from them, not from cases.json): each architecture's files between
  // them hold every type, so a type the loader cannot compute fails below rather than being absent.
  std::vector<std::string> const archs = {"llama", "mixtral", "qwen2moe", "qwen3moe", "olmoe", "deepseek2", "gpt-oss"};
  std::vector<std::string> const types = {"f16", "bf16", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q2_K",
                                          "q3_K", "q4_K", "q5_K", "q6_K", "iq4_nl", "iq4_xs", "mxfp4"};
  for (auto const& arch : archs) {
    std::set<std::string> held;
    for (auto const& c : cases()) {
      if (c.arch != arch) continue;
      sy::io::gguf_file const f(path_of(c));
      CHECK(f.get_string("general.architecture") == (arch == "mixtral" ? "llama" : arch));
      for (auto const& t : f.tensors())
        if (t.shape.size() >= 2) held.insert(std::string(sy::io::info(t.dtype).name));
    }
    for (auto const& t : types) {
      INFO(arch << " " << t);
      CHECK(held.count(t) == 1);
    }
  }
}

TEST_CASE("conformance: f32 activations are within 1e-5 of the float64 forward pass", "[model][gguf][conformance]") {
  for_each_case([](conformance_case const& c) {
    auto lm = md::load(path_of(c), {.activations = md::activation_format::f32});
    auto const toks = reference().get(c.file + ".tokens").as<std::int32_t>();
    auto const want = reference().get(c.file + ".logits64").as<float>();
    sy::index_t const V = lm->config().vocab, T = static_cast<sy::index_t>(toks.size());
    REQUIRE(want.size() == static_cast<std::size_t>(T * V));
    auto const got = sy::test::prefill_and_decode(*lm, toks);
    double worst = 0;
    for (sy::index_t r = 0; r < 2 * T; ++r) {
      double const e = sy::test::row_error(got.data() + r * V, want.data() + (r % T) * V, V);
      worst = std::max(worst, e);
      INFO("row " << r << " (rows >= " << T << " are decode steps)");
      CHECK(e <= tol::conformance_logits);
    }
    UNSCOPED_INFO(c.file << ": worst row " << worst);
  });
}

TEST_CASE("conformance: greedy tokens equal llama.cpp's", "[model][gguf][conformance]") {
  for_each_case([](conformance_case const& c) {
    auto const toks = reference().get(c.file + ".tokens").as<std::int32_t>();
    REQUIRE(toks.size() == c.prompt + c.generated);
    std::vector<std::int32_t> const prompt(toks.begin(), toks.begin() + static_cast<std::ptrdiff_t>(c.prompt));
    std::vector<std::int32_t> const want(toks.begin() + static_cast<std::ptrdiff_t>(c.prompt), toks.end());
    for (auto act : {md::activation_format::f32, md::activation_format::int8, md::activation_format::automatic}) {
      INFO("activations " << (act == md::activation_format::f32 ? "f32" : act == md::activation_format::int8 ? "int8" : "auto"));
      auto lm = md::load(path_of(c), {.activations = act});
      CHECK(greedy(*lm, prompt, c.generated) == want);
    }
  });
}

TEST_CASE("conformance: int8 activations stay near llama.cpp's logits", "[model][gguf][conformance]") {
  for_each_case([](conformance_case const& c) {
    auto lm = md::load(path_of(c), {.activations = md::activation_format::int8});
    sy::test::check_near_llama_cpp(*lm, reference().get(c.file + ".tokens").as<std::int32_t>(),
                                   reference().get(c.file + ".llama_logits").as<float>());
  });
}
