#!/usr/bin/env python3
"""Writes the reference data that the C++ tests compare against, under tests/data/.

Every expected value here is computed by PyTorch (the peer implementation), never by code of
ours: format conversions by torch's own casts, RMSNorm by torch.nn.functional.rms_norm, linear
by torch.nn.functional.linear. Inputs are seeded and random (never zeros), at odd sizes too.
Files are safetensors, so the tests read them with a few lines of C++ and no Python.

    .venv/bin/python tools/make_reference.py            # rewrites tests/data/*.safetensors
"""
import pathlib

import numpy as np
import torch
from safetensors.torch import save_file

DATA = pathlib.Path(__file__).resolve().parent.parent / "tests" / "data"
SEED = 20261128


def f32_from_bits(bits):
    return torch.from_numpy(np.asarray(bits, dtype=np.uint32).view(np.float32).copy())


def bits_of(t, int_dtype):
    return t.contiguous().view(int_dtype)


def f32_sample(rng):
    """f32 values that exercise every rounding path of every narrow format."""
    parts = []
    # Uniform over all bit patterns: every exponent, NaNs and infinities included.
    parts.append(rng.integers(0, 2**32, size=40000, dtype=np.uint64).astype(np.uint32))

    # (exponent bits, mantissa bits, bias) of each narrow format.
    shapes = {"bf16": (8, 7, 127), "f16": (5, 10, 15), "e4m3": (4, 3, 7), "e5m2": (5, 2, 15)}
    for e_bits, m_bits, bias in shapes.values():
        emin, emax = 1 - bias - m_bits, (1 << e_bits) - 1 - bias
        # Random values across and a little beyond the format's range (subnormals to overflow).
        exps = rng.integers(max(emin - 3, -149), min(emax + 2, 127), size=15000)
        mant = rng.integers(0, 1 << 23, size=15000)
        sign = rng.integers(0, 2, size=15000)
        parts.append(((sign << 31) | ((exps + 127) << 23) | mant).astype(np.uint32))
        # Exact ties: a representable value plus half of its ulp (f32 holds it exactly), at
        # every exponent of the format, subnormals included, both signs.
        n = 6000
        e = rng.integers(max(emin, -126), emax, size=n)          # unbiased exponent of the value
        m = rng.integers(0, 1 << m_bits, size=n)                 # its mantissa in format bits
        half = 23 - m_bits - 1                                    # position of the half-ulp bit
        normal = ((e + 127) << 23) | (m << (23 - m_bits)) | (1 << half)
        sub_units = rng.integers(0, 1 << m_bits, size=n)         # subnormal code, then + half unit
        min_normal_exp = 1 - bias
        sub_vals = (sub_units.astype(np.float64) + 0.5) * 2.0 ** (min_normal_exp - m_bits)
        sub = np.asarray(sub_vals, dtype=np.float32).view(np.uint32)
        ties = np.concatenate([normal.astype(np.uint32), sub])
        ties |= (rng.integers(0, 2, size=ties.size).astype(np.uint32) << 31)
        parts.append(ties)

    specials = [0.0, -0.0, float("inf"), float("-inf"), float("nan"), 448.0, 464.0, 464.0001, 479.9, 480.0,
                57344.0, 61439.0, 61440.0, 65504.0, 65519.0, 65520.0, 2.0**-9, 2.0**-10, 1.5 * 2.0**-10,
                2.0**-16, 2.0**-17, 2.0**-24, 2.0**-25, 1.5 * 2.0**-25, 2.0**-133, 2.0**-134, 3.4e38, 1e-45]
    sp = np.asarray(specials, dtype=np.float32)
    parts.append(np.concatenate([sp, -sp]).view(np.uint32))
    nan_payloads = np.asarray([0x7F800001, 0x7FC00000, 0x7FFFFFFF, 0xFFC00001, 0x7FA00000, 0xFF800001], dtype=np.uint32)
    parts.append(nan_payloads)
    return np.concatenate(parts)


def formats(rng):
    all16 = torch.arange(0, 65536, dtype=torch.int32).to(torch.int16)
    all8 = torch.arange(0, 256, dtype=torch.int32).to(torch.uint8)
    sample_bits = f32_sample(rng)
    x = f32_from_bits(sample_bits)
    return {
        "bf16_to_f32": bits_of(all16.view(torch.bfloat16).float(), torch.int32),
        "f16_to_f32": bits_of(all16.view(torch.float16).float(), torch.int32),
        "e4m3_to_f32": bits_of(all8.view(torch.float8_e4m3fn).float(), torch.int32),
        "e5m2_to_f32": bits_of(all8.view(torch.float8_e5m2).float(), torch.int32),
        "f32_sample": bits_of(x, torch.int32),
        "f32_to_bf16": bits_of(x.to(torch.bfloat16), torch.int16),
        "f32_to_f16": bits_of(x.to(torch.float16), torch.int16),
        "f32_to_e4m3": bits_of(x.to(torch.float8_e4m3fn), torch.uint8),
        "f32_to_e5m2": bits_of(x.to(torch.float8_e5m2), torch.uint8),
    }


