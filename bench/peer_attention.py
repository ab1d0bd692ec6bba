#!/usr/bin/env python3
"""switchyard's flash attention against PyTorch's scaled_dot_product_attention, same inputs, alternating.

For each T, writes random q/k/v ([T, 32, 128], [T, 8, 128] f32) to raw files, then alternates R
rounds of `bench_attention --raw` (switchyard) and torch SDPA on the same tensors with the same
thread count: is_causal=True for the causal pattern (PyTorch's CPU flash kernel skips the upper
triangle), an explicit boolean mask for the others (PyTorch has no way to skip their tiles, which
is the point of the comparison). Prints medians over rounds and the spread.

    .venv/bin/python bench/peer_attention.py build/release/bench/bench_attention [rounds] [T ...]
"""
import os
import statistics
import subprocess
import sys
import tempfile
import time

import torch

HQ, HKV, D = 32, 8, 128


def mask(pattern, T):
    q = torch.arange(T)[:, None]
    k = torch.arange(T)[None, :]
    m = k <= q
    if pattern == "window":
        m &= k > q - 1024
    elif pattern == "sinks":
        m &= (k < 4) | (k > q - 1024)
    elif pattern == "sparse":
        qb, kb = q // 64, k // 64
        m &= (qb - kb < 4) | (kb < 1) | ((qb - kb) % 8 == 0)
    return m


def main():
    exe = sys.argv[1]
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    lengths = [int(t) for t in sys.argv[3:]] or [512, 2048]
    threads = int(os.environ.get("SWITCHYARD_NUM_THREADS", os.cpu_count()))
    torch.set_num_threads(threads)
    print(f"threads {threads}, torch {torch.__version__}, Hq {HQ}, Hkv {HKV}, D {D}, f32")
    print(f"{'T':>6} {'pattern':<7} {'switchyard_ms':>13} {'torch_ms':>9} {'speedup':>8} {'spread_sy':>9} {'spread_pt':>9}")
    gen = torch.Generator().manual_seed(1)
    with tempfile.TemporaryDirectory() as tmp:
        for T in lengths:
            q = torch.rand(T, HQ, D, generator=gen) * 2 - 1
            k = torch.rand(T, HKV, D, generator=gen) * 2 - 1
            v = torch.rand(T, HKV, D, generator=gen) * 2 - 1
            for name, t in (("q", q), ("k", k), ("v", v)):
                t.numpy().tofile(os.path.join(tmp, f"{name}.f32"))
            qt, kt, vt = q.transpose(0, 1), k.transpose(0, 1), v.transpose(0, 1)
            for pattern in ("causal", "window", "sinks", "sparse"):
                m = None if pattern == "causal" else mask(pattern, T)
                sy_t, pt_t = [], []
                for _ in range(rounds):
                    out = subprocess.run([exe, "--raw", tmp, str(T), pattern, "3"], check=True, capture_output=True,
                                         text=True).stdout.split()
                    sy_t.append(float(out[0]))
                    runs = []
                    for rep in range(4):
                        a = time.perf_counter()
                        torch.nn.functional.scaled_dot_product_attention(qt, kt, vt, attn_mask=m, is_causal=m is None,
                                                                         enable_gqa=True)
                        if rep:
                            runs.append(time.perf_counter() - a)
                    pt_t.append(statistics.median(runs))
                s, p = statistics.median(sy_t), statistics.median(pt_t)
                print(f"{T:>6} {pattern:<7} {s * 1e3:>13.2f} {p * 1e3:>9.2f} {p / s:>7.2f}x "
                      f"{(max(sy_t) - min(sy_t)) / s:>8.0%} {(max(pt_t) - min(pt_t)) / p:>8.0%}", flush=True)


if __name__ == "__main__":
    main()
