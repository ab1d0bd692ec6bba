#!/usr/bin/env bash
# The GPU run: from a copy of the tree plus gpu-deps/ (bench/gpu/prepare.sh, on the CPU machine),
# with no package manager and no network, build the CUDA targets for the card found, run every
# CUDA test case in its own process and every benchmark section (the MoE layer, device attention,
# and PyTorch's SDPA on the attention shapes as a peer), each under a timeout, and write one
# Markdown report. Ends within 9 minutes on an H100 / H200 (budgets below), leaving room in a
# 15-minute lease for the machine's start and the whole-model call (run_models.sh) after it.
#
#   bash bench/gpu/run.sh [--expect-gpu] OUT_DIR
#
# --expect-gpu (or SWITCHYARD_EXPECT_GPU=1): this run is on a GPU machine, so no usable device
# (no GPU, or a driver too old for the runtime: cudaGetDeviceCount fails) is a failure; without
# it the tests report "skipped" and the run passes (the CPU machine's dry run).
# OUT_DIR gets report.md (verdict, build time, a row per test case: the path asked for and the
# kernels that ran, result, worst error against its bound, seconds; the benchmark table) and
# logs.tar.gz (configure and build logs, ptxas reports, one log per test case and section).
# Exit status: 0 when every case passed (or all were skipped without --expect-gpu), else 1.
#
# Environment: SWITCHYARD_GPU_ARCH (default: 90a on compute capability 9.0, else the card's own,
# 90a without a card), SWITCHYARD_GPU_DEPS (default gpu-deps), SWITCHYARD_GPU_BUILD (default
# build/gpu), SWITCHYARD_GPU_JOBS (test processes at a time, default 8: ~210 cases of a few
# seconds each, small next to the card), SWITCHYARD_GPU_BUDGET (seconds for the whole run, default
# 540: the build now includes model_instances for the device-model tests).
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

expect="${SWITCHYARD_EXPECT_GPU:-0}"
out=""
for a in "$@"; do
  case "$a" in
    --expect-gpu) expect=1 ;;
    -*) echo "run.sh: unknown option $a"; exit 2 ;;
    *) out="$a" ;;
  esac
done
[ -n "$out" ] || { echo "usage: bench/gpu/run.sh [--expect-gpu] OUT_DIR"; exit 2; }
mkdir -p "$out" && out="$(cd "$out" && pwd)"
export SWITCHYARD_EXPECT_GPU="$expect"
deps="${SWITCHYARD_GPU_DEPS:-$root/gpu-deps}"
build="${SWITCHYARD_GPU_BUILD:-$root/build/gpu}"
par="${SWITCHYARD_GPU_JOBS:-8}"
# Budgets (seconds). Everything ends by `end` = start + budget - margin (the margin writes the
# report); a process under `timeout -k grace T` ends within T + grace of its start, and nothing
# starts that could end past its phase's end (it is reported "not run (budget)"):
#   build        configure + build under a timeout ending at `end`;
#   tests        a case starts only if it can end by tests_end = end - peer_reserve -
#                attention_reserve - bench_floor (4 at a time, case_timeout each);
#   benchmarks   cheap first: the attention sections other than prefill_32k* (attention_timeout
#                each), then the MoE sections (section_timeout each, wgmma last), both ending by
#                moe_end = end - peer_reserve - attention_reserve; then the prefill_32k* attention
#                sections, by end - peer_reserve; then the SDPA peer (peer_timeout, importing torch
#                included, or what is left before `end`).
# The reserves are floors, not caps: time a phase leaves goes to the next. A test case takes a few
# seconds, a section under 15; a hang costs its timeout. A test case not run is a failure; a
# benchmark section not run is a warning in the report; the peer's status is only reported.
budget="${SWITCHYARD_GPU_BUDGET:-540}" margin=10 grace=5 case_timeout=30 section_timeout=60
attention_timeout=25 peer_timeout=45
attention_reserve=$((2 * (attention_timeout + grace)))  # prefill_32k and prefill_32k_window
peer_reserve=$((peer_timeout + grace)) bench_floor=90
logs="$(mktemp -d)"
report="$out/report.md"
t_start=$(date +%s)
end=$((t_start + budget - margin))
tests_end=$((end - peer_reserve - attention_reserve - bench_floor))
moe_end=$((end - peer_reserve - attention_reserve))
attention_end=$((end - peer_reserve))
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# --- the machine -------------------------------------------------------------------------------
{
  echo "== nvidia-smi"; nvidia-smi 2>&1
  echo "== nvcc"; nvcc --version 2>&1
  echo "== cmake"; cmake --version 2>&1
  echo "== ninja"; ninja --version 2>&1
  echo "== c++"; c++ --version 2>&1
  echo "== uname"; uname -a
} >"$logs/env.txt"
gpu="$(nvidia-smi --query-gpu=name,compute_cap,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -1)"
cc="$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d ' .')"
if [ -n "${SWITCHYARD_GPU_ARCH:-}" ]; then arch="$SWITCHYARD_GPU_ARCH"
elif [ "$cc" = 90 ] || [ -z "$cc" ]; then arch=90a  # wgmma and TMA need the "a" target
else arch="$cc"; fi
echo "run.sh: GPU: ${gpu:-none visible (nvidia-smi failed)}; building for sm_$arch; expect a GPU: $expect"

