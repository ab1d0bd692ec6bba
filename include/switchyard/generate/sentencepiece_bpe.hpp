#pragma once
// SentencePiece-style BPE as Hugging Face serializes it for Llama, Mistral and Mixtral: no
// pre-tokenizer — a segment (the text between special tokens) gets "▁" prepended and its spaces
// replaced by "▁", then merges apply over the whole segment's characters, lowest rank first; a
// final symbol missing from the vocabulary falls back to its UTF-8 bytes as <0xXX> tokens
// (byte_fallback), or to <unk>. Decoding turns "▁" back into spaces, byte tokens into bytes (a
// run that is not valid UTF-8 becomes U+FFFD per byte, as the ByteFallback decoder does) and
// strips the one leading space the encoding added.
//
// Read from a tokenizer.json with that normalizer (Prepend "▁" + Replace " " -> "▁") or the
// equivalent Metaspace pre-tokenizer (split off, prepend_scheme "always" or "first").
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
#include "switchyard/generate/unicode.hpp"
#include "switchyard/io/json.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace generate {

inline constexpr std::string_view metaspace = "\xe2\x96\x81";  // U+2581 "▁"

class sentencepiece_bpe {
 public:
  using special_token = generate::special_token;

  sentencepiece_bpe(std::vector<std::string> tokens, std::vector<std::pair<std::string, std::string>> const& merges,
                    std::vector<special_token> specials, std::int32_t unk, bool prepend_every_segment = true,
                    bool metaspace_rule = false)
      : tokens_(std::move(tokens)),
        specials_(std::move(specials)),
        unk_(unk),
        prepend_all_(prepend_every_segment),
        metaspace_rule_(metaspace_rule) {
    for (std::size_t i = 0; i < tokens_.size(); ++i) ids_.emplace(tokens_[i], static_cast<std::int32_t>(i));
    ranks_ = detail::rank_merges(merges);
    for (auto const& s : specials_) special_ids_.emplace(s.id, s.text);
    detail::sort_specials(specials_);
    for (int b = 0; b < 256; ++b) {
      char name[8];
      std::snprintf(name, sizeof name, "<0x%02X>", b);
      auto it = ids_.find(name);
      byte_ids_[static_cast<std::size_t>(b)] = it == ids_.end() ? -1 : it->second;
      if (it != ids_.end()) byte_of_.emplace(it->second, static_cast<std::uint8_t>(b));
    }
  }

  static sentencepiece_bpe from_tokenizer_json(std::filesystem::path const& path);

  std::size_t vocab_size() const noexcept { return tokens_.size(); }
  std::int32_t special_id(std::string_view text) const {
    for (auto const& s : specials_)
      if (s.text == text) return s.id;
    return -1;
  }

  std::int32_t eos_id() const { return special_id("</s>"); }
  // What one token adds to generated text: its text with "▁" as a space (no leading space dropped),
  // a byte token's byte, nothing for a special token.
  std::string piece(std::int32_t id) const {
    require(id >= 0 && static_cast<std::size_t>(id) < tokens_.size(), "generate::sentencepiece_bpe::piece", "token id ",
            id, " is outside the vocabulary of ", tokens_.size());
    if (auto b = byte_of_.find(id); b != byte_of_.end()) return std::string(1, static_cast<char>(b->second));
    if (special_ids_.contains(id)) return {};
    std::string out;
    append_text(tokens_[static_cast<std::size_t>(id)], out);
    return out;
  }

  std::vector<std::int32_t> encode(std::string_view text, bool specials = true) const {
    std::vector<std::int32_t> out;
    // prepend_scheme "first": only a segment at the very start of the text gets the "▁".
    detail::split_specials(
        text, specials_, specials,
        [&](std::string_view seg, std::size_t offset) { encode_segment(seg, prepend_all_ || offset == 0, out); },
        [&](std::int32_t id) { out.push_back(id); });
    return out;
  }

  std::string decode(std::span<std::int32_t const> ids, bool skip_specials = false) const {
    std::string out, bytes;
    auto flush = [&] {
      // Valid UTF-8 runs pass; each byte of an invalid stretch becomes U+FFFD.
      for (std::size_t k = 0; k < bytes.size();) {
        auto const d = unicode::decode(bytes, k);
        if (d.cp == unicode::invalid) out += "\xef\xbf\xbd";
        else out.append(bytes, k, static_cast<std::size_t>(d.bytes));
        k += static_cast<std::size_t>(d.bytes);
      }
      bytes.clear();
    };
    for (std::int32_t id : ids) {
      require(id >= 0 && static_cast<std::size_t>(id) < tokens_.size(), "generate::sentencepiece_bpe::decode",
              "token id ", id, " is outside the vocabulary of ", tokens_.size());
      if (auto b = byte_of_.find(id); b != byte_of_.end()) {
        bytes += static_cast<char>(b->second);
        continue;
      }
      flush();
      if (special_ids_.contains(id)) {
        if (!skip_specials) out += tokens_[static_cast<std::size_t>(id)];
        continue;
      }
      append_text(tokens_[static_cast<std::size_t>(id)], out);
    }
    flush();
    if (!out.empty() && out[0] == ' ') out.erase(0, 1);
    return out;
  }

