#!/usr/bin/env bash
# Every test: set up, then build and run the release preset (optimized, CUDA headers compiled by
# nvcc when it is present) and the dev preset (debug, AddressSanitizer + UBSan, bounds checks;
# every host test and example, not the benchmarks). Compiles go through ccache (installed by
# setup.sh; the cache is shared by every clone on the machine). Ends with the ten slowest
# translation units of each preset (scripts/compile_cost.sh; docs/building.md).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
jobs="$(nproc)"
start=$SECONDS
command -v ccache >/dev/null && ccache --zero-stats >/dev/null
for preset in release dev; do
  echo "=== $preset ==="
  t0=$SECONDS
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset" -j "$jobs"
  t1=$SECONDS
  ctest --preset "$preset" -j "$jobs"
  echo "=== $preset: built in $((t1 - t0)) s, tested in $((SECONDS - t1)) s ==="
done
echo "=== compile cost ==="
bash scripts/compile_cost.sh build/release build/dev
command -v ccache >/dev/null && ccache --show-stats | grep -E "Hits|Misses|Cache size" || true
echo "=== all tests passed in $((SECONDS - start)) s ==="
