#!/usr/bin/env bash
# Every test: set up, then build and run the release preset (optimized, CUDA headers compiled by
# nvcc when it is present) and the dev preset (debug, AddressSanitizer + UBSan, bounds checks).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
jobs="$(nproc)"
for preset in release dev; do
  echo "=== $preset ==="
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset" -j "$jobs"
  ctest --preset "$preset" -j "$jobs"
done
