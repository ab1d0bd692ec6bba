#pragma once
// Template source -> tokens, as jinja2's lexer does it under transformers' settings:
//
//   newlines     \r\n and \r become \n; one trailing newline is dropped (keep_trailing_newline off)
//   {{ }}        an expression; {{- / -}} strip the white space before / after the tag
//   {% %}        a statement; trim_blocks drops the first newline after %} (not after -%} / +%})
//   {# #}        a comment, trimmed like a statement
//   lstrip       white space from the start of a line up to {% or {# is dropped (not for {%+)
//   {% raw %}    text up to {% endraw %}, untouched
//
// Inside a tag: names, strings (with Python's escapes), integers, floats and operators; the tag
// ends at its closing delimiter only where brackets balance, as in jinja2.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "switchyard/generate/jinja/location.hpp"
#include "switchyard/generate/jinja/value.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace generate::jinja {

enum class tok : std::uint8_t { text, var_begin, var_end, block_begin, block_end, name, string, integer, floating, op, eof };

struct token {
  tok kind;
  std::string text;  // text, name, operator, a string's decoded value, a number's spelling
  location at;
};

class lexer {
 public:
  // Tokens of `source`; a format_error naming line and column for anything jinja2 would refuse
  // to tokenize (an unterminated tag, comment, string or raw block, an unexpected character,
  // unbalanced brackets).
  static std::vector<token> run(std::string_view source) {
    lexer lx(normalize(source));
    lx.lex();
    return std::move(lx.out_);
  }

  // \r\n and \r to \n, one trailing newline dropped: what jinja2 does to the whole source first.
  static std::string normalize(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
      if (s[i] == '\r') {
        out += '\n';
        if (i + 1 < s.size() && s[i + 1] == '\n') ++i;
      } else {
        out += s[i];
      }
    }
    if (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
  }

 private:
  explicit lexer(std::string src) : src_(std::move(src)) {}

  std::string src_;
  std::vector<token> out_;
  std::size_t pos_ = 0;
  bool line_starting_ = true;
  mutable std::size_t wpos_ = 0;
  mutable location wloc_{1, 1};

  // Line and column of byte p; the tokenizer asks in increasing order, so this walks forward.
  location where(std::size_t p) const {
    if (p < wpos_) wpos_ = 0, wloc_ = {1, 1};
    for (; wpos_ < p && wpos_ < src_.size(); ++wpos_) {
      if (src_[wpos_] == '\n') ++wloc_.line, wloc_.column = 1;
      else if ((static_cast<std::uint8_t>(src_[wpos_]) & 0xC0) != 0x80) ++wloc_.column;  // columns count characters
    }
    return wloc_;
  }

  static bool space_at(std::string_view s, std::size_t i, int* bytes) {
    auto const d = unicode::decode(s, i);
    *bytes = d.bytes;
    return d.cp != unicode::invalid && py_space(d.cp);
  }
  // s with Python's white space removed from the right.
  static std::size_t rstrip_end(std::string_view s) {
    std::size_t end = 0;
    for (std::size_t i = 0; i < s.size();) {
      int n;
      bool const sp = space_at(s, i, &n);
      i += static_cast<std::size_t>(n);
      if (!sp) end = i;
    }
    return end;
  }
  static bool all_space(std::string_view s) {
    if (s.empty()) return false;  // \s+ needs one character
    for (std::size_t i = 0; i < s.size();) {
      int n;
      if (!space_at(s, i, &n)) return false;
      i += static_cast<std::size_t>(n);
    }
    return true;
  }
  std::size_t skip_space(std::size_t p) const {
    while (p < src_.size()) {
      int n;
      if (!space_at(src_, p, &n)) break;
      p += static_cast<std::size_t>(n);
    }
    return p;
  }

  // The text before a tag, stripped as the tag's sign and lstrip_blocks ask.
  void emit_text(std::size_t from, std::size_t to, char sign, bool lstrip_applies) {
    std::string_view text(src_.data() + from, to - from);
    if (sign == '-') {
      text = text.substr(0, rstrip_end(text));
    } else if (sign != '+' && lstrip_applies) {
      std::size_t const nl = text.rfind('\n');
      std::size_t const l_pos = nl == std::string_view::npos ? 0 : nl + 1;
      if ((l_pos > 0 || line_starting_) && all_space(text.substr(l_pos))) text = text.substr(0, l_pos);
    }
    if (!text.empty()) out_.push_back({tok::text, std::string(text), where(from)});
  }

