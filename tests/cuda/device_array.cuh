#pragma once
// Test helper: an owning device array with upload/download, every call checked.
#include <cstddef>
#include <vector>

#include <cuda_runtime_api.h>

#include "switchyard/kernels/common/cuda_check.cuh"

namespace switchyard::test {

template <class T>
class device_array {
 public:
  device_array() = default;
  explicit device_array(std::size_t n) : n_(n) {
    if (n) SWITCHYARD_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&p_), n * sizeof(T)));
  }
  explicit device_array(std::vector<T> const& host) : device_array(host.size()) { upload(host); }
  device_array(device_array&& o) noexcept : p_(o.p_), n_(o.n_) { o.p_ = nullptr, o.n_ = 0; }
  device_array& operator=(device_array&& o) noexcept {
    std::swap(p_, o.p_);
    std::swap(n_, o.n_);
    return *this;
  }
  device_array(device_array const&) = delete;
  ~device_array() {
    if (p_) cudaFree(p_);
  }

  void upload(std::vector<T> const& host) {
    if (n_) SWITCHYARD_CUDA_CHECK(cudaMemcpy(p_, host.data(), n_ * sizeof(T), cudaMemcpyHostToDevice));
  }
  std::vector<T> download() const {
    std::vector<T> host(n_);
    if (n_) SWITCHYARD_CUDA_CHECK(cudaMemcpy(host.data(), p_, n_ * sizeof(T), cudaMemcpyDeviceToHost));
    return host;
  }
  // Fills every byte with `byte` (0xFF: NaN for floats, -1 for ints): the poison before a run.
  void poison(int byte = 0xFF) {
    if (n_) SWITCHYARD_CUDA_CHECK(cudaMemset(p_, byte, n_ * sizeof(T)));
  }
  T* get() const noexcept { return p_; }
  std::size_t size() const noexcept { return n_; }

 private:
  T* p_ = nullptr;
  std::size_t n_ = 0;
};

}  // namespace switchyard::test
