#!/usr/bin/env bash
# Every test: set up, then build and run the release preset (optimized, CUDA headers compiled by
# nvcc when it is present) and the dev preset (debug, AddressSanitizer + UBSan, bounds checks;
# every host test and example, not the benchmarks). Compiles go through ccache (installed by
# setup.sh; the cache is shared by every clone on the machine). Ends with the ten slowest
# translation units of each preset (scripts/compile_cost.sh; docs/building.md).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
# Both presets, their ccache entries and the e2e venv take ~5 GB; a full disk shows up as a
# compiler "No space left on device" deep in the build, so say what there is before starting.
free_kb="$(df -Pk . | awk 'NR == 2 { print $4 }')"
echo "=== disk: $((free_kb / 1024)) MB free where the build goes ==="
[ "$free_kb" -lt $((6 * 1024 * 1024)) ] && echo "warning: under 6 GB free; the dev (ASan) build may run out of disk"
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
