#pragma once
// A read-only memory map of a whole file (POSIX mmap), so loaders hand out views into the file
// instead of copies: a weight whose layout matches what a block needs is used in place, and pages
// the model never touches are never read. Move-only; unmaps on destruction.
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <utility>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "switchyard/core/error.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace io {

class mapped_file {
 public:
  mapped_file() = default;
  explicit mapped_file(std::string path) : path_(std::move(path)) {
    int const fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    require<format_error>(fd >= 0, "io::mapped_file", path_, ": cannot open (", std::strerror(errno), ")");
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(fd);
      switchyard::detail::fail<format_error>("io::mapped_file", path_, ": not a regular file");
    }
    size_ = static_cast<std::size_t>(st.st_size);
    if (size_ > 0) {
      void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
      if (p == MAP_FAILED) {
        int const e = errno;
        ::close(fd);
        switchyard::detail::fail<format_error>("io::mapped_file", path_, ": mmap failed (", std::strerror(e), ")");
      }
      data_ = static_cast<std::byte const*>(p);
    }
    ::close(fd);  // the mapping keeps the file alive
  }
  mapped_file(mapped_file&& o) noexcept
      : path_(std::move(o.path_)), data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}
  mapped_file& operator=(mapped_file&& o) noexcept {
    if (this != &o) {
      unmap();
      path_ = std::move(o.path_);
      data_ = std::exchange(o.data_, nullptr);
      size_ = std::exchange(o.size_, 0);
    }
    return *this;
  }
  mapped_file(mapped_file const&) = delete;
  mapped_file& operator=(mapped_file const&) = delete;
  ~mapped_file() { unmap(); }

  std::string const& path() const noexcept { return path_; }
  std::span<std::byte const> bytes() const noexcept { return {data_, size_}; }

  // Drops this process's copies of the whole pages inside `b` (a range of this file; others are
  // ignored): a loader calls it after converting a tensor into a buffer of its own, so the
  // resident set holds the converted copy only, not the file's pages as well. Safe for any range:
  // the mapping is read-only and never written, so a page touched again is read back from the
  // file (or the page cache) unchanged.
  void release_pages(std::span<std::byte const> b) const noexcept {
    auto const begin = reinterpret_cast<std::uintptr_t>(data_), end = begin + size_;
    auto const lo = reinterpret_cast<std::uintptr_t>(b.data()), hi = lo + b.size();
    if (!data_ || lo < begin || hi > end) return;
    auto const page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
    std::uintptr_t const first = (lo + page - 1) / page * page, last = hi / page * page;
    if (last > first) ::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
  }

 private:
  void unmap() noexcept {
    if (data_) ::munmap(const_cast<std::byte*>(data_), size_);
    data_ = nullptr;
  }
  std::string path_;
  std::byte const* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace io
SWITCHYARD_NAMESPACE_END
