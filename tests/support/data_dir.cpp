// The one translation unit that knows the source tree's path (see data_dir.hpp).
#include "support/data_dir.hpp"

#ifndef SWITCHYARD_TEST_DATA_PATH
#error "SWITCHYARD_TEST_DATA_PATH must name tests/data (set by tests/CMakeLists.txt)"
#endif

char const* switchyard::test::data_dir() noexcept { return SWITCHYARD_TEST_DATA_PATH; }