# --- configure and build -----------------------------------------------------------------------
fail() {  # a failure before the tests: report it and stop
  { echo "# switchyard GPU run: FAILED ($1)"; echo; echo "- GPU: ${gpu:-none visible}"; echo; echo '```'
    tail -40 "$2"; echo '```'; } >"$report"
  tar -czf "$out/logs.tar.gz" -C "$logs" . 2>/dev/null
  cat "$report"; exit 1
}
[ -d "$deps" ] || echo "run.sh: no $deps (bench/gpu/prepare.sh makes it); configuring with what this machine has"
t0=$(now)
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSWITCHYARD_CUDA=ON \
      -DCMAKE_CUDA_ARCHITECTURES="$arch" -DCMAKE_PREFIX_PATH="$deps" -DSWITCHYARD_BUILD_TESTS=ON \
      -DSWITCHYARD_BUILD_BENCH=ON -DSWITCHYARD_BUILD_EXAMPLES=OFF -DSWITCHYARD_INSTALL=OFF \
      -DSWITCHYARD_CCACHE=OFF >"$logs/configure.log" 2>&1 || fail "configure" "$logs/configure.log"
t_configure=$(since "$t0")
# The CUDA tests are the CTest tests labelled gpu; the benchmarks are bench_moe_cuda and
# bench_attention_cuda.
tests="$(cd "$build" && ctest -N -L gpu | sed -n 's/^ *Test *#[0-9]*: *//p')"
[ -n "$tests" ] || fail "no CUDA tests configured (is nvcc found?)" "$logs/configure.log"
t0=$(now)
build_limit=$((end - $(date +%s) - grace))
[ "$build_limit" -gt 0 ] || fail "no time left to build (budget ${budget} s)" "$logs/configure.log"
# shellcheck disable=SC2086
timeout -k "$grace" "$build_limit" cmake --build "$build" -j "$(nproc)" --target $tests bench_moe_cuda \
  bench_attention_cuda >"$logs/build.log" 2>&1
rc=$?
case $rc in 0) ;; 124 | 137) fail "build timed out (${build_limit} s left of the budget)" "$logs/build.log" ;;
  *) fail "build" "$logs/build.log" ;; esac
t_build=$(since "$t0")
find "$build" -name '*.ptxas.txt' -exec cp {} "$logs/" \;
echo "run.sh: configured in $t_configure s, built $(echo $tests) bench_moe_cuda bench_attention_cuda in $t_build s"

