#!/usr/bin/env bash
# Writes docs/pruning.md: the pruning methods switchyard has, side by side, on two models:
#   the shipped model (models/switchyard-tiny-moe, trained): accuracy -- held-out perplexity, KL
#     divergence from the unpruned model and top-1 agreement (examples/perplexity) -- and memory;
#   the Mixtral-shaped bench model (bench/models/mixtral-bench, random weights,
#     tools/make_mixtral_bench_model.py): the same accuracy columns (KL and agreement are what mean
#     something on random weights) and decode / prefill speed (bench_decode, every contender
#     alternated in the same run).
# Every pruned model is made here by examples/prune from the model's own files: unstructured 50% and
# 2:4, by magnitude and by Wanda, and 25% / 50% of the experts removed by routing frequency and by
# contribution; calibration (Wanda, experts) on models/switchyard-tiny-moe/calibration.txt (a slice
# of the shipped model's training split; the bench model shares its tokenizer).
# Needs .venv (the gguf package, for the weight sizes): python3 -m venv .venv &&
# .venv/bin/pip install -r tools/requirements.txt
#
#   bash bench/pruning/run.sh                # BUILD=build/release by default; OUT=docs/pruning.md
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build/release}
OUT=${OUT:-$ROOT/docs/pruning.md}
MODEL=$ROOT/models/switchyard-tiny-moe
HELD=$MODEL/heldout.txt
BENCH=$ROOT/bench/models/mixtral-bench
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# A program's output to a log, shown (and the script stopped) when it fails.
run() {
  "$@" >"$WORK/log" 2>&1 || { cat "$WORK/log" >&2; echo "pruning: failed: $*" >&2; exit 1; }
}
if [ ! -d "$BUILD" ]; then
  [ "$BUILD" = "$ROOT/build/release" ] || { echo "pruning: no build folder $BUILD" >&2; exit 1; }
  (cd "$ROOT" && run cmake --preset release)
fi
run cmake --build "$BUILD" --target prune quantize perplexity bench_decode
PRUNE=$BUILD/examples/prune QUANTIZE=$BUILD/examples/quantize PPL=$BUILD/examples/perplexity DECODE=$BUILD/bench/bench_decode

# Bytes of a GGUF file's tensors as a model loaded from it holds them (sparse24: the projections
# at 36 bytes per 32 weights, the embedding, LM head, router and vectors as stored), in MB.
weights_mb() {
  "$PY" - "$1" "$2" <<'PY'
import sys, gguf
total = 0
for t in gguf.GGUFReader(sys.argv[1]).tensors:
    n = int(t.n_bytes)
    if sys.argv[2] == "sparse24" and len(t.shape) >= 2 and t.name not in ("token_embd.weight", "output.weight") \
            and "ffn_gate_inp" not in t.name:
        n = n * 36 // 64
    total += n
print(f"{total / 1e6:.2f}")
PY
}

