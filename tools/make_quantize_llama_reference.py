#!/usr/bin/env python3
"""examples/quantize's output loaded by llama.cpp (issue 25: the quantize tool's files load in both
engines): for each case, run switchyard's quantize, load the file with llama.cpp's C API (the
libllama that llama-cpp-python 0.3.36's source package builds, as tools/make_mixed_gguf_reference.py
drives it: 1 thread, F32 KV cache, no weight repacking) and record its logits of every position of a
fixed token sequence, with the file's SHA-256. Saved under tests/data/quantize_llama/:

  reference.safetensors   "<case>.tokens" (i32 [T]) and "<case>.logits" (f32 [T, vocab])
  cases.json              {case: {"input", "type", "sha256", "bytes"}}

The CTests re-run quantize on the same inputs, check each output's SHA-256 against cases.json (so
the file llama.cpp loaded is byte for byte the file quantize writes today), and compare switchyard's
logits on it with llama.cpp's (tests/host/test_quantize_llama.cpp). When quantize's output changes
on purpose, rerun this script.

Cases: the shipped model's safetensors folder (its tokenizer written from tokenizer.json) to every
element type and q8_0 / q4_0 (its hidden size, 192, is no whole number of 256-blocks, so no K-quant
fits); a llama.cpp-made Mixtral-layout Q4_K_M GGUF (tests/data/mixed_gguf, hidden 256, llama's q/k
row order) to q4_K, q6_K and mxfp4.

    .venv/bin/python tools/make_quantize_llama_reference.py [--quantize build/release/examples/quantize]
    # after bash bench/peers/run.sh built llama.cpp (SWITCHYARD_PEERS_CACHE as there)
"""
import argparse
import hashlib
import json
import pathlib
import subprocess
import sys
import tempfile

import numpy as np
from safetensors.numpy import save_file

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import make_mixed_gguf_reference as mixed  # noqa: E402  (its libllama driver)

OUT = ROOT / "tests" / "data" / "quantize_llama"
SHIPPED = "models/switchyard-tiny-moe"
MIXTRAL = "tests/data/mixed_gguf/mixtral-Q4_K_M.gguf"
# case -> (input relative to the repository, type, vocabulary)
CASES = {f"tiny-{t}": (SHIPPED, t, 2048) for t in ["f32", "f16", "bf16", "q8_0", "q4_0"]}
CASES.update({f"mixtral-{t}": (MIXTRAL, t, 1024) for t in ["q4_K", "q6_K", "mxfp4"]})
TOKENS = 16


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quantize", default=str(ROOT / "build" / "release" / "examples" / "quantize"))
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(20261207)
    ref, cases = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        work = pathlib.Path(tmp)
        driver = mixed.build_driver(work)
        for name, (inp, qtype, vocab) in CASES.items():
            out = work / f"{name}.gguf"
            subprocess.run([args.quantize, "--input", str(ROOT / inp), "--output", str(out), "--type", qtype], check=True,
                           cwd=ROOT)
            tokens = rng.integers(0, vocab, size=TOKENS).astype(np.int32)
            logits = work / "logits.f32"
            subprocess.run([str(driver), str(out), str(logits), "0", *map(str, tokens)], check=True)
            ref[f"{name}.tokens"] = tokens
            ref[f"{name}.logits"] = np.fromfile(logits, dtype=np.float32).reshape(TOKENS, vocab)
            data = out.read_bytes()
            cases[name] = {"input": inp, "type": qtype, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
            print(f"make_quantize_llama_reference: {name}: llama.cpp loaded it ({len(data) / 1e6:.1f} MB)")
    save_file(ref, OUT / "reference.safetensors")
    (OUT / "cases.json").write_text(json.dumps(cases, indent=2) + "\n")


if __name__ == "__main__":
    main()
