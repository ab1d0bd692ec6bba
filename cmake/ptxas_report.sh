#!/usr/bin/env bash
# Compiler launcher for CUDA targets (RULE_LAUNCH_COMPILE): runs the compile, saves ptxas's
# register/spill report (nvcc --resource-usage) next to the object as <object>.ptxas.txt, prints
# one summary line, and passes every other line of output through. Spills themselves fail the
# compile (-Xptxas -warn-spills with --Werror all-warnings); this keeps the numbers for review.
set -uo pipefail
obj=""
args=("$@")
for ((i = 0; i < ${#args[@]}; ++i)); do
  if [[ "${args[i]}" == "-o" ]]; then obj="${args[i + 1]}"; fi
done
out="$(mktemp)"
"$@" >"$out" 2>&1
rc=$?
if [[ -n "$obj" ]] && grep -q "ptxas info" "$out"; then
  report="${obj}.ptxas.txt"
  grep -E "ptxas|spill|registers" "$out" >"$report"
  kernels=$(grep -c "Compiling entry function" "$report")
  maxreg=$(grep -o "Used [0-9]* registers" "$report" | awk '{ if ($2 > m) m = $2 } END { print m + 0 }')
  spills=$(grep -o "[0-9]* bytes spill stores" "$report" | awk '{ s += $1 } END { print s + 0 }')
  echo "ptxas: $(basename "$obj"): $kernels kernel instances, at most $maxreg registers, $spills bytes of spill stores (report: $report)"
fi
grep -v -E "^ptxas info|^    [0-9]+ bytes stack frame|^$" "$out" || true
rm -f "$out"
exit $rc
