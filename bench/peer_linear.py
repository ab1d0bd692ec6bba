#!/usr/bin/env python3
"""switchyard's linear against PyTorch on the same inputs, in the same run, alternating.

For each shape, writes x and W to raw files, then for R rounds alternates: bench_linear --raw
(switchyard, times itself, median of its reps) and torch.nn.functional.linear (timed the same
way), with the same number of threads. Prints the median over rounds and the spread, the
ratio, and checks the two results agree (sum of outputs).

    .venv/bin/python bench/peer_linear.py build/release/bench/bench_linear [rounds]

bf16 weights: PyTorch has no f32-activation x bf16-weight linear, so the peer is
F.linear(x.bfloat16(), W) (bf16 activations, its native bf16 path); it reads the same weight bytes.
"""
import os
import statistics
import subprocess
import sys
import tempfile
import time

import torch

SHAPES = [(1, 4096, 4096), (4, 4096, 4096), (64, 2048, 2048)]


def torch_time(fn, reps):
    fn()
    ts = []
    for _ in range(reps):
        a = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - a)
    return statistics.median(ts)


def main():
    exe = sys.argv[1]
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    threads = int(os.environ.get("SWITCHYARD_NUM_THREADS", os.cpu_count()))
    torch.set_num_threads(threads)
    print(f"threads {threads}, torch {torch.__version__}, rounds {rounds} (median over rounds; spread = (max-min)/median)")
    g = torch.Generator().manual_seed(1)
    with tempfile.TemporaryDirectory() as d:
        for fmt in ("f32", "bf16"):
            for t, k, n in SHAPES:
                x = torch.randn(t, k, generator=g)
                w = torch.randn(n, k, generator=g) * k**-0.5
                if fmt == "bf16":
                    w = w.to(torch.bfloat16)
                xp, wp = os.path.join(d, "x.bin"), os.path.join(d, "w.bin")
                x.numpy().tofile(xp)
                w.view(torch.int16).numpy().tofile(wp) if fmt == "bf16" else w.numpy().tofile(wp)
                xa = x.bfloat16() if fmt == "bf16" else x
                reps = 50 if t <= 8 else 10
                ours, peer = [], []
                for _ in range(rounds):
                    out = subprocess.run([exe, "--raw", xp, wp, str(t), str(k), str(n), fmt], check=True,
                                         capture_output=True, text=True, env={**os.environ, "SWITCHYARD_NUM_THREADS": str(threads)})
                    med, _, _, checksum = map(float, out.stdout.split())
                    ours.append(med)
                    peer.append(torch_time(lambda: torch.nn.functional.linear(xa, w), reps))
                ref_sum = torch.nn.functional.linear(x, w.float()).sum().item()
                mo, mp = statistics.median(ours), statistics.median(peer)
                so = (max(ours) - min(ours)) / mo
                sp = (max(peer) - min(peer)) / mp
                gbps = (w.numel() * w.element_size()) / mo / 1e9
                agree = abs(checksum - ref_sum) <= 1e-3 * (abs(ref_sum) + (t * n) ** 0.5)
                print(f"{fmt:4} T={t:3} K={k} N={n}: switchyard {mo*1e6:9.1f} us (±{so*50:3.0f}%, {gbps:6.2f} GB/s of weights)"
                      f"  torch {mp*1e6:9.1f} us (±{sp*50:3.0f}%)  speedup {mp/mo:5.2f}x  results agree: {agree}")


if __name__ == "__main__":
    main()
