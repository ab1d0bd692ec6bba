// A folder's tokenizer.json written as GGUF tokenizer metadata (generate/tokenizer_gguf.hpp, what
// examples/quantize writes so its output loads in llama.cpp):
// - for the shipped model, the keys equal those of its q8_0 GGUF, written by the gguf package with
//   llama.cpp's names (tools/train_small_model.py);
// - for each pre-tokenizer (Qwen2, GPT-2, Llama 3, DeepSeek-V3), a GGUF holding only the metadata
//   tokenizes Hugging Face tokenizers' reference texts to the reference ids (tests/data, made by
//   tools/make_tokenizer_reference.py);
// - padding to the model's vocabulary, and the refusals.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "support/data_dir.hpp"
#include "switchyard/generate/tokenizer.hpp"
#include "switchyard/generate/tokenizer_gguf.hpp"
#include "switchyard/io/gguf_writer.hpp"

namespace sy = switchyard;
namespace gen = switchyard::generate;
namespace io = switchyard::io;

namespace {

std::string const data_dir = SWITCHYARD_TEST_DATA_DIR;
std::string const shipped = data_dir + "/../../models/switchyard-tiny-moe";

bool same(io::gguf_value const& a, io::gguf_value const& b) {
  if (a.type != b.type || a.v.index() != b.v.index()) return false;
  switch (a.v.index()) {  // std::variant's == would need gguf_value's (arrays hold gguf_values)
    case 0: return std::get<0>(a.v) == std::get<0>(b.v);
    case 1: return std::get<1>(a.v) == std::get<1>(b.v);
    case 2: return std::get<2>(a.v) == std::get<2>(b.v);
    case 3: return std::get<3>(a.v) == std::get<3>(b.v);
    case 4: return std::get<4>(a.v) == std::get<4>(b.v);
    default: break;
  }
  auto const& x = std::get<std::vector<io::gguf_value>>(a.v);
  auto const& y = std::get<std::vector<io::gguf_value>>(b.v);
  if (a.elem_type != b.elem_type || x.size() != y.size()) return false;
  for (std::size_t i = 0; i < x.size(); ++i)
    if (!same(x[i], y[i])) return false;
  return true;
}

io::gguf_value const* find(std::vector<std::pair<std::string, io::gguf_value>> const& kv, std::string const& key) {
  for (auto const& [k, v] : kv)
    if (k == key) return &v;
  return nullptr;
}

// A GGUF file holding only `kv`.
std::filesystem::path write_metadata(std::vector<std::pair<std::string, io::gguf_value>> const& kv, std::string const& name) {
  auto const dir = std::filesystem::temp_directory_path() / "switchyard_test_tokenizer_gguf";
  std::filesystem::create_directories(dir);
  io::gguf_writer w;
  for (auto const& [k, v] : kv) w.set(k, v);
  auto const path = dir / (name + ".gguf");
  w.write(path.string());
  return path;
}

}  // namespace

TEST_CASE("the shipped model's tokenizer.json gives the tokenizer keys of its GGUF", "[generate][gguf]") {
  auto const kv = gen::tokenizer_gguf_metadata(shipped, 2048);
  io::gguf_file const f(shipped + "/model-q8_0.gguf");
  for (char const* key : {"tokenizer.ggml.model", "tokenizer.ggml.pre", "tokenizer.ggml.tokens", "tokenizer.ggml.token_type",
                          "tokenizer.ggml.merges", "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id"}) {
    INFO(key);
    auto const* want = f.find_value(key);
    auto const* got = find(kv, key);
    REQUIRE(want != nullptr);
    REQUIRE(got != nullptr);
    CHECK(same(*got, *want));
  }
}

TEST_CASE("GGUF tokenizer metadata from tokenizer.json tokenizes as Hugging Face does, for every pre-tokenizer",
          "[generate][gguf]") {
  std::ifstream in(data_dir + "/tokenizer_reference.json");
  nlohmann::json const ref = nlohmann::json::parse(in);
  struct variant {
    char const* name;
    std::string json;
    char const* pre;
  };
  for (auto const& v : {variant{"qwen2", shipped + "/tokenizer.json", "qwen2"},
                        variant{"gpt2", data_dir + "/tokenizer_gpt2_variant.json", "gpt-2"},
                        variant{"llama3", data_dir + "/tokenizer_llama3_variant.json", "llama-bpe"},
                        variant{"deepseek_v3", data_dir + "/tokenizer_deepseek_v3_variant.json", "deepseek-v3"}}) {
    INFO(v.name);
    auto const plain = gen::tokenizer::from_tokenizer_json(v.json);
    auto const vocab = static_cast<std::int64_t>(plain.vocab_size());
    auto const kv = gen::tokenizer_gguf_metadata(v.json, vocab);
    REQUIRE(find(kv, "tokenizer.ggml.pre") != nullptr);
    CHECK(std::get<std::string>(find(kv, "tokenizer.ggml.pre")->v) == v.pre);
    auto const tok = gen::tokenizer::load(write_metadata(kv, v.name));
    CHECK(tok.vocab_size() == plain.vocab_size());
    for (auto const& c : ref.at(v.name)) {
      std::string const text = c.at("text").get<std::string>();
      INFO("text: " << text);
      auto const ids = tok.encode(text);
      CHECK(ids == c.at("ids").get<std::vector<std::int32_t>>());
      CHECK(tok.decode(ids) == c.at("decoded").get<std::string>());
    }
  }
}

TEST_CASE("GGUF tokenizer metadata pads to the model's vocabulary and refuses what it cannot write", "[generate][gguf]") {
  auto const kv = gen::tokenizer_gguf_metadata(shipped, 2050);
  auto const& tokens = std::get<std::vector<io::gguf_value>>(find(kv, "tokenizer.ggml.tokens")->v);
  auto const& types = std::get<std::vector<io::gguf_value>>(find(kv, "tokenizer.ggml.token_type")->v);
  REQUIRE(tokens.size() == 2050);
  REQUIRE(types.size() == 2050);
  CHECK(std::get<std::string>(tokens[2049].v) == "[PAD2049]");
  CHECK(std::get<std::int64_t>(types[2049].v) == 5);
  CHECK(std::get<std::int64_t>(types[0].v) == 3);  // <|endoftext|>: a special added token, control
  CHECK(std::get<std::int64_t>(types[1].v) == 1);
  auto const tok = gen::tokenizer::load(write_metadata(kv, "padded"));
  CHECK(tok.encode("def f(x):\n    return x") == gen::tokenizer::load(shipped).encode("def f(x):\n    return x"));

  CHECK_THROWS_WITH(gen::tokenizer_gguf_metadata(shipped, 2000), Catch::Contains("2048 tokens for a model with a vocabulary of 2000"));
  CHECK_THROWS_AS(gen::tokenizer_gguf_metadata(data_dir + "/tokenizer_spm.json", 1 << 20), sy::unsupported_config);
  CHECK_THROWS_WITH(gen::tokenizer_gguf_metadata(data_dir + "/tokenizer_spm.json", 1 << 20),
                    Catch::Contains("byte-fallback (SentencePiece-style) tokenizer is not written to GGUF yet"));
}
