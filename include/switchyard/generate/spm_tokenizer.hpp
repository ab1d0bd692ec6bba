#pragma once
// GGUF's score-based SentencePiece vocabulary (tokenizer.ggml.model = "llama": Llama 1/2, Mistral,
// Mixtral, CodeLlama, ...), tokenizing and detokenizing as llama.cpp does (src/llama-vocab.cpp,
// checked against llama-cpp-python 0.3.36's copy by tools/make_spm_reference.py):
//
// - Special tokens first: every token typed CONTROL, USER_DEFINED or UNKNOWN is cut out of the text,
//   one token at a time, longest text first, each over all the text still unsplit (so a longer
//   token wins over a shorter one that starts earlier and overlaps it). CONTROL and UNKNOWN tokens
//   only when parse_special is asked for; USER_DEFINED ones always.
// - Each remaining stretch of text is tokenized on its own: a space is prepended when the vocabulary
//   says add_space_prefix (the default) and the stretch is the first or follows a special token;
//   spaces become "▁"; the stretch is split into characters by the UTF-8 lead byte alone (no
//   validation; a cut character at the end is shorter); then, repeatedly, the adjacent pair whose
//   concatenation is a vocabulary token of the highest score is merged (ties: the leftmost pair).
//   A final symbol that is a token is that token (of whatever type); any other is spelled in byte
//   tokens <0xXX> (or, lacking one, the token of the single byte's text). There is no <unk> output.
// - add_special puts BOS first when add_bos_token (default true) and EOS last when add_eos_token
//   (default false).
// - Decoding concatenates token pieces: NORMAL tokens with "▁" turned back into spaces, BYTE tokens
//   as their byte, USER_DEFINED tokens as their text, CONTROL and UNKNOWN tokens as their text only
//   when unparse_special, anything else (UNUSED, UNDEFINED) as nothing; one leading space of the first
//   piece is dropped when add_space_prefix, except when remove_special dropped a leading BOS;
//   remove_special also drops a trailing EOS when add_eos_token.
//
// Token attributes follow llama.cpp's loader, including its fix-ups by token text (a token whose
// text ends generation, like "</s>" or "<|im_end|>", is CONTROL; fill-in-the-middle markers such as
// CodeLlama's "▁<PRE>" are CONTROL unless the file names them; gpt-oss's channel markers are
// USER_DEFINED; a model named Phi-3 strips white space after its special tokens).
//
// Refused with format_error, naming the key: missing or mistyped tokens / scores, arrays of
// different lengths, unknown token types, BYTE tokens not spelled <0xXX>, two tokens with the same
// text, special token ids outside the vocabulary. (llama.cpp takes a vocabulary without scores as
// all zero and ignores out-of-range special ids with a warning.)
#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <queue>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "switchyard/core/error.hpp"
#include "switchyard/io/gguf.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace generate {

class spm_tokenizer {
 public:
  // GGUF's tokenizer.ggml.token_type values.
  enum class token_type : std::int32_t {
    undefined = 0,
    normal = 1,
    unknown = 2,
    control = 3,
    user_defined = 4,
    unused = 5,
    byte = 6
  };

  // llama.cpp's token attributes (llama_token_attr), as bits.
  enum attr : std::uint32_t {
    attr_undefined = 0,
    attr_unknown = 1u << 0,
    attr_unused = 1u << 1,
    attr_normal = 1u << 2,
    attr_control = 1u << 3,
    attr_user_defined = 1u << 4,
    attr_byte = 1u << 5,
    attr_lstrip = 1u << 7,
    attr_rstrip = 1u << 8,
  };

  struct vocabulary {
    std::vector<std::string> tokens;
    std::vector<float> scores;
    std::vector<std::uint32_t> attrs;        // attr bits per token
    std::int32_t bos = 1, eos = 2, unk = 0;  // -1: none
    bool add_bos = true, add_eos = false, add_space_prefix = true;
    std::vector<std::int32_t> end_of_generation = {};  // ids that end generation (empty: eos alone)
  };

