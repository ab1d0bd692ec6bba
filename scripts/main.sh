#!/usr/bin/env bash
# The main job: set up, build the release preset, and generate text with the shipped small MoE
# model (models/switchyard-tiny-moe, a Qwen3-MoE-style model trained on the Python standard
# library's source). Arguments go to examples/generate (e.g. --prompt "class Stack:" --max-tokens 200).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release --target generate
./build/release/examples/generate "$@"
