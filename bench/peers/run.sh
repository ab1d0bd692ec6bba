#!/usr/bin/env bash
# The peers comparison as one command, from a fresh clone:
#
#   bash bench/peers/run.sh [run.py options, e.g. --threads 2 --families mixtral --formats q4_0]
#
# 1. a Python environment with requirements.txt (pinned) in the peers cache;
# 2. llama.cpp from the pinned llama-cpp-python source package (PyPI sdist, its vendor/llama.cpp),
#    built once in the cache with peer_llama (llama/), llama-bench and llama-quantize;
# 3. switchyard's release preset, target peer_switchyard;
# 4. run.py: model files (make_models.py, then llama-quantize), both engines alternated, and
#    docs/performance.md + docs/performance/*.png + results.json.
# The cache is ${SWITCHYARD_PEERS_CACHE:-~/.cache/switchyard-peers} (about 12 GB of model files);
# a second run reuses everything in it. Takes ~30-40 minutes on 2 cores; needs a quiet machine.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cache=${SWITCHYARD_PEERS_CACHE:-$HOME/.cache/switchyard-peers}
version=0.3.36  # llama-cpp-python
export LLAMA_CPP_PYTHON_VERSION=$version
mkdir -p "$cache"

if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
  echo "peers: installing python3-venv" >&2
  apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
fi
venv=$cache/venv
stamp=$venv/requirements.txt
if ! cmp -s "$root/bench/peers/requirements.txt" "$stamp"; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q -r "$root/bench/peers/requirements.txt"
  cp "$root/bench/peers/requirements.txt" "$stamp"
fi

src=$cache/llama_cpp_python-$version
if [ ! -f "$src/vendor/llama.cpp/CMakeLists.txt" ]; then
  "$venv/bin/pip" download -q --no-deps --no-binary :all: -d "$cache" "llama-cpp-python==$version"
  tar -xzf "$cache/llama_cpp_python-$version.tar.gz" -C "$cache"
fi
build=$cache/build-$version
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S "$root/bench/peers/llama" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DLLAMA_SRC="$src/vendor/llama.cpp" "${launcher[@]}" >/dev/null
cmake --build "$build" -j"$(nproc)" --target peer_llama llama-bench llama-quantize >/dev/null
mkdir -p "$build/out"
ln -sf "$build/peer_llama" "$build/bin/llama-bench" "$build/bin/llama-quantize" "$build/out/"

cmake --preset release >/dev/null
cmake --build --preset release --target peer_switchyard >/dev/null

"$venv/bin/python" "$root/bench/peers/run.py" --switchyard "$root/build/release/bench/peer_switchyard" \
  --llama-bin "$build/out" --models "$cache/models" --out "$root/docs/performance.md" "$@"
