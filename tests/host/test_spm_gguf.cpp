// GGUF's SentencePiece vocabulary (tokenizer.ggml.model = "llama") against llama.cpp itself:
// tests/data/spm_reference.json holds llama.cpp's tokenization (every add_special / parse_special
// combination), detokenization (every remove_special / unparse_special combination), pieces,
// attributes and end-of-generation flags for two vocabularies trained with sentencepiece and
// converted by llama.cpp's own converter code (tools/make_spm_reference.py). Also: the tokenizer
// front picks the kind by tokenizer.ggml.model, bad vocabularies are refused by key, and a
// Mixtral-layout GGUF with this vocabulary generates text end to end.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "support/data_dir.hpp"
#include "switchyard/generate/scheduler.hpp"
#include "switchyard/generate/spm_tokenizer.hpp"
#include "switchyard/generate/tokenizer.hpp"
#include "switchyard/io/gguf_writer.hpp"
#include "switchyard/model/load.hpp"

namespace sy = switchyard;
namespace gen = switchyard::generate;
namespace io = switchyard::io;

namespace {

std::string const data_dir = SWITCHYARD_TEST_DATA_DIR;

nlohmann::json const& reference() {
  static nlohmann::json const j = [] {
    std::ifstream f(data_dir + "/spm_reference.json");
    return nlohmann::json::parse(f);
  }();
  return j;
}

// A string, or {"hex": "..."} for bytes that are not UTF-8.
std::string bytes_of(nlohmann::json const& x) {
  if (x.is_string()) return x.get<std::string>();
  std::string const h = x.at("hex").get<std::string>();
  std::string out;
  for (std::size_t i = 0; i + 1 < h.size(); i += 2) out += static_cast<char>(std::stoi(h.substr(i, 2), nullptr, 16));
  return out;
}

std::string printable(std::string const& s) {
  std::string out;
  for (unsigned char c : s) {
    if (c >= 0x20 && c != 0x7f) {
      out += static_cast<char>(c);
    } else {
      char b[8];
      std::snprintf(b, sizeof b, "\\x%02x", c);
      out += b;
    }
  }
  return out;
}

std::filesystem::path temp_dir(std::string const& name) {
  auto p = std::filesystem::temp_directory_path() / ("switchyard_test_spm_" + name);
  std::filesystem::remove_all(p);
  std::filesystem::create_directories(p);
  return p;
}

// Every metadata key of `f` into a writer (tensors not copied).
io::gguf_writer copy_metadata(io::gguf_file const& f) {
  io::gguf_writer w;
  for (auto const& [k, v] : f.values())
    if (k != "general.alignment") w.set(k, v);
  return w;
}

// The message of the format_error `f` throws, or "" (no error, or another type).
template <class F>
std::string format_error_of(F&& f) {
  try {
    f();
  } catch (sy::format_error const& e) {
    return e.what();
  } catch (...) {
    return "(another exception)";
  }
  return "";
}

}  // namespace

TEST_CASE("spm_tokenizer from GGUF equals llama.cpp: ids, text, pieces, attributes", "[generate][spm]") {
  auto const& ref = reference();
  for (auto const& [name, v] : ref.at("vocabs").items()) {
    INFO("vocabulary " << name);
    io::gguf_file const f(data_dir + "/" + v.at("file").get<std::string>());
    auto const tok = gen::spm_tokenizer::from_gguf(f);
    REQUIRE(tok.vocab_size() == v.at("n_tokens").get<std::size_t>());
    CHECK(tok.bos_id() == v.at("bos").get<int>());
    CHECK(tok.eos_id() == v.at("eos").get<int>());
    CHECK(tok.add_bos() == (v.at("add_bos").get<int>() != 0));
    CHECK(tok.add_eos() == (v.at("add_eos").get<int>() != 0));

    auto const& tokens = v.at("tokens");
    int bad_tokens = 0;
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      auto const id = static_cast<std::int32_t>(i);
      auto const& t = tokens[i];  // [attr, eog, piece, piece with specials if it differs]
      std::string const piece = bytes_of(t[2]);
      std::string const piece_special = t.size() > 3 ? bytes_of(t[3]) : piece;
      bool const ok = tok.attributes(id) == t[0].get<std::uint32_t>() &&
                      tok.is_end_of_generation(id) == (t[1].get<int>() != 0) && tok.piece(id) == piece &&
                      tok.piece(id, true) == piece_special;
      if (!ok && ++bad_tokens <= 5) {
        INFO("token " << id << " '" << printable(tok.token(id)) << "': attr " << tok.attributes(id) << " vs " << t[0]
                      << ", piece '" << printable(tok.piece(id)) << "' vs '" << printable(piece) << "'");
        CHECK(ok);
      }
    }
    CHECK(bad_tokens == 0);

    static char const* const modes[] = {"00", "01", "10", "11"};
    for (auto const& c : v.at("cases")) {
      std::string const text = bytes_of(c.at("text"));
      INFO("text: '" << printable(text) << "'");
      for (char const* m : modes) {
        bool const add_special = m[0] == '1', parse_special = m[1] == '1';
        INFO("add_special " << add_special << ", parse_special " << parse_special);
        CHECK(tok.encode(text, parse_special, add_special) == c.at("ids").at(m).get<std::vector<std::int32_t>>());
      }
      for (char const* which : {"00", "11"}) {
        auto const ids = c.at("ids").at(which).get<std::vector<std::int32_t>>();
        for (char const* m : modes) {
          bool const remove_special = m[0] == '1', unparse_special = m[1] == '1';
          INFO("decoding the ids of mode " << which << " with remove_special " << remove_special << ", unparse_special "
                                           << unparse_special);
          CHECK(printable(tok.detokenize(ids, remove_special, unparse_special)) ==
                printable(bytes_of(c.at("decoded").at(which).at(m))));
        }
      }
    }
  }
}