  static std::uint32_t attr_of(token_type t) {
    switch (t) {
      case token_type::normal:
        return attr_normal;
      case token_type::unknown:
        return attr_unknown;
      case token_type::control:
        return attr_control;
      case token_type::user_defined:
        return attr_user_defined;
      case token_type::unused:
        return attr_unused;
      case token_type::byte:
        return attr_byte;
      default:
        return attr_undefined;
    }
  }

  // `origin` (a file name) prefixes the messages of a bad vocabulary, which name GGUF's keys.
  explicit spm_tokenizer(vocabulary v, std::string_view origin = "vocabulary") : v_(std::move(v)) {
    char const* where = "generate::spm_tokenizer";
    std::size_t const n = v_.tokens.size();
    require<format_error>(n > 0 && n < (std::size_t{1} << 31), where, origin, ": tokenizer.ggml.tokens has ", n,
                          " entries");
    require<format_error>(v_.scores.size() == n, where, origin, ": tokenizer.ggml.scores has ", v_.scores.size(),
                          " entries for ", n, " tokens");
    require<format_error>(v_.attrs.size() == n, where, origin, ": tokenizer.ggml.token_type has ", v_.attrs.size(),
                          " entries for ", n, " tokens");
    auto check_id = [&](std::int32_t id, char const* key) {
      require<format_error>(id >= -1 && id < static_cast<std::int32_t>(n), where, origin, ": ", key, " = ", id,
                            " is outside the vocabulary of ", n);
    };
    check_id(v_.bos, "tokenizer.ggml.bos_token_id");
    check_id(v_.eos, "tokenizer.ggml.eos_token_id");
    check_id(v_.unk, "tokenizer.ggml.unknown_token_id");
    for (std::int32_t id : v_.end_of_generation) check_id(id, "an end-of-generation token id");
    require<format_error>(!v_.add_bos || v_.bos >= 0, where, origin,
                          ": tokenizer.ggml.add_bos_token is set but there is no BOS token");
    require<format_error>(!v_.add_eos || v_.eos >= 0, where, origin,
                          ": tokenizer.ggml.add_eos_token is set but there is no EOS token");
    ids_.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
      auto [it, fresh] = ids_.emplace(v_.tokens[i], static_cast<std::int32_t>(i));
      require<format_error>(fresh, where, origin, ": tokenizer.ggml.tokens holds '", v_.tokens[i], "' twice (ids ",
                            it->second, " and ", i, ")");
      if (v_.attrs[i] & attr_byte) {
        int const b = byte_value(v_.tokens[i]);
        require<format_error>(b >= 0, where, origin, ": tokenizer.ggml.token_type says token ", i, " ('", v_.tokens[i],
                              "') is a byte, which is spelled <0xXX>");
        byte_of_.emplace(static_cast<std::int32_t>(i), static_cast<std::uint8_t>(b));
      }
      if (v_.attrs[i] & (attr_control | attr_user_defined | attr_unknown))
        special_order_.push_back(static_cast<std::int32_t>(i));
    }
    // llama.cpp's order: longest text first, by std::sort over the ids in increasing order (equal
    // lengths keep the order std::sort leaves them in; it matters only for two overlapping special
    // tokens of one length).
    std::sort(special_order_.begin(), special_order_.end(), [&](std::int32_t a, std::int32_t b) {
      return v_.tokens[static_cast<std::size_t>(a)].size() > v_.tokens[static_cast<std::size_t>(b)].size();
    });
    for (int b = 0; b < 256; ++b) {
      char name[8];
      std::snprintf(name, sizeof name, "<0x%02X>", b);
      std::int32_t id = find(name);
      if (id < 0) id = find(std::string(1, static_cast<char>(b)));
      byte_token_[static_cast<std::size_t>(b)] = id;
    }
    eog_.insert(v_.end_of_generation.begin(), v_.end_of_generation.end());
    if (v_.end_of_generation.empty() && v_.eos >= 0) eog_.insert(v_.eos);
  }

  static spm_tokenizer from_gguf(io::gguf_file const& f);

  std::size_t vocab_size() const noexcept { return v_.tokens.size(); }
  std::string const& token(std::int32_t id) const { return v_.tokens.at(static_cast<std::size_t>(id)); }
  float score(std::int32_t id) const { return v_.scores.at(static_cast<std::size_t>(id)); }
  std::uint32_t attributes(std::int32_t id) const { return v_.attrs.at(static_cast<std::size_t>(id)); }
  std::int32_t bos_id() const noexcept { return v_.bos; }
  std::int32_t eos_id() const noexcept { return v_.eos; }
  std::int32_t unk_id() const noexcept { return v_.unk; }
  bool add_bos() const noexcept { return v_.add_bos; }
  bool add_eos() const noexcept { return v_.add_eos; }
  bool add_space_prefix() const noexcept { return v_.add_space_prefix; }
  bool is_end_of_generation(std::int32_t id) const { return eog_.contains(id); }
  std::int32_t find(std::string_view text) const {
    auto it = ids_.find(text);
    return it == ids_.end() ? -1 : it->second;
  }
  // The id of the special (control, user-defined or unknown) token spelled `text`, or -1.
  std::int32_t special_id(std::string_view text) const {
    std::int32_t const id = find(text);
    if (id < 0 || !(v_.attrs[static_cast<std::size_t>(id)] & (attr_control | attr_user_defined | attr_unknown))) return -1;
    return id;
  }

  // llama_tokenize(text, add_special, parse_special). `specials` is parse_special: control tokens
  // in the text are recognized (user-defined ones always are). add_special adds BOS / EOS as the
  // vocabulary asks (add_bos_token, add_eos_token).
  std::vector<std::int32_t> encode(std::string_view text, bool specials = true, bool add_special = true) const {
    std::vector<std::int32_t> out;
    if (add_special && v_.add_bos) out.push_back(v_.bos);
    bool after_special = true;  // the first stretch of text counts as following one
    std::string s;
    for (fragment const& fr : partition(text, specials)) {
      if (fr.id >= 0) {
        out.push_back(fr.id);
        after_special = true;
        continue;
      }
      s.clear();
      if (v_.add_space_prefix && after_special) s += "\u2581";
      for (char c : text.substr(fr.begin, fr.size)) {
        if (c == ' ')
          s += "\u2581";
        else
          s += c;
      }
      encode_stretch(s, out);
      after_special = false;
    }
    if (add_special && v_.add_eos) out.push_back(v_.eos);
    return out;
  }

  // llama_token_to_piece(id, lstrip = 0, special): the token's text as generation emits it.
  std::string piece(std::int32_t id, bool special = false) const {
    std::string out;
    append_piece(out, checked(id, "generate::spm_tokenizer::piece"), special, false);
    return out;
  }

  // llama_detokenize(ids, remove_special, unparse_special).
  std::string detokenize(std::span<std::int32_t const> ids, bool remove_special, bool unparse_special) const {
    bool strip = v_.add_space_prefix;
    if (remove_special && v_.add_bos && !ids.empty() && ids.front() == v_.bos) {
      strip = false;
      ids = ids.subspan(1);
    }
    if (remove_special && v_.add_eos && !ids.empty() && ids.back() == v_.eos) ids = ids.first(ids.size() - 1);
    std::string out;
    for (std::int32_t id : ids) {
      append_piece(out, checked(id, "generate::spm_tokenizer::decode"), unparse_special, strip);
      strip = false;
    }
    return out;
  }

  // The text of `ids`: special tokens as their text, or (skip_specials) BOS / EOS removed as
  // llama.cpp's remove_special does and the other control tokens rendered as nothing.
  std::string decode(std::span<std::int32_t const> ids, bool skip_specials = false) const {
    return detokenize(ids, skip_specials, !skip_specials);
  }

 private:
  struct fragment {
    std::size_t begin = 0, size = 0;
    std::int32_t id = -1;  // >= 0: a special token, else text [begin, begin + size)
  };
  struct string_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };

  static int byte_value(std::string_view t) {
    auto hex = [](char c) {
      return c >= '0' && c <= '9'   ? c - '0'
             : c >= 'A' && c <= 'F' ? c - 'A' + 10
             : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                    : -1;
    };
    if (t.size() != 6 || t.substr(0, 3) != "<0x" || t[5] != '>' || hex(t[3]) < 0 || hex(t[4]) < 0) return -1;
    return hex(t[3]) * 16 + hex(t[4]);
  }
  static bool c_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'; }

  std::int32_t checked(std::int32_t id, char const* where) const {
    require(id >= 0 && static_cast<std::size_t>(id) < v_.tokens.size(), where, "token id ", id,
            " is outside the vocabulary of ", v_.tokens.size());
    return id;
  }

  // Special tokens cut out of the text, one token at a time over every stretch still unsplit.
  std::vector<fragment> partition(std::string_view text, bool parse_special) const {
    std::vector<fragment> frags, next;
    if (!text.empty()) frags.push_back({0, text.size(), -1});
    for (std::int32_t id : special_order_) {
      std::uint32_t const a = v_.attrs[static_cast<std::size_t>(id)];
      if (!parse_special && (a & (attr_control | attr_unknown))) continue;
      std::string_view const tok = v_.tokens[static_cast<std::size_t>(id)];
      next.clear();
      for (fragment const& fr : frags) {
        if (fr.id >= 0) {
          next.push_back(fr);
          continue;
        }
        std::size_t begin = fr.begin, end = fr.begin + fr.size;
        for (;;) {
          std::size_t const at = text.substr(0, end).find(tok, begin);
          if (at == std::string_view::npos) break;
          std::size_t left = at;
          if (a & attr_lstrip)
            while (left > begin && c_space(text[left - 1])) --left;
          if (left > begin) next.push_back({begin, left - begin, -1});
          next.push_back({0, 0, id});
          begin = at + tok.size();
          if (a & attr_rstrip)
            while (begin < end && c_space(text[begin])) ++begin;
        }
        if (begin < end) next.push_back({begin, end - begin, -1});
      }
      std::swap(frags, next);
    }
    return frags;
  }

  // One stretch (spaces already "▁"): characters, then merges by score, then tokens or bytes.
  void encode_stretch(std::string_view s, std::vector<std::int32_t>& out) const {
    struct symbol {
      std::size_t begin, size;
      int prev, next;
    };
    std::vector<symbol> sym;
    for (std::size_t k = 0; k < s.size();) {
      auto const lead = static_cast<std::uint8_t>(s[k]) >> 4;
      std::size_t const len = std::min<std::size_t>(lead == 15 ? 4 : lead == 14 ? 3 : lead >= 12 ? 2 : 1, s.size() - k);
      int const i = static_cast<int>(sym.size());
      sym.push_back({k, len, i - 1, k + len < s.size() ? i + 1 : -1});
      k += len;
    }
    struct candidate {
      float score;
      int left, right;
      std::size_t size;
    };
    // Highest score on top; among equal scores the leftmost pair.
    auto below = [](candidate const& a, candidate const& b) {
      return a.score < b.score || (a.score == b.score && a.left > b.left);
    };
    std::priority_queue<candidate, std::vector<candidate>, decltype(below)> queue(below);
    auto propose = [&](int l, int r) {
      if (l < 0 || r < 0) return;
      std::size_t const size = sym[static_cast<std::size_t>(l)].size + sym[static_cast<std::size_t>(r)].size;
      std::int32_t const id = find(s.substr(sym[static_cast<std::size_t>(l)].begin, size));
      if (id >= 0) queue.push({v_.scores[static_cast<std::size_t>(id)], l, r, size});
    };
    for (int i = 1; i < static_cast<int>(sym.size()); ++i) propose(i - 1, i);
    while (!queue.empty()) {
      candidate const c = queue.top();
      queue.pop();
      symbol& l = sym[static_cast<std::size_t>(c.left)];
      symbol& r = sym[static_cast<std::size_t>(c.right)];
      if (l.size == 0 || r.size == 0 || l.size + r.size != c.size) continue;  // outdated by an earlier merge
      l.size += r.size;
      r.size = 0;
      l.next = r.next;
      if (r.next >= 0) sym[static_cast<std::size_t>(r.next)].prev = c.left;
      propose(l.prev, c.left);
      propose(c.left, l.next);
    }
    for (int i = sym.empty() ? -1 : 0; i >= 0; i = sym[static_cast<std::size_t>(i)].next) {
      std::string_view const piece =
          s.substr(sym[static_cast<std::size_t>(i)].begin, sym[static_cast<std::size_t>(i)].size);
      if (std::int32_t const id = find(piece); id >= 0) {
        out.push_back(id);
        continue;
      }
      for (char c : piece) {
        std::int32_t const b = byte_token_[static_cast<std::uint8_t>(c)];
        if (b < 0) {
          char name[8];
          std::snprintf(name, sizeof name, "<0x%02X>", static_cast<unsigned>(static_cast<std::uint8_t>(c)));
          switchyard::detail::fail<format_error>("generate::spm_tokenizer", "'", piece,
                                                 "' has no token and the byte token ", name, " is missing");
        }
        out.push_back(b);
      }
    }
  }

  void append_piece(std::string& out, std::int32_t id, bool special, bool strip_space) const {
    std::uint32_t const a = v_.attrs[static_cast<std::size_t>(id)];
    std::string const& t = v_.tokens[static_cast<std::size_t>(id)];
    std::size_t const start = out.size();
    if (a & (attr_control | attr_unknown)) {
      if (special) out += t;
    } else if (a & attr_user_defined) {
      out += t;
    } else if (a & attr_normal) {
      for (std::size_t k = 0; k < t.size();) {
        if (t.compare(k, 3, "\u2581") == 0) {
          out += ' ';
          k += 3;
        } else {
          out += t[k++];
        }
      }
    } else if (a & attr_byte) {
      out += static_cast<char>(byte_of_.at(id));
    }
    if (strip_space && out.size() > start && out[start] == ' ') out.erase(start, 1);
  }

  vocabulary v_;
  std::unordered_map<std::string, std::int32_t, string_hash, std::equal_to<>> ids_;
  std::unordered_map<std::int32_t, std::uint8_t> byte_of_;
  std::vector<std::int32_t> special_order_;
  std::array<std::int32_t, 256> byte_token_{};
  std::unordered_set<std::int32_t> eog_;
};

