#pragma once
// Pre-tokenization: splitting text into the pieces BPE then works on, as the regexes of the
// byte-level BPE families do. Each splitter is the regex written out as code, alternatives tried in
// order at each position with the regex's greedy / backtracking outcome (a regex engine and Unicode
// property tables for it would be a dependency; these patterns are small and fixed).
//
//   qwen2 (Qwen2/2.5/3, and switchyard's shipped model):
//     (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|
//     \s*[\r\n]+|\s+(?!\S)|\s+
//   gpt2 (GPT-2, OLMoE):
//     's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//
// Invalid UTF-8 bytes (which the reference, taking Python strings, never sees) count as one
// "other" character each (neither letter, number nor space), so every byte lands in some piece.
#include <cstddef>
#include <string_view>
#include <vector>

#include "switchyard/generate/unicode.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace generate {

enum class pretokenizer { qwen2, gpt2 };

namespace detail {

struct cursor {
  std::string_view s;
  std::uint32_t at(std::size_t i) const { return i < s.size() ? unicode::decode(s, i).cp : unicode::invalid; }
  std::size_t next(std::size_t i) const { return i + static_cast<std::size_t>(unicode::decode(s, i).bytes); }
  bool end(std::size_t i) const { return i >= s.size(); }
};

// 's 't 're 've 'm 'll 'd at i (case-insensitive when `fold`); returns the end or i.
inline std::size_t contraction(cursor const& c, std::size_t i, bool fold) {
  if (c.end(i) || c.s[i] != '\'') return i;
  auto lower = [&](std::size_t k) -> char {
    if (k >= c.s.size()) return 0;
    char const ch = c.s[k];
    return fold && ch >= 'A' && ch <= 'Z' ? static_cast<char>(ch + 32) : ch;
  };
  char const a = lower(i + 1), b = lower(i + 2);
  if (a == 's' || a == 't' || a == 'm' || a == 'd') return i + 2;
  if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return i + 3;
  return i;
}

template <class Pred>
std::size_t run(cursor const& c, std::size_t i, Pred p) {
  while (!c.end(i) && p(c.at(i))) i = c.next(i);
  return i;
}

inline bool other(std::uint32_t cp) { return !unicode::is_space(cp) && !unicode::is_letter(cp) && !unicode::is_number(cp); }
inline bool newline(std::uint32_t cp) { return cp == '\r' || cp == '\n'; }

// \s+(?!\S) then \s+: a whitespace run, less its last character when a non-space follows (that
// character then starts the next piece, as " word" pieces want).
inline std::size_t space_run(cursor const& c, std::size_t i) {
  std::size_t j = i, last = i;
  while (!c.end(j) && unicode::is_space(c.at(j))) last = j, j = c.next(j);
  if (c.end(j) || last == i) return j;  // at the end, or a single space: \s+ takes it all
  return last;                           // (?!\S) holds one character earlier
}

inline std::size_t qwen2_piece(cursor const& c, std::size_t i) {
  if (std::size_t e = contraction(c, i, true); e != i) return e;
  std::uint32_t const cp = c.at(i);
  std::size_t const n = c.next(i);
  // [^\r\n\p{L}\p{N}]?\p{L}+
  if (unicode::is_letter(cp)) return run(c, n, unicode::is_letter);
  if (!newline(cp) && !unicode::is_number(cp) && !c.end(n) && unicode::is_letter(c.at(n))) return run(c, n, unicode::is_letter);
  // \p{N}
  if (unicode::is_number(cp)) return n;
  // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
  std::size_t k = cp == ' ' ? n : i;
  if (!c.end(k) && other(c.at(k))) {
    k = run(c, k, other);
    return run(c, k, newline);
  }
  // \s*[\r\n]+ : up to and including the last newline of the whitespace run
  std::size_t j = i, after_nl = i;
  while (!c.end(j) && unicode::is_space(c.at(j))) {
    std::size_t const nj = c.next(j);
    if (newline(c.at(j))) after_nl = nj;
    j = nj;
  }
  if (after_nl != i) return after_nl;
  return space_run(c, i);
}

inline std::size_t gpt2_piece(cursor const& c, std::size_t i) {
  if (std::size_t e = contraction(c, i, false); e != i) return e;
  std::uint32_t const cp = c.at(i);
  std::size_t const k = cp == ' ' ? c.next(i) : i;  // the optional leading space
  if (!c.end(k)) {
    std::uint32_t const q = c.at(k);
    if (unicode::is_letter(q)) return run(c, k, unicode::is_letter);
    if (unicode::is_number(q)) return run(c, k, unicode::is_number);
    if (other(q)) return run(c, k, other);
  }
  return space_run(c, i);
}

}  // namespace detail

// The pieces of `text`, in order, covering it exactly.
inline std::vector<std::string_view> pretokenize(std::string_view text, pretokenizer kind) {
  std::vector<std::string_view> out;
  detail::cursor const c{text};
  for (std::size_t i = 0; i < text.size();) {
    std::size_t const e = kind == pretokenizer::qwen2 ? detail::qwen2_piece(c, i) : detail::gpt2_piece(c, i);
    std::size_t const end = e > i ? e : c.next(i);  // progress is guaranteed; this is belt and braces
    out.push_back(text.substr(i, end - i));
    i = end;
  }
  return out;
}

}  // namespace generate
SWITCHYARD_NAMESPACE_END
