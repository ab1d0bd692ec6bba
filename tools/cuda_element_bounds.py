"""Per-element error of the device GEMM recipes against float64, simulated with PyTorch on one
SwiGLU FFN at the CUDA tests' shapes: the largest |y - ref| / RMS(ref row) and the NMSE, over 200
tokens x 20 seeds. Recipes: bf16 (x and h rounded to bf16, as grouped_mma.cuh and
grouped_wgmma.cuh), bf16w (the weights too: block formats and block-scaled codes are dequantized to
bf16), fp8 (x and h to e4m3 per row and 128 columns with scale amax / 448, h through bf16 first,
as grouped_mma_fp8.cuh; the weights are e4m3 codes on both sides). tests/support/tolerance.hpp's
cuda_mma_element and cuda_fp8_mma_element come from this.

    .venv/bin/python tools/cuda_element_bounds.py
"""
import torch


def e4m3(x):  # per row, per 128 columns, scale amax / 448
    out = torch.empty_like(x)
    for g in range(0, x.shape[1], 128):
        s = x[:, g:g + 128].abs().amax(dim=1, keepdim=True) / 448.0
        s = torch.where(s > 0, s, torch.ones_like(s))
        out[:, g:g + 128] = (x[:, g:g + 128] / s).to(torch.float8_e4m3fn).to(x.dtype) * s
    return out


def bf16(x):
    return x.to(torch.bfloat16).to(x.dtype)


def ffn(x, wg, wu, wd, recipe):
    if recipe == "bf16w":
        wg, wu, wd = bf16(wg), bf16(wu), bf16(wd)
    if recipe is not None:
        x = e4m3(x) if recipe == "fp8" else bf16(x)
    h = torch.nn.functional.silu(x @ wg.T) * (x @ wu.T)
    if recipe is not None:
        h = e4m3(bf16(h)) if recipe == "fp8" else bf16(h)
    return h @ wd.T


for recipe in ["bf16", "bf16w", "fp8"]:
    for H, F in [(256, 512), (128, 96), (128, 64), (256, 384), (320, 160)]:
        worst = nmse = 0.0
        for seed in range(20):
            torch.manual_seed(seed)
            f64 = dict(dtype=torch.float64)
            x = torch.randn(200, H, **f64)
            wg, wu = torch.randn(F, H, **f64) / H**0.5, torch.randn(F, H, **f64) / H**0.5
            wd = torch.randn(H, F, **f64) / F**0.5
            ref, y = ffn(x, wg, wu, wd, None), ffn(x, wg, wu, wd, recipe)
            rms = (ref**2).mean(dim=1, keepdim=True).sqrt()
            worst = max(worst, float(((y - ref).abs() / rms).max()))
            nmse = max(nmse, float(((y - ref)**2).sum() / (ref**2).sum()))
        print(f"{recipe:6s} H {H:4d} F {F:4d}: max |err| / row RMS {worst:.2e}, NMSE {nmse:.2e}")
