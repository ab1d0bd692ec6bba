#!/usr/bin/env bash
# On the CPU machine, after bench/gpu/prepare.sh: the GPU machine's run as closely as this machine
# can play it. A copy of what the device tool sends (tracked files and untracked, not ignored
# ones) plus gpu-deps/ goes to a scratch folder; in a private mount namespace (root; nothing
# outside this process sees it) empty folders are mounted over this machine's nlohmann-json,
# Catch2 and Boost headers and CMake files, so a file missing from gpu-deps fails the configure
# or the compile instead of being found on the system. Then bench/gpu/run.sh and
# bench/gpu/run_models.sh, twice each:
#   --expect-gpu   must fail, saying there is no usable device (there is none here);
#   without it    must pass with every test case (every model) reported skipped.
# It prints the build time. Needs root and unshare (util-linux).
# The budget (SWITCHYARD_GPU_BUDGET) is 1800 s here unless set: run.sh counts its build inside
# the 540 s of the GPU machine, where 16 cores build in about a minute; 2 shared cores take
# 200-600 s, which would leave the test phase's deadline (budget - 245 s) behind before the first
# case and report every case "not run (budget)". The phases' arithmetic is the same either way.
#
#   bash bench/gpu/bare_check.sh [SCRATCH]      # default /tmp/switchyard-bare
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
scratch="${1:-/tmp/switchyard-bare}"
export SWITCHYARD_GPU_BUDGET="${SWITCHYARD_GPU_BUDGET:-1800}"
[ -d "$root/gpu-deps" ] || { echo "bare_check.sh: run bench/gpu/prepare.sh first"; exit 1; }

rm -rf "$scratch" && mkdir -p "$scratch/tree"
(cd "$root" && git ls-files -co --exclude-standard -z | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
  xargs -0 cp --parents -t "$scratch/tree")
cp -r "$root/gpu-deps" "$scratch/tree/"
echo "bare_check.sh: $(du -sh "$scratch/tree" | cut -f1) copied to $scratch/tree"

# What the bare machine lacks: every place this machine keeps the three packages.
hide=(/usr/include/nlohmann /usr/include/catch2 /usr/include/boost /usr/lib/cmake/Catch2 /usr/share/cmake/nlohmann_json
      /usr/lib/x86_64-linux-gnu/cmake)
status=0
unshare -m bash -s "$scratch" "${hide[@]}" <<'EOF' || status=$?
set -uo pipefail
scratch="$1"; shift
mount --make-rprivate /
for d in "$@"; do [ -d "$d" ] && mount -t tmpfs -o ro,size=4k none "$d"; done
for f in /usr/include/nlohmann/json.hpp /usr/include/catch2/catch.hpp /usr/include/boost/version.hpp; do
  [ -e "$f" ] && { echo "bare_check.sh: $f is still visible"; exit 1; }
done
echo "bare_check.sh: hidden: $*"
cd "$scratch/tree"
nice -n 19 bash bench/gpu/run.sh --expect-gpu "$scratch/expect" >"$scratch/expect.log" 2>&1
rc_expect=$?
SWITCHYARD_EXPECT_GPU=0 nice -n 19 bash bench/gpu/run.sh "$scratch/dry" >"$scratch/dry.log" 2>&1
rc_dry=$?
# The second call (whole models), reusing run.sh's build folder as on a warm GPU machine.
nice -n 19 bash bench/gpu/run_models.sh --expect-gpu "$scratch/expect" >"$scratch/expect-models.log" 2>&1
rc_models_expect=$?
SWITCHYARD_EXPECT_GPU=0 nice -n 19 bash bench/gpu/run_models.sh "$scratch/dry" >"$scratch/dry-models.log" 2>&1
rc_models_dry=$?
echo "== run.sh --expect-gpu: exit $rc_expect (must be 1)"; sed -n '1,8p' "$scratch/expect/report.md"
echo "== run.sh: exit $rc_dry (must be 0)"; sed -n '1,8p' "$scratch/dry/report.md"
echo "== run_models.sh --expect-gpu: exit $rc_models_expect (must be 1)"; sed -n '1,6p' "$scratch/expect/report-models.md"
echo "== run_models.sh: exit $rc_models_dry (must be 0)"; sed -n '1,6p' "$scratch/dry/report-models.md"
[ "$rc_expect" = 1 ] && grep -q 'no usable CUDA device' "$scratch/expect/report.md" &&
  [ "$rc_dry" = 0 ] && grep -q '^# switchyard GPU run: SKIPPED' "$scratch/dry/report.md" &&
  [ "$rc_models_expect" = 1 ] && grep -q 'no usable CUDA device' "$scratch/expect/report-models.md" &&
  [ "$rc_models_dry" = 0 ] && grep -q '^# switchyard whole-model GPU run: SKIPPED' "$scratch/dry/report-models.md"
EOF
echo "bare_check.sh: $([ $status = 0 ] && echo passed || echo FAILED); reports and logs in $scratch/{expect,dry}"
exit $status
