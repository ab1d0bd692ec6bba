#!/usr/bin/env bash
# Writes docs/pruning.md: the pruning methods switchyard has, side by side on
#   accuracy  the shipped model (models/switchyard-tiny-moe), held-out perplexity and KL divergence
#             from the unpruned bf16 model, top-1 agreement (examples/perplexity);
#   speed     whole-model decode of the Mixtral-shaped bench model (bench/models/mixtral-bench,
#             tools/make_mixtral_bench_model.py), dense bf16 against 2:4 sparse bf16 (bench_decode);
#   memory    weight bytes per parameter of each storage.
# Every pruned model is made here by examples/prune (magnitude criterion) from the shipped files.
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

echo "pruning: the reference logits (dense bf16)" >&2
run "$PPL" --model "$MODEL" --weights bf16 --save-logits "$WORK/base.logits"
base_ppl=$(tr '\r' '\n' <"$WORK/log" | sed -n 's/^perplexity \([0-9.]*\) over.*/\1/p' | tail -1)

echo "pruning: the pruned files" >&2
run "$PRUNE" --input "$MODEL" --output "$WORK/u50.gguf" --sparsity 0.5
run "$PRUNE" --input "$MODEL" --output "$WORK/s24.gguf"
run "$PRUNE" --input "$MODEL" --output "$WORK/s24all.gguf" --include-embeddings
run "$QUANTIZE" --input "$WORK/s24.gguf" --output "$WORK/s24-q8_0.gguf" --type q8_0

# row: label, storage, bytes per weight in memory, perplexity arguments
rows=(
  "unpruned|bf16|2.0|--model $MODEL --weights bf16"
  "50% unstructured (projections)|bf16, zeros stored|2.0|--model $WORK/u50.gguf --file $HELD --weights bf16"
  "2:4 (projections)|bf16, zeros stored|2.0|--model $WORK/s24.gguf --file $HELD --weights bf16"
  "2:4 (projections)|sparse24_bf16 (embedding, LM head: bf16)|1.125|--model $WORK/s24.gguf --file $HELD --weights sparse24_bf16"
  "2:4 (projections, embedding, LM head)|bf16, zeros stored|2.0|--model $WORK/s24all.gguf --file $HELD --weights bf16"
  "2:4 (projections) + q8_0|q8_0, zeros stored|1.0625|--model $WORK/s24-q8_0.gguf --file $HELD --weights q8_0 --activations int8"
)
table="| method (magnitude) | storage | bytes / weight | perplexity | vs unpruned | KL from unpruned (nats / token) | top-1 agreement |
|---|---|---|---|---|---|---|"
for row in "${rows[@]}"; do
  IFS='|' read -r label storage bytes args <<<"$row"
  echo "pruning: $label" >&2
  # shellcheck disable=SC2086
  run "$PPL" $args --kl-divergence "$WORK/base.logits"
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
  table+=$'\n'"| $label | $storage | $bytes | $ppl | $delta | $kl | $top1 |"
done

speed="(bench/models/mixtral-bench is missing: make it with .venv/bin/python tools/make_mixtral_bench_model.py)"
if [ -f "$BENCH/model.safetensors" ]; then
  echo "pruning: decode speed on the bench model" >&2
  run "$DECODE" --model "$BENCH" --weights bf16 --against sparse24_bf16 --threads 1,2 --tokens 64 --reps 7
  cp "$WORK/log" "$WORK/decode.txt"
  speed="| threads | storage | tokens/s (spread) | roofline | vs dense |
|---|---|---|---|---|"
  while read -r threads what tps spread _gbs roof bw ratio; do
    speed+=$'\n'"| $threads | ${what%/f32} | $tps ($spread) | $roof of $bw GB/s | $ratio |"
  done < <(grep -E '^ +[0-9]+ +(bf16|sparse24_bf16)/f32' "$WORK/decode.txt")
fi

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
cat >"$OUT" <<DOC
# Pruning

Written by \`bash bench/pruning/run.sh\` on $(date -u +%Y-%m-%d) ($cpu, $(nproc) cores); do not edit by
hand. The methods switchyard has, side by side. Every pruned model is made by \`examples/prune\`
(magnitude criterion) from the shipped model; perplexity and KL divergence are against the unpruned
bf16 model on the shipped held-out text (\`examples/perplexity --kl-divergence\`, context 256,
stride 128).

## Pieces

- \`prune/masks.hpp\`: unstructured pruning (a share of every row) and n:m (2:4) pruning, by magnitude
  or activation-aware (Wanda: |W| x the input feature's norm over calibration tokens,
  \`prune::input_norms\`). Comparison groups are rows; ties keep the lower column.
- \`prune/experts.hpp\`: whole-expert pruning of an MoE layer: \`expert_usage\` (routing slots,
  routing weight, or weight x output norm per expert over a calibration set), \`keep(n, criterion)\`,
  \`keep_experts\` to cut the router gate and the banks. Routers renormalize over the kept experts
  by construction (tested: the cut layer equals the full one with the dropped experts masked out).
- \`format::sparse24<E>\`: 2:4 weights stored compressed, 16 kept values + 2-bit positions per 32
  weights (36 bytes per 32 bf16 weights against 64), with decode GEMVs for AVX-512 and AVX2 that
  gather the activations in registers; \`model::load(path, {.weights =
  model::weight_format::sparse24_bf16})\` converts every projection to it (what is not 2:4 already
  is pruned 2:4 by magnitude on load) and keeps the embedding and LM head dense bf16: pruning those
  two costs more than all the projections (the table).
- \`examples/prune\`: checkpoint in, pruned GGUF out (bf16 / f16 / f32), e.g.
  \`prune --input models/switchyard-tiny-moe --output tiny-2of4.gguf\` (2:4) or \`--sparsity 0.5\`.

## Accuracy and memory (the shipped model; unpruned perplexity $base_ppl)

$table

## Decode speed (the Mixtral-shaped bench model, f32 activations, 64 tokens after a 32-token prompt, medians of 7)

$speed

## Not measured here yet

Expert pruning's rows (25% / 50% of experts removed, by frequency against contribution: the
library cuts a layer, the tool and the loader do not drop experts yet), activation-aware pruning
(needs calibration capture in the tool), prefill speed, a larger trained model, 2:4 on int8 codes
(the q8_0 row stores the zeros), the CUDA \`mma.sp\` path.
DOC
echo "pruning: wrote $OUT" >&2
