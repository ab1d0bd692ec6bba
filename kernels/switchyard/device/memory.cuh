#pragma once
// Owning device and pinned-host allocations for the whole-model code (device/): the model
// allocates everything once at load -- weights, the KV pools, one workspace arena, one pinned
// staging buffer -- and these RAII holders free them with the model. Nothing here allocates per
// call.
#include <cstddef>
#include <utility>

#include <cuda_runtime_api.h>

#include "switchyard/kernels/common/cuda_check.cuh"

SWITCHYARD_NAMESPACE_BEGIN
namespace device {

// cudaMalloc'd bytes (256-byte aligned, as every cudaMalloc pointer is).
class device_bytes {
 public:
  device_bytes() = default;
  explicit device_bytes(std::size_t n) : n_(n) {
    if (n > 0) SWITCHYARD_CUDA_CHECK(cudaMalloc(&p_, n));
  }
  device_bytes(device_bytes&& o) noexcept : p_(std::exchange(o.p_, nullptr)), n_(std::exchange(o.n_, 0)) {}
  device_bytes& operator=(device_bytes&& o) noexcept {
    if (this != &o) {
      reset();
      p_ = std::exchange(o.p_, nullptr);
      n_ = std::exchange(o.n_, 0);
    }
    return *this;
  }
  device_bytes(device_bytes const&) = delete;
  device_bytes& operator=(device_bytes const&) = delete;
  ~device_bytes() { reset(); }

  void* get() const noexcept { return p_; }
  std::size_t size() const noexcept { return n_; }
  template <class T>
  T* as() const noexcept {
    return static_cast<T*>(p_);
  }

 private:
  void reset() noexcept {
    if (p_) (void)cudaFree(p_);  // never throws from a destructor
    p_ = nullptr;
    n_ = 0;
  }
  void* p_ = nullptr;
  std::size_t n_ = 0;
};

// cudaMallocHost'd (page-locked) bytes: the staging buffer whose one async copy feeds a call.
class pinned_bytes {
 public:
  pinned_bytes() = default;
  explicit pinned_bytes(std::size_t n) : n_(n) {
    if (n > 0) SWITCHYARD_CUDA_CHECK(cudaMallocHost(&p_, n));
  }
  pinned_bytes(pinned_bytes&& o) noexcept : p_(std::exchange(o.p_, nullptr)), n_(std::exchange(o.n_, 0)) {}
  pinned_bytes& operator=(pinned_bytes&& o) noexcept {
    if (this != &o) {
      if (p_) (void)cudaFreeHost(p_);
      p_ = std::exchange(o.p_, nullptr);
      n_ = std::exchange(o.n_, 0);
    }
    return *this;
  }
  pinned_bytes(pinned_bytes const&) = delete;
  pinned_bytes& operator=(pinned_bytes const&) = delete;
  ~pinned_bytes() {
    if (p_) (void)cudaFreeHost(p_);
  }
  void* get() const noexcept { return p_; }
  std::size_t size() const noexcept { return n_; }

 private:
  void* p_ = nullptr;
  std::size_t n_ = 0;
};

}  // namespace device
SWITCHYARD_NAMESPACE_END