namespace detail {

// llama.cpp's fix-ups of token attributes by token text (llama_vocab::impl::load): tokens that end
// generation become CONTROL and join the end-of-generation set; fill-in-the-middle markers the
// file does not name become CONTROL (pad / repo / file-separator ones also end generation);
// gpt-oss's channel markers are USER_DEFINED; two families' tokens that only look like EOG are
// put back; Phi-3 strips white space after its special tokens.
struct spm_named_ids {
  std::int32_t eot = -1, eom = -1, fim[6] = {-1, -1, -1, -1, -1, -1};  // pre suf mid pad rep sep
};

inline void llama_cpp_fixups(spm_tokenizer::vocabulary& v, spm_named_ids ids, std::string const& model_name) {
  using t = spm_tokenizer;
  auto const n = static_cast<std::int32_t>(v.tokens.size());
  auto id_of = [&](std::string_view text) {
    for (std::int32_t i = 0; i < n; ++i)
      if (v.tokens[static_cast<std::size_t>(i)] == text) return i;
    return -1;
  };
  auto make_control = [&](std::int32_t id) { v.attrs[static_cast<std::size_t>(id)] |= t::attr_control; };
  static constexpr std::string_view fim_names[6][8] = {
      {"<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<\uFF5Cfim\u2581begin\uFF5C>", "<PRE>", "\u2581<PRE>",
       "<|code_prefix|>", "<|prefix|>"},
      {"<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<\uFF5Cfim\u2581hole\uFF5C>", "<SUF>", "\u2581<SUF>",
       "<|code_suffix|>", "<|suffix|>"},
      {"<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<\uFF5Cfim\u2581end\uFF5C>", "<MID>", "\u2581<MID>",
       "<|code_middle|>", "<|middle|>"},
      {"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"},
      {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"},
      {"<|file_sep|>"}};
  // llama.cpp takes the first candidate its hash map yields; here the lowest id (the same unless a
  // vocabulary holds two candidates of one kind).
  for (int k = 0; k < 6; ++k) {
    if (ids.fim[k] >= 0) continue;
    for (std::int32_t i = 0; i < n && ids.fim[k] < 0; ++i)
      for (std::string_view name : fim_names[k])
        if (!name.empty() && v.tokens[static_cast<std::size_t>(i)] == name) {
          ids.fim[k] = i;
          make_control(i);
          break;
        }
  }
  // clang-format off
  static constexpr std::string_view eog_names[] = {
      "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>", "<end_of_turn>",
      "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]", "<|end_of_text|>",
      "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>", "<\uFF5Cend\u2581of\u2581sentence\uFF5C>", "[e~["};
  // clang-format on
  std::unordered_set<std::int32_t> eog;
  for (int k = 3; k < 6; ++k)
    if (ids.fim[k] >= 0) eog.insert(ids.fim[k]);
  for (std::string_view name : eog_names)
    if (std::int32_t const i = id_of(name); i >= 0) {
      eog.insert(i);
      make_control(i);
    }
  for (std::string_view name : {"<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"})
    if (std::int32_t const i = id_of(name); i >= 0) v.attrs[static_cast<std::size_t>(i)] = t::attr_user_defined;
  for (std::int32_t i : {v.eos, ids.eot, ids.eom})
    if (i >= 0) eog.insert(i);
  auto eog_text = [&](std::string_view name) {
    for (std::int32_t i : eog)
      if (v.tokens[static_cast<std::size_t>(i)] == name) return i;
    return -1;
  };
  std::int32_t const end = eog_text("<|end|>");
  bool const call = eog_text("<|call|>") >= 0 || eog_text("<|calls|>") >= 0;
  if (end >= 0 && call && (eog_text("<|return|>") >= 0 || eog_text("<|flush|>") >= 0)) {
    eog.erase(end);
    v.attrs[static_cast<std::size_t>(end)] = t::attr_user_defined;
  }
  std::int32_t const s_end = eog_text("</s>");
  if (s_end >= 0 && (eog_text("<|tool_response>") >= 0 || eog_text("<|plamo:eos|>") >= 0)) {
    eog.erase(s_end);
    v.attrs[static_cast<std::size_t>(s_end)] = t::attr_normal;
  }
  v.end_of_generation.assign(eog.begin(), eog.end());
  std::sort(v.end_of_generation.begin(), v.end_of_generation.end());
  std::string lower = model_name;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower.find("phi-3") != std::string::npos || lower.find("phi3") != std::string::npos) {
    for (std::size_t i = 0; i < v.attrs.size(); ++i)
      if (v.attrs[i] & (t::attr_control | t::attr_user_defined | t::attr_unknown)) v.attrs[i] |= t::attr_rstrip;
    if (std::int32_t const i = id_of("</s>"); i >= 0) v.attrs[static_cast<std::size_t>(i)] |= t::attr_rstrip;
    for (std::string_view name : {"<unk>", "<s>", "<|endoftext|>"})
      if (std::int32_t const i = id_of(name); i >= 0)
        v.attrs[static_cast<std::size_t>(i)] &= ~std::uint32_t{t::attr_rstrip};
  }
}

}  // namespace detail

