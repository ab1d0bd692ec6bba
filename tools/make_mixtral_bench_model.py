#!/usr/bin/env python3
"""A random-weight Mixtral-shaped model for decode benchmarks (bench/bench_generate --weights
q8_0 / q4_0 quantize it on load): the shape of issue 17's comparison -- hidden 1024, 8 layers,
16 query / 8 KV heads of 64, 8 experts of width 2816, top-2, vocab 2048 (the shipped model's
tokenizer and held-out text are copied beside it). About 570 M parameters, 1.1 GB in bf16: the
weights read per token (~150 MB in bf16, ~42 MB in q4_0) are far past any cache, so decode is
bound by memory. numpy only (no torch): each matrix is N(0, 1/in_features), norms are 1, the
router is 3x sharper so that experts separate. Written to bench/models/mixtral-bench (ignored).

    .venv/bin/python tools/make_mixtral_bench_model.py
"""
import json
import pathlib
import shutil

import ml_dtypes
import numpy as np
from safetensors.numpy import save_file

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "models" / "mixtral-bench"
SHIPPED = ROOT / "models" / "switchyard-tiny-moe"

H, LAYERS, HEADS, KV_HEADS, D, E, K, F, VOCAB = 1024, 8, 16, 8, 64, 8, 2, 2816, 2048


def main():
    rng = np.random.default_rng(0)

    def mat(rows, cols, sharp=1.0):
        return (rng.standard_normal((rows, cols), dtype=np.float32) * (sharp / np.sqrt(cols))).astype(ml_dtypes.bfloat16)

    ones = lambda n: np.ones(n, dtype=ml_dtypes.bfloat16)
    t = {"model.embed_tokens.weight": mat(VOCAB, H), "lm_head.weight": mat(VOCAB, H), "model.norm.weight": ones(H)}
    for l in range(LAYERS):
        p = f"model.layers.{l}."
        t[p + "input_layernorm.weight"] = ones(H)
        t[p + "post_attention_layernorm.weight"] = ones(H)
        t[p + "self_attn.q_proj.weight"] = mat(HEADS * D, H)
        t[p + "self_attn.k_proj.weight"] = mat(KV_HEADS * D, H)
        t[p + "self_attn.v_proj.weight"] = mat(KV_HEADS * D, H)
        t[p + "self_attn.o_proj.weight"] = mat(H, HEADS * D)
        t[p + "block_sparse_moe.gate.weight"] = mat(E, H, 3.0)
        for e in range(E):
            q = p + f"block_sparse_moe.experts.{e}."
            t[q + "w1.weight"] = mat(F, H)
            t[q + "w3.weight"] = mat(F, H)
            t[q + "w2.weight"] = mat(H, F)
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    save_file(t, str(OUT / "model.safetensors"))
    cfg = {"architectures": ["MixtralForCausalLM"], "model_type": "mixtral", "hidden_size": H,
           "num_hidden_layers": LAYERS, "num_attention_heads": HEADS, "num_key_value_heads": KV_HEADS, "head_dim": D,
           "intermediate_size": F, "num_local_experts": E, "num_experts_per_tok": K, "vocab_size": VOCAB,
           "rms_norm_eps": 1e-5, "rope_parameters": {"rope_theta": 1000000.0, "rope_type": "default"},
           "max_position_embeddings": 4096, "tie_word_embeddings": False, "sliding_window": None, "hidden_act": "silu",
           "bos_token_id": 0, "eos_token_id": 0, "dtype": "bfloat16"}
    (OUT / "config.json").write_text(json.dumps(cfg, indent=2))
    for f in ("tokenizer.json", "heldout.txt"):
        shutil.copy(SHIPPED / f, OUT / f)
    print(OUT, sum(v.size for v in t.values()) / 1e6, "M parameters")


if __name__ == "__main__":
    main()
