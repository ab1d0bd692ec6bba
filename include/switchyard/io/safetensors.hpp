#pragma once
// safetensors reader: an 8-byte little-endian header length N, N bytes of JSON
// {name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}}, then the
// data; offsets count from the end of the header. Single files and sharded checkpoints
// (model.safetensors.index.json: {"weight_map": {tensor: shard file}}).
//
// Everything is validated before a byte of tensor data is used, and a bad file gets a
// format_error that names the file, the tensor or key, and what is wrong: header length bounded
// (100 MiB, as the reference implementation) and inside the file; valid JSON and UTF-8; no
// duplicate names; known dtypes; shapes non-negative with shape x dtype == the byte range; ranges
// inside the data, non-overlapping and covering it without holes (the reference rejects holes
// too); shard file names plain (no directories: an index cannot point outside its folder); every
// indexed tensor present in its shard and no shard tensor missing from the index.
#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "switchyard/core/error.hpp"
#include "switchyard/io/json.hpp"
#include "switchyard/io/mapped_file.hpp"
#include "switchyard/io/tensor_directory.hpp"
#include "switchyard/io/tensor_entry.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace io {

inline constexpr std::uint64_t safetensors_max_header = std::uint64_t{100} << 20;

namespace detail {

inline bool safetensors_dtype(std::string_view s, dtype& out) {
  static constexpr std::pair<std::string_view, dtype> table[] = {
      {"F64", dtype::f64}, {"F32", dtype::f32}, {"F16", dtype::f16},  {"BF16", dtype::bf16},
      {"F8_E4M3", dtype::e4m3}, {"F8_E5M2", dtype::e5m2}, {"I64", dtype::i64}, {"I32", dtype::i32},
      {"I16", dtype::i16}, {"I8", dtype::i8}, {"U8", dtype::u8}, {"BOOL", dtype::boolean}};
  for (auto const& [name, t] : table)
    if (s == name) {
      out = t;
      return true;
    }
  return false;
}

}  // namespace detail

// The parsed header of one safetensors image (a mapped file or any byte span that outlives it).
struct safetensors_header {
  std::vector<tensor_entry> tensors;  // in file order (by data offset)
  std::map<std::string, std::string> metadata;
};

// Validates and parses `file`; `name` is used in error messages.
inline safetensors_header parse_safetensors(std::span<std::byte const> file, std::string const& name) {
  char const* where = "io::safetensors";
  require<format_error>(file.size() >= 8, where, name, ": ", file.size(), " bytes, shorter than the 8-byte header length");
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<std::uint8_t>(file[static_cast<std::size_t>(i)]);
  require<format_error>(n <= safetensors_max_header, where, name, ": header length ", n, " exceeds the limit of ",
                        safetensors_max_header, " bytes");
  require<format_error>(n <= file.size() - 8, where, name, ": header length ", n, " runs past the end of the file (",
                        file.size(), " bytes)");
  std::string_view const text(reinterpret_cast<char const*>(file.data()) + 8, static_cast<std::size_t>(n));
  nlohmann::json const j = parse_json_unique(text, name);
  require<format_error>(j.is_object(), where, name, ": the header is not a JSON object");
  std::span<std::byte const> const data = file.subspan(8 + static_cast<std::size_t>(n));

  safetensors_header h;
  h.tensors.reserve(j.size());
  for (auto const& [key, e] : j.items()) {
    if (key == "__metadata__") {
      require<format_error>(e.is_object(), where, name, ": __metadata__ is not an object");
      for (auto const& [mk, mv] : e.items()) {
        require<format_error>(mv.is_string(), where, name, ": __metadata__ '", mk, "' is not a string");
        h.metadata.emplace(mk, mv.get<std::string>());
      }
      continue;
    }
    require<format_error>(!key.empty(), where, name, ": a tensor has an empty name");
    require<format_error>(e.is_object() && e.contains("dtype") && e.contains("shape") && e.contains("data_offsets"),
                          where, name, ": tensor '", key, "' needs dtype, shape and data_offsets");
    tensor_entry t;
    t.name = key;
    auto const& jd = e.at("dtype");
    require<format_error>(jd.is_string() && detail::safetensors_dtype(jd.get_ref<std::string const&>(), t.dtype), where,
                          name, ": tensor '", key, "' has unknown dtype ", jd.dump());
    auto const& js = e.at("shape");
    require<format_error>(js.is_array() && js.size() <= 8, where, name, ": tensor '", key,
                          "' shape must be an array of at most 8 dimensions");
    for (auto const& d : js) {
      require<format_error>(d.is_number_unsigned() && d.get<std::uint64_t>() <= std::uint64_t(max_tensor_bytes), where,
                            name, ": tensor '", key, "' has a bad dimension ", d.dump());
      t.shape.push_back(d.get<std::int64_t>());
    }
    auto const& jo = e.at("data_offsets");
    require<format_error>(jo.is_array() && jo.size() == 2 && jo[0].is_number_unsigned() && jo[1].is_number_unsigned(),
                          where, name, ": tensor '", key, "' data_offsets must be two unsigned integers");
    std::uint64_t const b = jo[0].get<std::uint64_t>(), en = jo[1].get<std::uint64_t>();
    require<format_error>(b <= en && en <= data.size(), where, name, ": tensor '", key, "' data_offsets [", b, ", ", en,
                          "] are not inside the ", data.size(), " data bytes");
    std::int64_t const want = tensor_bytes(t.dtype, t.shape);
    require<format_error>(want >= 0 && static_cast<std::uint64_t>(want) == en - b, where, name, ": tensor '", key,
                          "' is ", t.shape_string(), " ", info(t.dtype).name, " (", want, " bytes) but its data_offsets span ",
                          en - b, " bytes");
    t.data = data.subspan(static_cast<std::size_t>(b), static_cast<std::size_t>(en - b));
    h.tensors.push_back(std::move(t));
  }
  std::sort(h.tensors.begin(), h.tensors.end(),
            [](tensor_entry const& a, tensor_entry const& b) { return a.data.data() < b.data.data(); });
  std::byte const* expect = data.data();
  for (std::size_t i = 0; i < h.tensors.size(); ++i) {
    auto const& t = h.tensors[i];
    require<format_error>(t.data.data() >= expect, where, name, ": tensor '", t.name, "' overlaps tensor '",
                          i ? h.tensors[i - 1].name : std::string(), "'");
    require<format_error>(t.data.data() == expect, where, name, ": a hole of ", t.data.data() - expect,
                          " bytes before tensor '", t.name, "'");
    expect = t.data.data() + t.data.size();
  }
  require<format_error>(expect == data.data() + data.size(), where, name, ": ", data.data() + data.size() - expect,
                        " trailing bytes after the last tensor");
  return h;
}

