#!/usr/bin/env python3
"""GGUF files quantized by llama.cpp's own llama-quantize into its mixes, and llama.cpp's logits on
them, saved under tests/data/mixed_gguf/ (issue 19: per-tensor formats, quantized DeepSeek files).

For three families, small random-weight models (hidden 256, 2 layers, fixed seeds) are written in
f16 the way llama.cpp's converter lays them out, by bench/peers/make_models.py's writers:
  mixtral    llama arch, 4 experts of 512, top-2
  qwen3moe   q/k norms, 8 experts of 256, top-2
  deepseek2  MLA (q rank 384, kv rank 256), a leading dense layer, 8 routed experts of 256 top-2 in
             4 groups (2 used), one shared expert
Each f16 file is quantized by llama-quantize (the peers build of llama.cpp, pinned by
bench/peers/run.sh) to Q4_K_M, which mixes q4_K with q6_K (attention V, some FFN down, the head),
and falls back to q5_0 / q8_0 where a row is not a whole number of 256-blocks (DeepSeek's 384-wide
q_b, its 32-wide k_b); the Mixtral one also to Q4_0 (q4_0 with a q6_K head), Q4_1 (q4_1 with a
q6_K head) and Q2_K (q2_K with q3_K / q4_K), the Qwen3 one to Q3_K_M (q3_K with q4_K / q5_K / q6_K), the DeepSeek one to IQ4_XS
(iq4_xs, with iq4_nl for the rows that are not whole 256-blocks). The f16 files are not kept; the
quantized ones are (a few MB each).

llama_build.LOGITS_DRIVER (libllama from the same build: 1 thread, F32 KV cache, flash
attention off) runs a fixed token sequence in one batch and records the logits of every position;
reference.safetensors holds "<file>.tokens" (i32 [T]) and "<file>.logits" (f32 [T, vocab]).

    .venv/bin/python tools/make_mixed_gguf_reference.py   # after bash bench/peers/run.sh built llama.cpp
    # SWITCHYARD_PEERS_CACHE=... picks another peers cache (default ~/.cache/switchyard-peers)
"""
import pathlib
import subprocess
import sys
import tempfile

import numpy as np
from safetensors.numpy import save_file

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import llama_build  # noqa: E402
OUT = ROOT / "tests" / "data" / "mixed_gguf"
QUANTIZE = llama_build.QUANTIZE

sys.path.insert(0, str(ROOT / "bench" / "peers"))
import make_models as mm  # noqa: E402

mm.VOCAB, mm.HIDDEN, mm.LAYERS = 1024, 256, 2
mm.HEADS, mm.KV_HEADS, mm.HEAD_DIM = 4, 2, 64
mm.ROUTER_SCALE = 8.0  # wider router margins at this small width: int8 rounding flips no choice

FAMILIES = {
    "mixtral": lambda p, s: mm.gqa_moe(p, s, "llama", "mixed mixtral-like", 4, 2, 512, qk_norm=False),
    "qwen3moe": lambda p, s: mm.gqa_moe(p, s, "qwen3moe", "mixed qwen3-moe-like", 8, 2, 256, qk_norm=True,
                                         feed_forward=768),
    "deepseek2": lambda p, s: mm.deepseek_v3(p, s, heads=4, nope=32, rope=32, vd=32, q_rank=384, kv_rank=256, n_exp=8,
                                             ffn=256, dense_ffn=512, used=2, groups=(4, 2)),
}
# Only the Mixtral Q4_K_M is kept (test_mixed_gguf, and test_quantize_llama's input); the other mixes
# this script made (Mixtral Q4_0 / Q4_1 / Q2_K, Qwen3 Q4_K_M / Q3_K_M, DeepSeek Q4_K_M / IQ4_XS) gave way
# to tools/make_conformance_reference.py, which covers every type on every architecture in a fifth of
# the bytes (the tree the GPU machine receives is limited to 64 MiB).
TYPES = {"mixtral": ["Q4_K_M"], "qwen3moe": [], "deepseek2": []}
TOKENS = 24



def build_driver(work: pathlib.Path) -> pathlib.Path:
    """llama_build's logits driver: call it as driver MODEL OUT 0 TOKEN... (no greedy tokens)."""
    return llama_build.build_driver(work, llama_build.LOGITS_DRIVER, need_quantize=True)


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    tokens = np.random.default_rng(20261207).integers(0, mm.VOCAB, size=TOKENS).astype(np.int32)
    ref = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = pathlib.Path(tmp)
        driver = build_driver(work)
        for i, (family, make) in enumerate(FAMILIES.items()):
            f16 = work / f"{family}-f16.gguf"
            make(f16, 20261207 + i)
            for qtype in TYPES[family]:
                name = f"{family}-{qtype}.gguf"
                subprocess.run([str(QUANTIZE), str(f16), str(OUT / name), qtype, "1"], check=True,
                               capture_output=True)
                logits = work / "logits.f32"
                subprocess.run([str(driver), str(OUT / name), str(logits), "0", *map(str, tokens)], check=True)
                ref[f"{name}.tokens"] = tokens
                ref[f"{name}.logits"] = np.fromfile(logits, dtype=np.float32).reshape(TOKENS, mm.VOCAB)
                print(f"make_mixed_gguf_reference: {name} ({(OUT / name).stat().st_size / 1e6:.1f} MB)")
    save_file(ref, OUT / "reference.safetensors")


if __name__ == "__main__":
    main()
