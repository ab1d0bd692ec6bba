#!/usr/bin/env bash
# On the CPU machine, before a GPU run: everything that needs no GPU, so that the lent GPU machine
# (bare: nvcc, CMake, ninja, a C++ compiler; no apt, no network) only has to build and run.
#
#   bash bench/gpu/prepare.sh            # then bench/gpu/run.sh on the GPU machine (docs/cuda.md)
#
# 1. gpu-deps/ (git-ignored, ~3.5 MiB): the non-CUDA packages the configure step needs, as an install
#    prefix for CMAKE_PREFIX_PATH: nlohmann-json and Catch2 v2 (headers and their own CMake config
#    files, copied from this machine) and Boost headers only: the project's host target links
#    Boost::headers (find_package(Boost 1.74 REQUIRED) in the top CMakeLists.txt), so configure
#    fails without it; gpu-deps holds the Boost headers switchyard includes (Boost.Hana, for
#    model/) and what they include, found by the preprocessor, plus a small BoostConfig.cmake
#    that defines Boost::headers over them.
# 2. The CUDA targets built here for every architecture CI builds (80;90a): nvcc's host and device
#    compiles with warnings and register spills as errors, ptxas's register/spill summary per unit.
# 3. The test binaries list their cases and, with no GPU here, exit 77 (skipped), or 1 when
#    SWITCHYARD_EXPECT_GPU=1 -- the paths run.sh relies on.
# bench/gpu/bare_check.sh then shows that a copy of the tree builds from gpu-deps alone.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
deps="$root/gpu-deps"
build="$root/build/gpu-prepare"
jobs="${SWITCHYARD_JOBS:-2}"

echo "== 1. $deps"
probe="$(mktemp -d)"
trap 'rm -rf "$probe"' EXIT
# Where this machine's CMake finds the three packages (their config directories and headers).
cat >"$probe/CMakeLists.txt" <<'EOF'
cmake_minimum_required(VERSION 3.21)
project(probe NONE)
find_package(nlohmann_json 3 REQUIRED CONFIG)
find_package(Catch2 2 REQUIRED CONFIG)
get_target_property(json_inc nlohmann_json::nlohmann_json INTERFACE_INCLUDE_DIRECTORIES)
get_target_property(catch_inc Catch2::Catch2 INTERFACE_INCLUDE_DIRECTORIES)
list(GET json_inc 0 json_inc)
list(GET catch_inc 0 catch_inc)
file(WRITE ${CMAKE_BINARY_DIR}/found.sh "json_dir='${nlohmann_json_DIR}'\njson_inc='${json_inc}'\n"
                                       "catch_dir='${Catch2_DIR}'\ncatch_inc='${catch_inc}'\n")
EOF
cmake -S "$probe" -B "$probe/b" >"$probe/log" 2>&1 ||
  { cat "$probe/log"; echo "prepare.sh: nlohmann-json or Catch2 v2 not found (scripts/setup.sh installs them)"; exit 1; }
# shellcheck disable=SC1091
source "$probe/b/found.sh"

