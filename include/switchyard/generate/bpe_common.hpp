#pragma once
// What both BPE tokenizers (byte-level, bpe_tokenizer.hpp; SentencePiece-style,
// sentencepiece_bpe.hpp) do the same way: cutting special tokens out of the text, splitting a
// string into its UTF-8 characters, merging adjacent symbols lowest rank first, and reading the
// vocabulary and merges of a Hugging Face tokenizer.json.
#include <algorithm>
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "switchyard/core/error.hpp"
#include "switchyard/generate/unicode.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace generate {

struct special_token {
  std::string text;
  std::int32_t id;
};

namespace detail {

// Longest first, so that a special token that extends another wins.
inline void sort_specials(std::vector<special_token>& s) {
  std::sort(s.begin(), s.end(), [](special_token const& a, special_token const& b) { return a.text.size() > b.text.size(); });
}

// Calls plain(segment, offset) for each non-empty stretch between special tokens and special(id)
// for each special token, in text order. `specials` sorted by sort_specials; none matched when
// `enabled` is false.
template <class Plain, class Special>
void split_specials(std::string_view text, std::span<special_token const> specials, bool enabled, Plain&& plain,
                    Special&& special) {
  std::size_t i = 0, start = 0;
  while (i < text.size()) {
    special_token const* hit = nullptr;
    if (enabled)
      for (auto const& s : specials)
        if (text.substr(i, s.text.size()) == s.text) {
          hit = &s;
          break;
        }
    if (hit == nullptr) {
      ++i;
      continue;
    }
    if (i > start) plain(text.substr(start, i - start), start);
    special(hit->id);
    i += hit->text.size();
    start = i;
  }
  if (text.size() > start) plain(text.substr(start), start);
}

// The UTF-8 characters of s (an invalid byte is one character).
inline std::vector<std::string> utf8_symbols(std::string_view s) {
  std::vector<std::string> sym;
  for (std::size_t k = 0; k < s.size();) {
    auto const d = unicode::decode(s, k);
    sym.emplace_back(s.substr(k, static_cast<std::size_t>(d.bytes)));
    k += static_cast<std::size_t>(d.bytes);
  }
  return sym;
}

// Merges adjacent symbols while a merge applies: the lowest rank first, the leftmost among equal
// ranks (the same result as Hugging Face's priority queue). ranks: "left right" -> rank.
inline void merge_by_rank(std::vector<std::string>& sym, std::unordered_map<std::string, int> const& ranks) {
  while (sym.size() > 1) {
    int best = std::numeric_limits<int>::max();
    std::size_t at = 0;
    for (std::size_t p = 0; p + 1 < sym.size(); ++p) {
      auto it = ranks.find(sym[p] + ' ' + sym[p + 1]);
      if (it != ranks.end() && it->second < best) best = it->second, at = p;
    }
    if (best == std::numeric_limits<int>::max()) break;
    sym[at] += sym[at + 1];
    sym.erase(sym.begin() + static_cast<std::ptrdiff_t>(at) + 1);
  }
}

inline std::unordered_map<std::string, int> rank_merges(std::vector<std::pair<std::string, std::string>> const& merges) {
  std::unordered_map<std::string, int> ranks;
  for (std::size_t r = 0; r < merges.size(); ++r) ranks.emplace(merges[r].first + ' ' + merges[r].second, static_cast<int>(r));
  return ranks;
}

// model.vocab {token: id} -> tokens by id (ids dense, unique).
inline std::vector<std::string> read_vocab(nlohmann::json const& vocab, std::string const& file, char const* where) {
  require<format_error>(vocab.is_object() && !vocab.empty(), where, file, ": model.vocab is missing or empty");
  std::vector<std::string> tokens(vocab.size());
  std::vector<bool> seen(vocab.size());
  for (auto const& [t, id] : vocab.items()) {
    require<format_error>(id.is_number_unsigned() && id.get<std::uint64_t>() < vocab.size(), where, file, ": token '", t,
                          "' has id ", id.dump(), " outside [0, ", vocab.size(), ")");
    auto const i = id.get<std::size_t>();
    require<format_error>(!seen[i], where, file, ": id ", i, " is given to two tokens");
    seen[i] = true;
    tokens[i] = t;
  }
  return tokens;
}

// "left right" strings or [left, right] pairs.
inline std::vector<std::pair<std::string, std::string>> read_merges(nlohmann::json const& merges, std::string const& file,
                                                                     char const* where) {
  std::vector<std::pair<std::string, std::string>> out;
  for (auto const& mg : merges) {
    if (mg.is_string()) {
      auto const& s = mg.get_ref<std::string const&>();
      auto const sp = s.find(' ');
      require<format_error>(sp != std::string::npos && sp > 0 && sp + 1 < s.size(), where, file, ": merge '", s,
                            "' is not 'left right'");
      out.emplace_back(s.substr(0, sp), s.substr(sp + 1));
    } else {
      require<format_error>(mg.is_array() && mg.size() == 2 && mg[0].is_string() && mg[1].is_string(), where, file,
                            ": a merge is neither 'a b' nor [a, b]");
      out.emplace_back(mg[0].get<std::string>(), mg[1].get<std::string>());
    }
  }
  return out;
}

// added_tokens: their text goes into tokens[id]; those marked special (all, when `all_special`)
// become special tokens.
inline std::vector<special_token> read_added_tokens(nlohmann::json const& added, std::vector<std::string>& tokens,
                                                    bool all_special, std::string const& file, char const* where) {
  std::vector<special_token> specials;
  for (auto const& a : added) {
    auto const id = a.value("id", -1);
    auto const content = a.value("content", "");
    require<format_error>(id >= 0 && id < (1 << 30) && !content.empty(), where, file, ": added token '", content,
                          "' has no valid id or is empty");
    if (static_cast<std::size_t>(id) >= tokens.size()) tokens.resize(static_cast<std::size_t>(id) + 1);
    tokens[static_cast<std::size_t>(id)] = content;
    if (all_special || a.value("special", false)) specials.push_back({content, static_cast<std::int32_t>(id)});
  }
  return specials;
}

}  // namespace detail
}  // namespace generate
SWITCHYARD_NAMESPACE_END
