#pragma once
// Byte-level BPE (GPT-2's scheme, used by Qwen, DeepSeek, OLMoE and switchyard's shipped model):
// special tokens are cut out of the text first; the rest is pre-tokenized (pretokenize.hpp), each
// piece's bytes are mapped to printable code points (GPT-2's byte-to-unicode table), and merges
// are applied lowest rank first (leftmost among equals) until none applies; the final symbols are
// the tokens. Decoding maps tokens back to bytes. Built from a Hugging Face tokenizer.json or from
// GGUF metadata (tokenizer.ggml.*); what the implementation does not cover (a normalizer, other
// pre-tokenizers, byte fallback) is refused with unsupported_config.
#include <array>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "switchyard/core/error.hpp"
#include "switchyard/generate/bpe_common.hpp"
#include "switchyard/generate/pretokenize.hpp"
#include "switchyard/generate/unicode.hpp"
#include "switchyard/io/gguf.hpp"
#include "switchyard/io/json.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace generate {

inline constexpr std::string_view qwen2_pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

inline constexpr std::string_view llama3_pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
inline constexpr std::string_view deepseek_v3_patterns[3] = {
    R"(\p{N}{1,3})",
    "[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+",  // the characters themselves (UTF-8), as tokenizer.json has them
    R"([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"};

class bpe_tokenizer {
 public:
  using special_token = generate::special_token;

  // tokens[id] in byte-level form; merges as (left, right) in rank order.
  bpe_tokenizer(std::vector<std::string> tokens, std::vector<std::pair<std::string, std::string>> const& merges,
                std::vector<special_token> specials, pretokenizer pre, bool ignore_merges = false)
      : tokens_(std::move(tokens)), specials_(std::move(specials)), pre_(pre), ignore_merges_(ignore_merges) {
    char const* where = "generate::bpe_tokenizer";
    require(!tokens_.empty() && tokens_.size() < (std::size_t{1} << 31), where, "vocabulary size ", tokens_.size());
    for (std::size_t i = 0; i < tokens_.size(); ++i) ids_.emplace(tokens_[i], static_cast<std::int32_t>(i));
    ranks_ = detail::rank_merges(merges);
    for (auto const& s : specials_) {
      require(s.id >= 0 && static_cast<std::size_t>(s.id) < tokens_.size() && !s.text.empty(), where, "special token '",
              s.text, "' has id ", s.id, " outside the vocabulary");
      special_ids_.emplace(s.id, s.text);
    }
    detail::sort_specials(specials_);
    // GPT-2's table: printable bytes map to themselves, the rest to 256, 257, ...
    std::uint32_t next = 256;
    for (std::uint32_t b = 0; b < 256; ++b) {
      bool const printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174);
      std::uint32_t const cp = printable ? b : next++;
      unicode::append_utf8(byte_char_[b], cp);
      char_byte_.emplace(cp, static_cast<std::uint8_t>(b));
    }
  }

  static bpe_tokenizer from_tokenizer_json(std::filesystem::path const& path);
  static bpe_tokenizer from_gguf(io::gguf_file const& f);

  std::size_t vocab_size() const noexcept { return tokens_.size(); }
  std::string const& token(std::int32_t id) const { return tokens_.at(static_cast<std::size_t>(id)); }
  std::int32_t find(std::string const& byte_level_token) const {
    auto it = ids_.find(byte_level_token);
    return it == ids_.end() ? -1 : it->second;
  }
  bool is_special(std::int32_t id) const { return special_ids_.contains(id); }
  pretokenizer pre() const noexcept { return pre_; }
  // The end-of-text token generation stops at ("<|endoftext|>"), or -1.
  std::int32_t eos_id() const { return special_id("<|endoftext|>"); }
  // The bytes one token adds to generated text (special tokens add none).
  std::string piece(std::int32_t id) const {
    std::int32_t const one[] = {id};
    return decode(one, true);
  }
  std::int32_t special_id(std::string_view text) const {
    for (auto const& s : specials_)
      if (s.text == text) return s.id;
    return -1;
  }

  // Token ids of `text` (any bytes; special tokens recognized when `specials`).
  std::vector<std::int32_t> encode(std::string_view text, bool specials = true) const {
    std::vector<std::int32_t> out;
    detail::split_specials(
        text, specials_, specials, [&](std::string_view seg, std::size_t) { encode_plain(seg, out); },
        [&](std::int32_t id) { out.push_back(id); });
    return out;
  }

  // The bytes of `ids` (special tokens as their text unless skipped). Ids outside the vocabulary
  // throw invalid_argument. The result may be invalid UTF-8 (a cut multi-byte character).
  std::string decode(std::span<std::int32_t const> ids, bool skip_specials = false) const {
    std::string out;
    for (std::int32_t id : ids) {
      require(id >= 0 && static_cast<std::size_t>(id) < tokens_.size(), "generate::bpe_tokenizer::decode", "token id ", id,
              " is outside the vocabulary of ", tokens_.size());
      if (auto it = special_ids_.find(id); it != special_ids_.end()) {
        if (!skip_specials) out += it->second;
        continue;
      }
      std::string const& t = tokens_[static_cast<std::size_t>(id)];
      for (std::size_t k = 0; k < t.size();) {
        auto const d = unicode::decode(t, k);
        auto it = char_byte_.find(d.cp);
        if (it != char_byte_.end()) out += static_cast<char>(it->second);
        else out.append(t, k, static_cast<std::size_t>(d.bytes));  // not a byte-level character: as is
        k += static_cast<std::size_t>(d.bytes);
      }
    }
    return out;
  }

 private:
  void encode_plain(std::string_view text, std::vector<std::int32_t>& out) const {
    for (std::string_view piece : pretokenize(text, pre_)) {
      std::string mapped;
      for (char ch : piece) mapped += byte_char_[static_cast<std::uint8_t>(ch)];
      if (ignore_merges_) {
        if (auto it = ids_.find(mapped); it != ids_.end()) {
          out.push_back(it->second);
          continue;
        }
      }
      std::vector<std::string> sym = detail::utf8_symbols(mapped);
      detail::merge_by_rank(sym, ranks_);
      for (auto const& s : sym) {
        auto it = ids_.find(s);
        require<format_error>(it != ids_.end(), "generate::bpe_tokenizer", "symbol '", s,
                              "' is not in the vocabulary (an incomplete byte-level vocabulary?)");
        out.push_back(it->second);
      }
    }
  }

  std::vector<std::string> tokens_;
  std::unordered_map<std::string, std::int32_t> ids_;
  std::unordered_map<std::string, int> ranks_;
  std::vector<special_token> specials_;
  std::unordered_map<std::int32_t, std::string> special_ids_;
  pretokenizer pre_;
  bool ignore_merges_ = false;
  std::array<std::string, 256> byte_char_;
  std::unordered_map<std::uint32_t, std::uint8_t> char_byte_;
};