TEST_CASE("spm_tokenizer: decode and piece by the llama.cpp rules that matter for generation", "[generate][spm]") {
  auto const tok = gen::spm_tokenizer::from_gguf(io::gguf_file(data_dir + "/spm_vocab_bpe.gguf"));
  auto const ids = tok.encode("Hello world");
  REQUIRE(ids.size() >= 2);
  CHECK(ids.front() == tok.bos_id());
  CHECK(tok.decode(ids) == "<s> Hello world");  // as llama.cpp's common_detokenize(special = true)
  CHECK(tok.decode(std::span(ids).subspan(1)) == "Hello world");
  std::string streamed;  // what generation appends token by token
  for (auto id : std::span(ids).subspan(1)) streamed += tok.piece(id);
  CHECK(streamed == " Hello world");
  CHECK(tok.special_id("</s>") == tok.eos_id());
  CHECK(tok.special_id("Hello") == -1);
  CHECK_THROWS_AS(tok.decode(std::vector<std::int32_t>{static_cast<std::int32_t>(tok.vocab_size())}),
                  sy::invalid_argument);
  CHECK_THROWS_AS(tok.piece(-1), sy::invalid_argument);
}

TEST_CASE("the tokenizer front picks the kind a GGUF or tokenizer.json carries", "[generate][spm]") {
  auto const spm = gen::tokenizer::load(data_dir + "/spm_vocab_bpe.gguf");
  REQUIRE(spm.get<gen::spm_tokenizer>() != nullptr);
  CHECK(spm.encode("a<s>b") == spm.get<gen::spm_tokenizer>()->encode("a<s>b", true, true));
  CHECK(spm.encode("a<s>b", false, false) == spm.get<gen::spm_tokenizer>()->encode("a<s>b", false, false));
  CHECK(spm.eos_id() == 2);
  std::string const shipped = data_dir + "/../../models/switchyard-tiny-moe";
  auto const bpe = gen::tokenizer::load(shipped + "/model-q8_0.gguf");
  REQUIRE(bpe.get<gen::bpe_tokenizer>() != nullptr);
  CHECK(bpe.encode("def f(x):") == bpe.get<gen::bpe_tokenizer>()->encode("def f(x):"));
  CHECK(gen::tokenizer::load(shipped).get<gen::bpe_tokenizer>() != nullptr);
  CHECK(gen::tokenizer::load(data_dir + "/tokenizer_spm.json").get<gen::sentencepiece_bpe>() != nullptr);
  // piece(): what generation appends token by token, for every kind (the SentencePiece kinds keep
  // the space their encoding prepended; a character spelled in byte tokens comes back whole).
  std::string const text = "hello  w\xc3\xb6rld \xe2\x82\xac\xf0\x9f\xa6\x99";
  for (auto const* t : {&spm, &bpe}) {
    std::string s;
    for (auto id : t->encode(text, true, false)) s += t->piece(id);
    CHECK(s == (t == &spm ? " " : "") + text);
  }
  auto const hf = gen::tokenizer::load(data_dir + "/tokenizer_spm.json");
  std::string s;
  for (auto id : hf.encode(text)) s += hf.piece(id);
  CHECK(s == " " + text);
  CHECK(hf.eos_id() == hf.special_id("</s>"));

  auto const dir = temp_dir("front");
  io::gguf_file const f(data_dir + "/spm_vocab_bpe.gguf");
  auto w = copy_metadata(f);
  w.set_string("tokenizer.ggml.model", "bert");
  w.write((dir / "bert.gguf").string());
  CHECK_THROWS_AS(gen::tokenizer::load(dir / "bert.gguf"), sy::unsupported_config);
  CHECK_THROWS_AS(gen::bpe_tokenizer::from_gguf(f), sy::unsupported_config);
  CHECK_THROWS_AS(gen::spm_tokenizer::from_gguf(io::gguf_file(shipped + "/model-q8_0.gguf")), sy::unsupported_config);
  std::filesystem::remove_all(dir);
}

