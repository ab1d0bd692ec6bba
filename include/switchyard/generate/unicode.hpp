#pragma once
// The little Unicode a tokenizer needs: decoding UTF-8 one code point at a time (an invalid byte
// is reported as one code point of its own, so every input byte belongs to exactly one unit), and
// the classes the pre-tokenizer regexes test: letters \p{L}, numbers \p{N}, white space \s.
#include <algorithm>
#include <cstdint>
#include <span>
#include <string_view>

#include "switchyard/generate/unicode_tables.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace generate::unicode {

inline constexpr std::uint32_t invalid = 0xFFFFFFFFu;  // an invalid byte: a class of its own

struct decoded {
  std::uint32_t cp;  // the code point, or `invalid`
  int bytes;         // 1..4
};

// The code point starting at s[i] (strict: no overlong forms, surrogates or values past U+10FFFF).
inline decoded decode(std::string_view s, std::size_t i) noexcept {
  auto const c = static_cast<std::uint8_t>(s[i]);
  if (c < 0x80) return {c, 1};
  int len = 0;
  std::uint32_t cp = 0, min = 0;
  if ((c & 0xE0) == 0xC0) len = 2, cp = c & 0x1F, min = 0x80;
  else if ((c & 0xF0) == 0xE0) len = 3, cp = c & 0x0F, min = 0x800;
  else if ((c & 0xF8) == 0xF0) len = 4, cp = c & 0x07, min = 0x10000;
  else return {invalid, 1};
  if (s.size() - i < static_cast<std::size_t>(len)) return {invalid, 1};
  for (int k = 1; k < len; ++k) {
    auto const cc = static_cast<std::uint8_t>(s[i + static_cast<std::size_t>(k)]);
    if ((cc & 0xC0) != 0x80) return {invalid, 1};
    cp = (cp << 6) | (cc & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return {invalid, 1};
  return {cp, len};
}

inline void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

inline bool in(std::span<code_point_range const> table, std::uint32_t cp) noexcept {
  auto it = std::upper_bound(table.begin(), table.end(), cp,
                             [](std::uint32_t c, code_point_range const& r) { return c < r.lo; });
  return it != table.begin() && cp <= std::prev(it)->hi;
}

inline bool is_letter(std::uint32_t cp) noexcept {
  if (cp < 0x80) return (cp | 0x20) >= 'a' && (cp | 0x20) <= 'z';
  return cp != invalid && in(letters, cp);
}
inline bool is_number(std::uint32_t cp) noexcept {
  if (cp < 0x80) return cp >= '0' && cp <= '9';
  return cp != invalid && in(numbers, cp);
}
inline bool is_space(std::uint32_t cp) noexcept {
  if (cp < 0x80) return cp == ' ' || (cp >= 0x09 && cp <= 0x0D);
  return cp != invalid && in(white_space, cp);
}

inline bool is_mark(std::uint32_t cp) noexcept { return cp >= 0x300 && cp != invalid && in(marks, cp); }
inline bool is_punctuation(std::uint32_t cp) noexcept { return cp != invalid && in(punctuation, cp); }
inline bool is_symbol(std::uint32_t cp) noexcept { return cp != invalid && in(symbols, cp); }

}  // namespace generate::unicode
SWITCHYARD_NAMESPACE_END