  // {% raw %} at p (after the opening "{%" and sign)? Returns the end of the opening tag or npos.
  std::size_t raw_open_end(std::size_t p) const {
    p = skip_space(p);
    if (src_.compare(p, 3, "raw") != 0) return std::string::npos;
    p = skip_space(p + 3);
    if (src_.compare(p, 3, "-%}") == 0) return skip_space(p + 3);
    if (src_.compare(p, 2, "%}") == 0) return p + 2;
    return std::string::npos;
  }

  void lex() {
    while (pos_ < src_.size()) {
      std::size_t const open = find_open(pos_);
      if (open == std::string::npos) {
        out_.push_back({tok::text, src_.substr(pos_), where(pos_)});
        return;
      }
      char const kind = src_[open + 1];  // '{', '%' or '#'
      char sign = open + 2 < src_.size() ? src_[open + 2] : '\0';
      if (sign != '-' && sign != '+') sign = '\0';
      std::size_t const body = open + 2 + (sign ? 1 : 0);
      if (kind == '%') {
        if (std::size_t const raw_end = raw_open_end(body); raw_end != std::string::npos) {
          emit_text(pos_, open, sign, true);
          lex_raw(open, raw_end);
          continue;
        }
      }
      emit_text(pos_, open, sign, kind != '{');
      line_starting_ = false;
      if (kind == '#') lex_comment(open, body);
      else lex_tag(open, body, kind == '{');
    }
  }

  std::size_t find_open(std::size_t from) const {
    for (std::size_t p = src_.find('{', from); p != std::string::npos; p = src_.find('{', p + 1))
      if (p + 1 < src_.size() && (src_[p + 1] == '{' || src_[p + 1] == '%' || src_[p + 1] == '#')) return p;
    return std::string::npos;
  }

  // The end of a tag closed at p by `close` ("%}" or "#}", with '-' or '+' right before it
  // handled by the caller): trim_blocks eats one newline.
  std::size_t after_close(std::size_t close_end, char sign, bool trims) {
    std::size_t p = close_end;
    if (sign == '-') p = skip_space(p);
    else if (sign != '+' && trims && p < src_.size() && src_[p] == '\n') ++p;
    line_starting_ = p > 0 && src_[p - 1] == '\n';
    return p;
  }

  void lex_comment(std::size_t open, std::size_t body) {
    std::size_t const close = src_.find("#}", body);
    if (close == std::string::npos) fail_at(where(open), "missing end of comment tag ('#}')");
    char const sign = close > body && (src_[close - 1] == '-' || src_[close - 1] == '+') ? src_[close - 1] : '\0';
    pos_ = after_close(close + 2, sign, true);
  }

  void lex_raw(std::size_t open, std::size_t body) {
    // The first {% endraw %} ({%-, {%+, -%}, +%} allowed) ends it.
    for (std::size_t p = src_.find("{%", body); p != std::string::npos; p = src_.find("{%", p + 1)) {
      std::size_t q = p + 2;
      char sign = q < src_.size() && (src_[q] == '-' || src_[q] == '+') ? src_[q] : '\0';
      if (sign) ++q;
      q = skip_space(q);
      if (src_.compare(q, 6, "endraw") != 0) continue;
      q = skip_space(q + 6);
      char close_sign = '\0';
      if (q < src_.size() && (src_[q] == '-' || src_[q] == '+')) close_sign = src_[q], ++q;
      if (src_.compare(q, 2, "%}") != 0) continue;
      pos_ = body;
      line_starting_ = body > 0 && src_[body - 1] == '\n';
      emit_text(body, p, sign, true);
      pos_ = after_close(q + 2, close_sign, true);
      return;
    }
    fail_at(where(open), "missing end of raw directive ({% endraw %})");
  }

