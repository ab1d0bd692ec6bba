// model::load compiled once, for the programs that link switchyard::model_instances (they see
// only its declaration: model/load.hpp under SWITCHYARD_EXTERN_MODEL_INSTANCES). The builders of
// each weight format are the library's other units (model_build_instance.cpp.in); here they are
// extern.
#ifndef SWITCHYARD_EXTERN_MODEL_INSTANCES
#define SWITCHYARD_EXTERN_MODEL_INSTANCES
#endif
#include "switchyard/model/load.hpp"
#include "switchyard/model/build.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace model {
std::unique_ptr<language_model> load(std::filesystem::path const& path, load_options const& o) {
  return detail::load_checkpoint(path, o);
}
}  // namespace model
SWITCHYARD_NAMESPACE_END