# --- tests: one process per test case ----------------------------------------------------------
# Catch2 test specs treat , [ ] * \ specially: escape them to select one case by its exact name.
escape() { sed 's/[][\\,*]/\\&/g' <<<"$1"; }
run_case() {  # <index> <binary> <name>
  local t0 rc status
  t0=$(now)
  timeout -k "$grace" "$case_timeout" "$build/tests/$2" "$(escape "$3")" -w NoTests --use-colour no >"$logs/case-$1.log" 2>&1
  rc=$?
  case $rc in
    0) status=passed ;;
    77) status=skipped ;;
    124 | 137) status="timed out (${case_timeout} s)" ;;
    *) if grep -q "no usable CUDA device" "$logs/case-$1.log"; then status="no device"
       elif [ $rc -gt 128 ]; then status="crashed (signal $((rc - 128)))"; else status="FAILED"; fi ;;
  esac
  printf '%s\t%s\t%s\t%s\n' "$status" "$(since "$t0")" "$2" "$3" >"$logs/case-$1.result"
}
# The wgmma cases last: the untried TMA + mbarrier pipeline is the likeliest to hang, and a hang
# then only delays the end of the phase.
for t in $tests; do
  "$build/tests/$t" --list-test-names-only 2>/dev/null | grep . | sed "s/^/$t\t/"
done | awk '/wgmma/ { last[n++] = $0; next } { print } END { for (i = 0; i < n; ++i) print last[i] }' >"$logs/cases.txt"
echo "run.sh: $(wc -l <"$logs/cases.txt") test cases, $par at a time, ${case_timeout} s each at most"
t0=$(now)
deadline=$((tests_end - case_timeout - grace))  # the last start that ends by tests_end
i=0 running=0
while IFS=$'\t' read -r bin name; do
  i=$((i + 1))
  if [ "$(date +%s)" -gt "$deadline" ]; then
    printf 'not run (budget)\t0\t%s\t%s\n' "$bin" "$name" >"$logs/case-$i.result"; continue
  fi
  run_case "$i" "$bin" "$name" </dev/null &
  running=$((running + 1))
  if [ "$running" -ge "$par" ]; then wait -n; running=$((running - 1)); fi
done <"$logs/cases.txt"
wait
t_tests=$(since "$t0")

# --- benchmarks: one process per section, only where the tests found a device ------------------
: >"$logs/bench-rows.md"
: >"$logs/bench-status.txt"
: >"$logs/attention-rows.md"
# run_section <label> <log> <timeout> <phase end> <command...>: runs it under the timeout if it
# can end (grace included) by the phase's end, else records "not run (budget)".
run_section() {
  local label="$1" log="$2" limit="$3" phase_end="$4" rc st
  shift 4
  if [ $(($(date +%s) + limit + grace)) -gt "$phase_end" ]; then
    echo "$label: not run (budget)" >>"$logs/bench-status.txt"; return
  fi
  timeout -k "$grace" "$limit" "$@" >"$log" 2>&1
  rc=$?
  case $rc in 0) st=passed ;; 124 | 137) st="timed out (${limit} s)" ;; *) st="FAILED (exit $rc)" ;; esac
  echo "$label: $st" >>"$logs/bench-status.txt"
}
attention_section() {  # <section> <phase end>
  run_section "attention $1" "$logs/attention-$1.log" "$attention_timeout" "$2" \
    "$build/bench/bench_attention_cuda" "$1"
  grep -h '^| prefill\|^| decode' "$logs/attention-$1.log" >>"$logs/attention-rows.md" 2>/dev/null
}
t0=$(now)
if grep -qh '^passed\|^FAILED\|^timed\|^crashed' "$logs"/case-*.result 2>/dev/null; then
  attention_sections="$("$build/bench/bench_attention_cuda" --list)"
  # Cheap first: the attention sections but the 32k prefills, then the MoE layer's.
  for s in $attention_sections; do
    case $s in prefill_32k*) ;; *) attention_section "$s" "$moe_end" ;; esac
  done
  for s in $("$build/bench/bench_moe_cuda" --list); do
    run_section "$s" "$logs/bench-$s.log" "$section_timeout" "$moe_end" "$build/bench/bench_moe_cuda" "$s"
    grep -h '^| [A-Z]' "$logs/bench-$s.log" 2>/dev/null | grep -v '^| layer' >>"$logs/bench-rows.md"
    grep -h -m1 '^limits:' "$logs/bench-$s.log" >>"$logs/bench-limits.txt" 2>/dev/null
  done
  for s in $attention_sections; do
    case $s in prefill_32k*) attention_section "$s" "$attention_end" ;; esac
  done
  # PyTorch's SDPA on the same shapes (the machine's python3 and torch): a reference, so whatever
  # becomes of it -- no torch (77), a timeout, a failure, no time left -- is reported, never failed.
  left=$((end - $(date +%s) - grace))
  [ "$left" -lt "$peer_timeout" ] && peer_timeout=$left
  if [ "$peer_timeout" -ge 20 ]; then
    timeout -k "$grace" "$peer_timeout" python3 "$root/bench/gpu/peer_sdpa.py" >"$logs/peer-sdpa.log" 2>&1
    rc=$?
    case $rc in 0) st=passed ;; 77) st="skipped ($(tail -1 "$logs/peer-sdpa.log"))" ;;
      124 | 137) st="timed out (${peer_timeout} s)" ;; *) st="FAILED (exit $rc)" ;; esac
    echo "peer sdpa: $st" >>"$logs/bench-status.txt"
    grep '^| prefill\|^| decode' "$logs/peer-sdpa.log" >>"$logs/attention-rows.md"
  else
    echo "peer sdpa: not run (budget)" >>"$logs/bench-status.txt"
  fi
