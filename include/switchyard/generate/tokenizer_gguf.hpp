#pragma once
// A model folder's tokenizer as the GGUF metadata llama.cpp's converter (convert_hf_to_gguf.py)
// writes for it, so a GGUF made from a safetensors folder (examples/quantize) carries its tokenizer
// and loads in llama.cpp as well as in switchyard. Byte-level BPE tokenizer.json files (Qwen2/3,
// Llama 3, DeepSeek-V3, GPT-2 / OLMoE pre-tokenizers):
//
//   tokenizer.ggml.model   "gpt2"
//   tokenizer.ggml.pre     llama.cpp's name of the pre-tokenizer (qwen2, llama-bpe, deepseek-v3, gpt-2)
//   tokenizer.ggml.tokens  every id's text, padded to the model's vocabulary with "[PAD<id>]"
//   tokenizer.ggml.token_type  1 normal, 3 control (special added tokens), 4 user-defined (other
//                          added tokens), 5 unused (padding)
//   tokenizer.ggml.merges  "left right", in rank order
//   tokenizer.ggml.bos_token_id / eos_token_id   config.json's ids, else tokenizer_config.json's texts
//   tokenizer.ggml.add_bos_token                 tokenizer_config.json's add_bos_token, when given
//   tokenizer.chat_template                      the chat template generate::tokenizer finds
//
// Others (byte-fallback SentencePiece-style tokenizer.json files) throw unsupported_config.
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "switchyard/generate/bpe_common.hpp"
#include "switchyard/generate/bpe_tokenizer.hpp"
#include "switchyard/generate/tokenizer.hpp"
#include "switchyard/io/gguf.hpp"
#include "switchyard/io/json.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace generate {

// llama.cpp's tokenizer.ggml.pre for each pre-tokenizer switchyard implements.
constexpr char const* gguf_pre_name(pretokenizer p) {
  switch (p) {
    case pretokenizer::qwen2: return "qwen2";
    case pretokenizer::llama3: return "llama-bpe";
    case pretokenizer::deepseek_v3: return "deepseek-v3";
    case pretokenizer::gpt2: return "gpt-2";
  }
  return "default";
}

namespace detail {
inline io::gguf_value gguf_string(std::string s) { return {io::gguf_type::string, io::gguf_type::u8, std::move(s)}; }
inline io::gguf_value gguf_u32(std::uint64_t x) { return {io::gguf_type::u32, io::gguf_type::u8, x}; }
inline io::gguf_value gguf_array(io::gguf_type elem, std::vector<io::gguf_value> items) {
  return {io::gguf_type::array, elem, std::move(items)};
}
// config.json's `key` as a token id: an integer, or the first of a list (transformers allows both).
inline std::int64_t config_token_id(nlohmann::json const& config, char const* key) {
  auto it = config.find(key);
  if (it == config.end()) return -1;
  if (it->is_array() && !it->empty()) it = it->begin();
  return it->is_number_integer() ? it->get<std::int64_t>() : -1;
}
}  // namespace detail

