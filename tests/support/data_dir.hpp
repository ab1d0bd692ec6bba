#pragma once
// Where tests/data is. The path is compiled into one small translation unit (data_dir.cpp) and
// nowhere else, so that the test sources compile to the same command line in every clone of the
// repository and a compiler cache shared by clones at other paths hits for them
// (docs/building.md).
namespace switchyard::test {
char const* data_dir() noexcept;
}  // namespace switchyard::test

#define SWITCHYARD_TEST_DATA_DIR (::switchyard::test::data_dir())
