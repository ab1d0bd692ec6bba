#!/usr/bin/env python3
"""GGUF block-format references from the gguf Python package, saved under tests/data/quant_gguf.safetensors.

q8_0, q4_0: f32 rows (normal, with outliers, an all-zero block, exact ties and signs mixed) quantized
            by gguf.quantize -> bytes, and those bytes dequantized by gguf.dequantize -> f32.
q4_K, q6_K: the package has dequantizers only: random block bytes (scale fields set to random
            finite f16 values) dequantized by gguf.dequantize.

    .venv/bin/python tools/make_quant_reference.py
"""
import pathlib

import numpy as np
import torch
from gguf import GGMLQuantizationType as Q, GGML_QUANT_SIZES, dequantize, quantize
from safetensors.torch import save_file

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


def main():
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
