#pragma once
// The command line and device check the GPU benchmarks share (bench/gpu/run.sh and run_models.sh
// drive them alike): no argument runs every section, `--list` names them one a line, NAME... runs
// those (an unknown one is refused); without a usable CUDA device the program says so and exits 77.
#include <cstdio>
#include <cstring>
#include <optional>
#include <vector>

#include <cuda_runtime_api.h>

#include "switchyard/kernels/common/cuda_check.cuh"

namespace switchyard_bench {

// The indices into `names` to run, in the command line's order (every one when none is named), or
// the exit code the program should end with: 0 after --list, 2 for an unknown name.
struct chosen_sections {
  std::vector<std::size_t> indices;
  std::optional<int> exit_code;
};

inline chosen_sections choose_sections(int argc, char** argv, std::vector<char const*> const& names, char const* program) {
  chosen_sections c;
  if (argc == 2 && std::strcmp(argv[1], "--list") == 0) {
    for (char const* n : names) std::printf("%s\n", n);
    c.exit_code = 0;
    return c;
  }
  for (int i = 1; i < argc; ++i) {
    std::size_t k = 0;
    while (k < names.size() && std::strcmp(names[k], argv[i]) != 0) ++k;
    if (k == names.size()) {
      std::fprintf(stderr, "%s: no section '%s' (--list names them)\n", program, argv[i]);
      c.exit_code = 2;
      return c;
    }
    c.indices.push_back(k);
  }
  if (argc == 1)
    for (std::size_t k = 0; k < names.size(); ++k) c.indices.push_back(k);
  return c;
}

// Whether device 0 is usable; prints its line (name, architecture, SMs, memory), or the skip line.
inline bool open_device(char const* program) {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::printf("%s: no usable CUDA device: skipped\n", program);
    return false;
  }
  cudaDeviceProp prop{};
  SWITCHYARD_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
  std::printf("device: %s, sm_%d%d, %d SMs, %.0f GiB\n", prop.name, prop.major, prop.minor, prop.multiProcessorCount,
              double(prop.totalGlobalMem) / double(1 << 30));
  return true;
}

}  // namespace switchyard_bench
