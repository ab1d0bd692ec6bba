#!/usr/bin/env python3
"""Trains the small MoE language model switchyard ships (models/switchyard-tiny-moe/).

Corpus: the Python 3.11 standard library's own source (/usr/lib/python3.11, PSF licence, on every
Debian machine), tests excluded. Files are split by a hash of their path: 1 in 40 is held out for
evaluation (models/switchyard-tiny-moe/heldout.txt); the rest is training text, files joined by
<|endoftext|>.

Tokenizer: byte-level BPE (Hugging Face `tokenizers`), 2048 tokens, Qwen2's pre-tokenizer regex.
Model: Qwen3MoeForCausalLM (transformers loads it as-is): 4 layers, hidden 192, 6 query / 2 KV heads
of 32, 8 experts of width 128, top-2 with renormalized weights, per-head q/k norm, tied embeddings.
Trained from a fixed seed on the CPU (AdamW, cosine schedule, 256-token windows, router load-balancing
loss), saved in bf16 (config.json + model.safetensors + tokenizer.json) and as GGUF (qwen3moe, q8_0,
with the tokenizer in llama.cpp's metadata keys). Reference logits for tests/data go to
tests/data/models/tiny_moe_reference.safetensors.

    .venv/bin/python tools/train_small_model.py [--steps N] [--threads T]
"""
import argparse
import hashlib
import json
import math
import pathlib
import random
import shutil
import time

import gguf
import numpy as np
import torch
import transformers
from safetensors.torch import load_file, save_file
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "models" / "switchyard-tiny-moe"
STDLIB = pathlib.Path("/usr/lib/python3.11")
EOT = "<|endoftext|>"
# Qwen2's pre-tokenizer pattern (from its tokenizer.json): contractions, letters with one leading
# non-letter, single digits, punctuation runs, newlines, whitespace.
QWEN2_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|"
                 r"\s+(?!\S)|\s+")
VOCAB = 2048
SEQ = 256


def corpus():
    files = sorted(p for p in STDLIB.rglob("*.py")
                   if not any(part in ("test", "tests", "site-packages", "dist-packages", "idle_test", "__pycache__")
                              for part in p.relative_to(STDLIB).parts))
    train, held = [], []
    for p in files:
        text = p.read_text(encoding="utf-8", errors="replace")
        key = hashlib.sha1(str(p.relative_to(STDLIB)).encode()).digest()[0]
        (held if key % 40 == 0 else train).append(text)
    return train, held


def make_tokenizer(train):
    tok = Tokenizer(models.BPE(byte_fallback=False))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB, special_tokens=[EOT], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(train, trainer=trainer)
    return tok


def config():
    return transformers.Qwen3MoeConfig(
        vocab_size=VOCAB, hidden_size=192, num_hidden_layers=4, num_attention_heads=6, num_key_value_heads=2,
        head_dim=32, moe_intermediate_size=128, intermediate_size=384, num_experts=8, num_experts_per_tok=2,
        norm_topk_prob=True, decoder_sparse_step=1, max_position_embeddings=1024, rms_norm_eps=1e-6,
        rope_theta=10000.0, tie_word_embeddings=True, bos_token_id=0, eos_token_id=0, pad_token_id=0,
        output_router_logits=True, router_aux_loss_coef=0.01)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=1600)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=16)
    args = ap.parse_args()
    torch.manual_seed(0)
    random.seed(0)
    torch.set_num_threads(args.threads)

    train, held = corpus()
    tok = make_tokenizer(train)
    eot = tok.token_to_id(EOT)
    ids = []
    for text in train:
        ids.extend(tok.encode(text).ids)
        ids.append(eot)
    data = torch.tensor(ids, dtype=torch.long)
    print(f"train: {len(train)} files, {len(ids)} tokens; held out: {len(held)} files")

    cfg = config()
    model = transformers.AutoModelForCausalLM.from_config(cfg, attn_implementation="eager")
    print(f"parameters: {sum(p.numel() for p in model.parameters()) / 1e6:.2f} M")
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, betas=(0.9, 0.95), weight_decay=0.1)
    warmup = 100
    gen = torch.Generator().manual_seed(1)
    t0 = time.time()
    model.train()
    for step in range(args.steps):
        lr = 3e-3 * min(1.0, (step + 1) / warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / args.steps)))
        for g in opt.param_groups:
            g["lr"] = lr
        starts = torch.randint(0, len(data) - SEQ - 1, (args.batch,), generator=gen)
        x = torch.stack([data[s:s + SEQ] for s in starts])
        out = model(input_ids=x, labels=x)
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 50 == 0 or step == args.steps - 1:
            print(f"step {step} loss {out.loss.item():.3f} lr {lr:.2e} {time.time() - t0:.0f}s", flush=True)

    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    model.config.output_router_logits = False
    model.to(torch.bfloat16).save_pretrained(OUT)
    (OUT / "generation_config.json").unlink(missing_ok=True)
    tok.save(str(OUT / "tokenizer.json"))
    held_text = "\n".join(held)
    (OUT / "heldout.txt").write_text(held_text, encoding="utf-8")
    shutil.copy(STDLIB / "LICENSE.txt", OUT / "LICENSE-corpus-PSF.txt")

    # Reference: transformers on the saved (bf16) checkpoint, computed in f32.
    ref_model = transformers.AutoModelForCausalLM.from_pretrained(OUT, dtype=torch.float32,
                                                                  attn_implementation="eager").eval()
    held_ids = tok.encode(held_text).ids
    with torch.no_grad():
        nll, count = 0.0, 0
        for s in range(0, min(len(held_ids), 64 * SEQ) - 1, SEQ):
            x = torch.tensor([held_ids[s:s + SEQ + 1]])
            logits = ref_model(x[:, :-1]).logits
            nll += torch.nn.functional.cross_entropy(logits[0], x[0, 1:], reduction="sum").item()
            count += x.shape[1] - 1
        prompts = ["import os\n\ndef ", "class Parser:\n    def __init__(self", "    for i in range("]
        ref = {}
        for i, p in enumerate(prompts):
            t = torch.tensor([tok.encode(p).ids])
            ref[f"tokens_{i}"] = t[0].to(torch.int32)
            ref[f"logits_{i}"] = ref_model(t).logits[0].float().contiguous()
    save_file(ref, ROOT / "tests" / "data" / "models" / "tiny_moe_reference.safetensors")
    stats = {"steps": args.steps, "final_train_loss": round(out.loss.item(), 4),
             "heldout_tokens": count, "heldout_loss": round(nll / count, 4), "heldout_ppl": round(math.exp(nll / count), 3),
             "train_tokens": len(ids), "seconds": round(time.time() - t0)}
    (OUT / "training.json").write_text(json.dumps(stats, indent=2) + "\n")
    print(stats)

    # GGUF q8_0 with the tokenizer, llama.cpp naming.
    write_gguf(cfg, load_file(OUT / "model.safetensors"), tok, OUT / "model-q8_0.gguf")


