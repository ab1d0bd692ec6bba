#pragma once
// Reads the reference tensors that tools/make_reference.py saved (safetensors: an 8-byte
// little-endian header length, a JSON header of {name: {dtype, shape, data_offsets}}, then the
// data). Test support only, so it checks what a test needs and throws on anything else; the
// library's validated loader arrives with the model-loading work.
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "support/data_dir.hpp"

namespace switchyard::test {

struct reference_tensor {
  std::string dtype;
  std::vector<std::int64_t> shape;
  std::vector<unsigned char> bytes;

  std::int64_t numel() const {
    std::int64_t n = 1;
    for (auto d : shape) n *= d;
    return n;
  }
  template <class T>
  std::vector<T> as() const {
    if (bytes.size() % sizeof(T) != 0) throw std::runtime_error("reference tensor size is not a multiple of the element");
    std::vector<T> v(bytes.size() / sizeof(T));
    std::memcpy(v.data(), bytes.data(), bytes.size());
    return v;
  }
};

class reference_file {
 public:
  explicit reference_file(std::string const& name) : path_(std::string(SWITCHYARD_TEST_DATA_DIR) + "/" + name) {
    std::ifstream f(path_, std::ios::binary);
    if (!f) throw std::runtime_error("cannot open reference file " + path_ + " (run tools/make_reference.py)");
    data_.assign(std::istreambuf_iterator<char>(f), {});
    if (data_.size() < 8) throw std::runtime_error(path_ + ": shorter than a safetensors header");
    std::uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(data_[static_cast<std::size_t>(i)]);
    if (n > data_.size() - 8) throw std::runtime_error(path_ + ": header length past the end of the file");
    header_ = nlohmann::json::parse(data_.begin() + 8, data_.begin() + 8 + static_cast<std::ptrdiff_t>(n));
    base_ = 8 + n;
  }

  bool contains(std::string const& name) const { return header_.contains(name); }

  reference_tensor get(std::string const& name) const {
    if (!header_.contains(name)) throw std::runtime_error(path_ + ": no tensor '" + name + "'");
    auto const& e = header_.at(name);
    reference_tensor t;
    t.dtype = e.at("dtype").get<std::string>();
    t.shape = e.at("shape").get<std::vector<std::int64_t>>();
    auto const off = e.at("data_offsets").get<std::vector<std::uint64_t>>();
    if (off.size() != 2 || off[0] > off[1] || base_ + off[1] > data_.size())
      throw std::runtime_error(path_ + ": bad data_offsets for '" + name + "'");
    t.bytes.assign(data_.begin() + static_cast<std::ptrdiff_t>(base_ + off[0]),
                   data_.begin() + static_cast<std::ptrdiff_t>(base_ + off[1]));
    return t;
  }

 private:
  std::string path_;
  std::vector<char> data_;
  nlohmann::json header_;
  std::uint64_t base_ = 0;
};

}  // namespace switchyard::test