namespace detail {
// The regexes of a Sequence of isolated Splits ending in ByteLevel(use_regex = false); empty if the
// pre-tokenizer is not of that shape.
inline std::vector<std::string> split_patterns_of(nlohmann::json const& pt) {
  std::vector<std::string> out;
  if (!pt.is_object() || pt.value("type", "") != "Sequence") return {};
  auto const& stages = pt.value("pretokenizers", nlohmann::json::array());
  if (stages.size() < 2) return {};
  for (std::size_t i = 0; i + 1 < stages.size(); ++i) {
    auto const& st = stages[i];
    if (st.value("type", "") != "Split" || st.value("behavior", "") != "Isolated" || st.value("invert", false)) return {};
    auto const& pat = st.value("pattern", nlohmann::json::object());
    if (!pat.contains("Regex") || !pat["Regex"].is_string()) return {};
    out.push_back(pat["Regex"].get<std::string>());
  }
  auto const& last = stages.back();
  if (last.value("type", "") != "ByteLevel" || last.value("use_regex", true) || last.value("add_prefix_space", false)) return {};
  return out;
}
}  // namespace detail

inline bpe_tokenizer bpe_tokenizer::from_tokenizer_json(std::filesystem::path const& path) {
  std::filesystem::path const p = std::filesystem::is_directory(path) ? path / "tokenizer.json" : path;
  std::string const file = p.string();
  char const* where = "generate::bpe_tokenizer";
  nlohmann::json const j = io::parse_json_unique(io::read_text_file(p, std::uint64_t{256} << 20), file);
  auto const& m = j.value("model", nlohmann::json::object());
  require<unsupported_config>(m.value("type", "") == "BPE", where, file, ": model.type '", m.value("type", ""),
                              "' is not BPE");
  require<unsupported_config>(!m.value("byte_fallback", false), where, file, ": byte_fallback BPE is not supported yet");
  require<unsupported_config>(j.value("normalizer", nlohmann::json()).is_null(), where, file,
                              ": tokenizers with a normalizer are not supported yet");
  // Pre-tokenizer: Qwen2's Split + ByteLevel(use_regex = false), or GPT-2's ByteLevel(use_regex = true).
  pretokenizer pre = pretokenizer::gpt2;
  auto const& pt = j.value("pre_tokenizer", nlohmann::json());
  auto is_bytelevel = [](nlohmann::json const& x) { return x.is_object() && x.value("type", "") == "ByteLevel"; };
  auto split_patterns = [](nlohmann::json const& x) { return detail::split_patterns_of(x); };
  if (is_bytelevel(pt) && pt.value("use_regex", true) && !pt.value("add_prefix_space", false)) {
    pre = pretokenizer::gpt2;
  } else if (auto const splits = split_patterns(pt); splits.size() == 1 && splits[0] == qwen2_pattern) {
    pre = pretokenizer::qwen2;
  } else if (splits.size() == 1 && splits[0] == llama3_pattern) {
    pre = pretokenizer::llama3;
  } else if (splits.size() == 3 && splits[0] == deepseek_v3_patterns[0] && splits[1] == deepseek_v3_patterns[1] &&
             splits[2] == deepseek_v3_patterns[2]) {
    pre = pretokenizer::deepseek_v3;
  } else {
    switchyard::detail::fail<unsupported_config>(where, file, ": pre_tokenizer ", pt.dump().substr(0, 200),
                                                 " is not one switchyard implements (Qwen2's or GPT-2's)");
  }
  std::vector<std::string> tokens = detail::read_vocab(m.value("vocab", nlohmann::json::object()), file, where);
  auto const merges = detail::read_merges(m.value("merges", nlohmann::json::array()), file, where);
  // Every added token is matched in the text as a whole (special or not, as tokenizers does).
  auto specials = detail::read_added_tokens(j.value("added_tokens", nlohmann::json::array()), tokens, true, file, where);
  return bpe_tokenizer(std::move(tokens), merges, std::move(specials), pre, m.value("ignore_merges", false));
}