// `where_from`: a folder with tokenizer.json (and maybe tokenizer_config.json, config.json,
// chat_template.jinja), or a tokenizer.json file (those files then beside it); `vocab`: the model's
// embedding rows (the token list is padded to it; a longer list is an error).
inline std::vector<std::pair<std::string, io::gguf_value>> tokenizer_gguf_metadata(std::filesystem::path const& where_from,
                                                                                    std::int64_t vocab) {
  char const* where = "generate::tokenizer_gguf_metadata";
  bool const is_folder = std::filesystem::is_directory(where_from);
  std::filesystem::path const path = is_folder ? where_from / "tokenizer.json" : where_from;
  std::filesystem::path const folder = is_folder ? where_from : where_from.parent_path();
  std::string const file = path.string();
  nlohmann::json const j = io::parse_json_unique(io::read_text_file(path, std::uint64_t{256} << 20), file);
  auto const& m = j.value("model", nlohmann::json::object());
  require<unsupported_config>(m.is_object() && !m.value("byte_fallback", false), where, file,
                              ": a byte-fallback (SentencePiece-style) tokenizer is not written to GGUF yet; only byte-level BPE is");
  // Validates the whole tokenizer (unsupported pre-tokenizers throw here); gives its pre-tokenizer,
  // the chat template and the BOS / EOS texts. Not byte-fallback, so the front holds a bpe_tokenizer.
  tokenizer const full = tokenizer::from_tokenizer_json(path);
  pretokenizer const pre = full.get<bpe_tokenizer>()->pre();

  std::vector<std::string> tokens = detail::read_vocab(m.value("vocab", nlohmann::json::object()), file, where);
  std::vector<std::int64_t> types(tokens.size(), 1);
  nlohmann::json const added = j.value("added_tokens", nlohmann::json::array());
  detail::read_added_tokens(added, tokens, false, file, where);  // their texts into tokens
  types.resize(tokens.size(), 1);
  for (auto const& a : added) types[a.value("id", std::size_t{0})] = a.value("special", false) ? 3 : 4;
  require<format_error>(static_cast<std::int64_t>(tokens.size()) <= vocab, where, file, ": ", tokens.size(),
                        " tokens for a model with a vocabulary of ", vocab);
  tokens.resize(static_cast<std::size_t>(vocab));
  types.resize(static_cast<std::size_t>(vocab), 5);
  for (std::size_t i = 0; i < tokens.size(); ++i)
    if (tokens[i].empty()) {  // an id no token has, or padding past the tokenizer's vocabulary
      tokens[i] = "[PAD" + std::to_string(i) + "]";
      types[i] = 5;
    }

  std::vector<io::gguf_value> token_values, type_values, merge_values;
  for (auto& t : tokens) token_values.push_back(detail::gguf_string(std::move(t)));
  for (auto t : types) type_values.push_back({io::gguf_type::i32, io::gguf_type::u8, t});
  for (auto& [l, r] : detail::read_merges(m.value("merges", nlohmann::json::array()), file, where))
    merge_values.push_back(detail::gguf_string(l + " " + r));

  std::vector<std::pair<std::string, io::gguf_value>> out;
  out.emplace_back("tokenizer.ggml.model", detail::gguf_string("gpt2"));
  out.emplace_back("tokenizer.ggml.pre", detail::gguf_string(gguf_pre_name(pre)));
  out.emplace_back("tokenizer.ggml.tokens", detail::gguf_array(io::gguf_type::string, std::move(token_values)));
  out.emplace_back("tokenizer.ggml.token_type", detail::gguf_array(io::gguf_type::i32, std::move(type_values)));
  out.emplace_back("tokenizer.ggml.merges", detail::gguf_array(io::gguf_type::string, std::move(merge_values)));

  // BOS / EOS: config.json's ids (what the converter's SpecialVocab reads first), else the texts of
  // tokenizer_config.json looked up among the tokens.
  nlohmann::json config = nlohmann::json::object();
  if (std::filesystem::exists(folder / "config.json"))
    config = io::parse_json_unique(io::read_text_file(folder / "config.json", std::uint64_t{64} << 20), (folder / "config.json").string());
  auto special_id = [&](char const* key, std::string const& text) -> std::int64_t {
    std::int64_t id = config.is_object() ? detail::config_token_id(config, key) : -1;
    if (id < 0 && !text.empty()) id = full.special_id(text);
    return id >= 0 && id < vocab ? id : -1;
  };
  if (auto const id = special_id("bos_token_id", full.bos_token()); id >= 0)
    out.emplace_back("tokenizer.ggml.bos_token_id", detail::gguf_u32(static_cast<std::uint64_t>(id)));
  if (auto const id = special_id("eos_token_id", full.eos_token()); id >= 0)
    out.emplace_back("tokenizer.ggml.eos_token_id", detail::gguf_u32(static_cast<std::uint64_t>(id)));
  std::filesystem::path const tc = folder / "tokenizer_config.json";
  if (std::filesystem::exists(tc)) {
    nlohmann::json const t = io::parse_json_unique(io::read_text_file(tc, std::uint64_t{64} << 20), tc.string());
    if (t.is_object() && t.contains("add_bos_token") && t["add_bos_token"].is_boolean())
      out.emplace_back("tokenizer.ggml.add_bos_token", io::gguf_value{io::gguf_type::boolean, io::gguf_type::u8, t["add_bos_token"].get<bool>()});
  }
  if (!full.chat_template().empty()) out.emplace_back("tokenizer.chat_template", detail::gguf_string(full.chat_template()));
  return out;
}

}  // namespace generate
SWITCHYARD_NAMESPACE_END
