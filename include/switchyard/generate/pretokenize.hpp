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
//   llama3 (Llama 3, and tiktoken's cl100k): qwen2's with \p{N}{1,3} for \p{N}
//   deepseek_v3: three Split stages in sequence, each on the pieces of the one before, matches and
//     the gaps between them both kept (HF's "Isolated"):
//       \p{N}{1,3}
//       [一-龥぀-ゟ゠-ヿ]+                      (CJK ideographs, hiragana, katakana)
//       [!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+|
//       ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//
// Invalid UTF-8 bytes (which the reference, taking Python strings, never sees) count as one
// "other" character each (neither letter, number nor space), so every byte lands in some piece.
#include <cstddef>
#include <string_view>
#include <vector>

#include "switchyard/generate/unicode.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace generate {

enum class pretokenizer { qwen2, gpt2, llama3, deepseek_v3 };

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

// \s*[\r\n]+ (up to and including the last newline of the whitespace run), else \s+(?!\S), \s+.
inline std::size_t whitespace_piece(cursor const& c, std::size_t i) {
  std::size_t j = i, after_nl = i;
  while (!c.end(j) && unicode::is_space(c.at(j))) {
    std::size_t const nj = c.next(j);
    if (newline(c.at(j))) after_nl = nj;
    j = nj;
  }
  if (after_nl != i) return after_nl;
  return space_run(c, i);
}

inline std::size_t qwen2_piece(cursor const& c, std::size_t i, std::size_t max_digits = 1) {
  if (std::size_t e = contraction(c, i, true); e != i) return e;
  std::uint32_t const cp = c.at(i);
  std::size_t const n = c.next(i);
  // [^\r\n\p{L}\p{N}]?\p{L}+
  if (unicode::is_letter(cp)) return run(c, n, unicode::is_letter);
  if (!newline(cp) && !unicode::is_number(cp) && !c.end(n) && unicode::is_letter(c.at(n))) return run(c, n, unicode::is_letter);
  // \p{N} (llama3: \p{N}{1,3})
  if (unicode::is_number(cp)) {
    std::size_t e = n;
    for (std::size_t d = 1; d < max_digits && !c.end(e) && unicode::is_number(c.at(e)); ++d) e = c.next(e);
    return e;
  }
  // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
  std::size_t k = cp == ' ' ? n : i;
  if (!c.end(k) && other(c.at(k))) {
    k = run(c, k, other);
    return run(c, k, newline);
  }
  return whitespace_piece(c, i);
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

// DeepSeek-V3's stages. Each returns the end of a match at i, or i when none starts there.
inline std::size_t digits3(cursor const& c, std::size_t i) {
  std::size_t e = i;
  for (int d = 0; d < 3 && !c.end(e) && unicode::is_number(c.at(e)); ++d) e = c.next(e);
  return e;
}
inline bool cjk(std::uint32_t cp) {
  return (cp >= 0x4E00 && cp <= 0x9FA5) || (cp >= 0x3040 && cp <= 0x309F) || (cp >= 0x30A0 && cp <= 0x30FF);
}
inline std::size_t cjk_run(cursor const& c, std::size_t i) { return run(c, i, cjk); }
inline bool ascii_punct(std::uint32_t cp) {
  return cp < 0x80 && cp > 0x20 && cp != 0x7F && !((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z') && !(cp >= '0' && cp <= '9');
}
inline bool ascii_letter(std::uint32_t cp) { return cp < 0x80 && (cp | 0x20) >= 'a' && (cp | 0x20) <= 'z'; }
inline bool letter_or_mark(std::uint32_t cp) { return unicode::is_letter(cp) || unicode::is_mark(cp); }
inline bool punct_or_symbol(std::uint32_t cp) { return unicode::is_punctuation(cp) || unicode::is_symbol(cp); }
inline std::size_t deepseek_main(cursor const& c, std::size_t i) {
  std::uint32_t const cp = c.at(i);
  std::size_t const n = c.next(i);
  if (ascii_punct(cp) && !c.end(n) && ascii_letter(c.at(n))) return run(c, n, ascii_letter);
  // [^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+
  if (!newline(cp) && !unicode::is_letter(cp) && !punct_or_symbol(cp) && !c.end(n) && letter_or_mark(c.at(n)))
    return run(c, n, letter_or_mark);
  if (letter_or_mark(cp)) return run(c, n, letter_or_mark);
  // ` ?[\p{P}\p{S}]+[\r\n]*`
  std::size_t k = cp == ' ' ? n : i;
  if (!c.end(k) && punct_or_symbol(c.at(k))) return run(c, run(c, k, punct_or_symbol), newline);
  if (!unicode::is_space(cp)) return i;  // no alternative starts here
  return whitespace_piece(c, i);
}

// Splits [lo, hi) of the cursor's text by `match` (HF's Split, "Isolated": matches and the gaps
// between them are pieces) and hands each piece to `next`.
template <class Match, class Next>
void split_isolated(cursor const& c, std::size_t lo, std::size_t hi, Match match, Next next) {
  cursor const sub{c.s.substr(0, hi)};
  std::size_t gap = lo;
  for (std::size_t i = lo; i < hi;) {
    std::size_t const e = match(sub, i);
    if (e == i) {
      i = sub.next(i);
      continue;
    }
    if (gap < i) next(gap, i);
    next(i, e);
    i = gap = e;
  }
  if (gap < hi) next(gap, hi);
}

}  // namespace detail

// The pieces of `text`, in order, covering it exactly.
inline std::vector<std::string_view> pretokenize(std::string_view text, pretokenizer kind) {
  std::vector<std::string_view> out;
  detail::cursor const c{text};
  if (kind == pretokenizer::deepseek_v3) {
    auto emit = [&](std::size_t a, std::size_t b) { out.push_back(text.substr(a, b - a)); };
    auto stage3 = [&](std::size_t a, std::size_t b) { detail::split_isolated(c, a, b, detail::deepseek_main, emit); };
    auto stage2 = [&](std::size_t a, std::size_t b) { detail::split_isolated(c, a, b, detail::cjk_run, stage3); };
    detail::split_isolated(c, 0, text.size(), detail::digits3, stage2);
    return out;
  }
  for (std::size_t i = 0; i < text.size();) {
    std::size_t const e = kind == pretokenizer::qwen2    ? detail::qwen2_piece(c, i)
                          : kind == pretokenizer::llama3 ? detail::qwen2_piece(c, i, 3)
                                                         : detail::gpt2_piece(c, i);
    std::size_t const end = e > i ? e : c.next(i);  // progress is guaranteed; this is belt and braces
    out.push_back(text.substr(i, end - i));
    i = end;
  }
  return out;
}

}  // namespace generate
SWITCHYARD_NAMESPACE_END
