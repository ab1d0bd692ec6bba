#!/usr/bin/env python3
"""Distills a draft model for speculative decoding from the shipped model (models/switchyard-tiny-moe).

The student learns the teacher's soft targets: the loss is T^2 KL(softmax(teacher / T) ||
softmax(student / T)) over every position of 256-token windows of the teacher's own training split
(tools/train_small_model.py's corpus: the Python 3.11 standard library, the held-out files
excluded), plus --hard-weight x the usual next-token cross-entropy. Same tokenizer, same
architecture family (Qwen3MoeForCausalLM, so switchyard and transformers load it as they load the
teacher), 3-6x fewer parameters:

    dense  2 layers, hidden 128, 4 query / 2 KV heads of 32, a dense SwiGLU MLP of 320 per layer
           (Qwen3-MoE's mlp_only_layers: every layer dense)
    moe    2 layers, hidden 128, the same attention, 4 experts of 96, top-2

Written to models/switchyard-tiny-moe-draft-<kind>/ (config.json, model.safetensors in bf16,
tokenizer.json, distill.json with the student's held-out perplexity, its top-1 agreement with the
teacher and its KL from the teacher on the held-out text, the first 16384 tokens in windows of 256,
as docs/generate.md measures the teacher).

    .venv/bin/python tools/distill_student.py --kind dense [--steps 600] [--temperature 2.0] [--threads 2]
"""
import argparse
import importlib.util
import json
import math
import pathlib
import random
import shutil
import time

import torch
import transformers
from tokenizers import Tokenizer

ROOT = pathlib.Path(__file__).resolve().parent.parent
TEACHER = ROOT / "models" / "switchyard-tiny-moe"
SEQ = 256


