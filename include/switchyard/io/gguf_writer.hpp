#pragma once
// GGUF v3 writer: metadata key/values and tensors in any dtype a ggml tool reads, aligned as
// general.alignment says (32 unless set), so a model quantized by switchyard loads in llama.cpp
// and the gguf package, and in switchyard's own reader. Tensors are given outermost dimension
// first (as everywhere in switchyard) and written in ggml's innermost-first order.
#include <cstdint>
#include <cstring>
#include <fstream>
#include <span>
#include <string>
#include <vector>

#include "switchyard/core/error.hpp"
#include "switchyard/io/gguf.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace io {

class gguf_writer {
 public:
  // Not inlined: where a caller's value type is known (set_u32, set_string), GCC 12 inlines
  // std::variant's move assignment and warns (-Wmaybe-uninitialized) about the alternatives the
  // value does not hold; which callers it inlines into shifts with unrelated code.
  [[gnu::noinline]] void set(std::string key, gguf_value v) {
    for (auto& kv : kv_)
      if (kv.first == key) {
        kv.second = std::move(v);
        return;
      }
    if (key == "general.alignment") {
      require(v.type == gguf_type::u32 && v.v.index() == 0, "io::gguf_writer", "general.alignment must be a u32");
      alignment_ = std::get<std::uint64_t>(v.v);
      require(alignment_ > 0 && (alignment_ & (alignment_ - 1)) == 0, "io::gguf_writer",
              "general.alignment must be a power of two, got ", alignment_);
    }
    kv_.emplace_back(std::move(key), std::move(v));
  }
  void set_u32(std::string key, std::uint32_t x) { set(std::move(key), {gguf_type::u32, gguf_type::u8, std::uint64_t{x}}); }
  void set_i32(std::string key, std::int32_t x) { set(std::move(key), {gguf_type::i32, gguf_type::u8, std::int64_t{x}}); }
  void set_f32(std::string key, float x) { set(std::move(key), {gguf_type::f32, gguf_type::u8, double{x}}); }
  void set_bool(std::string key, bool x) { set(std::move(key), {gguf_type::boolean, gguf_type::u8, x}); }
  void set_string(std::string key, std::string x) {
    set(std::move(key), {gguf_type::string, gguf_type::u8, std::move(x)});
  }

  // The bytes are copied when written, not now: they must outlive write().
  void add_tensor(std::string name, dtype t, std::vector<std::int64_t> shape, std::span<std::byte const> bytes) {
    char const* where = "io::gguf_writer";
    std::uint32_t g = 0;
    require(dtype_to_ggml(t, g), where, "tensor '", name, "': ", info(t).name, " has no ggml type");
    require(!shape.empty() && shape.size() <= 4, where, "tensor '", name, "' needs 1 to 4 dimensions");
    std::int64_t const want = tensor_bytes(t, shape);
    require(want >= 0 && static_cast<std::size_t>(want) == bytes.size(), where, "tensor '", name, "': ", bytes.size(),
            " bytes given for a shape of ", want);
    for (auto const& e : tensors_) require(e.name != name, where, "tensor '", name, "' added twice");
    tensors_.push_back({std::move(name), g, std::move(shape), bytes});
  }

  void write(std::string const& path) const {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    require<format_error>(static_cast<bool>(f), "io::gguf_writer", path, ": cannot open for writing");
    std::vector<char> out;
    put<std::uint32_t>(out, 0x46554747u);
    put<std::uint32_t>(out, 3);
    put<std::uint64_t>(out, tensors_.size());
    put<std::uint64_t>(out, kv_.size());
    for (auto const& [k, v] : kv_) {
      put_string(out, k);
      put<std::uint32_t>(out, static_cast<std::uint32_t>(v.type));
      put_value(out, v);
    }
    std::uint64_t offset = 0;
    for (auto const& t : tensors_) {
      put_string(out, t.name);
      put<std::uint32_t>(out, static_cast<std::uint32_t>(t.shape.size()));
      for (auto it = t.shape.rbegin(); it != t.shape.rend(); ++it) put<std::uint64_t>(out, static_cast<std::uint64_t>(*it));
      put<std::uint32_t>(out, t.ggml);
      put<std::uint64_t>(out, offset);
      offset = align(offset + t.bytes.size());
    }
    out.resize(static_cast<std::size_t>(align(out.size())), '\0');
    f.write(out.data(), static_cast<std::streamsize>(out.size()));
    std::vector<char> const pad(static_cast<std::size_t>(alignment_), '\0');
    for (auto const& t : tensors_) {
      f.write(reinterpret_cast<char const*>(t.bytes.data()), static_cast<std::streamsize>(t.bytes.size()));
      f.write(pad.data(), static_cast<std::streamsize>(align(t.bytes.size()) - t.bytes.size()));
    }
    require<format_error>(static_cast<bool>(f), "io::gguf_writer", path, ": write failed");
  }

 private:
  struct pending {
    std::string name;
    std::uint32_t ggml;
    std::vector<std::int64_t> shape;
    std::span<std::byte const> bytes;
  };
  std::uint64_t align(std::uint64_t x) const { return (x + alignment_ - 1) / alignment_ * alignment_; }
  template <class T>
  static void put(std::vector<char>& out, T x) {
    char b[sizeof(T)];
    std::memcpy(b, &x, sizeof(T));
    out.insert(out.end(), b, b + sizeof(T));
  }
  static void put_string(std::vector<char>& out, std::string const& s) {
    put<std::uint64_t>(out, s.size());
    out.insert(out.end(), s.begin(), s.end());
  }
  static void put_value(std::vector<char>& out, gguf_value const& v) {
    auto u = [&] { return std::get<std::uint64_t>(v.v); };
    auto i = [&] { return std::get<std::int64_t>(v.v); };
    switch (v.type) {
      case gguf_type::u8: put<std::uint8_t>(out, static_cast<std::uint8_t>(u())); break;
      case gguf_type::i8: put<std::int8_t>(out, static_cast<std::int8_t>(i())); break;
      case gguf_type::u16: put<std::uint16_t>(out, static_cast<std::uint16_t>(u())); break;
      case gguf_type::i16: put<std::int16_t>(out, static_cast<std::int16_t>(i())); break;
      case gguf_type::u32: put<std::uint32_t>(out, static_cast<std::uint32_t>(u())); break;
      case gguf_type::i32: put<std::int32_t>(out, static_cast<std::int32_t>(i())); break;
      case gguf_type::u64: put<std::uint64_t>(out, u()); break;
      case gguf_type::i64: put<std::int64_t>(out, i()); break;
      case gguf_type::f32: put<float>(out, static_cast<float>(std::get<double>(v.v))); break;
      case gguf_type::f64: put<double>(out, std::get<double>(v.v)); break;
      case gguf_type::boolean: put<std::uint8_t>(out, std::get<bool>(v.v) ? 1 : 0); break;
      case gguf_type::string: put_string(out, std::get<std::string>(v.v)); break;
      case gguf_type::array: {
        auto const& items = std::get<std::vector<gguf_value>>(v.v);
        put<std::uint32_t>(out, static_cast<std::uint32_t>(v.elem_type));
        put<std::uint64_t>(out, items.size());
        for (auto const& it : items) put_value(out, it);
        break;
      }
    }
  }
  std::vector<std::pair<std::string, gguf_value>> kv_;
  std::vector<pending> tensors_;
  std::uint64_t alignment_ = 32;
};

}  // namespace io
SWITCHYARD_NAMESPACE_END
