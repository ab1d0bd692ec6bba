#pragma once
// `--device cuda` for the example programs. The device model lives in the program's one CUDA unit
// (device_model_cuda.cu, nvcc; device_model_none.cpp where the build has no CUDA), which hands it
// over as a switchyard_device_abi::model -- plain types, because CUDA units and host units name
// switchyard's types in different inline namespaces (kernels/switchyard/device/abi.hpp) -- and this
// host-side function wraps it in device::host_proxy, a model::language_model and
// generate::sampling_model of the host's own namespace, so the scheduler drives it unchanged and
// samples on the device.
#include <filesystem>
#include <memory>
#include <string>

#include <switchyard/device/abi.hpp>
#ifndef __CUDACC__  // the host half only: the CUDA unit must not define a second load_device_model
#include <switchyard/device/host_proxy.hpp>
#include <switchyard/io/gguf.hpp>
#include <switchyard/model/gguf_config.hpp>
#include <switchyard/model/hf_config.hpp>
#endif

namespace switchyard_examples {

struct device_model_options {
  std::int64_t cache_block_size = 16, cache_blocks = 1024;
  int max_batch = 64;  // decode steps captured as CUDA graphs up to this many sequences
  bool graphs = true;
};

// Whether this program was built with the CUDA backend.
bool device_model_built() noexcept;
// The model on CUDA device 0 (the CUDA unit), or a std::exception saying why not: no CUDA build,
// no device, a format the device does not compute, ...
std::unique_ptr<switchyard_device_abi::model> open_device_model(std::string const& path, device_model_options const& o);

#ifndef __CUDACC__
// The device model as the host program's language model.
inline std::unique_ptr<switchyard::model::language_model> load_device_model(std::filesystem::path const& path,
                                                                            device_model_options const& o) {
  auto device = open_device_model(path.string(), o);
  namespace md = switchyard::model;
  md::model_config const c = path.extension() == ".gguf"
                                 ? md::config_from_gguf(switchyard::io::gguf_file(path))
                                 : md::read_hf_config(std::filesystem::is_directory(path) ? path : path.parent_path());
  return std::make_unique<switchyard::device::host_proxy>(std::move(device), c);
}
#endif

}  // namespace switchyard_examples