else
  echo "no benchmarks: no test case reached a device" >>"$logs/bench-status.txt"
fi
t_bench=$(since "$t0")

# --- the report --------------------------------------------------------------------------------
results="$(cat "$logs"/case-*.result 2>/dev/null | sort -t$'\t' -k3,3 -k4,4)"
count() { grep -c "^$1" <<<"$results"; }
n_all=$(grep -c . <<<"$results") n_pass=$(count passed) n_skip=$(count skipped) n_nodev=$(count 'no device')
n_bad=$((n_all - n_pass - n_skip - n_nodev))
# Benchmark sections: a timeout or a failure of our own fails the run; one the budget cut is a
# warning; the peer (a reference) and the no-device note never count.
bench_bad=$(grep -v ': passed$\|: not run (budget)$\|^peer sdpa: \|^no benchmarks: ' "$logs/bench-status.txt" | grep -c .)
bench_cut=$(grep -v '^peer sdpa: ' "$logs/bench-status.txt" | grep -c ': not run (budget)$')
peer_status="$(sed -n 's/^peer sdpa: //p' "$logs/bench-status.txt")"
if [ "$n_bad" -gt 0 ] || [ "$n_nodev" -gt 0 ]; then verdict="FAILED"
elif [ "$n_skip" -gt 0 ] && [ "$expect" = 1 ]; then verdict="FAILED"
elif [ "$n_skip" -eq "$n_all" ]; then verdict="SKIPPED"
elif [ "$bench_bad" -gt 0 ]; then verdict="FAILED"
else verdict="PASSED"; fi
[ "$n_nodev" -gt 0 ] || [ "$n_skip" -eq "$n_all" ] && why="$(grep -h -m1 'CUDA device' "$logs"/case-*.log | head -1)"
# What test_moe_cuda's "has the paths this device and build should have" case saw.
expert_paths="$(grep -h -m1 '^switchyard-record: code for' "$logs"/case-*.log 2>/dev/null | head -1 | cut -d' ' -f2-)"
attention_paths="$(grep -h -m1 '^switchyard-record: attention code for' "$logs"/case-*.log 2>/dev/null | head -1 | cut -d' ' -f2-)"

