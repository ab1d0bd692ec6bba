// `--device cuda` in a build with the CUDA backend: device::load (kernels/switchyard/device/) on
// device 0, handed to the host units through the plain-type bridge (device/abi.hpp). The only unit
// of the program that nvcc compiles; it sees switchyard's types in their CUDA namespace, so its
// errors leave as std::exception (what() says where) and the model as switchyard_device_abi::model.
#include <cuda_runtime_api.h>

#include <string>

#include <switchyard/core/error.hpp>
#include <switchyard/device/abi_model.cuh>
#include <switchyard/device/load.cuh>

#include "device_model.hpp"

namespace switchyard_examples {

bool device_model_built() noexcept { return true; }

std::unique_ptr<switchyard_device_abi::model> open_device_model(std::string const& path, device_model_options const& o) {
  int devices = 0;
  cudaError_t const e = cudaGetDeviceCount(&devices);
  if (e != cudaSuccess || devices == 0)
    throw switchyard_device_abi::failure(switchyard_device_abi::failure_kind::unsupported_config,
                                         std::string("--device cuda: no usable CUDA device (") +
                                             (e != cudaSuccess ? cudaGetErrorString(e) : "none found") + ")");
  return switchyard::device::make_abi_model(switchyard::device::load(path, {.block_size = o.cache_block_size,
                                                                            .blocks = o.cache_blocks,
                                                                            .max_decode_batch = o.max_batch,
                                                                            .graphs = o.graphs}));
}

}  // namespace switchyard_examples