def write_gguf(cfg, state, tok, path):
    w = gguf.GGUFWriter(str(path), "qwen3moe")
    w.add_name("switchyard-tiny-moe")
    w.add_context_length(cfg.max_position_embeddings)
    w.add_embedding_length(cfg.hidden_size)
    w.add_block_count(cfg.num_hidden_layers)
    w.add_feed_forward_length(cfg.intermediate_size)
    w.add_expert_feed_forward_length(cfg.moe_intermediate_size)
    w.add_head_count(cfg.num_attention_heads)
    w.add_head_count_kv(cfg.num_key_value_heads)
    w.add_key_length(cfg.head_dim)
    w.add_value_length(cfg.head_dim)
    w.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    w.add_rope_freq_base(cfg.rope_parameters["rope_theta"])
    w.add_rope_dimension_count(cfg.head_dim)
    w.add_expert_count(cfg.num_experts)
    w.add_expert_used_count(cfg.num_experts_per_tok)
    w.add_vocab_size(cfg.vocab_size)
    vocab = tok.get_vocab()
    tokens = [t for t, _ in sorted(vocab.items(), key=lambda kv: kv[1])]
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("qwen2")
    w.add_token_list(tokens)
    w.add_token_types([gguf.TokenType.CONTROL if t == EOT else gguf.TokenType.NORMAL for t in tokens])
    merges = json.loads(tok.to_str())["model"]["merges"]
    w.add_token_merges([" ".join(m) if isinstance(m, list) else m for m in merges])
    w.add_eos_token_id(vocab[EOT])
    w.add_bos_token_id(vocab[EOT])

    def t(name, tensor, quant=True):
        a = tensor.float().numpy().astype(np.float32)
        if quant and a.ndim >= 2 and a.shape[-1] % 32 == 0:
            w.add_tensor(name, gguf.quants.quantize(a, gguf.GGMLQuantizationType.Q8_0),
                         raw_dtype=gguf.GGMLQuantizationType.Q8_0)
        else:
            w.add_tensor(name, a)

    t("token_embd.weight", state["model.embed_tokens.weight"])
    t("output_norm.weight", state["model.norm.weight"])
    for l in range(cfg.num_hidden_layers):
        p, b = f"model.layers.{l}.", f"blk.{l}."
        t(b + "attn_norm.weight", state[p + "input_layernorm.weight"])
        t(b + "ffn_norm.weight", state[p + "post_attention_layernorm.weight"])
        for hf, gg in (("q_proj", "attn_q"), ("k_proj", "attn_k"), ("v_proj", "attn_v"), ("o_proj", "attn_output")):
            t(b + gg + ".weight", state[p + f"self_attn.{hf}.weight"])
        t(b + "attn_q_norm.weight", state[p + "self_attn.q_norm.weight"])
        t(b + "attn_k_norm.weight", state[p + "self_attn.k_norm.weight"])
        t(b + "ffn_gate_inp.weight", state[p + "mlp.gate.weight"], quant=False)
        for proj in ("gate", "up", "down"):
            t(b + f"ffn_{proj}_exps.weight",
              torch.stack([state[p + f"mlp.experts.{e}.{proj}_proj.weight"] for e in range(cfg.num_experts)]))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


if __name__ == "__main__":
    main()
