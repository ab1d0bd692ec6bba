#pragma once
// The JSON files of a checkpoint (config.json, tokenizer.json, a sharded safetensors index, a
// safetensors header): read with a size bound, parsed with nlohmann-json, duplicate top-level
// keys refused (nlohmann keeps the last one silently, which would let a file say two things).
// Every failure is a format_error naming the file.
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

// Parses JSON, refusing duplicate keys at the top level (nlohmann keeps the last silently).
inline nlohmann::json parse_json_unique(std::string_view text, std::string const& where_file) {
  std::unordered_set<std::string> seen;
  std::string duplicate;
  auto cb = [&](int depth, nlohmann::json::parse_event_t ev, nlohmann::json& parsed) {
    if (ev == nlohmann::json::parse_event_t::key && depth == 1 && duplicate.empty()) {
      auto const& k = parsed.get_ref<std::string const&>();
      if (!seen.insert(k).second) duplicate = k;
    }
    return true;
  };
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text.begin(), text.end(), cb);
  } catch (nlohmann::json::exception const& e) {
    switchyard::detail::fail<format_error>("io", where_file, ": invalid JSON (", e.what(), ")");
  }
  require<format_error>(duplicate.empty(), "io", where_file, ": duplicate key '", duplicate, "'");
  return j;
}

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

}  // namespace io::detail
SWITCHYARD_NAMESPACE_END
