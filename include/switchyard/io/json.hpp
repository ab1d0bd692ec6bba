#pragma once
// The JSON files of a checkpoint (config.json, tokenizer.json, a sharded safetensors index, a
// safetensors header): read with a size bound, parsed with nlohmann-json, duplicate top-level
// keys refused (nlohmann keeps the last one silently, which would let a file say two things).
// Every failure is a format_error naming the file. Public: the tokenizers (generate/) and the
// config readers (model/) read their JSON files through these two functions.
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_set>

#include "switchyard/core/error.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace io::detail {

// The top-level keys of a JSON text, checked for duplicates in one SAX pass. (nlohmann's
// callback parser would do it while building the DOM, but after every nested object it rescans
// the enclosing object for discarded values: quadratic in the number of entries -- 124 s for a
// safetensors header of 100 000 tensors -- while SAX and the plain DOM parse are linear.)
struct top_level_key_check {
  int depth = 0;
  std::unordered_set<std::string> seen;
  std::string duplicate;
  bool key(std::string& k) {
    if (depth == 1 && duplicate.empty() && !seen.insert(k).second) duplicate = k;
    return true;
  }
  bool start_object(std::size_t) { return ++depth, true; }
  bool end_object() { return --depth, true; }
  bool start_array(std::size_t) { return ++depth, true; }
  bool end_array() { return --depth, true; }
  bool null() { return true; }
  bool boolean(bool) { return true; }
  bool number_integer(nlohmann::json::number_integer_t) { return true; }
  bool number_unsigned(nlohmann::json::number_unsigned_t) { return true; }
  bool number_float(nlohmann::json::number_float_t, std::string const&) { return true; }
  bool string(std::string&) { return true; }
  bool binary(nlohmann::json::binary_t&) { return true; }
  bool parse_error(std::size_t, std::string const&, nlohmann::json::exception const& e) { throw e; }
};

}  // namespace io::detail

namespace io {

// Parses JSON text, refusing duplicate keys at the top level (nlohmann keeps the last silently).
// Invalid JSON or a duplicate key is a format_error naming `where_file`.
inline nlohmann::json parse_json_unique(std::string_view text, std::string const& where_file) {
  detail::top_level_key_check keys;
  nlohmann::json j;
  try {
    nlohmann::json::sax_parse(text.begin(), text.end(), &keys);
    if (keys.duplicate.empty()) j = nlohmann::json::parse(text.begin(), text.end());
  } catch (nlohmann::json::exception const& e) {
    switchyard::detail::fail<format_error>("io", where_file, ": invalid JSON (", e.what(), ")");
  }
  require<format_error>(keys.duplicate.empty(), "io", where_file, ": duplicate key '", keys.duplicate, "'");
  return j;
}

// The whole file as bytes; a format_error naming the file when it cannot be opened, is larger
// than `max_bytes`, or reads short.
inline std::string read_text_file(std::filesystem::path const& p, std::uint64_t max_bytes) {
  std::ifstream f(p, std::ios::binary);
  require<format_error>(static_cast<bool>(f), "io", p.string(), ": cannot open");
  std::error_code ec;
  auto const size = std::filesystem::file_size(p, ec);
  require<format_error>(!ec && size <= max_bytes, "io", p.string(), ": larger than ", max_bytes, " bytes");
  std::string s(size, '\0');
  f.read(s.data(), static_cast<std::streamsize>(size));
  require<format_error>(static_cast<std::uint64_t>(f.gcount()) == size, "io", p.string(), ": short read");
  return s;
}

}  // namespace io
SWITCHYARD_NAMESPACE_END