inline bpe_tokenizer bpe_tokenizer::from_gguf(io::gguf_file const& f) {
  char const* where = "generate::bpe_tokenizer";
  std::string const model = f.get_string("tokenizer.ggml.model");
  require<unsupported_config>(model == "gpt2", where, f.origin(), ": tokenizer.ggml.model '", model,
                              "' is not byte-level BPE (gpt2; generate::tokenizer reads llama ones too)");
  std::string const pre_name = f.find_value("tokenizer.ggml.pre") ? f.get_string("tokenizer.ggml.pre") : "default";
  pretokenizer pre;
  if (pre_name == "qwen2") pre = pretokenizer::qwen2;
  else if (pre_name == "llama-bpe") pre = pretokenizer::llama3;
  else if (pre_name == "deepseek-v3") pre = pretokenizer::deepseek_v3;
  else if (pre_name == "default" || pre_name == "gpt-2" || pre_name == "olmo") pre = pretokenizer::gpt2;
  else
    switchyard::detail::fail<unsupported_config>(where, f.origin(), ": tokenizer.ggml.pre '", pre_name,
                                                 "' is not supported (qwen2, llama-bpe, deepseek-v3, gpt-2, olmo are)");
  auto strings = [&](char const* key) {
    std::vector<std::string> out;
    auto const* v = f.find_value(key);
    require<format_error>(v && v->is_array() && v->elem_type == io::gguf_type::string, where, f.origin(), ": ", key,
                          " must be an array of strings");
    for (auto const& x : std::get<std::vector<io::gguf_value>>(v->v)) out.push_back(std::get<std::string>(x.v));
    return out;
  };
  std::vector<std::string> tokens = strings("tokenizer.ggml.tokens");
  auto const merge_strings = strings("tokenizer.ggml.merges");
  auto const merges = detail::read_merges(nlohmann::json(merge_strings), f.origin(), where);
  std::vector<special_token> specials;
  if (auto const* tt = f.find_value("tokenizer.ggml.token_type")) {
    require<format_error>(tt->is_array(), where, f.origin(), ": tokenizer.ggml.token_type must be an array");
    auto const& types = std::get<std::vector<io::gguf_value>>(tt->v);
    require<format_error>(types.size() == tokens.size(), where, f.origin(), ": ", types.size(), " token types for ",
                          tokens.size(), " tokens");
    for (std::size_t i = 0; i < types.size(); ++i) {
      std::int64_t const t = types[i].v.index() == 0 ? static_cast<std::int64_t>(std::get<std::uint64_t>(types[i].v))
                                                     : std::get<std::int64_t>(types[i].v);
      if (t == 3 || t == 4) specials.push_back({tokens[i], static_cast<std::int32_t>(i)});  // control, user-defined
    }
  }
  return bpe_tokenizer(std::move(tokens), merges, std::move(specials), pre);
}

}  // namespace generate
SWITCHYARD_NAMESPACE_END
