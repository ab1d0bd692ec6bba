#pragma once
// Tensors by name over one or more mapped files: what both checkpoint readers (safetensors.hpp,
// gguf.hpp) give the model loaders. The files stay mapped as long as the directory lives, and
// every tensor_entry's bytes point into them.
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "switchyard/core/error.hpp"
#include "switchyard/io/mapped_file.hpp"
#include "switchyard/io/tensor_entry.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace io {

// Tensors by name over one or more mapped files. A base of the readers (safetensors_checkpoint,
// gguf_file), held and passed by reference: nothing owns or deletes one through this type, so the
// destructor is protected and non-virtual (and so are its moves: no slicing).
class tensor_directory {
 public:
  tensor_entry const* find(std::string_view name) const {
    auto it = index_.find(std::string(name));
    return it == index_.end() ? nullptr : &tensors_[it->second];
  }
  tensor_entry const& at(std::string_view name) const {
    tensor_entry const* t = find(name);
    require<format_error>(t != nullptr, "io", origin_, ": missing tensor '", name, "'");
    return *t;
  }
  std::vector<tensor_entry> const& tensors() const noexcept { return tensors_; }
  std::map<std::string, std::string> const& metadata() const noexcept { return metadata_; }
  std::string const& origin() const noexcept { return origin_; }
  // mapped_file::release_pages on whichever file holds `b`.
  void release_pages(std::span<std::byte const> b) const noexcept {
    for (auto const& f : files_) f->release_pages(b);
  }

 protected:
  tensor_directory() = default;
  tensor_directory(tensor_directory&&) = default;  // copies: none (the mapped files are owned)
  tensor_directory& operator=(tensor_directory&&) = default;
  ~tensor_directory() = default;

  void add(tensor_entry t, std::string const& file) {
    require<format_error>(index_.emplace(t.name, tensors_.size()).second, "io", file, ": tensor '", t.name,
                          "' appears twice in the checkpoint");
    tensors_.push_back(std::move(t));
  }
  std::vector<std::unique_ptr<mapped_file>> files_;
  std::vector<tensor_entry> tensors_;
  std::unordered_map<std::string, std::size_t> index_;
  std::map<std::string, std::string> metadata_;
  std::string origin_;
};

}  // namespace io
SWITCHYARD_NAMESPACE_END
