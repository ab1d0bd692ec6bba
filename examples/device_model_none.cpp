// `--device cuda` in a build without the CUDA backend (SWITCHYARD_CUDA off, or no nvcc): a clear
// refusal instead of a missing option.
#include "device_model.hpp"

#include <switchyard/core/error.hpp>

namespace switchyard_examples {

bool device_model_built() noexcept { return false; }

std::unique_ptr<switchyard_device_abi::model> open_device_model(std::string const&, device_model_options const&) {
  throw switchyard::unsupported_config(
      "--device cuda: this program was built without the CUDA backend (configure with -DSWITCHYARD_CUDA=ON and nvcc "
      "installed, e.g. cmake --preset cuda)");
}

}  // namespace switchyard_examples