TEST_CASE("spm_tokenizer refuses bad vocabularies with a format_error naming the key", "[generate][spm]") {
  io::gguf_file const f(data_dir + "/spm_vocab_bpe.gguf");
  auto const n = static_cast<std::int64_t>(gen::spm_tokenizer::from_gguf(f).vocab_size());
  auto const dir = temp_dir("bad");
  auto array = [&](char const* key) { return std::get<std::vector<io::gguf_value>>(f.find_value(key)->v); };
  auto set_array = [](io::gguf_writer& w, char const* key, io::gguf_type elem, std::vector<io::gguf_value> items) {
    w.set(key, {io::gguf_type::array, elem, std::move(items)});
  };
  int k = 0;
  auto expect = [&](std::string const& key, auto&& edit) {
    auto w = copy_metadata(f);
    edit(w);
    auto const path = dir / ("v" + std::to_string(k++) + ".gguf");
    w.write(path.string());
    INFO("expected a format_error naming " << key);
    std::string const what = format_error_of([&] { gen::spm_tokenizer::from_gguf(io::gguf_file(path)); });
    INFO("got: " << what);
    CHECK(what.find(key) != std::string::npos);
    CHECK(what.find(path.filename().string()) != std::string::npos);
  };
  auto scores = array("tokenizer.ggml.scores");
  auto types = array("tokenizer.ggml.token_type");
  auto tokens = array("tokenizer.ggml.tokens");

  // Missing, mistyped or mismatched arrays.
  auto without = [&](char const* key) {
    return [&f, key](io::gguf_writer& w) {
      w = io::gguf_writer();
      for (auto const& [k2, v] : f.values())
        if (k2 != key && k2 != "general.alignment") w.set(k2, v);
    };
  };
  expect("tokenizer.ggml.scores", without("tokenizer.ggml.scores"));
  expect("tokenizer.ggml.tokens", without("tokenizer.ggml.tokens"));
  expect("tokenizer.ggml.scores", [&](io::gguf_writer& w) {
    auto s = scores;
    s.pop_back();
    set_array(w, "tokenizer.ggml.scores", io::gguf_type::f32, s);
  });
  expect("tokenizer.ggml.scores", [&](io::gguf_writer& w) { w.set_f32("tokenizer.ggml.scores", 1.0f); });
  expect("tokenizer.ggml.scores", [&](io::gguf_writer& w) {
    auto s = scores;
    s[5] = {io::gguf_type::string, io::gguf_type::u8, std::string("x")};
    set_array(w, "tokenizer.ggml.scores", io::gguf_type::string, std::vector<io::gguf_value>(s.size(), s[5]));
  });
  expect("tokenizer.ggml.token_type", [&](io::gguf_writer& w) {
    auto t = types;
    t.push_back(t.back());
    set_array(w, "tokenizer.ggml.token_type", io::gguf_type::i32, t);
  });
  expect("tokenizer.ggml.token_type", [&](io::gguf_writer& w) {
    auto t = types;
    t[10] = {io::gguf_type::i32, io::gguf_type::u8, std::int64_t{9}};
    set_array(w, "tokenizer.ggml.token_type", io::gguf_type::i32, t);
  });
  expect("tokenizer.ggml.tokens", [&](io::gguf_writer& w) {
    std::vector<io::gguf_value> ints(tokens.size(), {io::gguf_type::u32, io::gguf_type::u8, std::uint64_t{1}});
    set_array(w, "tokenizer.ggml.tokens", io::gguf_type::u32, ints);
  });
  expect("tokenizer.ggml.tokens", [&](io::gguf_writer& w) {  // two tokens with one text
    auto t = tokens;
    t[300] = t[301];
    set_array(w, "tokenizer.ggml.tokens", io::gguf_type::string, t);
  });
  expect("tokenizer.ggml.token_type", [&](io::gguf_writer& w) {  // a byte token that is not <0xXX>
    auto t = types;
    t[400] = {io::gguf_type::i32, io::gguf_type::u8, std::int64_t{6}};
    set_array(w, "tokenizer.ggml.token_type", io::gguf_type::i32, t);
  });
  // Special token ids outside the vocabulary.
  for (char const* key :
       {"tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id", "tokenizer.ggml.unknown_token_id",
        "tokenizer.ggml.padding_token_id", "tokenizer.ggml.eot_token_id", "tokenizer.ggml.fim_pre_token_id"})
    expect(key, [&](io::gguf_writer& w) { w.set_u32(key, static_cast<std::uint32_t>(n)); });
  expect("tokenizer.ggml.bos_token_id", [&](io::gguf_writer& w) { w.set_i32("tokenizer.ggml.bos_token_id", -3); });
  expect("tokenizer.ggml.add_bos_token", [&](io::gguf_writer& w) { w.set_u32("tokenizer.ggml.add_bos_token", 1); });
  std::filesystem::remove_all(dir);

  // Constructed by hand: the same checks; a symbol with neither a token nor byte tokens is refused.
  gen::spm_tokenizer::vocabulary v{.tokens = {"<unk>", "a"},
                                   .scores = {0.0f},
                                   .attrs = {gen::spm_tokenizer::attr_unknown, gen::spm_tokenizer::attr_normal},
                                   .bos = -1,
                                   .eos = -1,
                                   .add_bos = false};
  CHECK_THROWS_AS(gen::spm_tokenizer(v), sy::format_error);  // one score for two tokens
  v.scores.push_back(0.0f);
  CHECK_THROWS_AS(gen::spm_tokenizer(v).encode("a"), sy::format_error);  // "\u2581": no token, no <0xE2>
  v.add_space_prefix = false;
  CHECK(gen::spm_tokenizer(v).encode("a") == std::vector<std::int32_t>{1});
  v.add_bos = true;
  CHECK_THROWS_AS(gen::spm_tokenizer(v), sy::format_error);  // add_bos without a BOS token
}

