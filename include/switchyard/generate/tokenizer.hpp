#pragma once
// The tokenizer a model folder or GGUF file carries, whichever kind it is:
//
//   GGUF tokenizer.ggml.model = "gpt2"       bpe_tokenizer (byte-level BPE)
//   GGUF tokenizer.ggml.model = "llama"      spm_tokenizer (score-based SentencePiece, as llama.cpp)
//   tokenizer.json, byte-fallback BPE model  sentencepiece_bpe (Llama's tokenizer.json forms)
//   tokenizer.json, other BPE model          bpe_tokenizer
//
// One value type over the three (a std::variant), with what generation needs: encode, decode, the
// text one generated token adds (piece) and the end-of-sequence token. get<T>() reaches the
// tokenizer itself for anything kind-specific.
//
//   auto tok = generate::tokenizer::load("model.gguf");       // or a folder with tokenizer.json
//   auto ids = tok.encode("Hello");                           // BOS first where the vocabulary asks
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

#include "switchyard/core/error.hpp"
#include "switchyard/generate/bpe_tokenizer.hpp"
#include "switchyard/generate/sentencepiece_bpe.hpp"
#include "switchyard/generate/spm_tokenizer.hpp"
#include "switchyard/io/gguf.hpp"
#include "switchyard/io/json.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace generate {

class tokenizer {
 public:
  using any = std::variant<bpe_tokenizer, sentencepiece_bpe, spm_tokenizer>;

  explicit tokenizer(any t) : t_(std::move(t)) {}

  // By tokenizer.ggml.model: gpt2 or llama; anything else is unsupported_config.
  static tokenizer from_gguf(io::gguf_file const& f) {
    std::string const model = f.get_string("tokenizer.ggml.model");
    if (model == "gpt2") return tokenizer(bpe_tokenizer::from_gguf(f));
    if (model == "llama") return tokenizer(spm_tokenizer::from_gguf(f));
    switchyard::detail::fail<unsupported_config>("generate::tokenizer", f.origin(), ": tokenizer.ggml.model '", model,
                                                 "' is not supported (gpt2 and llama are)");
  }

  // A tokenizer.json (or the folder holding one): byte-fallback BPE models are SentencePiece-style.
  static tokenizer from_tokenizer_json(std::filesystem::path const& path) {
    std::filesystem::path const p = std::filesystem::is_directory(path) ? path / "tokenizer.json" : path;
    nlohmann::json const j = io::parse_json_unique(io::read_text_file(p, std::uint64_t{256} << 20), p.string());
    auto const& m = j.value("model", nlohmann::json::object());
    if (m.is_object() && m.value("byte_fallback", false)) return tokenizer(sentencepiece_bpe::from_tokenizer_json(p));
    return tokenizer(bpe_tokenizer::from_tokenizer_json(p));
  }

  // A .gguf file by its metadata, anything else as a tokenizer.json or a folder with one.
  static tokenizer load(std::filesystem::path const& path) {
    if (path.extension() == ".gguf") return from_gguf(io::gguf_file(path));
    return from_tokenizer_json(path);
  }

  std::size_t vocab_size() const {
    return std::visit([](auto const& t) { return t.vocab_size(); }, t_);
  }

  // Token ids of `text`. specials: special tokens in the text are recognized. add_special: BOS /
  // EOS as the vocabulary asks (GGUF add_bos_token / add_eos_token: the llama kind only; the
  // byte-level and tokenizer.json kinds add none).
  std::vector<std::int32_t> encode(std::string_view text, bool specials = true, bool add_special = true) const {
    return std::visit(
        [&](auto const& t) {
          if constexpr (std::is_same_v<std::decay_t<decltype(t)>, spm_tokenizer>)
            return t.encode(text, specials, add_special);
          else
            return t.encode(text, specials);
        },
        t_);
  }

  std::string decode(std::span<std::int32_t const> ids, bool skip_specials = false) const {
    return std::visit([&](auto const& t) { return t.decode(ids, skip_specials); }, t_);
  }

  // The text one generated token adds (no leading space dropped, special tokens add nothing).
  std::string piece(std::int32_t id) const {
    return std::visit([&](auto const& t) { return t.piece(id); }, t_);
  }

  std::int32_t eos_id() const {
    return std::visit([](auto const& t) { return t.eos_id(); }, t_);
  }
  std::int32_t special_id(std::string_view text) const {
    return std::visit([&](auto const& t) { return t.special_id(text); }, t_);
  }

  template <class T>
  T const* get() const noexcept {
    return std::get_if<T>(&t_);
  }

 private:
  any t_;
};

}  // namespace generate
SWITCHYARD_NAMESPACE_END