rm -rf "$deps"
mkdir -p "$deps/include"
# A package's config directory keeps its path below its prefix: the config files find their
# headers relative to themselves (json: share/cmake/nlohmann_json -> ../../../include).
# The per-configuration *Targets-<config>.cmake files stay behind: they only locate compiled
# libraries (Catch2's libCatch2WithMain.a, 1.7 MiB) that switchyard never links.
copy_config() {  # <config dir> <its install prefix>
  local rel="${1#"$2"/}" f
  mkdir -p "$deps/$rel"
  for f in "$1"/*.cmake; do
    case "$f" in *Targets-*.cmake) ;; *) cp "$f" "$deps/$rel/" ;; esac
  done
}
copy_config "$json_dir" "$(dirname "$json_inc")"
cp -r "$json_inc/nlohmann" "$deps/include/"
copy_config "$catch_dir" "$(dirname "$catch_inc")"
cp -r "$catch_inc/catch2" "$deps/include/"

# Boost: the headers switchyard includes (every #include <boost/...> under include/ and kernels/)
# and everything they include, as the compiler resolves them.
grep -rhoE '#include <boost/[^>]+>' include kernels | sort -u >"$probe/boost.cpp"
echo '#include <boost/version.hpp>' >>"$probe/boost.cpp"
boost_files="$(${CXX:-c++} -std=c++20 -M "$probe/boost.cpp" | tr ' \\' '\n\n' | grep -E '/boost/.+\.hpp$' | sort -u)"
boost_inc="$(echo "$boost_files" | grep -m1 '/boost/version.hpp$' | sed 's|/boost/version.hpp$||')"
for f in $boost_files; do
  case "$f" in "$boost_inc"/boost/*) ;; *) echo "prepare.sh: $f is outside $boost_inc"; exit 1 ;; esac
  mkdir -p "$deps/include/$(dirname "${f#"$boost_inc"/}")"
  cp "$f" "$deps/include/${f#"$boost_inc"/}"
done
boost_version="$(sed -n 's/^#define BOOST_LIB_VERSION "\([0-9]*\)_\([0-9]*\).*"/\1.\2.0/p' "$boost_inc/boost/version.hpp")"
mkdir -p "$deps/lib/cmake/Boost-$boost_version"
cat >"$deps/lib/cmake/Boost-$boost_version/BoostConfig.cmake" <<EOF
# Boost $boost_version, headers only: the ones switchyard includes and theirs (bench/gpu/prepare.sh).
get_filename_component(_sy_boost_include "\${CMAKE_CURRENT_LIST_DIR}/../../../include" ABSOLUTE)
if(NOT TARGET Boost::headers)
  add_library(Boost::headers INTERFACE IMPORTED)
  set_target_properties(Boost::headers PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "\${_sy_boost_include}")
endif()
if(NOT TARGET Boost::boost)
  add_library(Boost::boost INTERFACE IMPORTED)
  set_target_properties(Boost::boost PROPERTIES INTERFACE_LINK_LIBRARIES Boost::headers)
endif()
set(Boost_INCLUDE_DIRS "\${_sy_boost_include}")
set(Boost_INCLUDE_DIR "\${_sy_boost_include}")
set(Boost_VERSION_STRING $boost_version)
set(Boost_headers_FOUND TRUE)
EOF
cat >"$deps/lib/cmake/Boost-$boost_version/BoostConfigVersion.cmake" <<EOF
# Any 1.x request up to $boost_version (headers only).
set(PACKAGE_VERSION $boost_version)
set(PACKAGE_VERSION_COMPATIBLE FALSE)
if(PACKAGE_FIND_VERSION_MAJOR EQUAL 1 AND NOT PACKAGE_FIND_VERSION VERSION_GREATER PACKAGE_VERSION)
  set(PACKAGE_VERSION_COMPATIBLE TRUE)
  if(PACKAGE_FIND_VERSION VERSION_EQUAL PACKAGE_VERSION)
    set(PACKAGE_VERSION_EXACT TRUE)
  endif()
endif()
EOF
echo "nlohmann-json from $json_dir, Catch2 from $catch_dir, $(echo "$boost_files" | wc -l) Boost $boost_version headers from $boost_inc"
echo "gpu-deps: $(du -sh "$deps" | cut -f1), $(find "$deps" -type f | wc -l) files"

echo "== 2. the CUDA targets for 80;90a in $build (-j$jobs)"
start=$SECONDS
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSWITCHYARD_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="80;90a" \
      -DSWITCHYARD_BUILD_EXAMPLES=OFF -DSWITCHYARD_INSTALL=OFF -DCMAKE_PREFIX_PATH="$deps" >"$build.configure.log" 2>&1 ||
  { cat "$build.configure.log"; exit 1; }
tests="$(cd "$build" && ctest -N -L gpu | sed -n 's/^ *Test *#[0-9]*: *//p')"
set +e
# shellcheck disable=SC2086
nice -n 19 cmake --build "$build" -j "$jobs" --target switchyard_cuda_header_check bench_moe_cuda bench_attention_cuda bench_model_cuda $tests 2>&1 |
  tee "$build.build.log" | grep -E "^ptxas:|error|FAILED"
status=${PIPESTATUS[0]}
set -e
[ "$status" = 0 ] || { tail -40 "$build.build.log"; exit 1; }
echo "built in $((SECONDS - start)) s"

echo "== 3. the test binaries without a GPU"
if nvidia-smi -L >/dev/null 2>&1; then echo "a GPU is visible here: skipped"; tests=""; fi
for t in $tests; do
  set +e  # (Catch2 v2's --list-* exits with the number of names listed)
  n="$("$build/tests/$t" --list-test-names-only | grep -c .)"
  "$build/tests/$t" >/dev/null; skip=$?
  SWITCHYARD_EXPECT_GPU=1 "$build/tests/$t" >/dev/null; expect=$?
  set -e
  echo "$t: $n test cases; no GPU: exit $skip (77: skipped), with SWITCHYARD_EXPECT_GPU=1: exit $expect (1: failed)"
  [ "$skip" = 77 ] && [ "$expect" = 1 ] || { echo "prepare.sh: $t did not exit 77 / 1 without a GPU"; exit 1; }
done
echo "prepared: gpu-deps/ is ready to travel (device tool: carry [\"gpu-deps\"]; docs/cuda.md)"