 private:
  // A token's text: "▁" back to a space.
  static void append_text(std::string const& t, std::string& out) {
    for (std::size_t k = 0; k < t.size();) {
      if (t.compare(k, metaspace.size(), metaspace) == 0) {
        out += ' ';
        k += metaspace.size();
      } else {
        out += t[k++];
      }
    }
  }
  void encode_segment(std::string_view seg, bool prepend, std::vector<std::int32_t>& out) const {
    // The Prepend normalizer always adds "▁"; the Metaspace pre-tokenizer only when the segment
    // does not already start with one (a leading space).
    if (metaspace_rule_ && !seg.empty() && seg[0] == ' ') prepend = false;
    std::string norm = prepend ? std::string(metaspace) : std::string();
    for (char c : seg) {
      if (c == ' ') norm += metaspace;
      else norm += c;
    }
    std::vector<std::string> sym = detail::utf8_symbols(norm);
    detail::merge_by_rank(sym, ranks_);
    bool last_unk = false;
    for (auto const& s : sym) {
      if (auto it = ids_.find(s); it != ids_.end()) {
        out.push_back(it->second);
        last_unk = false;
        continue;
      }
      bool all_bytes = true;
      for (char c : s) all_bytes = all_bytes && byte_ids_[static_cast<std::uint8_t>(c)] >= 0;
      if (all_bytes) {
        for (char c : s) out.push_back(byte_ids_[static_cast<std::uint8_t>(c)]);
        last_unk = false;
      } else {
        require<format_error>(unk_ >= 0, "generate::sentencepiece_bpe", "symbol '", s,
                              "' has no token, no byte tokens and there is no <unk>");
        if (!last_unk) out.push_back(unk_);  // fuse_unk
        last_unk = true;
      }
    }
  }

  std::vector<std::string> tokens_;
  std::unordered_map<std::string, std::int32_t> ids_;
  std::unordered_map<std::string, int> ranks_;
  std::vector<special_token> specials_;
  std::unordered_map<std::int32_t, std::string> special_ids_;
  std::int32_t unk_ = -1;
  bool prepend_all_ = true;
  bool metaspace_rule_ = false;
  std::array<std::int32_t, 256> byte_ids_{};
  std::unordered_map<std::int32_t, std::uint8_t> byte_of_;
};

inline sentencepiece_bpe sentencepiece_bpe::from_tokenizer_json(std::filesystem::path const& path) {
  std::filesystem::path const p = std::filesystem::is_directory(path) ? path / "tokenizer.json" : path;
  std::string const file = p.string();
  char const* where = "generate::sentencepiece_bpe";
  nlohmann::json const j = io::parse_json_unique(io::read_text_file(p, std::uint64_t{256} << 20), file);
  auto const& m = j.value("model", nlohmann::json::object());
  require<unsupported_config>(m.value("type", "") == "BPE" && m.value("byte_fallback", false), where, file,
                              ": not a byte-fallback BPE model");
  bool prepend_all = true, metaspace_rule = false;
  auto const& n = j.value("normalizer", nlohmann::json());
  auto const& pt = j.value("pre_tokenizer", nlohmann::json());
  auto is_prepend_replace = [](nlohmann::json const& x) {
    if (!x.is_object() || x.value("type", "") != "Sequence") return false;
    auto const& ns = x.value("normalizers", nlohmann::json::array());
    return ns.size() == 2 && ns[0].value("type", "") == "Prepend" && ns[0].value("prepend", "") == metaspace &&
           ns[1].value("type", "") == "Replace" && ns[1].value("pattern", nlohmann::json::object()).value("String", "") == " " &&
           ns[1].value("content", "") == metaspace;
  };
  if (is_prepend_replace(n) && pt.is_null()) {
    prepend_all = true;
  } else if (n.is_null() && pt.is_object() && pt.value("type", "") == "Metaspace" && !pt.value("split", true) &&
             pt.value("replacement", "") == metaspace) {
    std::string const scheme = pt.value("prepend_scheme", "always");
    require<unsupported_config>(scheme == "always" || scheme == "first", where, file, ": Metaspace prepend_scheme '",
                                scheme, "' is not supported");
    prepend_all = scheme == "always";
    metaspace_rule = true;
  } else {
    switchyard::detail::fail<unsupported_config>(where, file, ": normalizer / pre_tokenizer are not Llama's SentencePiece form");
  }
  auto const& vocab = m.value("vocab", nlohmann::json::object());
  std::vector<std::string> tokens = detail::read_vocab(vocab, file, where);
  auto const merges = detail::read_merges(m.value("merges", nlohmann::json::array()), file, where);
  // Only added tokens marked special are cut out of the text (the byte tokens are plain vocabulary).
  auto specials = detail::read_added_tokens(j.value("added_tokens", nlohmann::json::array()), tokens, false, file, where);
  std::int32_t unk = -1;
  if (m.contains("unk_token") && m["unk_token"].is_string())
    if (auto it = vocab.find(m["unk_token"].get<std::string>()); it != vocab.end()) unk = it->get<std::int32_t>();
  return sentencepiece_bpe(std::move(tokens), merges, std::move(specials), unk, prepend_all, metaspace_rule);
}

}  // namespace generate
SWITCHYARD_NAMESPACE_END
