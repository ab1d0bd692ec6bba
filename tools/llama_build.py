"""The llama.cpp build the reference tools drive (the peers build of bench/peers/run.sh: llama-cpp-python's
pinned source package), and compiling a small C++ driver against its libllama.

    import llama_build
    exe = llama_build.build_driver(work_dir, CPP_SOURCE)          # libllama, statically linked
    llama_build.QUANTIZE                                          # bin/llama-quantize
SWITCHYARD_PEERS_CACHE picks another peers cache (default ~/.cache/switchyard-peers).
"""
import os
import pathlib
import subprocess
import sys

CACHE = pathlib.Path(os.environ.get("SWITCHYARD_PEERS_CACHE", pathlib.Path.home() / ".cache" / "switchyard-peers"))
LLAMA_VERSION = "0.3.36"  # llama-cpp-python, as bench/peers/run.sh pins it
LLAMA_SRC = CACHE / f"llama_cpp_python-{LLAMA_VERSION}" / "vendor" / "llama.cpp"
LLAMA_BUILD = CACHE / f"build-{LLAMA_VERSION}"
QUANTIZE = LLAMA_BUILD / "bin" / "llama-quantize"


def build_driver(work: pathlib.Path, source: str, need_quantize: bool = False) -> pathlib.Path:
    """Compiles `source` (C++17 against llama.h) in `work` and links libllama / ggml into it."""
    lib = LLAMA_BUILD / "llama.cpp"
    libs = [lib / "src" / "libllama.a", lib / "ggml" / "src" / "libggml.a", lib / "ggml" / "src" / "libggml-cpu.a",
            lib / "ggml" / "src" / "libggml-base.a"]
    for p in libs + [LLAMA_SRC / "include" / "llama.h"] + ([QUANTIZE] if need_quantize else []):
        if not p.exists():
            sys.exit(f"{p} is missing: build llama.cpp first (bash bench/peers/run.sh, or its first steps)")
    src = work / "driver.cpp"
    src.write_text(source)
    exe = work / "driver"
    subprocess.run(["g++", "-O1", "-std=c++17", str(src), "-I", str(LLAMA_SRC / "include"), "-I",
                    str(LLAMA_SRC / "ggml" / "include"), *map(str, libs), "-fopenmp", "-lpthread", "-ldl", "-lm",
                    "-o", str(exe)], check=True)
    return exe
