#pragma once
// GGUF (v2 and v3) reader: "GGUF", version, tensor count, metadata count, metadata key/values
// (13 value types, arrays of any of them, nested), tensor infos (name, dims innermost first, ggml
// type, offset), padding to general.alignment, then the tensor data.
//
// Validation before use; a bad file gets a format_error naming the file, the key or tensor, and
// what is wrong: every read bounded by the file; counts bounded by the bytes left (no allocation
// a file can inflate: a count of 2^60 strings fails before reserving anything); strings at most
// 1 MiB (keys and names 64 KiB) and valid UTF-8; array nesting at most 4 deep; the alignment a
// power of two; dims positive, at most 4, with no overflow in their product; known tensor types,
// rows a whole number of blocks; data offsets aligned, inside the file and non-overlapping; no
// duplicate keys or tensor names.
//
// Shapes are handed out outermost first (reversed from GGUF's ne[] order), so a ggml tensor of
// ne = [in, out] is shape [out, in], as safetensors would hold it.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "switchyard/core/error.hpp"
#include "switchyard/io/mapped_file.hpp"
#include "switchyard/io/tensor_directory.hpp"
#include "switchyard/io/tensor_entry.hpp"
#include "switchyard/io/utf8.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace io {

enum class gguf_type : std::uint32_t {
  u8 = 0, i8 = 1, u16 = 2, i16 = 3, u32 = 4, i32 = 5, f32 = 6, boolean = 7, string = 8, array = 9, u64 = 10, i64 = 11,
  f64 = 12,
};

// ggml's tensor type ids for the formats switchyard computes with.
namespace ggml_type {
inline constexpr std::uint32_t f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q5_0 = 6, q5_1 = 7, q8_0 = 8, q2_K = 10, q3_K = 11, iq4_nl = 20, iq4_xs = 23, q4_K = 12, q5_K = 13, q6_K = 14, i8 = 24,
                               i16 = 25, i32 = 26, i64 = 27, f64 = 28, bf16 = 30, mxfp4 = 39;
}

inline bool ggml_to_dtype(std::uint32_t t, dtype& out) {
  switch (t) {
    case ggml_type::f32: out = dtype::f32; return true;
    case ggml_type::f16: out = dtype::f16; return true;
    case ggml_type::bf16: out = dtype::bf16; return true;
    case ggml_type::f64: out = dtype::f64; return true;
    case ggml_type::q4_0: out = dtype::q4_0; return true;
    case ggml_type::q8_0: out = dtype::q8_0; return true;
    case ggml_type::q4_K: out = dtype::q4_K; return true;
    case ggml_type::q6_K: out = dtype::q6_K; return true;
    case ggml_type::q5_0: out = dtype::q5_0; return true;
    case ggml_type::q5_K: out = dtype::q5_K; return true;
    case ggml_type::q4_1: out = dtype::q4_1; return true;
    case ggml_type::q5_1: out = dtype::q5_1; return true;
    case ggml_type::q2_K: out = dtype::q2_K; return true;
    case ggml_type::q3_K: out = dtype::q3_K; return true;
    case ggml_type::iq4_nl: out = dtype::iq4_nl; return true;
    case ggml_type::iq4_xs: out = dtype::iq4_xs; return true;
    case ggml_type::mxfp4: out = dtype::mxfp4; return true;
    case ggml_type::i8: out = dtype::i8; return true;
    case ggml_type::i16: out = dtype::i16; return true;
    case ggml_type::i32: out = dtype::i32; return true;
    case ggml_type::i64: out = dtype::i64; return true;
    default: return false;
  }
}

// ggml's name of a type switchyard does not read (for the error), "" when unknown to ggml too.
inline char const* unread_ggml_type_name(std::uint32_t t) noexcept {
  switch (t) {
    case 9: return "Q8_1";
    case 15: return "Q8_K";
    case 16: return "IQ2_XXS";
    case 17: return "IQ2_XS";
    case 18: return "IQ3_XXS";
    case 19: return "IQ1_S";
    case 21: return "IQ3_S";
    case 22: return "IQ2_S";
    case 29: return "IQ1_M";
    case 34: return "TQ1_0";
    case 35: return "TQ2_0";
    case 40: return "NVFP4";
    default: return "";
  }
}