# accuracy_table HELD MAX_TOKENS BASE_LOGITS ROWS...: one line per row
# "label|storage|weight file|memory mode|speed key|perplexity arguments". With the DECODE / PREFILL
# maps filled (speed key -> "tokens/s (spread)" at 2 threads), two speed columns join the row.
declare -A DECODE_TPS=() PREFILL_TPS=()
accuracy_table() {
  local held=$1 max=$2 base=$3
  shift 3
  local table="| method | storage | weights (MB) | perplexity | vs unpruned | KL from unpruned (nats / token) | top-1 agreement |"
  local rule="|---|---|---|---|---|---|---|"
  if [ ${#DECODE_TPS[@]} -gt 0 ]; then
    table+=" decode tokens/s, 2 threads | prefill tokens/s, 2 threads |"
    rule+="---|---|"
  fi
  table+=$'\n'"$rule"
  local row label storage file mode key args line ppl delta kl top1 mb
  for row in "$@"; do
    IFS='|' read -r label storage file mode key args <<<"$row"
    echo "pruning: $label ($storage)" >&2
    # shellcheck disable=SC2086
    run "$PPL" $args --file "$held" --max-tokens "$max" --kl-divergence "$base"
    line=$(tr '\r' '\n' <"$WORK/log" | grep '^base ' | tail -1 || true)
    ppl=$(tr '\r' '\n' <"$WORK/log" | sed -n 's/^perplexity \([0-9.]*\) over.*/\1/p' | tail -1)
    delta=$(sed -n 's/.*(\([-+][0-9.]*%\)).*/\1/p' <<<"$line")
    kl=$(sed -n 's/.*KL(base || model) \([0-9.e+-]*\) nats.*/\1/p' <<<"$line")
    top1=$(sed -n 's/.*top-1 agreement \([0-9.]*%\).*/\1/p' <<<"$line")
    if [ -z "$ppl" ] || [ -z "$delta" ] || [ -z "$kl" ] || [ -z "$top1" ]; then
      cat "$WORK/log" >&2
      echo "pruning: could not read perplexity / KL / agreement for '$label' from the output above" >&2
      exit 1
    fi
    mb=$(weights_mb "$file" "$mode")
    table+=$'\n'"| $label | $storage | $mb | $ppl | $delta | $kl | $top1 |"
    [ ${#DECODE_TPS[@]} -gt 0 ] && table+=" ${DECODE_TPS[$key]:-not measured} | ${PREFILL_TPS[$key]:-not measured} |"
  done
  printf '%s\n' "$table"
}

# speed_table MODEL PREFIX TOKENS OUT: decode (TOKENS after a 32-token prompt) and 256-token prefill
# speed of the model as dense bf16, sparse24_bf16 and q8_0, and of its expert-pruned files
# ($WORK/PREFIX-e25/e50-contribution.gguf), every contender alternated in one bench_decode run at 1
# and 2 threads; the table goes to OUT, and the 2-thread medians to DECODE_TPS / PREFILL_TPS by
# speed key (the accuracy tables' speed columns).
speed_table() {
  local model=$1 prefix=$2 tokens=$3 out=$4 threads what tps spread _gbs roof bw ratio pre label key
  DECODE_TPS=() PREFILL_TPS=()
  run "$DECODE" --model "$model" --weights bf16 --against sparse24_bf16,q8_0 \
    --against-model "$WORK/$prefix-e25-contribution.gguf,$WORK/$prefix-e50-contribution.gguf" \
    --threads 1,2 --tokens "$tokens" --prefill 256 --reps 5
  cp "$WORK/log" "$WORK/$prefix-decode.txt"
  local table="| threads | model, storage | decode tokens/s (spread) | decode roofline | decode vs dense | prefill 256 tokens/s (spread) | prefill vs dense |
|---|---|---|---|---|---|---|"
  while read -r threads what tps spread _gbs roof bw ratio; do
    pre=$(grep -E "^prefill +$threads +${what//\//\\/} " "$WORK/$prefix-decode.txt" | awk '{ printf "%s (%s)|%s", $4, $5, $6 }')
    case "$what" in
      bf16/*) label="dense bf16" key=dense ;;
      sparse24_bf16/*) label="2:4, sparse24_bf16" key=sparse24 ;;
      q8_0/*) label="2:4 + q8_0 (zeros stored: any q8_0 file)" key=q8_0 ;;
      *-e25-*) label="25% of experts removed, bf16" key=e25 ;;
      *-e50-*) label="50% of experts removed, bf16" key=e50 ;;
      *) label="$what" key="$what" ;;
    esac
    if [ "$threads" = 2 ]; then DECODE_TPS[$key]="$tps ($spread)"; PREFILL_TPS[$key]="${pre%|*}"; fi
    table+=$'\n'"| $threads | $label | $tps ($spread) | $roof of $bw GB/s | $ratio | ${pre%|*} | ${pre#*|} |"
  done < <(grep -E '^ +[0-9]+ +[^ ]+/(f32|bf16|int8) ' "$WORK/$prefix-decode.txt")
  printf '%s\n' "$table" >"$out"
}

# The pruned files of one model: prune_all SOURCE PREFIX (writes $WORK/PREFIX-*.gguf).
prune_all() {
  local src=$1 p=$WORK/$2 cal=(--calibration "$CALIB" --calibration-tokens "$CALIB_TOKENS")
  echo "pruning: the pruned files of $src" >&2
  run "$QUANTIZE" --input "$src" --output "$p-dense.gguf" --type bf16
  run "$PRUNE" --input "$src" --output "$p-u50.gguf" --sparsity 0.5
  run "$PRUNE" --input "$src" --output "$p-u50w.gguf" --sparsity 0.5 --criterion wanda "${cal[@]}"
  run "$PRUNE" --input "$src" --output "$p-s24.gguf"
  run "$PRUNE" --input "$src" --output "$p-s24w.gguf" --criterion wanda "${cal[@]}"
  for drop in 25 50; do
    for crit in frequency contribution; do
      run "$PRUNE" --input "$src" --output "$p-e$drop-$crit.gguf" --drop-experts "0.$drop" --expert-criterion "$crit" "${cal[@]}"
    done
  done
  run "$QUANTIZE" --input "$p-s24.gguf" --output "$p-s24-q8_0.gguf" --type q8_0
}

# Rows shared by both models: label|storage|file|memory mode|speed key|perplexity arguments (the
# speed key: the bench_decode contender whose speed the row has -- speed follows the storage).
method_rows() {
  local p=$WORK/$1
  echo "unpruned|bf16|$p-dense.gguf|dense|dense|--model $p-dense.gguf --weights bf16"
  echo "50% unstructured, magnitude|bf16, zeros stored|$p-u50.gguf|dense|dense|--model $p-u50.gguf --weights bf16"
  echo "50% unstructured, Wanda|bf16, zeros stored|$p-u50w.gguf|dense|dense|--model $p-u50w.gguf --weights bf16"
  echo "2:4, magnitude|sparse24_bf16|$p-s24.gguf|sparse24|sparse24|--model $p-s24.gguf --weights sparse24_bf16"
  echo "2:4, Wanda|sparse24_bf16|$p-s24w.gguf|sparse24|sparse24|--model $p-s24w.gguf --weights sparse24_bf16"
  for drop in 25 50; do
    for crit in frequency contribution; do
      echo "$drop% of experts, by $crit|bf16|$p-e$drop-$crit.gguf|dense|e$drop|--model $p-e$drop-$crit.gguf --weights bf16"
    done
  done
  echo "2:4, magnitude, + q8_0|q8_0, zeros stored|$p-s24-q8_0.gguf|dense|q8_0|--model $p-s24-q8_0.gguf --weights q8_0 --activations int8"
}

CALIB=$MODEL/calibration.txt
CALIB_TOKENS=16384
PY=${PY:-$ROOT/.venv/bin/python}
[ -x "$PY" ] || { echo "pruning: no $PY (python3 -m venv .venv && .venv/bin/pip install -r tools/requirements.txt)" >&2; exit 1; }

prune_all "$MODEL" tiny
run "$PRUNE" --input "$MODEL" --output "$WORK/tiny-s24all.gguf" --include-embeddings
echo "pruning: the reference logits of the shipped model (dense bf16)" >&2
run "$PPL" --model "$WORK/tiny-dense.gguf" --file "$HELD" --weights bf16 --save-logits "$WORK/tiny.logits"
base_ppl=$(tr '\r' '\n' <"$WORK/log" | sed -n 's/^perplexity \([0-9.]*\) over.*/\1/p' | tail -1)
mapfile -t tiny_rows < <(method_rows tiny)
tiny_rows+=(
  "2:4, magnitude|bf16, zeros stored|$WORK/tiny-s24.gguf|dense|dense|--model $WORK/tiny-s24.gguf --weights bf16"
  "2:4 incl. embedding and LM head, magnitude|bf16, zeros stored|$WORK/tiny-s24all.gguf|dense|dense|--model $WORK/tiny-s24all.gguf --weights bf16"
)
echo "pruning: decode and prefill speed on the shipped model" >&2
speed_table "$MODEL" tiny 256 "$WORK/tiny-speed.md"
tiny_speed=$(cat "$WORK/tiny-speed.md")
tiny_table=$(accuracy_table "$HELD" 16384 "$WORK/tiny.logits" "${tiny_rows[@]}")

bench_table="(bench/models/mixtral-bench is missing: make it with .venv/bin/python tools/make_mixtral_bench_model.py)"
speed="$bench_table"
if [ -f "$BENCH/model.safetensors" ]; then
  CALIB_TOKENS=4096
  prune_all "$BENCH" bench
  echo "pruning: the reference logits of the bench model (dense bf16)" >&2
  run "$PPL" --model "$WORK/bench-dense.gguf" --file "$BENCH/heldout.txt" --max-tokens 2048 --weights bf16 --save-logits "$WORK/bench.logits"
  echo "pruning: decode and prefill speed on the bench model" >&2
  speed_table "$BENCH" bench 64 "$WORK/bench-speed.md"
  speed=$(cat "$WORK/bench-speed.md")
  mapfile -t bench_rows < <(method_rows bench)
  bench_table=$(accuracy_table "$BENCH/heldout.txt" 2048 "$WORK/bench.logits" "${bench_rows[@]}")

fi

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
cat >"$OUT" <<DOC
# Pruning

Written by \`bash bench/pruning/run.sh\` on $(date -u +%Y-%m-%d) ($cpu, $(nproc) cores); do not edit by
hand. The methods switchyard has, side by side. Every pruned model is made by \`examples/prune\` from
the model's own files; calibration (Wanda's input norms, the experts' usage) runs over
\`models/switchyard-tiny-moe/calibration.txt\`, a slice of the shipped model's training split, never
the held-out text the table scores. Perplexity, KL divergence and top-1 agreement are against the
unpruned model (bf16, loaded from the same GGUF writer) on the held-out text (\`examples/perplexity
--kl-divergence\`, context 256, stride 128). Weights (MB): the bytes the loaded model holds (2:4 in
\`sparse24_bf16\`: 36 bytes per 32 weights of every projection; the embedding, LM head and router
stay as stored).

## Pieces

- \`prune/masks.hpp\`: unstructured pruning (a share of every row) and n:m (2:4) pruning, by magnitude
  or activation-aware (Wanda: |W| x the input feature's norm over calibration tokens). Comparison
  groups are rows; ties keep the lower column.
- \`prune/calibration.hpp\` over \`core/probe.hpp\`: a model's blocks report the rows each projection
  reads and every MoE call's routing to an attached observer; \`prune::calibration\` keeps per-feature
  input norms per projection input (per routed expert for the expert banks) and per-layer expert
  usage. A matrix no calibration token reached (an expert never routed to, MLA's inner
  projections) is pruned by magnitude, and the tool names it.
- \`prune/experts.hpp\`, \`model/expert_subset.hpp\`: whole-expert pruning: \`expert_usage\` (routing
  slots, routing weight, or weight x output norm per expert), \`keep(n, criterion)\`; the checkpoint
  is written with the kept experts' banks and router rows only, so the file is a smaller model that
  \`model::load\` (and llama.cpp) reads as any other. Routers renormalize over the kept experts by
  construction (tested: the cut layer equals the full one with the dropped experts masked out).
- \`format::sparse24<E>\`: 2:4 weights stored compressed, 16 kept values + 2-bit positions per 32
  weights (36 bytes per 32 bf16 weights against 64), with decode GEMVs for AVX-512 and AVX2 that
  gather the activations in registers; \`model::load(path, {.weights =
  model::weight_format::sparse24_bf16})\` converts every projection to it and keeps the embedding
  and LM head dense bf16: pruning those two costs more than all the projections (the table). On
  CUDA, the grouped expert GEMM takes sparse24 weights as the sparse operand of \`mma.sp\`
  (\`kernels/switchyard/kernels/expert/grouped_mma_sparse24.cuh\`; compiled for sm_80 / sm_90a, in
  the GPU script \`bench/gpu/run.sh\`, not yet run on a GPU).
- \`examples/prune\`: checkpoint in, pruned GGUF out (bf16 / f16 / f32), e.g.
  \`prune --input models/switchyard-tiny-moe --output tiny-2of4.gguf --criterion wanda --calibration
  models/switchyard-tiny-moe/calibration.txt\` or \`--drop-experts 0.25 --expert-criterion contribution\`.

## Accuracy and memory: the shipped model (unpruned perplexity $base_ppl, 16384 held-out tokens)

$tiny_table

The speed columns: 2-thread medians of the shipped model's speed table below, by the storage each
row is loaded in.

## Speed: the shipped model (f32 activations but q8_0's int8, 256 decode tokens after a 32-token prompt, a 256-token prefill, medians of 5, every row alternated in one run)

The model is 6 MB: it stays in the caches (hence "rooflines" above 100% of the DRAM bandwidth)
and its steps are bound by per-call overhead more than by weight bytes, so storage matters less
here than on the bench model.

$tiny_speed

## Accuracy and memory: the bench model (random weights, 2048 held-out tokens)

The bench model's weights are random, so its perplexity is near the vocabulary size and only the
distance from the unpruned model (KL, top-1 agreement) says what a method costs. The speed columns
are the 2-thread medians of the speed table below, by the storage each row is loaded in (speed
follows the storage, not the criterion: a Wanda file and a magnitude file of one pattern, or of one
expert count, run alike).

$bench_table

## Speed: the bench model (f32 activations but q8_0's int8, 64 decode tokens after a 32-token prompt, a 256-token prefill, medians of 5, every row alternated in one run)

$speed

50% unstructured, stored dense, runs at dense bf16's speed. Reading it: 2:4 in
\`sparse24_bf16\` reads 0.56x the bytes of dense bf16 per decode token, and decode
follows the bytes; its prefill goes through the block GEMM, which decodes the blocks, and is slower
than dense bf16's. Removing experts leaves the bytes a token reads unchanged (it still reads top-2
experts), so decode and prefill speed stay where they were: what it buys is memory. 2:4 + q8_0
stores the zeros: it runs at q8_0's speed with q8_0's memory; 2:4 on int8 codes (a compressed q8
block) is not built.

## Unstructured sparsity

Stored dense (zeros included): on this CPU a sparse format for unstructured 50% (values + column
indices, or bitmaps) would read more bytes per weight than 2:4's 2-bit positions and gather with
no fixed pattern; no such format is built or measured here.
DOC
echo "pruning: wrote $OUT" >&2
