#!/usr/bin/env python3
"""MXFP4 references from the gguf Python package and from transformers' decoding rule, saved under
tests/data/mxfp4_reference.safetensors (and a GGUF file, tests/data/mxfp4_reference.gguf).

dequant.*  random ggml blocks (17 bytes: E8M0 byte e, 16 code bytes) with e in a model's range,
           plus edge blocks (e = 0, 1, 2, 127, 128, 252..255; every code in both nibbles), and
           gguf.dequantize's floats for them.
quant.*    f32 rows (normal at several scales, zeros, ties between codes, amax at and a few ulps
           below powers of two, amax above E2M1's 6, negative extremes, tiny and huge blocks) and
           gguf.quantize's bytes for them.
hf.*       Hugging Face layout: blocks u8 [rows, G, 16], scales u8 [rows, G], and the floats
           transformers' convert_moe_packed_tensors makes of them (a 16-entry E2M1 table indexed by
           the low, then the high nibble of each byte, as elements 2i and 2i + 1, then ldexp by
           scale - 127), computed here in numpy in f32 and checked bit for bit against
           transformers' function itself; hf.ggml, the same rows in ggml's layout, as written here
           and checked against both gguf.dequantize and the HF floats.
gguf.*     the bytes of the MXFP4 tensor written with gguf.GGUFWriter into mxfp4_reference.gguf.

    .venv/bin/python tools/make_mxfp4_reference.py      # needs gguf, numpy, torch, transformers
"""
import pathlib

import numpy as np
from gguf import GGMLQuantizationType as Q, GGUFReader, GGUFWriter, dequantize, quantize
from safetensors.numpy import save_file

DATA = pathlib.Path(__file__).resolve().parent.parent / "tests" / "data"

# transformers' FP4_VALUES (E2M1 by code; code 8 is -0.0).
HF_LUT = np.array([+0.0, +0.5, +1.0, +1.5, +2.0, +3.0, +4.0, +6.0,
                   -0.0, -0.5, -1.0, -1.5, -2.0, -3.0, -4.0, -6.0], dtype=np.float32)


def dequant_blocks(rng):
    n = 64
    raw = rng.integers(0, 256, size=(n, 17), dtype=np.uint8)
    raw[:, 0] = rng.integers(100, 150, size=n)               # the exponents gpt-oss's experts use
    edges = [0, 1, 2, 127, 128, 252, 253, 254, 255]
    every_code = np.array([i | ((15 - i) << 4) for i in range(16)], dtype=np.uint8)
    extra = np.zeros((len(edges) + 2, 17), dtype=np.uint8)
    for j, e in enumerate(edges):
        extra[j, 0], extra[j, 1:] = e, every_code
    extra[-2, 0], extra[-2, 1:] = 127, 0x88                  # -0 codes only
    extra[-1, 0], extra[-1, 1:] = 130, 0x77                  # the largest code everywhere
    raw = np.concatenate([raw, extra])
    with np.errstate(over="ignore"):
        y = dequantize(raw.reshape(-1), Q.MXFP4).reshape(-1)
    return raw.reshape(-1).copy(), np.ascontiguousarray(y, dtype=np.float32)


def quant_rows(rng):
    x = rng.standard_normal((24, 256)).astype(np.float32)
    for r, s in enumerate([1e-3, 1e-2, 0.02, 0.1, 3.0, 100.0, 1e6, 1e-20]):
        x[4 + r] *= np.float32(s)
    x[0, :32] = 0.0                                           # an all-zero block
    d = np.float32(2.0 ** -3)                                 # e = 126 when amax is 4..8 x 2^-1
    x[0, 32:64] = d * np.array([0.5, 1.5, 2.5, 3.5, 5.0, 7.0, 10.0, 12.0] * 4, np.float32)  # ties
    x[0, 32:64:2] *= -1
    x[0, 64:96] = np.float32(1.0)                             # amax exactly a power of two
    x[0, 96:128] = np.nextafter(np.float32(8.0), np.float32(0))  # a few ulps below: log2 rounds up
    x[0, 128:160] = np.float32(7.5)                           # above 6 d: clamps to code 7
    x[0, 160] = np.float32(-7.9)
    x[0, 192:224] = rng.uniform(-1, 1, 32).astype(np.float32) * np.float32(2.0 ** -120)  # tiny
    x[0, 224:256] = rng.uniform(-1, 1, 32).astype(np.float32) * np.float32(2.0 ** 120)   # huge
    # amax just below a power of two at several scales (floor(log2) rounded in f32)
    for j in range(8):
        top = np.float32(2.0 ** (j * 9 - 30))
        x[1, 32 * j:32 * j + 32] = rng.uniform(-1, 1, 32).astype(np.float32) * top
        x[1, 32 * j] = np.nextafter(top, np.float32(0))
        x[1, 32 * j + 1] = np.nextafter(np.nextafter(top, np.float32(0)), np.float32(0))
    q = quantize(x, Q.MXFP4)
    return x, np.ascontiguousarray(q).reshape(-1)