inline spm_tokenizer spm_tokenizer::from_gguf(io::gguf_file const& f) {
  char const* where = "generate::spm_tokenizer";
  std::string const& origin = f.origin();
  std::string const model = f.get_string("tokenizer.ggml.model");
  require<unsupported_config>(model == "llama", where, origin, ": tokenizer.ggml.model '", model,
                              "' is not llama (SentencePiece)");
  auto array = [&](char const* key) -> std::vector<io::gguf_value> const& {
    auto const* v = f.find_value(key);
    require<format_error>(v != nullptr, where, origin, ": ", key, " is missing");
    require<format_error>(v->is_array(), where, origin, ": ", key, " is not an array");
    return std::get<std::vector<io::gguf_value>>(v->v);
  };
  vocabulary v;
  auto const& toks = array("tokenizer.ggml.tokens");
  std::size_t const n = toks.size();
  require<format_error>(n > 0 && n < (std::size_t{1} << 31), where, origin, ": tokenizer.ggml.tokens has ", n,
                        " entries");
  for (std::size_t i = 0; i < n; ++i) {
    require<format_error>(toks[i].is_string(), where, origin, ": tokenizer.ggml.tokens[", i, "] is not a string");
    std::string t = std::get<std::string>(toks[i].v);
    if (t.empty()) t = "[EMPTY_" + std::to_string(i) + "]";  // as llama.cpp names an empty token
    v.tokens.push_back(std::move(t));
  }
  auto const& scores = array("tokenizer.ggml.scores");
  require<format_error>(scores.size() == n, where, origin, ": tokenizer.ggml.scores has ", scores.size(),
                        " entries for ", n, " tokens");
  for (std::size_t i = 0; i < n; ++i) {
    auto const& s = scores[i];
    require<format_error>(s.v.index() <= 2, where, origin, ": tokenizer.ggml.scores[", i, "] is not a number");
    v.scores.push_back(s.v.index() == 2   ? static_cast<float>(std::get<double>(s.v))
                       : s.v.index() == 1 ? static_cast<float>(std::get<std::int64_t>(s.v))
                                          : static_cast<float>(std::get<std::uint64_t>(s.v)));
  }
  v.attrs.assign(n, attr_normal);  // no token types: all normal, as in llama.cpp
  if (f.find_value("tokenizer.ggml.token_type")) {
    auto const& types = array("tokenizer.ggml.token_type");
    require<format_error>(types.size() == n, where, origin, ": tokenizer.ggml.token_type has ", types.size(),
                          " entries for ", n, " tokens");
    for (std::size_t i = 0; i < n; ++i) {
      auto const& x = types[i];
      std::int64_t const t =
          x.v.index() == 1   ? std::get<std::int64_t>(x.v)
          : x.v.index() == 0 ? static_cast<std::int64_t>(std::min<std::uint64_t>(std::get<std::uint64_t>(x.v), 1000))
                             : -1;
      require<format_error>(t >= 0 && t <= 6, where, origin, ": tokenizer.ggml.token_type[", i,
                            "] is not a token type (0-6)");
      v.attrs[i] = attr_of(static_cast<token_type>(t));
    }
  }
  auto id = [&](char const* key, std::int32_t fallback) -> std::int32_t {
    if (!f.find_value(key)) return fallback < static_cast<std::int32_t>(n) ? fallback : -1;
    std::int64_t const x = f.get_int(key);
    require<format_error>(x >= 0 && x < static_cast<std::int64_t>(n), where, origin, ": ", key, " = ", x,
                          " is outside the vocabulary of ", n);
    return static_cast<std::int32_t>(x);
  };
  v.bos = id("tokenizer.ggml.bos_token_id", 1);
  v.eos = id("tokenizer.ggml.eos_token_id", 2);
  v.unk = id("tokenizer.ggml.unknown_token_id", 0);
  id("tokenizer.ggml.padding_token_id", -1);  // checked only
  detail::spm_named_ids named{.eot = id("tokenizer.ggml.eot_token_id", -1),
                              .eom = id("tokenizer.ggml.eom_token_id", -1)};
  char const* fim_keys[6] = {"tokenizer.ggml.fim_pre_token_id", "tokenizer.ggml.fim_suf_token_id",
                             "tokenizer.ggml.fim_mid_token_id", "tokenizer.ggml.fim_pad_token_id",
                             "tokenizer.ggml.fim_rep_token_id", "tokenizer.ggml.fim_sep_token_id"};
  char const* old_keys[3] = {"tokenizer.ggml.prefix_token_id", "tokenizer.ggml.suffix_token_id",
                             "tokenizer.ggml.middle_token_id"};
  for (int k = 0; k < 6; ++k) named.fim[k] = id(fim_keys[k], -1);
  for (int k = 0; k < 3; ++k)
    if (f.find_value(old_keys[k])) named.fim[k] = id(old_keys[k], -1);
  v.add_bos = f.get_bool("tokenizer.ggml.add_bos_token", true);
  v.add_eos = f.get_bool("tokenizer.ggml.add_eos_token", false);
  v.add_space_prefix = f.get_bool("tokenizer.ggml.add_space_prefix", true);
  detail::llama_cpp_fixups(v, named, f.find_value("general.name") ? f.get_string("general.name") : std::string());
  return spm_tokenizer(std::move(v), origin);
}

}  // namespace generate
SWITCHYARD_NAMESPACE_END