inline bool dtype_to_ggml(dtype t, std::uint32_t& out) {
  for (std::uint32_t g : {ggml_type::f32, ggml_type::f16, ggml_type::bf16, ggml_type::f64, ggml_type::q4_0,
                          ggml_type::q8_0, ggml_type::q4_K, ggml_type::q6_K, ggml_type::q5_0, ggml_type::q5_K,
                          ggml_type::q4_1, ggml_type::q5_1, ggml_type::q2_K, ggml_type::q3_K,
                          ggml_type::iq4_nl, ggml_type::iq4_xs, ggml_type::mxfp4, ggml_type::i8, ggml_type::i16,
                          ggml_type::i32, ggml_type::i64}) {
    dtype d{};
    if (ggml_to_dtype(g, d) && d == t) {
      out = g;
      return true;
    }
  }
  return false;
}

// One metadata value. Integers keep their signedness (u8..u64 in `u`, i8..i64 in `i`).
struct gguf_value {
  gguf_type type = gguf_type::u8;
  gguf_type elem_type = gguf_type::u8;  // arrays
  std::variant<std::uint64_t, std::int64_t, double, bool, std::string, std::vector<gguf_value>> v;

  bool is_integer() const noexcept { return v.index() <= 1; }
  bool is_string() const noexcept { return v.index() == 4; }
  bool is_array() const noexcept { return v.index() == 5; }
};

struct gguf_header {
  std::uint32_t version = 3;
  std::uint64_t alignment = 32;
  std::map<std::string, gguf_value> metadata;
  std::vector<tensor_entry> tensors;  // in file order
  std::uint64_t data_offset = 0;      // where the data section starts
};

inline constexpr std::uint64_t gguf_max_string = std::uint64_t{1} << 20;
inline constexpr std::uint64_t gguf_max_name = std::uint64_t{1} << 16;
inline constexpr int gguf_max_depth = 4;

namespace detail {

class gguf_cursor {
 public:
  gguf_cursor(std::span<std::byte const> b, std::string const& name) : b_(b), name_(name) {}
  std::uint64_t pos() const noexcept { return pos_; }
  std::uint64_t left() const noexcept { return b_.size() - pos_; }
  std::string const& name() const noexcept { return name_; }

  template <class T>
  T read(char const* what) {
    require<format_error>(left() >= sizeof(T), "io::gguf", name_, ": truncated at byte ", pos_, " reading ", what);
    T v;
    std::memcpy(&v, b_.data() + pos_, sizeof(T));  // GGUF is little-endian, as every target we build for
    pos_ += sizeof(T);
    return v;
  }
  std::string read_string(char const* what, std::uint64_t max) {
    auto const n = read<std::uint64_t>(what);
    require<format_error>(n <= max, "io::gguf", name_, ": ", what, " of ", n, " bytes at byte ", pos_,
                          " exceeds the limit of ", max);
    require<format_error>(n <= left(), "io::gguf", name_, ": ", what, " of ", n, " bytes runs past the end of the file");
    std::string s(reinterpret_cast<char const*>(b_.data() + pos_), static_cast<std::size_t>(n));
    pos_ += n;
    require<format_error>(valid_utf8(s), "io::gguf", name_, ": ", what, " at byte ", pos_ - n, " is not valid UTF-8");
    return s;
  }

