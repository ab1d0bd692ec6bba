#!/usr/bin/env bash
# The main job: set up, build the release preset, and run the example (for now a composed block
# on random data; the end-to-end model replaces it when it lands).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release --target compose_block
./build/release/examples/compose_block "$@"
