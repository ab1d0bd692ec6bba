#pragma once
// The library's version, one place. CMake reads these three numbers from this file.
#define SWITCHYARD_VERSION_MAJOR 0
#define SWITCHYARD_VERSION_MINOR 1
#define SWITCHYARD_VERSION_PATCH 0
#define SWITCHYARD_VERSION_STRING "0.1.0"