def hf_rows(rng):
    rows, groups = 12, 6
    blocks = rng.integers(0, 256, size=(rows, groups, 16), dtype=np.uint8)
    scales = rng.integers(110, 140, size=(rows, groups), dtype=np.uint8)
    scales[0, :] = [0, 1, 2, 127, 254, 255]
    blocks[1, 0, :] = np.arange(16, dtype=np.uint8) * 17       # both nibbles of byte i hold code i
    # transformers: out[..., 0::2] = lut[b & 0xF], out[..., 1::2] = lut[b >> 4]; ldexp by scale - 127
    vals = np.empty((rows, groups, 32), dtype=np.float32)
    vals[..., 0::2] = HF_LUT[blocks & 0x0F]
    vals[..., 1::2] = HF_LUT[blocks >> 4]
    with np.errstate(over="ignore"):
        y = np.ldexp(vals, (scales.astype(np.int32) - 127)[..., None]).astype(np.float32)
    # ggml's layout: element i (low nibble) and i + 16 (high nibble) in byte i
    codes = np.empty((rows, groups, 32), dtype=np.uint8)
    codes[..., 0::2] = blocks & 0x0F
    codes[..., 1::2] = blocks >> 4
    ggml = np.concatenate([scales[..., None], codes[..., :16] | (codes[..., 16:] << 4)], axis=-1)
    with np.errstate(over="ignore"):
        back = dequantize(ggml.reshape(-1), Q.MXFP4).reshape(rows, groups * 32)
    flat = y.reshape(rows, groups * 32)
    # transformers' own function (returned transposed, [1, G * 32, rows]), in f32 and in its
    # default bf16 (every value here is a bf16 too): bit for bit, -0.0 and e = 255 included
    import torch
    from transformers.integrations.mxfp4 import convert_moe_packed_tensors
    for dtype in (torch.float32, torch.bfloat16):
        t = convert_moe_packed_tensors(torch.from_numpy(blocks)[None], torch.from_numpy(scales)[None], dtype=dtype)
        t = t[0].transpose(0, 1).float().numpy()
        assert (t.view(np.uint32) == flat.view(np.uint32)).all(), f"transformers ({dtype}) decodes otherwise"
    same = (back == flat) | (np.isnan(back) & np.isnan(flat))
    assert same.all(), "ggml-layout rows must dequantize to transformers' values"
    assert (np.signbit(back) != np.signbit(flat)).sum() == (flat[np.signbit(flat)] == 0).sum()  # only -0 vs +0
    return blocks, scales, np.ascontiguousarray(flat), ggml.reshape(rows, groups * 17).copy()


def gguf_file(rng):
    e, n, k = 2, 3, 64
    x = rng.standard_normal((e, n, k)).astype(np.float32) * np.float32(0.05)
    q = quantize(x, Q.MXFP4)                                  # u8 [e, n, k / 32 * 17]
    path = DATA / "mxfp4_reference.gguf"
    w = GGUFWriter(str(path), "gpt-oss")
    w.add_tensor("blk.0.ffn_gate_exps.weight", q, raw_dtype=Q.MXFP4)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    t = GGUFReader(str(path)).tensors[0]
    assert t.tensor_type == Q.MXFP4 and list(t.shape) == [k, n, e], (t.tensor_type, t.shape)
    return np.ascontiguousarray(q).reshape(-1)


def main():
    rng = np.random.default_rng(20260517)
    out = {}
    out["dequant.bytes"], out["dequant.y"] = dequant_blocks(rng)
    out["quant.x"], out["quant.bytes"] = quant_rows(rng)
    out["hf.blocks"], out["hf.scales"], out["hf.y"], out["hf.ggml"] = hf_rows(rng)
    out["gguf.bytes"] = gguf_file(rng)
    save_file(out, DATA / "mxfp4_reference.safetensors")


if __name__ == "__main__":
    main()