  void lex_tag(std::size_t open, std::size_t p, bool variable) {
    out_.push_back({variable ? tok::var_begin : tok::block_begin, "", where(open)});
    std::string balance;  // expected closers
    char const close1 = variable ? '}' : '%';
    while (true) {
      p = skip_space(p);
      if (p >= src_.size())
        fail_at(where(open), "unexpected end of template: the ", variable ? "'{{'" : "'{%'", " tag is never closed");
      if (balance.empty()) {
        // -}} / -%}, +%}, }} / %}
        bool const signed_close = (src_[p] == '-' || (src_[p] == '+' && !variable)) && src_.compare(p + 1, 1, std::string(1, close1)) == 0 &&
                                  p + 2 < src_.size() && src_[p + 2] == '}';
        if (signed_close || (src_[p] == close1 && p + 1 < src_.size() && src_[p + 1] == '}')) {
          char const sign = signed_close ? src_[p] : '\0';
          std::size_t const end = p + (signed_close ? 3 : 2);
          out_.push_back({variable ? tok::var_end : tok::block_end, "", where(p)});
          pos_ = after_close(end, sign, !variable);
          return;
        }
      }
      p = lex_one(p, balance);
    }
  }

  std::size_t lex_one(std::size_t p, std::string& balance) {
    location const at = where(p);
    char const c = src_[p];
    auto digit = [&](std::size_t i) { return i < src_.size() && src_[i] >= '0' && src_[i] <= '9'; };
    if (digit(p)) return lex_number(p, at);
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_') {
      std::size_t e = p;
      while (e < src_.size() && ((src_[e] >= 'a' && src_[e] <= 'z') || (src_[e] >= 'A' && src_[e] <= 'Z') ||
                                 src_[e] == '_' || digit(e)))
        ++e;
      out_.push_back({tok::name, src_.substr(p, e - p), at});
      return e;
    }
    if (c == '\'' || c == '"') return lex_string(p, at);
    static constexpr std::string_view two[] = {"//", "**", "==", "!=", ">=", "<="};
    for (auto op : two)
      if (src_.compare(p, 2, op) == 0) {
        out_.push_back({tok::op, std::string(op), at});
        return p + 2;
      }
    if (std::string_view("+-/*%~[](){}><=.:|,;").find(c) != std::string_view::npos) {
      if (c == '(' || c == '[' || c == '{') {
        if (balance.size() >= 256) fail_at(at, "brackets nested deeper than 256 levels");
        balance += c == '(' ? ')' : c == '[' ? ']' : '}';
      } else if (c == ')' || c == ']' || c == '}') {
        if (balance.empty()) fail_at(at, "unexpected '", c, "'");
        if (balance.back() != c) fail_at(at, "unexpected '", c, "', expected '", balance.back(), "'");
        balance.pop_back();
      }
      out_.push_back({tok::op, std::string(1, c), at});
      return p + 1;
    }
    auto const d = unicode::decode(src_, p);
    std::string ch = src_.substr(p, static_cast<std::size_t>(d.bytes));
    fail_at(at, "unexpected character '", ch, "' in a tag");
  }

  std::size_t lex_number(std::size_t p, location at) {
    auto is_digit = [&](std::size_t i, int base) {
      if (i >= src_.size()) return false;
      char const ch = static_cast<char>(src_[i] | 0x20);
      if (base == 16) return (src_[i] >= '0' && src_[i] <= '9') || (ch >= 'a' && ch <= 'f');
      return src_[i] >= '0' && src_[i] < static_cast<char>('0' + (base > 10 ? 10 : base));
    };
    // digits with single underscores between them
    auto run = [&](std::size_t i, int base) {
      if (!is_digit(i, base)) return i;
      ++i;
      while (true) {
        if (is_digit(i, base)) ++i;
        else if (i < src_.size() && src_[i] == '_' && is_digit(i + 1, base)) i += 2;
        else return i;
      }
    };
    auto clean = [](std::string s) {
      std::string o;
      for (char ch : s)
        if (ch != '_') o += ch;
      return o;
    };
    if (src_[p] == '0' && p + 1 < src_.size()) {
      char const x = static_cast<char>(src_[p + 1] | 0x20);
      int const base = x == 'x' ? 16 : x == 'o' ? 8 : x == 'b' ? 2 : 0;
      if (base) {
        std::size_t q = p + 2;
        if (q < src_.size() && src_[q] == '_') ++q;
        std::size_t const e = run(q, base);
        if (e == q) fail_at(at, "malformed number");
        std::string digits = clean(src_.substr(q, e - q));
        std::uint64_t v = 0;
        for (char ch : digits) {
          int const dv = ch <= '9' ? ch - '0' : (ch | 0x20) - 'a' + 10;
          if (v > (static_cast<std::uint64_t>(INT64_MAX) - static_cast<std::uint64_t>(dv)) / static_cast<std::uint64_t>(base))
            fail_at(at, "integer literal too large (switchyard's integers are 64-bit)");
          v = v * static_cast<std::uint64_t>(base) + static_cast<std::uint64_t>(dv);
        }
        out_.push_back({tok::integer, std::to_string(v), at});
        return e;
      }
    }
    std::size_t e = run(p, 10);
    bool is_float = false;
    if (e + 1 < src_.size() && src_[e] == '.' && is_digit(e + 1, 10)) e = run(e + 1, 10), is_float = true;
    if (e < src_.size() && (src_[e] | 0x20) == 'e') {
      std::size_t q = e + 1;
      if (q < src_.size() && (src_[q] == '+' || src_[q] == '-')) ++q;
      if (is_digit(q, 10)) e = run(q, 10), is_float = true;
    }
    std::string const text = clean(src_.substr(p, e - p));
    if (!is_float) {
      if (text.size() > 1 && text[0] == '0' && text.find_first_not_of('0') != std::string::npos)
        fail_at(at, "malformed number '", text, "' (leading zeros)");
      std::int64_t v = 0;
      auto const r = std::from_chars(text.data(), text.data() + text.size(), v);
      if (r.ec != std::errc()) fail_at(at, "integer literal too large (switchyard's integers are 64-bit)");
    }
    out_.push_back({is_float ? tok::floating : tok::integer, text, at});
    return e;
  }

  std::size_t lex_string(std::size_t p, location at) {
    char const q = src_[p];
    std::string raw;
    std::size_t i = p + 1;
    while (true) {
      if (i >= src_.size()) fail_at(at, "unterminated string literal");
      char const ch = src_[i];
      if (ch == q) break;
      if (ch == '\\') {
        if (i + 1 >= src_.size()) fail_at(at, "unterminated string literal");
        raw += ch;
        raw += src_[i + 1];
        i += 2;
        continue;
      }
      raw += ch;
      ++i;
    }
    out_.push_back({tok::string, unescape(raw, at), at});
    return i + 1;
  }

  // Python's "unicode-escape" decoding of a literal's body (jinja2 decodes string literals so).
  static std::string unescape(std::string_view s, location at) {
    std::string out;
    auto hex = [&](std::size_t i, int n, std::uint32_t* v) {
      if (i + static_cast<std::size_t>(n) > s.size()) return false;
      *v = 0;
      for (int k = 0; k < n; ++k) {
        char const c = s[i + static_cast<std::size_t>(k)];
        int d;
        if (c >= '0' && c <= '9') d = c - '0';
        else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') d = (c | 0x20) - 'a' + 10;
        else return false;
        *v = *v * 16 + static_cast<std::uint32_t>(d);
      }
      return true;
    };
    for (std::size_t i = 0; i < s.size(); ++i) {
      if (s[i] != '\\' || i + 1 >= s.size()) {
        out += s[i];
        continue;
      }
      char const e = s[++i];
      std::uint32_t v = 0;
      switch (e) {
        case '\n': break;  // line continuation
        case '\\': out += '\\'; break;
        case '\'': out += '\''; break;
        case '"': out += '"'; break;
        case 'a': out += '\a'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'v': out += '\v'; break;
        case 'x':
        case 'u':
        case 'U': {
          int const n = e == 'x' ? 2 : e == 'u' ? 4 : 8;
          if (!hex(i + 1, n, &v)) fail_at(at, "truncated \\", e, " escape in a string literal");
          if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) fail_at(at, "invalid \\", e, " escape in a string literal");
          unicode::append_utf8(out, v);
          i += static_cast<std::size_t>(n);
          break;
        }
        case 'N': fail_at(at, "\\N{...} escapes in string literals are not supported");
        default:
          if (e >= '0' && e <= '7') {
            int n = 0;
            while (n < 3 && i < s.size() && s[i] >= '0' && s[i] <= '7') v = v * 8 + static_cast<std::uint32_t>(s[i] - '0'), ++i, ++n;
            --i;
            unicode::append_utf8(out, v);
          } else {
            out += '\\';
            out += e;
          }
      }
    }
    return out;
  }
};

}  // namespace generate::jinja
SWITCHYARD_NAMESPACE_END
