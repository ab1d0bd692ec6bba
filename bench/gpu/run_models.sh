#!/usr/bin/env bash
# The second GPU call: whole models on the device beside PyTorch + transformers, after run.sh (the
# tests, the device-model tests among them, and the layer benchmarks; its build folder is reused
# while the machine stays warm, else configured again here). Builds bench_model_cuda only, runs
# each model (bench/gpu/models/*.json, random bf16 weights) in its own process under a timeout,
# then bench/gpu/peer_transformers.py on the same configs, and writes OUT_DIR/report-models.md:
# prefill 512 and decode at batch 1 / 8 / 64 for both engines, and the batch-1 decode's fraction
# of the measured copy bandwidth and of nominal HBM. Ends within SWITCHYARD_GPU_BUDGET (default
# 330 s) of its start.
#
#   bash bench/gpu/run_models.sh [--expect-gpu] OUT_DIR
#
# Exit status: 0 when every model section of ours ran (or none could, without --expect-gpu, for
# want of a device); the peer is a reference and never fails the run.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
expect="${SWITCHYARD_EXPECT_GPU:-0}"
out=""
for a in "$@"; do
  case "$a" in
    --expect-gpu) expect=1 ;;
    -*) echo "run_models.sh: unknown option $a"; exit 2 ;;
    *) out="$a" ;;
  esac
done
[ -n "$out" ] || { echo "usage: bench/gpu/run_models.sh [--expect-gpu] OUT_DIR"; exit 2; }
mkdir -p "$out" && out="$(cd "$out" && pwd)"
deps="${SWITCHYARD_GPU_DEPS:-$root/gpu-deps}"
build="${SWITCHYARD_GPU_BUILD:-$root/build/gpu}"
budget="${SWITCHYARD_GPU_BUDGET:-330}" margin=10 grace=5 model_timeout=100 peer_timeout=120
logs="$(mktemp -d)"
report="$out/report-models.md"
t_start=$(date +%s)
end=$((t_start + budget - margin))
peer_reserve=$((peer_timeout + grace))

gpu="$(nvidia-smi --query-gpu=name,compute_cap,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -1)"
cc="$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d ' .')"
if [ -n "${SWITCHYARD_GPU_ARCH:-}" ]; then arch="$SWITCHYARD_GPU_ARCH"
elif [ "$cc" = 90 ] || [ -z "$cc" ]; then arch=90a
else arch="$cc"; fi
fail() {
  { echo "# switchyard whole-model GPU run: FAILED ($1)"; echo; echo "- GPU: ${gpu:-none visible}"; echo; echo '```'
    tail -40 "$2"; echo '```'; } >"$report"
  tar -czf "$out/logs-models.tar.gz" -C "$logs" . 2>/dev/null
  cat "$report"; exit 1
}

# Configure only where run.sh's build folder is absent (the same flags as run.sh).
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSWITCHYARD_CUDA=ON \
        -DCMAKE_CUDA_ARCHITECTURES="$arch" -DCMAKE_PREFIX_PATH="$deps" -DSWITCHYARD_BUILD_TESTS=ON \
        -DSWITCHYARD_BUILD_BENCH=ON -DSWITCHYARD_BUILD_EXAMPLES=OFF -DSWITCHYARD_INSTALL=OFF \
        -DSWITCHYARD_CCACHE=OFF >"$logs/configure.log" 2>&1 || fail "configure" "$logs/configure.log"
fi
t0=$(date +%s)
build_limit=$((end - t0 - grace - 60))
[ "$build_limit" -gt 0 ] || fail "no time left to build" "$logs/configure.log"
timeout -k "$grace" "$build_limit" cmake --build "$build" -j "$(nproc)" --target bench_model_cuda >"$logs/build.log" 2>&1
case $? in 0) ;; 124 | 137) fail "build timed out (${build_limit} s)" "$logs/build.log" ;; *) fail "build" "$logs/build.log" ;; esac
t_build=$(($(date +%s) - t0))

: >"$logs/status.txt"
: >"$logs/rows.md"
nodev=0
for m in $("$build/bench/bench_model_cuda" --list); do
  if [ $(($(date +%s) + model_timeout + grace)) -gt $((end - peer_reserve)) ]; then
    echo "$m: not run (budget)" >>"$logs/status.txt"; continue
  fi
  timeout -k "$grace" "$model_timeout" "$build/bench/bench_model_cuda" "$m" >"$logs/model-$m.log" 2>&1
  rc=$?
  case $rc in 0) st=passed ;; 77) st="skipped (no device)"; nodev=1 ;; 124 | 137) st="timed out (${model_timeout} s)" ;;
    *) st="FAILED (exit $rc)" ;; esac
  echo "$m: $st" >>"$logs/status.txt"
  grep -h '^| [a-z]' "$logs/model-$m.log" | grep -v '^| model' >>"$logs/rows.md"
  grep -h '^limits:\|^model \|^graphs' "$logs/model-$m.log" >>"$logs/notes.txt" 2>/dev/null
done
left=$((end - $(date +%s) - grace))
[ "$left" -lt "$peer_timeout" ] && peer_timeout=$left
if [ "$nodev" = 0 ] && [ "$peer_timeout" -ge 30 ]; then
  timeout -k "$grace" "$peer_timeout" python3 "$root/bench/gpu/peer_transformers.py" >"$logs/peer.log" 2>&1
  rc=$?
  case $rc in 0) st=passed ;; 77) st="skipped ($(tail -1 "$logs/peer.log"))" ;; 124 | 137) st="timed out (${peer_timeout} s)" ;;
    *) st="FAILED (exit $rc)" ;; esac
  echo "peer transformers: $st" >>"$logs/status.txt"
  grep -h '^| [a-z]' "$logs/peer.log" | grep -v '^| model' >>"$logs/rows.md"
else
  echo "peer transformers: not run ($([ "$nodev" = 1 ] && echo 'no device' || echo budget))" >>"$logs/status.txt"
fi

bad=$(grep -v ': passed$\|: not run (budget)$\|^peer transformers: ' "$logs/status.txt" | grep -v 'skipped (no device)' | grep -c .)
if [ "$bad" -gt 0 ]; then verdict=FAILED
elif [ "$nodev" = 1 ] && [ "$expect" = 1 ]; then verdict="FAILED (no usable CUDA device)"
elif [ "$nodev" = 1 ]; then verdict=SKIPPED
else verdict=PASSED; fi
{
  echo "# switchyard whole-model GPU run: $verdict"
  echo
  echo "- GPU: ${gpu:-none visible}; code built for sm_$arch; bench_model_cuda built in $t_build s; total $(($(date +%s) - t_start)) s"
  sed 's/^/- /' "$logs/status.txt"
  [ -f "$logs/notes.txt" ] && sort -u "$logs/notes.txt" | sed 's/^/- /'
  echo
  echo "Random bf16 weights (bench/gpu/models/*.json); 512-token prompts; decode steps as generate's scheduler"
  echo "runs them (greedy, ids back; switchyard: CUDA graphs). The last column: switchyard's batch-1 bytes"
  echo "read per step and their rate against the measured copy and nominal HBM bandwidth."
  echo
  echo "| model | phase | batch | engine | median ms | spread | tokens/s | batch-1 bytes |"
  echo "|---|---|---|---|---|---|---|---|"
  sort -t'|' -k2,2 -k3,3 -k4,4n -s "$logs/rows.md"
} >"$report"
tar -czf "$out/logs-models.tar.gz" -C "$logs" . && rm -rf "$logs"
cat "$report"
case $verdict in PASSED | SKIPPED) exit 0 ;; *) exit 1 ;; esac
