#pragma once
// Backend tags: where a tensor's memory lives and which kernels may touch it. A tensor view
// carries its backend in its type, so passing device memory to a host kernel (or the reverse)
// is a compile error rather than a crash.
#include <concepts>

#include "switchyard/config.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace backend {

struct host {
  static constexpr char const* name = "host";
};
struct cuda {
  static constexpr char const* name = "cuda";
};

}  // namespace backend

template <class B>
concept backend_tag = std::same_as<B, backend::host> || std::same_as<B, backend::cuda>;

SWITCHYARD_NAMESPACE_END