// A safetensors checkpoint: one file, or a folder with model.safetensors or a sharded index.
class safetensors_checkpoint : public tensor_directory {
 public:
  explicit safetensors_checkpoint(std::filesystem::path const& path) {
    namespace fs = std::filesystem;
    origin_ = path.string();
    if (fs::is_directory(path)) {
      fs::path const index = path / "model.safetensors.index.json";
      if (fs::exists(index)) {
        open_sharded(index);
        return;
      }
      fs::path const single = path / "model.safetensors";
      require<format_error>(fs::exists(single), "io::safetensors", origin_,
                            ": no model.safetensors or model.safetensors.index.json");
      open_file(single);
      return;
    }
    if (path.filename().string().ends_with(".index.json")) open_sharded(path);
    else open_file(path);
  }

 private:
  void open_file(std::filesystem::path const& p) {
    auto f = std::make_unique<mapped_file>(p.string());
    safetensors_header h = parse_safetensors(f->bytes(), p.string());
    files_.push_back(std::move(f));
    for (auto& t : h.tensors) add(std::move(t), p.string());
    metadata_.merge(h.metadata);
  }

  void open_sharded(std::filesystem::path const& index) {
    char const* where = "io::safetensors";
    std::string const iname = index.string();
    nlohmann::json const j = parse_json_unique(read_text_file(index, safetensors_max_header), iname);
    require<format_error>(j.is_object() && j.contains("weight_map") && j.at("weight_map").is_object(), where, iname,
                          ": no weight_map object");
    std::map<std::string, std::vector<std::string>> by_file;
    std::unordered_map<std::string, std::string> wanted;
    for (auto const& [tensor, file] : j.at("weight_map").items()) {
      require<format_error>(file.is_string(), where, iname, ": weight_map['", tensor, "'] is not a string");
      std::string const& f = file.get_ref<std::string const&>();
      require<format_error>(!f.empty() && f.find('/') == std::string::npos && f.find('\\') == std::string::npos &&
                                f != "." && f != "..",
                            where, iname, ": weight_map['", tensor, "'] names '", f,
                            "', which is not a plain file name in the index's folder");
      by_file[f].push_back(tensor);
      wanted.emplace(tensor, f);
    }
    for (auto const& [file, names] : by_file) {
      std::size_t const before = tensors_.size();
      open_file(index.parent_path() / file);
      for (std::size_t i = before; i < tensors_.size(); ++i) {
        auto it = wanted.find(tensors_[i].name);
        require<format_error>(it != wanted.end() && it->second == file, where, iname, ": shard ", file,
                              " holds tensor '", tensors_[i].name, "', which the index ",
                              it == wanted.end() ? "does not list" : "places in " + it->second);
      }
    }
    for (auto const& [tensor, file] : wanted)
      require<format_error>(find(tensor) != nullptr, where, iname, ": tensor '", tensor, "' is not in its shard ", file);
  }
};

}  // namespace io
SWITCHYARD_NAMESPACE_END
