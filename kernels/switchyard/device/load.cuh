#pragma once
// device::load: a checkpoint -- a folder (config.json + safetensors) or a .gguf file -- as a
// device::causal_lm on the current CUDA device. The same config readers and weight sources as
// model::load (model/build.hpp), so both backends read one file the same way; the weights are
// uploaded once and the file is not kept (the device holds its own copies).
#include <filesystem>
#include <memory>

#include "switchyard/core/error.hpp"
#include "switchyard/device/causal_lm.cuh"
#include "switchyard/device/options.hpp"
#include "switchyard/io/gguf.hpp"
#include "switchyard/io/safetensors.hpp"
#include "switchyard/model/gguf_config.hpp"
#include "switchyard/model/hf_config.hpp"
#include "switchyard/model/weight_source.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace device {

namespace detail {
// load_options::experts_per_token over the checkpoint's (model::load's rule).
inline model::model_config with_options(model::model_config c, load_options const& o) {
  if (o.experts_per_token == 0) return c;
  require<unsupported_config>(c.experts > 0, "device::load", "load_options::experts_per_token is ", o.experts_per_token,
                              " but the model has no experts");
  require(o.experts_per_token >= 1 && o.experts_per_token <= c.experts, "device::load",
          "load_options::experts_per_token must be in [1, ", c.experts, "], got ", o.experts_per_token);
  c.experts_per_token = o.experts_per_token;
  return c;
}

inline std::unique_ptr<causal_lm> build(model::model_config const& c, io::tensor_directory const& dir,
                                        model::weight_source const& src, load_options const& o) {
  auto lm = std::make_unique<causal_lm>(c, src, o);
  if (!o.allow_extra_tensors) {
    auto const extra = src.unused(dir);
    require<format_error>(extra.empty(), "device::load", dir.origin(), ": ", extra.size(), " tensor(s) are not part of a ",
                          model::name(c.arch), " model of this config, first '", extra.empty() ? "" : extra[0],
                          "' (load_options::allow_extra_tensors ignores them)");
  }
  return lm;
}
}  // namespace detail

inline std::unique_ptr<causal_lm> load(std::filesystem::path const& path, load_options const& o = {}) {
  namespace fs = std::filesystem;
  if (path.extension() == ".gguf") {
    io::gguf_file const file(path);
    model::model_config const c = detail::with_options(model::config_from_gguf(file), o);
    model::gguf_source const src(file, c);
    return detail::build(c, file, src, o);
  }
  fs::path const dir = fs::is_directory(path) ? path : path.parent_path();
  model::model_config const c = detail::with_options(model::read_hf_config(dir), o);
  io::safetensors_checkpoint const ckpt(path);
  model::hf_source const src(ckpt, c);
  return detail::build(c, ckpt, src, o);
}

}  // namespace device
SWITCHYARD_NAMESPACE_END
