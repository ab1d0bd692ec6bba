#!/usr/bin/env bash
# On a GPU machine: build the CUDA targets, run the CUDA tests (kernels against the host backend),
# then the MoE layer benchmarks, and print one table. Needs the CUDA toolkit (nvcc, cuBLAS) and
# the packages of scripts/setup.sh. Budget: under 8 minutes on an H200.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
nvidia-smi -L
build=build/gpu
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSWITCHYARD_CUDA=ON \
      -DCMAKE_CUDA_ARCHITECTURES="${SWITCHYARD_GPU_ARCH:-90a}" -DSWITCHYARD_BUILD_EXAMPLES=OFF >/dev/null
cmake --build "$build" -j "$(nproc)" --target test_route_cuda test_moe_cuda bench_moe_cuda
echo "=== CUDA tests ==="
status=0
(cd "$build" && ctest -L gpu --output-on-failure) || status=$?
echo "=== MoE layer benchmark ==="
"$build/bench/bench_moe_cuda"
exit $status