TEST_CASE("a Mixtral-layout GGUF with a llama vocabulary generates end to end", "[generate][spm]") {
  // The tiny Mixtral test model (vocabulary 256, no tokenizer) with the trained vocabulary's
  // tokenizer.* keys and its embedding / output rows repeated to the vocabulary's size.
  io::gguf_file const model(data_dir + "/models/mixtral/model.gguf");
  io::gguf_file const vocab(data_dir + "/spm_vocab_bpe.gguf");
  auto const n = static_cast<std::int64_t>(gen::spm_tokenizer::from_gguf(vocab).vocab_size());
  io::gguf_writer w = copy_metadata(model);
  for (auto const& [k, v] : vocab.values())
    if (k.rfind("tokenizer.", 0) == 0) w.set(k, v);
  w.set_u32("llama.vocab_size", static_cast<std::uint32_t>(n));
  std::vector<std::vector<float>> grown;
  grown.reserve(2);
  for (auto const& t : model.tensors()) {
    if (t.name != "token_embd.weight" && t.name != "output.weight") {
      w.add_tensor(t.name, t.dtype, t.shape, t.data);
      continue;
    }
    REQUIRE(t.dtype == io::dtype::f32);
    auto const rows = t.shape[0], cols = t.shape[1];
    auto& g = grown.emplace_back(static_cast<std::size_t>(n * cols));
    for (std::int64_t i = 0; i < n; ++i)
      std::memcpy(g.data() + i * cols, t.data.data() + (i % rows) * cols * 4, static_cast<std::size_t>(cols) * 4);
    w.add_tensor(t.name, io::dtype::f32, {n, cols}, std::as_bytes(std::span<float const>(g)));
  }
  auto const dir = temp_dir("mixtral");
  auto const path = dir / "mixtral-spm.gguf";
  w.write(path.string());
  // CTest asks for a copy where examples/generate runs it ("example: generate a Mixtral GGUF with
  // its SentencePiece vocabulary").
  if (char const* out = std::getenv("SWITCHYARD_SPM_MIXTRAL_OUT"))
    std::filesystem::copy_file(path, out, std::filesystem::copy_options::overwrite_existing);

  auto lm = sy::model::load(path);
  auto const tok = gen::tokenizer::load(path);
  REQUIRE(tok.get<gen::spm_tokenizer>() != nullptr);
  auto const prompt = tok.encode("Hello world");
  CHECK(prompt.front() == 1);  // BOS, as add_bos_token asks
  std::string streamed;
  gen::scheduler sched(*lm, tok);
  sched.submit({.prompt = prompt, .max_tokens = 12, .stop_at_eos = false, .on_text = [&](std::string_view s) {
                  streamed += s;
                }});
  sched.run();
  auto const& r = sched.results()[0];
  CHECK(r.reason == gen::finish_reason::length);
  REQUIRE(r.tokens.size() == 12);
  std::string pieces;
  for (auto id : r.tokens) {
    CHECK((id >= 0 && id < n));
    pieces += tok.piece(id);
  }
  CHECK(r.text == pieces);
  CHECK(streamed == r.text);
  lm.reset();
  std::filesystem::remove_all(dir);
}
