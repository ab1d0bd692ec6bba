#!/usr/bin/env bash
# The slowest translation units of the last build of each build directory given, from ninja's
# log (.ninja_log: start and end milliseconds per output). With a compiler cache, a unit that was
# a cache hit shows its lookup time, so a regression shows on the run that compiles it.
#   bash scripts/compile_cost.sh build/release build/dev        # ten slowest (N=10)
set -euo pipefail
n="${N:-10}"
for dir in "$@"; do
  log="$dir/.ninja_log"
  [ -f "$log" ] || { echo "compile_cost: $log not found" >&2; continue; }
  # The log appends; the last line for an output is its latest build. Objects only (.o / .obj):
  # links and custom commands are not translation units.
  awk -v dir="$dir" -v n="$n" '
    /^#/ { next }
    $4 ~ /\.(o|obj)$/ { t[$4] = ($2 - $1) / 1000.0 }
    END {
      total = 0; count = 0
      for (k in t) { total += t[k]; ++count }
      printf "compile cost, %s: %d translation units, %.0f s of compiler time\n", dir, count, total
      cmd = "sort -rn | head -n " n
      for (k in t) printf "%8.1f s  %s\n", t[k], k | cmd
      close(cmd)
    }' "$log"
done