def randn(gen, *shape, scale=1.0):
    return torch.randn(*shape, generator=gen, dtype=torch.float32) * scale


def rms_norm_cases(gen):
    out = {}
    # (rows, n, weight format): odd sizes, a width past every vector length, a model-sized row.
    cases = [(1, 64, "f32"), (7, 17, "f32"), (5, 987, "bf16"), (3, 4096, "f32"), (17, 65, "bf16"), (2, 1, "f32")]
    for i, (rows, n, wf) in enumerate(cases):
        x = randn(gen, rows, n, scale=2.0) + 0.1
        w = 1.0 + randn(gen, n, scale=0.2)
        if wf == "bf16":
            w = w.to(torch.bfloat16)
        eps = 1e-6 if i % 2 == 0 else 1e-5
        y = torch.nn.functional.rms_norm(x, (n,), w.float(), eps)
        out[f"case{i}.x"] = x
        out[f"case{i}.weight"] = w
        out[f"case{i}.eps"] = torch.tensor([eps], dtype=torch.float32)
        out[f"case{i}.y"] = y
    return out


def linear_cases(gen):
    out = {}
    # (T, K, N, weight format, bias): GEMV rows 1..8, GEMM rows beyond, K across the k-panel
    # (1024) boundary, sizes off every tile and vector width.
    cases = [(1, 64, 48, "f32", False), (1, 987, 65, "bf16", True), (3, 17, 7, "f32", True),
             (8, 256, 65, "bf16", False), (5, 1, 9, "f32", False), (9, 65, 33, "f32", True),
             (17, 2100, 31, "bf16", True), (64, 128, 129, "f32", False), (33, 1031, 70, "bf16", False)]
    for i, (t, k, n, wf, has_bias) in enumerate(cases):
        x = randn(gen, t, k)
        w = randn(gen, n, k, scale=k ** -0.5)
        if wf == "bf16":
            w = w.to(torch.bfloat16)
        b = randn(gen, n) if has_bias else None
        y = torch.nn.functional.linear(x, w.float(), b)
        # The same layer with activations rounded to bf16 first (linear's activations::bf16).
        y_bf16act = torch.nn.functional.linear(x.bfloat16().float(), w.float(), b)
        out[f"case{i}.y_bf16act"] = y_bf16act
        out[f"case{i}.x"] = x
        out[f"case{i}.weight"] = w
        if b is not None:
            out[f"case{i}.bias"] = b
        out[f"case{i}.y"] = y
    return out


def activation_cases(gen):
    """Expert activations computed by torch.nn.functional, on gate/up pairs across [-12, 12]."""
    gate = torch.randn(4096, generator=gen) * 4.0
    up = torch.randn(4096, generator=gen) * 4.0
    f = torch.nn.functional
    alpha, limit = 1.702, 7.0  # gpt-oss swiglu_alpha, swiglu_limit
    g, u = gate.clamp(max=limit), up.clamp(-limit, limit)
    return {
        "gate": gate, "up": up,
        "silu_glu": f.silu(gate) * up,
        "gelu_tanh_glu": f.gelu(gate, approximate="tanh") * up,
        "gpt_oss_glu": (u + 1) * (g * torch.sigmoid(g * alpha)),
        "relu": f.relu(gate),
        "gelu": f.gelu(gate),
    }


def main():
    DATA.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    gen = torch.Generator().manual_seed(SEED)
    meta = {"generator": "tools/make_reference.py", "torch": torch.__version__, "seed": str(SEED)}
    save_file(formats(rng), DATA / "formats.safetensors", metadata=meta)
    save_file(rms_norm_cases(gen), DATA / "rms_norm.safetensors", metadata=meta)
    save_file(linear_cases(gen), DATA / "linear.safetensors", metadata=meta)
    save_file(activation_cases(torch.Generator().manual_seed(SEED + 1)), DATA / "activations.safetensors", metadata=meta)
    for f in sorted(DATA.glob("*.safetensors")):
        print(f"{f.relative_to(DATA.parent.parent)}: {f.stat().st_size} bytes")


if __name__ == "__main__":
    main()