 private:
  std::span<std::byte const> b_;
  std::string const& name_;
  std::uint64_t pos_ = 0;
};

inline std::uint64_t gguf_min_bytes(gguf_type t) {
  switch (t) {
    case gguf_type::u8: case gguf_type::i8: case gguf_type::boolean: return 1;
    case gguf_type::u16: case gguf_type::i16: return 2;
    case gguf_type::u32: case gguf_type::i32: case gguf_type::f32: return 4;
    case gguf_type::u64: case gguf_type::i64: case gguf_type::f64: case gguf_type::string: return 8;
    case gguf_type::array: return 12;
  }
  return 1;
}

inline gguf_value read_gguf_value(gguf_cursor& c, gguf_type t, std::string const& key, int depth) {
  gguf_value out;
  out.type = t;
  switch (t) {
    case gguf_type::u8: out.v = std::uint64_t{c.read<std::uint8_t>("a u8 value")}; break;
    case gguf_type::i8: out.v = std::int64_t{c.read<std::int8_t>("an i8 value")}; break;
    case gguf_type::u16: out.v = std::uint64_t{c.read<std::uint16_t>("a u16 value")}; break;
    case gguf_type::i16: out.v = std::int64_t{c.read<std::int16_t>("an i16 value")}; break;
    case gguf_type::u32: out.v = std::uint64_t{c.read<std::uint32_t>("a u32 value")}; break;
    case gguf_type::i32: out.v = std::int64_t{c.read<std::int32_t>("an i32 value")}; break;
    case gguf_type::u64: out.v = c.read<std::uint64_t>("a u64 value"); break;
    case gguf_type::i64: out.v = c.read<std::int64_t>("an i64 value"); break;
    case gguf_type::f32: out.v = double{c.read<float>("an f32 value")}; break;
    case gguf_type::f64: out.v = c.read<double>("an f64 value"); break;
    case gguf_type::boolean: {
      auto const b = c.read<std::uint8_t>("a bool value");
      require<format_error>(b <= 1, "io::gguf", c.name(), ": key '", key, "' has bool byte ", int(b));
      out.v = b == 1;
      break;
    }
    case gguf_type::string: out.v = c.read_string("a string value", gguf_max_string); break;
    case gguf_type::array: {
      require<format_error>(depth < gguf_max_depth, "io::gguf", c.name(), ": key '", key, "' nests arrays deeper than ",
                            gguf_max_depth);
      auto const et = c.read<std::uint32_t>("an array type");
      require<format_error>(et <= 12, "io::gguf", c.name(), ": key '", key, "' has unknown array element type ", et);
      auto const n = c.read<std::uint64_t>("an array length");
      auto const elem = static_cast<gguf_type>(et);
      require<format_error>(n <= c.left() / gguf_min_bytes(elem), "io::gguf", c.name(), ": key '", key, "' claims ", n,
                            " elements but only ", c.left(), " bytes are left");
      out.elem_type = elem;
      std::vector<gguf_value> items;
      items.reserve(static_cast<std::size_t>(n));
      for (std::uint64_t i = 0; i < n; ++i) items.push_back(read_gguf_value(c, elem, key, depth + 1));
      out.v = std::move(items);
      break;
    }
    default: switchyard::detail::fail<format_error>("io::gguf", c.name(), ": key '", key, "' has unknown value type ",
                                                    static_cast<std::uint32_t>(t));
  }
  return out;
}

}  // namespace detail