def load_corpus():
    spec = importlib.util.spec_from_file_location("train_small_model", ROOT / "tools" / "train_small_model.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.corpus()


def student_config(kind, teacher_cfg):
    common = dict(vocab_size=teacher_cfg.vocab_size, hidden_size=128, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, head_dim=32, max_position_embeddings=teacher_cfg.max_position_embeddings,
                  rms_norm_eps=teacher_cfg.rms_norm_eps, rope_theta=10000.0, tie_word_embeddings=True, bos_token_id=0,
                  eos_token_id=0, pad_token_id=0, norm_topk_prob=True, decoder_sparse_step=1)
    if kind == "dense":
        return transformers.Qwen3MoeConfig(**common, intermediate_size=320, moe_intermediate_size=96, num_experts=4,
                                           num_experts_per_tok=2, mlp_only_layers=[0, 1], output_router_logits=False)
    return transformers.Qwen3MoeConfig(**common, intermediate_size=320, moe_intermediate_size=96, num_experts=4,
                                       num_experts_per_tok=2, mlp_only_layers=[], output_router_logits=True,
                                       router_aux_loss_coef=0.01)


def evaluate(student, teacher, held_ids, temperature):
    nll, kl, agree, count = 0.0, 0.0, 0, 0
    with torch.no_grad():
        for s in range(0, min(len(held_ids), 64 * SEQ) - 1, SEQ):
            x = torch.tensor([held_ids[s:s + SEQ + 1]])
            ls = student(x[:, :-1]).logits[0].float()
            lt = teacher(x[:, :-1]).logits[0].float()
            nll += torch.nn.functional.cross_entropy(ls, x[0, 1:], reduction="sum").item()
            kl += torch.nn.functional.kl_div(torch.log_softmax(ls, -1), torch.log_softmax(lt, -1), log_target=True,
                                             reduction="sum").item()
            agree += (ls.argmax(-1) == lt.argmax(-1)).sum().item()
            count += x.shape[1] - 1
    return {"heldout_tokens": count, "heldout_ppl": round(math.exp(nll / count), 3),
            "top1_agreement_with_teacher": round(agree / count, 4), "kl_from_teacher_nats": round(kl / count, 4)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kind", choices=["dense", "moe"], required=True)
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--temperature", type=float, default=2.0)
    ap.add_argument("--hard-weight", type=float, default=0.1)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    if args.steps < 1 or args.temperature <= 0:
        ap.error("--steps must be >= 1 and --temperature > 0")
    torch.manual_seed(0)
    random.seed(0)
    torch.set_num_threads(args.threads)
    out_dir = ROOT / "models" / f"switchyard-tiny-moe-draft-{args.kind}"

    tok = Tokenizer.from_file(str(TEACHER / "tokenizer.json"))
    eot = tok.token_to_id("<|endoftext|>")
    train, held = load_corpus()
    ids = []
    for text in train:
        ids.extend(tok.encode(text).ids)
        ids.append(eot)
    data = torch.tensor(ids, dtype=torch.long)
    held_ids = tok.encode("\n".join(held)).ids
    teacher = transformers.AutoModelForCausalLM.from_pretrained(TEACHER, dtype=torch.float32,
                                                                attn_implementation="eager").eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    cfg = student_config(args.kind, teacher.config)
    student = transformers.AutoModelForCausalLM.from_config(cfg, attn_implementation="eager")
    n_student = sum(p.numel() for p in student.parameters())
    n_teacher = sum(p.numel() for p in teacher.parameters())
    print(f"teacher {n_teacher / 1e6:.2f} M parameters, student ({args.kind}) {n_student / 1e6:.2f} M: "
          f"{n_teacher / n_student:.1f}x smaller; {len(ids)} training tokens", flush=True)

    opt = torch.optim.AdamW(student.parameters(), lr=args.lr, betas=(0.9, 0.95), weight_decay=0.1)
    warmup = 50
    gen = torch.Generator().manual_seed(2)
    T = args.temperature
    t0 = time.time()
    student.train()
    for step in range(args.steps):
        lr = args.lr * min(1.0, (step + 1) / warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / args.steps)))
        for g in opt.param_groups:
            g["lr"] = lr
        starts = torch.randint(0, len(data) - SEQ - 1, (args.batch,), generator=gen)
        x = torch.stack([data[s:s + SEQ] for s in starts])
        with torch.no_grad():
            lt = teacher(x).logits
        out = student(input_ids=x, labels=x)
        ls = out.logits
        soft = torch.nn.functional.kl_div(torch.log_softmax(ls / T, -1), torch.log_softmax(lt / T, -1), log_target=True,
                                          reduction="batchmean") / x.shape[1] * T * T
        loss = soft + args.hard_weight * out.loss
        if getattr(out, "aux_loss", None) is not None and cfg.output_router_logits:
            loss = loss + cfg.router_aux_loss_coef * out.aux_loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0)
        opt.step()
        if step % 50 == 0 or step == args.steps - 1:
            print(f"step {step} soft {soft.item():.3f} hard {out.loss.item():.3f} lr {lr:.2e} {time.time() - t0:.0f}s",
                  flush=True)
    seconds = round(time.time() - t0)

    student.eval()
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    student.config.output_router_logits = False
    student.to(torch.bfloat16).save_pretrained(out_dir)
    (out_dir / "generation_config.json").unlink(missing_ok=True)
    shutil.copy(TEACHER / "tokenizer.json", out_dir / "tokenizer.json")
    # The numbers on the saved (bf16) student, computed in f32 as the teacher's were.
    saved = transformers.AutoModelForCausalLM.from_pretrained(out_dir, dtype=torch.float32,
                                                              attn_implementation="eager").eval()
    stats = {"kind": args.kind, "parameters": n_student, "teacher_parameters": n_teacher,
             "steps": args.steps, "batch": args.batch, "temperature": T, "hard_weight": args.hard_weight,
             "seconds": seconds, **evaluate(saved, teacher, held_ids, T)}
    (out_dir / "distill.json").write_text(json.dumps(stats, indent=2) + "\n")
    print(stats)


if __name__ == "__main__":
    main()
