#!/usr/bin/env python3
"""GGUF block-format references from the gguf Python package, saved under tests/data/quant_gguf.safetensors.

q8_0, q4_0: f32 rows (normal, with outliers, an all-zero block, exact ties and signs mixed) quantized
            by gguf.quantize -> bytes, and those bytes dequantized by gguf.dequantize -> f32.
q4_K, q6_K: the package has dequantizers only: random block bytes (scale fields set to random
            finite f16 values) dequantized by gguf.dequantize.
q5_0, q5_K: the formats of llama-quantize's mixes, the same way (random bytes, finite f16 scales),
            and q4_1 / q5_1 (their fallbacks where rows are not whole 256-blocks), q2_K, q3_K,
            iq4_nl and iq4_xs too (dequantized only: the package has no quantizer for them); rows
            quantized by gguf.quantize (q5_0 / q4_1 / q5_1 .x -> .qbytes), in
            tests/data/quant_gguf_read.safetensors (numpy only).

    .venv/bin/python tools/make_quant_reference.py            # both files (needs torch)
    .venv/bin/python tools/make_quant_reference.py --read     # quant_gguf_read.safetensors only
"""
import pathlib
import sys

import numpy as np
from gguf import GGMLQuantizationType as Q, GGML_QUANT_SIZES, dequantize, quantize

DATA = pathlib.Path(__file__).resolve().parent.parent / "tests" / "data"


def rows(rng, n_rows, n_cols):
    x = rng.standard_normal((n_rows, n_cols)).astype(np.float32)
    x[0, :32] = 0.0                                   # an all-zero block
    x[1, :32] = np.float32(0.5)                       # ties everywhere
    x[1, 5] = np.float32(-0.5)
    x[2, 40] = np.float32(12.0)                       # outliers
    x[2, 70] = np.float32(-30.0)
    x[3] *= np.float32(1e-3)                          # small magnitudes
    x[4, :64] = np.round(x[4, :64] * 4) / 4           # values on the q grid's half-steps
    return x


def random_blocks(rng, qt, d_offsets, n=24):
    """n blocks of random bytes whose f16 scale fields hold small finite values, and their floats."""
    block, size = GGML_QUANT_SIZES[qt]
    raw = rng.integers(0, 256, size=(n, size), dtype=np.uint8)
    for off in d_offsets:
        d = (rng.standard_normal(n) * 0.01).astype(np.float16)
        raw[:, off:off + 2] = d.view(np.uint8).reshape(n, 2)
    y = dequantize(raw.reshape(-1), qt).reshape(n * block)
    return raw.reshape(-1).copy(), np.ascontiguousarray(y, dtype=np.float32)


def read_only_formats():
    from safetensors.numpy import save_file
    rng = np.random.default_rng(20261206)
    out = {}
    for name, qt, d_offsets in (("q5_0", Q.Q5_0, (0,)), ("q5_K", Q.Q5_K, (0, 2))):
        out[f"{name}.bytes"], out[f"{name}.y"] = random_blocks(rng, qt, d_offsets)
    x = rows(np.random.default_rng(20261207), 8, 256)
    out["q5_0.x"] = x
    out["q5_0.qbytes"] = quantize(x, Q.Q5_0).reshape(-1).copy()
    rng1 = np.random.default_rng(20261208)
    for name, qt in (("q4_1", Q.Q4_1), ("q5_1", Q.Q5_1)):
        out[f"{name}.bytes"], out[f"{name}.y"] = random_blocks(rng1, qt, (0, 2))
        out[f"{name}.x"] = x
        out[f"{name}.qbytes"] = quantize(x, qt).reshape(-1).copy()
    rng2 = np.random.default_rng(20261209)
    for name, qt, d_offsets in (("q2_K", Q.Q2_K, (80, 82)), ("q3_K", Q.Q3_K, (108,)), ("iq4_nl", Q.IQ4_NL, (0,)),
                                ("iq4_xs", Q.IQ4_XS, (0,))):
        out[f"{name}.bytes"], out[f"{name}.y"] = random_blocks(rng2, qt, d_offsets)
    save_file(out, DATA / "quant_gguf_read.safetensors")


def main():
    read_only_formats()
    if "--read" in sys.argv:
        return
    import torch
    from safetensors.torch import save_file
    rng = np.random.default_rng(20261128)
    out = {}
    for name, qt in (("q8_0", Q.Q8_0), ("q4_0", Q.Q4_0)):
        x = rows(rng, 8, 256)
        q = quantize(x, qt)
        y = dequantize(q, qt)
        out[f"{name}.x"] = torch.from_numpy(x)
        out[f"{name}.bytes"] = torch.from_numpy(np.ascontiguousarray(q).reshape(-1))
        out[f"{name}.y"] = torch.from_numpy(np.ascontiguousarray(y, dtype=np.float32))
    for name, qt, d_offsets in (("q4_K", Q.Q4_K, (0, 2)), ("q6_K", Q.Q6_K, (208,))):
        block, size = GGML_QUANT_SIZES[qt]
        n = 24
        raw = rng.integers(0, 256, size=(n, size), dtype=np.uint8)
        for off in d_offsets:
            d = (rng.standard_normal(n) * 0.01).astype(np.float16)
            raw[:, off:off + 2] = d.view(np.uint8).reshape(n, 2)
        y = dequantize(raw.reshape(-1), qt).reshape(n * block)
        out[f"{name}.bytes"] = torch.from_numpy(raw.reshape(-1).copy())
        out[f"{name}.y"] = torch.from_numpy(np.ascontiguousarray(y, dtype=np.float32))
    save_file(out, DATA / "quant_gguf.safetensors")


if __name__ == "__main__":
    main()