// Validates and parses a GGUF image; `name` is used in error messages.
inline gguf_header parse_gguf(std::span<std::byte const> file, std::string const& name) {
  char const* where = "io::gguf";
  detail::gguf_cursor c(file, name);
  auto const magic = c.read<std::uint32_t>("the magic");
  require<format_error>(magic == 0x46554747u, where, name, ": not a GGUF file (bad magic)");
  gguf_header h;
  h.version = c.read<std::uint32_t>("the version");
  require<format_error>(h.version == 2 || h.version == 3, where, name, ": GGUF version ", h.version,
                        " is not supported (2 and 3 are)");
  auto const n_tensors = c.read<std::uint64_t>("the tensor count");
  auto const n_kv = c.read<std::uint64_t>("the metadata count");
  // Each key/value takes at least 13 bytes and each tensor info at least 24: bound the counts by
  // the file before allocating anything for them.
  require<format_error>(n_kv <= c.left() / 13, where, name, ": metadata count ", n_kv, " cannot fit in the ", c.left(),
                        " bytes left");
  for (std::uint64_t i = 0; i < n_kv; ++i) {
    std::string key = c.read_string("a metadata key", gguf_max_name);
    auto const t = c.read<std::uint32_t>("a value type");
    require<format_error>(t <= 12, where, name, ": key '", key, "' has unknown value type ", t);
    gguf_value v = detail::read_gguf_value(c, static_cast<gguf_type>(t), key, 0);
    require<format_error>(!h.metadata.contains(key), where, name, ": duplicate key '", key, "'");
    h.metadata.emplace(std::move(key), std::move(v));
  }
  if (auto it = h.metadata.find("general.alignment"); it != h.metadata.end()) {
    require<format_error>(it->second.type == gguf_type::u32, where, name, ": general.alignment must be a u32");
    h.alignment = std::get<std::uint64_t>(it->second.v);
    require<format_error>(h.alignment > 0 && h.alignment <= (1u << 20) && (h.alignment & (h.alignment - 1)) == 0,
                          where, name, ": general.alignment ", h.alignment, " is not a power of two up to 1 MiB");
  }
  require<format_error>(n_tensors <= c.left() / 24, where, name, ": tensor count ", n_tensors, " cannot fit in the ",
                        c.left(), " bytes left");
  struct raw {
    std::uint64_t offset;
    std::int64_t bytes;
  };
  std::vector<raw> offsets;
  h.tensors.reserve(static_cast<std::size_t>(n_tensors));
  std::map<std::string, int> names;
  for (std::uint64_t i = 0; i < n_tensors; ++i) {
    tensor_entry t;
    t.name = c.read_string("a tensor name", gguf_max_name);
    require<format_error>(!t.name.empty(), where, name, ": tensor ", i, " has an empty name");
    require<format_error>(names.emplace(t.name, 0).second, where, name, ": duplicate tensor '", t.name, "'");
    auto const nd = c.read<std::uint32_t>("a dimension count");
    require<format_error>(nd >= 1 && nd <= 4, where, name, ": tensor '", t.name, "' has ", nd,
                          " dimensions (1 to 4 allowed)");
    t.shape.resize(nd);
    for (std::uint32_t d = 0; d < nd; ++d) {
      auto const n = c.read<std::uint64_t>("a dimension");
      require<format_error>(n >= 1 && n <= std::uint64_t(max_tensor_bytes), where, name, ": tensor '", t.name,
                            "' has dimension ", d, " = ", n);
      t.shape[nd - 1 - d] = static_cast<std::int64_t>(n);  // outermost first
    }
    auto const type = c.read<std::uint32_t>("a tensor type");
    require<format_error>(ggml_to_dtype(type, t.dtype), where, name, ": tensor '", t.name, "' has ggml type ", type,
                          *unread_ggml_type_name(type) ? " (" : "", unread_ggml_type_name(type),
                          *unread_ggml_type_name(type) ? ")" : "", ", which switchyard does not read");
    std::int64_t const bytes = tensor_bytes(t.dtype, t.shape);
    require<format_error>(bytes >= 0, where, name, ": tensor '", t.name, "' ", t.shape_string(), " is not a valid ",
                          info(t.dtype).name, " shape (rows must be whole blocks of ", info(t.dtype).block_elems,
                          "; size at most 2^48 bytes)");
    auto const off = c.read<std::uint64_t>("a tensor offset");
    require<format_error>(off % h.alignment == 0, where, name, ": tensor '", t.name, "' offset ", off,
                          " is not a multiple of the alignment ", h.alignment);
    offsets.push_back({off, bytes});
    h.tensors.push_back(std::move(t));
  }
  std::uint64_t data = (c.pos() + h.alignment - 1) / h.alignment * h.alignment;
  // A file without tensors (llama.cpp's vocabulary-only files) may end before the padding.
  if (h.tensors.empty()) data = std::min<std::uint64_t>(data, file.size());
  require<format_error>(data <= file.size(), where, name, ": the data section (at byte ", data,
                        ") starts past the end of the file");
  h.data_offset = data;
  std::uint64_t const data_bytes = file.size() - data;
  for (std::size_t i = 0; i < h.tensors.size(); ++i) {
    auto const [off, bytes] = offsets[i];
    require<format_error>(off <= data_bytes && static_cast<std::uint64_t>(bytes) <= data_bytes - off, where, name,
                          ": tensor '", h.tensors[i].name, "' (", bytes, " bytes at data offset ", off,
                          ") runs past the end of the file");
    h.tensors[i].data = file.subspan(static_cast<std::size_t>(data + off), static_cast<std::size_t>(bytes));
  }
  std::sort(h.tensors.begin(), h.tensors.end(),
            [](tensor_entry const& a, tensor_entry const& b) { return a.data.data() < b.data.data(); });
  for (std::size_t i = 1; i < h.tensors.size(); ++i) {
    auto const& a = h.tensors[i - 1];
    require<format_error>(a.data.data() + a.data.size() <= h.tensors[i].data.data(), where, name, ": tensor '",
                          h.tensors[i].name, "' overlaps tensor '", a.name, "'");
  }
  return h;
}

