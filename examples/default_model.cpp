// The one unit that knows where the shipped model is (default_model.hpp). Built outside
// switchyard's CMake project, it falls back to the path relative to the repository root.
#include "default_model.hpp"

#ifndef SWITCHYARD_DEFAULT_MODEL
#define SWITCHYARD_DEFAULT_MODEL "models/switchyard-tiny-moe"
#endif

char const* switchyard_examples::default_model() noexcept { return SWITCHYARD_DEFAULT_MODEL; }
