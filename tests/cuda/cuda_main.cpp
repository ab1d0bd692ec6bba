// Catch2's main for the CUDA tests: without a usable CUDA device the whole binary reports
// "skipped" (exit code 77, CTest's SKIP_RETURN_CODE) instead of failing, so the same test list
// runs on CI machines without a GPU and on a lent GPU machine.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <cstdio>

#include <cuda_runtime_api.h>

int main(int argc, char** argv) {
  int devices = 0;
  cudaError_t const status = cudaGetDeviceCount(&devices);
  if (status != cudaSuccess || devices == 0) {
    std::printf("no CUDA device (%s): skipped\n", status != cudaSuccess ? cudaGetErrorString(status) : "none found");
    return 77;
  }
  return Catch::Session().run(argc, argv);
}