// A mapped GGUF file: tensors by name (tensor_directory) and its metadata with typed getters.
class gguf_file : public tensor_directory {
 public:
  explicit gguf_file(std::filesystem::path const& path) {
    origin_ = path.string();
    auto f = std::make_unique<mapped_file>(origin_);
    gguf_header h = parse_gguf(f->bytes(), origin_);
    files_.push_back(std::move(f));
    version_ = h.version;
    alignment_ = h.alignment;
    values_ = std::move(h.metadata);
    for (auto& t : h.tensors) add(std::move(t), origin_);
  }

  std::uint32_t version() const noexcept { return version_; }
  std::uint64_t alignment() const noexcept { return alignment_; }
  std::map<std::string, gguf_value> const& values() const noexcept { return values_; }
  gguf_value const* find_value(std::string const& key) const {
    auto it = values_.find(key);
    return it == values_.end() ? nullptr : &it->second;
  }

  // Typed getters: throw format_error naming the key when it is missing or of another kind.
  std::string get_string(std::string const& key) const {
    auto const& v = need(key);
    require<format_error>(v.is_string(), "io::gguf", origin_, ": key '", key, "' is not a string");
    return std::get<std::string>(v.v);
  }
  std::int64_t get_int(std::string const& key) const {
    auto const& v = need(key);
    require<format_error>(v.is_integer(), "io::gguf", origin_, ": key '", key, "' is not an integer");
    if (v.v.index() == 0) {
      auto const u = std::get<std::uint64_t>(v.v);
      require<format_error>(u <= std::uint64_t(INT64_MAX), "io::gguf", origin_, ": key '", key, "' is out of range");
      return static_cast<std::int64_t>(u);
    }
    return std::get<std::int64_t>(v.v);
  }
  std::int64_t get_int(std::string const& key, std::int64_t fallback) const {
    return find_value(key) ? get_int(key) : fallback;
  }
  double get_float(std::string const& key) const {
    auto const& v = need(key);
    if (v.is_integer()) return static_cast<double>(get_int(key));
    require<format_error>(v.v.index() == 2, "io::gguf", origin_, ": key '", key, "' is not a number");
    return std::get<double>(v.v);
  }
  double get_float(std::string const& key, double fallback) const { return find_value(key) ? get_float(key) : fallback; }
  bool get_bool(std::string const& key, bool fallback) const {
    auto const* v = find_value(key);
    if (!v) return fallback;
    require<format_error>(v->v.index() == 3, "io::gguf", origin_, ": key '", key, "' is not a bool");
    return std::get<bool>(v->v);
  }

 private:
  gguf_value const& need(std::string const& key) const {
    auto const* v = find_value(key);
    require<format_error>(v != nullptr, "io::gguf", origin_, ": missing key '", key, "'");
    return *v;
  }
  std::uint32_t version_ = 3;
  std::uint64_t alignment_ = 32;
  std::map<std::string, gguf_value> values_;
};

}  // namespace io
SWITCHYARD_NAMESPACE_END
