#!/usr/bin/env bash
# On a GPU machine: build the CUDA targets, run the CUDA tests (kernels against the host backend),
# then the MoE layer benchmarks, and print one table. Needs the CUDA toolkit (nvcc, cuBLAS), CMake,
# Ninja and the Debian packages of scripts/setup.sh (tried when missing; the GPU machines may have
# no network). Without Catch2 the tests are skipped and only the benchmark runs; point
# CMAKE_PREFIX_PATH at carried copies of missing packages if need be. Budget: under 8 minutes on
# an H200. SWITCHYARD_GPU_ARCH=80 for an Ampere card (default 90a).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
nvidia-smi -L || { echo "run.sh: no GPU visible (nvidia-smi failed)"; exit 1; }
if ! dpkg-query -W catch2 nlohmann-json3-dev >/dev/null 2>&1; then
  bash scripts/setup.sh || echo "run.sh: scripts/setup.sh could not install the missing packages; going on"
fi
build=build/gpu
arch="${SWITCHYARD_GPU_ARCH:-90a}"
configure() {
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSWITCHYARD_CUDA=ON \
        -DCMAKE_CUDA_ARCHITECTURES="$arch" -DSWITCHYARD_BUILD_EXAMPLES=OFF "$@" >"$build.configure.log" 2>&1
}
mkdir -p "$(dirname "$build")"
tests=ON
if ! configure -DSWITCHYARD_BUILD_TESTS=ON; then
  echo "run.sh: configuring with the tests failed (see $build.configure.log); benchmarks only"
  tests=OFF
  configure -DSWITCHYARD_BUILD_TESTS=OFF || { cat "$build.configure.log"; exit 1; }
fi
targets=(bench_moe_cuda)
[ "$tests" = ON ] && targets+=(test_route_cuda test_moe_cuda)
cmake --build "$build" -j "$(nproc)" --target "${targets[@]}" || exit 1
status=0
if [ "$tests" = ON ]; then
  echo "=== CUDA tests ==="
  (cd "$build" && ctest -L gpu --output-on-failure) || status=$?
fi
echo "=== MoE layer benchmark ==="
"$build/bench/bench_moe_cuda" || status=$?
exit $status
