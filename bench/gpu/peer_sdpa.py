#!/usr/bin/env python3
"""PyTorch's scaled_dot_product_attention on the shapes of bench_attention_cuda.cu, on the same
GPU in the same run (bench/gpu/run.sh), so the device kernels' numbers have a peer beside them.

Prefill: q [1, 32, T, 128], k / v [1, 8, T, 128] bf16 (GQA through enable_gqa where this PyTorch
has it, else K and V repeated per group outside the timing), causal, T in 2k / 8k / 32k; TFLOP/s
counts the pairs the causal mask keeps (4 D FLOP each), as bench_attention_cuda does. The 32k
sliding window (4096) has no SDPA flag: it is a boolean mask [T, T] (1 GiB, broadcast over heads),
which takes SDPA off its flash kernel onto the memory-efficient one (K and V repeated per group:
no GQA there), computing every pair -- so its TFLOP/s, counted over the kept pairs as switchyard's
are, measure what a dense-mask caller gets, not a tile-skipping kernel. Decode: one
query token for 8 sequences, k / v [8, 8, context, 128] bf16 contiguous (SDPA has no paged cache),
context 8k / 32k, GB/s of K and V read. Medians over repetitions timed with CUDA events; spread =
(max - min) / median. Prints Markdown rows like bench_attention_cuda's.

    python3 bench/gpu/peer_sdpa.py [SECTION...]     (--list names them)
Exit code 77 without torch or a CUDA device.
"""
import sys

HQ, HKV, D = 32, 8, 128
SECTIONS = {
    "prefill_2k": ("prefill", 2048),
    "prefill_8k": ("prefill", 8192),
    "prefill_32k": ("prefill", 32768),
    "prefill_32k_window": ("window", 32768),
    "decode_8k": ("decode", 8192),
    "decode_32k": ("decode", 32768),
}


def timed(torch, reps, fn):
    fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    times = []
    for _ in range(reps):
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) * 1e-3)
    times.sort()
    med = times[len(times) // 2]
    return med, (times[-1] - times[0]) / med


def sdpa_call(torch, q, k, v, causal):
    f = torch.nn.functional.scaled_dot_product_attention
    try:
        f(q[..., :1, :], k[..., :1, :], v[..., :1, :], is_causal=False, enable_gqa=True)
        return lambda: f(q, k, v, is_causal=causal, enable_gqa=True), "enable_gqa"
    except TypeError:  # PyTorch < 2.5: repeat K and V per group, outside the timing
        g = q.shape[1] // k.shape[1]
        kr, vr = k.repeat_interleave(g, dim=1), v.repeat_interleave(g, dim=1)
        return lambda: f(q, kr, vr, is_causal=causal), "K/V repeated"


def run(torch, name):
    kind, n = SECTIONS[name]
    dev, bf16 = "cuda", torch.bfloat16
    if kind == "prefill":
        q = torch.randn(1, HQ, n, D, device=dev, dtype=bf16)
        k = torch.randn(1, HKV, n, D, device=dev, dtype=bf16)
        v = torch.randn(1, HKV, n, D, device=dev, dtype=bf16)
        fn, how = sdpa_call(torch, q, k, v, True)
        med, spread = timed(torch, 5 if n >= 32768 else 20, fn)
        flop = 4.0 * D * (n * (n + 1) / 2) * HQ
        print(f"| {name} | T={n} Hq={HQ} Hkv={HKV} D={D} causal | torch {torch.__version__} sdpa bf16 ({how}) | "
              f"{med * 1e3:.3f} | {spread:.2f} | {flop / med * 1e-12:.1f} TFLOP/s |", flush=True)
    elif kind == "window":
        W = 4096
        q = torch.randn(1, HQ, n, D, device=dev, dtype=bf16)
        k = torch.randn(1, HKV, n, D, device=dev, dtype=bf16)
        v = torch.randn(1, HKV, n, D, device=dev, dtype=bf16)
        g = HQ // HKV
        kr, vr = k.repeat_interleave(g, dim=1), v.repeat_interleave(g, dim=1)
        i = torch.arange(n, device=dev)
        keep = (i[None, :] <= i[:, None]) & (i[None, :] > i[:, None] - W)  # [T, T]: key j for query t
        f = torch.nn.functional.scaled_dot_product_attention
        med, spread = timed(torch, 3, lambda: f(q, kr, vr, attn_mask=keep))
        pairs = sum(min(t + 1, W) for t in range(n))
        flop = 4.0 * D * pairs * HQ
        print(f"| {name} | T={n} Hq={HQ} Hkv={HKV} D={D} window={W} | torch {torch.__version__} sdpa bf16 "
              f"(dense bool mask, K/V repeated: every pair computed) | {med * 1e3:.3f} | {spread:.2f} | "
              f"{flop / med * 1e-12:.1f} TFLOP/s |", flush=True)
    else:
        B = 8
        q = torch.randn(B, HQ, 1, D, device=dev, dtype=bf16)
        k = torch.randn(B, HKV, n, D, device=dev, dtype=bf16)
        v = torch.randn(B, HKV, n, D, device=dev, dtype=bf16)
        fn, how = sdpa_call(torch, q, k, v, False)
        med, spread = timed(torch, 20, fn)
        nbytes = B * n * HKV * 2 * D * 2
        print(f"| {name} | B={B} context={n} Hq={HQ} Hkv={HKV} D={D} bf16 contiguous | torch {torch.__version__} sdpa "
              f"({how}) | {med * 1e3:.3f} | {spread:.2f} | {nbytes / med * 1e-9:.0f} GB/s |", flush=True)


def main(argv):
    if argv == ["--list"]:
        print("\n".join(SECTIONS))
        return 0
    chosen = argv or list(SECTIONS)
    for s in chosen:
        if s not in SECTIONS:
            print(f"peer_sdpa.py: no section '{s}' (--list names them)", file=sys.stderr)
            return 2
    try:
        import torch
    except ImportError as e:
        print(f"peer_sdpa.py: no torch ({e}): skipped")
        return 77
    if not torch.cuda.is_available():
        print("peer_sdpa.py: no CUDA device visible to torch: skipped")
        return 77
    print(f"device: {torch.cuda.get_device_name(0)}; torch {torch.__version__}")
    status = 0
    for s in chosen:
        try:
            run(torch, s)
        except Exception as e:  # one failing shape (out of memory, say) keeps the others
            print(f"| {s} | - | torch sdpa | - | - | failed: {type(e).__name__}: {str(e)[:80]} |", flush=True)
            status = 1
        torch.cuda.empty_cache()
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
