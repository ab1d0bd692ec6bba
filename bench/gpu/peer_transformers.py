#!/usr/bin/env python3
"""The whole-model peer of bench_model_cuda.cu: the same model in PyTorch + transformers on the same
GPU in the same run (bench/gpu/run.sh), so the device model's numbers have a reference beside them.

The model is the config.json in bench/gpu/models/ that bench_model_cuda reads (random weights: the
numbers do not depend on the values), bf16, attn_implementation="sdpa", built on the device. Rows:
prefill of a 512-token prompt at batch 1 (tokens/s), and decode at batch 1, 8 and 64 after a
512-token prompt per sequence (tokens/s = batch / step time), one step = the model's forward on one
new token per sequence with its DynamicCache, plus the greedy pick. Medians over the timed steps
(CUDA events), spread = (max - min) / median. Prints Markdown rows like bench_model_cuda's.

    python3 bench/gpu/peer_transformers.py [MODEL...]   (mixtral_like, deepseek_like; --list)
Exit code 77 without torch, transformers or a CUDA device; a model this transformers cannot build
(an older release without DeepseekV3) is a row saying so, not a failure.
"""
import json
import os
import sys

from peer_sdpa import timed  # one warm-up call, then CUDA-event medians and spread

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = ["mixtral_like", "deepseek_like"]
PROMPT = 512
BATCHES = [1, 8, 64]
STEPS = 12


def row(name, phase, batch, how, med, spread, tok_s):
    print(f"| {name} | {phase} | {batch} | {how} | {med * 1e3:.2f} | {spread:.2f} | {tok_s:.1f} |", flush=True)


def run(torch, transformers, name):
    with open(os.path.join(HERE, "models", name + ".json")) as f:
        raw = json.load(f)
    cfg = transformers.AutoConfig.for_model(raw.pop("model_type"), **{k: v for k, v in raw.items() if k != "architectures"})
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = transformers.AutoModelForCausalLM.from_config(cfg, torch_dtype=torch.bfloat16, attn_implementation="sdpa")
    model.eval()
    how = f"torch {torch.__version__} transformers {transformers.__version__} bf16 sdpa"
    vocab = cfg.vocab_size
    with torch.inference_mode():
        ids = torch.randint(0, vocab, (1, PROMPT), device="cuda")
        med, spread = timed(torch, 3, lambda: model(ids, use_cache=True))
        row(name, f"prefill {PROMPT}", 1, how, med, spread, PROMPT / med)
        for b in BATCHES:
            ids = torch.randint(0, vocab, (b, PROMPT), device="cuda")
            out = model(ids, use_cache=True)
            state = {"past": out.past_key_values, "next": out.logits[:, -1].argmax(-1, keepdim=True)}

            def step():
                o = model(state["next"], past_key_values=state["past"], use_cache=True)
                state["past"] = o.past_key_values
                state["next"] = o.logits[:, -1].argmax(-1, keepdim=True)

            med, spread = timed(torch, STEPS, step)
            row(name, f"decode (context {PROMPT})", b, how, med, spread, b / med)
            del state, out
            torch.cuda.empty_cache()
    del model
    torch.cuda.empty_cache()


def main():
    args = sys.argv[1:]
    if args == ["--list"]:
        print("\n".join(MODELS))
        return 0
    try:
        import torch
        import transformers
    except ImportError as e:
        print(f"no torch / transformers: {e}")
        return 77
    if not torch.cuda.is_available():
        print("no CUDA device")
        return 77
    print(f"device: {torch.cuda.get_device_name(0)}", flush=True)
    print("| model | phase | batch | peer | median ms | spread | tokens/s |")
    print("|---|---|---|---|---|---|---|")
    for name in args or MODELS:
        if name not in MODELS:
            print(f"unknown model {name}; --list names them", file=sys.stderr)
            return 2
        try:
            run(torch, transformers, name)
        except Exception as e:  # a peer that cannot run this model is a row, not a failure
            print(f"| {name} | - | - | transformers could not run it: {type(e).__name__}: {str(e)[:160]} | - | - | - |", flush=True)
            torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    sys.exit(main())
