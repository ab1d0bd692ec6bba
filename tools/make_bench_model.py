#!/usr/bin/env python3
"""A random-weight Qwen3-MoE-shaped model big enough that decoding is bound by weight bytes, for
bench/bench_generate (the shipped model is so small its weights live in cache). 8 layers, hidden
768, 12 query / 4 KV heads of 64, 16 experts of width 384, top-4, vocab 2048 (the shipped model's
tokenizer is copied beside it), bf16: about 140 M parameters, 280 MB. Written to
bench/models/qwen3-moe-bench (ignored by git).

    .venv/bin/python tools/make_bench_model.py
"""
import pathlib
import shutil

import torch
import transformers

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "models" / "qwen3-moe-bench"
SHIPPED = ROOT / "models" / "switchyard-tiny-moe"


def main():
    torch.manual_seed(0)
    cfg = transformers.Qwen3MoeConfig(
        vocab_size=2048, hidden_size=768, num_hidden_layers=8, num_attention_heads=12, num_key_value_heads=4,
        head_dim=64, moe_intermediate_size=384, intermediate_size=2048, num_experts=16, num_experts_per_tok=4,
        norm_topk_prob=True, max_position_embeddings=4096, tie_word_embeddings=False, bos_token_id=0, eos_token_id=0)
    model = transformers.AutoModelForCausalLM.from_config(cfg)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 1:
                p.fill_(1.0)
            else:
                p.normal_(0.0, p.shape[-1] ** -0.5 * (3.0 if name.endswith("mlp.gate.weight") else 1.0))
    shutil.rmtree(OUT, ignore_errors=True)
    model.to(torch.bfloat16).save_pretrained(OUT)
    for f in ("tokenizer.json", "heldout.txt"):
        shutil.copy(SHIPPED / f, OUT / f)
    print(OUT, sum(p.numel() for p in model.parameters()) / 1e6, "M parameters")


if __name__ == "__main__":
    main()
