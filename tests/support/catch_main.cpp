// The one Catch2 main, compiled once into an OBJECT library and linked by every test binary
// (it takes ~20 s to compile with g++ 12; doing it per test would dominate the build).
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
