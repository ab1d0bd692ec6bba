#!/usr/bin/env python3
"""switchyard's MoE layer against Hugging Face transformers' module, same inputs, alternating.

For each family shape (bench/bench_moe.cpp) and T, builds the transformers block with bf16
weights, writes its weights and the input to raw files, then alternates R rounds of
`bench_moe --raw` (switchyard: f32 activations x bf16 weights) and the module's forward in
PyTorch (bf16 activations and weights: the module's native dtype), same thread count.

    .venv/bin/python bench/peer_moe.py build/release/bench/bench_moe [rounds] [family ...]

SWITCHYARD_ACTIVATIONS=bf16 runs switchyard with activations rounded to bf16, as the module's.
SWITCHYARD_SUMMATION=fastest (passed through to bench_moe) lets prefill take kernels whose
summation order depends on the row count, as PyTorch's do (switchyard's default is batch-invariant).
"""
import os
import statistics
import subprocess
import sys
import tempfile
import time

import torch
from transformers import DeepseekV3Config, MixtralConfig, Qwen3MoeConfig
from transformers.models.deepseek_v3.modeling_deepseek_v3 import DeepseekV3MoE
from transformers.models.mixtral.modeling_mixtral import MixtralSparseMoeBlock
from transformers.models.qwen3_moe.modeling_qwen3_moe import Qwen3MoeSparseMoeBlock

FAMILIES = {
    "mixtral": (4096, 14336, 8, 2, [1, 16, 128, 512]),
    "qwen3": (2048, 768, 128, 8, [1, 16, 128, 512]),
    "deepseek": (2048, 1024, 64, 6, [1, 16, 128, 512]),
}


def build(fam):
    h, f, e, k, _ = FAMILIES[fam]
    if fam == "mixtral":
        return MixtralSparseMoeBlock(MixtralConfig(hidden_size=h, intermediate_size=f, num_local_experts=e, num_experts_per_tok=k))
    if fam == "qwen3":
        return Qwen3MoeSparseMoeBlock(Qwen3MoeConfig(hidden_size=h, moe_intermediate_size=f, num_experts=e,
                                                     num_experts_per_tok=k, norm_topk_prob=True))
    return DeepseekV3MoE(DeepseekV3Config(hidden_size=h, moe_intermediate_size=f, n_routed_experts=e, num_experts_per_tok=k,
                                          n_group=8, topk_group=4, norm_topk_prob=True, routed_scaling_factor=2.5,
                                          n_shared_experts=1))


def main():
    exe = sys.argv[1]
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    fams = sys.argv[3:] or list(FAMILIES)
    threads = int(os.environ.get("SWITCHYARD_NUM_THREADS", os.cpu_count()))
    torch.set_num_threads(threads)
    print(f"threads {threads}, torch {torch.__version__}, rounds {rounds}; median over rounds, spread = (max-min)/median; "
          f"switchyard activations {os.environ.get('SWITCHYARD_ACTIVATIONS', 'f32')}, "
          f"summation {os.environ.get('SWITCHYARD_SUMMATION', 'batch-invariant')}")
    g = torch.Generator().manual_seed(3)
    for fam in fams:
        h, f, e, k, ts = FAMILIES[fam]
        m = build(fam).eval()
        with torch.no_grad():
            for name, p in m.named_parameters():
                scale = 0.2 if name.startswith("gate.") else 0.05
                p.copy_((torch.rand(p.shape, generator=g) - 0.5) * scale)
            for name, b in m.named_buffers():
                if "e_score_correction_bias" in name:
                    b.copy_((torch.rand(b.shape, generator=g) - 0.5) * 0.2)
        sd = m.state_dict()
        gate = sd["gate.weight"].float()
        m = m.to(torch.bfloat16)
        if fam == "deepseek":  # transformers keeps DeepSeek's router in f32
            m.gate.float()
        with tempfile.TemporaryDirectory() as d:
            gate.numpy().tofile(f"{d}/gate.bin")
            sd = m.state_dict()
            sd["experts.gate_up_proj"].view(torch.int16).numpy().tofile(f"{d}/gate_up.bin")
            sd["experts.down_proj"].view(torch.int16).numpy().tofile(f"{d}/down.bin")
            if fam == "deepseek":
                sd["gate.e_score_correction_bias"].float().numpy().tofile(f"{d}/bias.bin")
                gu = torch.cat([sd["shared_experts.gate_proj.weight"], sd["shared_experts.up_proj.weight"]])
                gu.view(torch.int16).numpy().tofile(f"{d}/shared_gate_up.bin")
                sd["shared_experts.down_proj.weight"].view(torch.int16).numpy().tofile(f"{d}/shared_down.bin")
            for t in ts:
                x = (torch.rand(1, t, h, generator=g) - 0.5) * 2.0
                x.numpy().tofile(f"{d}/x.bin")
                xb = x.bfloat16()
                ours, peer = [], []
                reps = 5 if t <= 16 else 2
                for _ in range(rounds):
                    out = subprocess.run([exe, "--raw", d, fam, str(t), os.environ.get("SWITCHYARD_ACTIVATIONS", "f32")], check=True, capture_output=True, text=True,
                                         env={**os.environ, "SWITCHYARD_NUM_THREADS": str(threads)})
                    med, _, _, checksum = map(float, out.stdout.split())
                    ours.append(med)
                    with torch.no_grad():
                        m(xb)
                        ts_ = []
                        for _ in range(reps):
                            a = time.perf_counter()
                            m(xb)
                            ts_.append(time.perf_counter() - a)
                    peer.append(statistics.median(ts_))
                mo, mp = statistics.median(ours), statistics.median(peer)
                print(f"{fam:8} T={t:4}: switchyard {mo*1e3:9.2f} ms (±{(max(ours)-min(ours))/mo*50:3.0f}%)  "
                      f"transformers {mp*1e3:9.2f} ms (±{(max(peer)-min(peer))/mp*50:3.0f}%)  speedup {mp/mo:5.2f}x", flush=True)
        del m


if __name__ == "__main__":
    main()
