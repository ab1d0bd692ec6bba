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
// tokenizer itself for anything kind-specific. chat_template(), bos_token() and eos_token() give the
// chat template the files ship (generate/chat_template.hpp renders it).
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

  // By tokenizer.ggml.model: gpt2 or llama; anything else is unsupported_config. The chat template
  // is tokenizer.chat_template, BOS / EOS the texts of tokenizer.ggml.bos_token_id / eos_token_id.
  static tokenizer from_gguf(io::gguf_file const& f) {
    std::string const model = f.get_string("tokenizer.ggml.model");
    if (model != "gpt2" && model != "llama")
      switchyard::detail::fail<unsupported_config>("generate::tokenizer", f.origin(), ": tokenizer.ggml.model '", model,
                                                   "' is not supported (gpt2 and llama are)");
    tokenizer t = model == "gpt2" ? tokenizer(bpe_tokenizer::from_gguf(f)) : tokenizer(spm_tokenizer::from_gguf(f));
    if (f.find_value("tokenizer.chat_template")) t.chat_template_ = f.get_string("tokenizer.chat_template");
    auto token_text = [&](char const* key) -> std::string {
      if (!f.find_value(key)) return {};
      std::int64_t const id = f.get_int(key);
      auto const* tokens = f.find_value("tokenizer.ggml.tokens");
      if (!tokens || !tokens->is_array()) return {};
      auto const& list = std::get<std::vector<io::gguf_value>>(tokens->v);
      require<format_error>(id >= 0 && static_cast<std::size_t>(id) < list.size() && list[static_cast<std::size_t>(id)].is_string(),
                            "generate::tokenizer", f.origin(), ": ", key, " ", id, " is not a token");
      return std::get<std::string>(list[static_cast<std::size_t>(id)].v);
    };
    t.bos_token_ = token_text("tokenizer.ggml.bos_token_id");
    t.eos_token_ = token_text("tokenizer.ggml.eos_token_id");
    return t;
  }

  // A tokenizer.json (or the folder holding one): byte-fallback BPE models are SentencePiece-style.
  // The chat template and the BOS / EOS texts come from tokenizer_config.json beside it (and a
  // chat_template.jinja there, which transformers prefers), where present.
  static tokenizer from_tokenizer_json(std::filesystem::path const& path) {
    std::filesystem::path const p = std::filesystem::is_directory(path) ? path / "tokenizer.json" : path;
    nlohmann::json const j = io::parse_json_unique(io::read_text_file(p, std::uint64_t{256} << 20), p.string());
    auto const& m = j.value("model", nlohmann::json::object());
    tokenizer t = m.is_object() && m.value("byte_fallback", false) ? tokenizer(sentencepiece_bpe::from_tokenizer_json(p))
                                                                   : tokenizer(bpe_tokenizer::from_tokenizer_json(p));
    t.read_tokenizer_config(p.parent_path());
    return t;
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

  // The chat template the model ships (empty: none) and the BOS / EOS texts to render it with.
  std::string const& chat_template() const noexcept { return chat_template_; }
  std::string const& bos_token() const noexcept { return bos_token_; }
  std::string const& eos_token() const noexcept { return eos_token_; }

 private:
  any t_;
  std::string chat_template_, bos_token_, eos_token_;

  // tokenizer_config.json: chat_template is a string, or a list of {name, template} of which the
  // one named "default" is used (as transformers does); bos_token / eos_token are strings or
  // {"content": ...} objects. A chat_template.jinja file in the folder takes precedence.
  void read_tokenizer_config(std::filesystem::path const& dir) {
    constexpr char const* where = "generate::tokenizer";
    std::filesystem::path const cfg = dir / "tokenizer_config.json";
    if (std::filesystem::exists(cfg)) {
      nlohmann::json const j = io::parse_json_unique(io::read_text_file(cfg, std::uint64_t{64} << 20), cfg.string());
      require<format_error>(j.is_object(), where, cfg.string(), ": not a JSON object");
      if (auto it = j.find("chat_template"); it != j.end() && !it->is_null()) {
        if (it->is_string()) {
          chat_template_ = it->get<std::string>();
        } else if (it->is_array()) {
          std::string names;
          for (auto const& e : *it) {
            require<format_error>(e.is_object() && e.contains("name") && e["name"].is_string() && e.contains("template") &&
                                      e["template"].is_string(),
                                  where, cfg.string(), ": chat_template entries must be {\"name\": ..., \"template\": ...}");
            if (e["name"] == "default") chat_template_ = e["template"].get<std::string>();
            names += (names.empty() ? "" : ", ") + e["name"].get<std::string>();
          }
          require<format_error>(!chat_template_.empty(), where, cfg.string(), ": chat_template lists templates (", names,
                                ") but none named 'default'");
        } else {
          switchyard::detail::fail<format_error>(where, cfg.string(), ": chat_template must be a string or a list of {name, template}");
        }
      }
      auto token = [&](char const* key) -> std::string {
        auto it = j.find(key);
        if (it == j.end() || it->is_null()) return {};
        if (it->is_string()) return it->get<std::string>();
        require<format_error>(it->is_object() && it->contains("content") && (*it)["content"].is_string(), where,
                              cfg.string(), ": ", key, " must be a string or {\"content\": ...}");
        return (*it)["content"].get<std::string>();
      };
      bos_token_ = token("bos_token");
      eos_token_ = token("eos_token");
    }
    std::filesystem::path const jinja = dir / "chat_template.jinja";
    if (std::filesystem::exists(jinja)) chat_template_ = io::read_text_file(jinja, std::uint64_t{1} << 20);
  }
};

}  // namespace generate
SWITCHYARD_NAMESPACE_END