# One row per case: the paths asked for and run, and the check nearest its bound (largest
# err / bound) over the case's "switchyard-record:" lines (tests/cuda/moe_harness.cuh).
rows() {
  local i res status secs bin name recs
  for res in "$logs"/case-*.result; do
    i="${res##*/case-}" i="${i%.result}"
    IFS=$'\t' read -r status secs bin name <"$res"
    recs="$(grep -h '^switchyard-record: requested=' "$logs/case-$i.log" 2>/dev/null)"
    paths="$(sed -n 's/.*requested=\([^ ]*\) ran=\([^ ]*\).*/\1 -> \2/p' <<<"$recs" | sort -u | paste -sd';' | sed 's/;/; /g')"
    worst="$(awk 'NF > 0 { for (i = 2; i <= NF; ++i) { split($i, kv, "="); v[kv[1]] = kv[2] }
                    r = (v["bound"] > 0) ? v["err"] / v["bound"] : 0
                    if (NR == 1 || r > best) { best = r; s = sprintf("%s <= %s (%s)", v["err"], v["bound"], v["check"]) } }
                  END { print s }' <<<"$recs")"
    [ "$status" = passed ] || status="**$status**"
    printf '| %s | %s | %s | %s | %s | %s |\n' "$bin" "$name" "${paths:--}" "$status" "${worst:--}" "$secs"
  done | sort -t'|' -k2,2 -k3,3
}
{
  echo "# switchyard GPU run: $verdict"
  echo
  [ "$bench_cut" -gt 0 ] && echo "- warning: $bench_cut benchmark section(s) not run (budget); see Benchmarks"
  [ -n "$peer_status" ] && [ "$peer_status" != passed ] && echo "- note: the SDPA peer $peer_status (a reference: not a failure)"
  echo "- GPU: ${gpu:-none visible (nvidia-smi failed)}; code built for sm_$arch; expect a GPU: $expect"
  [ -n "${why:-}" ] && echo "- device: $why"
  [ -n "$expert_paths" ] && echo "- expert paths: $expert_paths"
  [ -n "$attention_paths" ] && echo "- attention paths: $attention_paths"
  echo "- $(nvcc --version 2>/dev/null | grep -o 'release [0-9.]*' | sed 's/^/nvcc /'), $(cmake --version | head -1)," \
       "$(c++ --version | head -1)"
  echo "- configure $t_configure s, build $t_build s (-j$(nproc): $(echo $tests) bench_moe_cuda bench_attention_cuda)," \
       "tests $t_tests s, benchmarks $t_bench s, total $(($(date +%s) - t_start)) s"
  echo "- test cases: $n_all; passed $n_pass, skipped $n_skip, no device $n_nodev," \
       "failed / timed out / crashed / not run $n_bad"
  echo
  echo "## Tests (one process each, ${case_timeout} s at most)"
  echo
  echo "Path: asked for -> the expert kernels that ran. Worst: the check nearest its bound: |error| over the"
  echo "row's largest |ref| (row-max, GEMV) or RMS (row-rms, tensor-core paths), tests/support/tolerance.hpp."
  echo
  echo "| binary | test case | path | result | worst error <= bound | s |"
  echo "|---|---|---|---|---|---|"
  rows
  if grep -qv '^passed\|^skipped' <<<"$results"; then
    echo
    echo "## Failures (last lines of each log)"
    for res in "$logs"/case-*.result; do
      grep -q '^passed\|^skipped' "$res" && continue
      i="${res##*/case-}" i="${i%.result}"
      echo; echo "### $(cut -f3,4 "$res" | tr '\t' ' '): $(cut -f1 "$res")"; echo; echo '```'
      tail -25 "$logs/case-$i.log" 2>/dev/null; echo '```'
    done
  fi
  echo
  echo "## Benchmarks (bench/gpu/bench_moe_cuda.cu ${section_timeout} s, bench_attention_cuda.cu ${attention_timeout} s per section, one process each)"
  echo
  sed 's/^/- /' "$logs/bench-status.txt"
  if [ -s "$logs/bench-rows.md" ]; then
    echo; sort -u "$logs/bench-limits.txt" | sed 's/^/- /'; echo
    echo "| layer | weights | T | path | ms | spread | tokens/s | GB/s | %copy | %HBM | TFLOP/s | %cuBLAS | %peak |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    cat "$logs/bench-rows.md"
  fi
  if [ -s "$logs/attention-rows.md" ]; then
    echo
    echo "## Attention (bench/gpu/bench_attention_cuda.cu beside PyTorch's SDPA, bench/gpu/peer_sdpa.py)"
    echo
    echo "Same GPU, same run. Prefill TFLOP/s count the pairs the mask keeps; decode GB/s the K and V bytes"
    echo "(switchyard: a paged bf16 cache, 16-token blocks scattered; SDPA: contiguous K and V)."
    echo
    echo "| section | shape | path | ms | spread | rate |"
    echo "|---|---|---|---|---|---|"
    sort -t'|' -k2,2 -s "$logs/attention-rows.md"
  fi
} >"$report"
tar -czf "$out/logs.tar.gz" -C "$logs" . && rm -rf "$logs"
cat "$report"
case $verdict in PASSED | SKIPPED) exit 0 ;; *) exit 1 ;; esac
