#!/usr/bin/env python3
"""Tiny random gpt-oss models, with the logits transformers' GptOssForCausalLM computes (eager).

Config: 2 layers (layer 0 sliding with window 4, layer 1 full), hidden 64, 4 q heads / 2 kv heads of
16, 4 experts top-2 of width 64, learned sinks, q/k/v/o and expert biases, YaRN RoPE as GptOssConfig
defaults it (factor 32, truncate False); sequences of 7 and 12 tokens (longer than the window).

tests/data/models/gpt_oss/        save_pretrained's config.json + model.safetensors (f32; experts in
                                  transformers' layout, gate_up_proj [E, H, 2F] with gate and up
                                  interleaved by column, down_proj [E, F, H]) and reference.safetensors.
tests/data/models/gpt_oss_mxfp4/  the same architecture (its own weights) with MXFP4 experts as OpenAI's
                                  checkpoints ship them: <proj>_blocks u8 [E, rows, cols/32, 16] and
                                  <proj>_scales u8 [E, rows, cols/32] (rows: output features, gate and
                                  up interleaved), quantization_config {"quant_method": "mxfp4"}.
                                  Quantized by gguf.quantize; the reference logits come from the weights
                                  transformers' own convert_moe_packed_tensors decodes (checked equal to
                                  gguf.dequantize's). model.gguf: the file llama.cpp's converter
                                  (conversion/gpt_oss.py) writes for it: architecture gpt-oss, MXFP4
                                  expert banks in ggml's layout, gate/up split, biases split, sinks as
                                  attn_sinks.weight, post_attention_layernorm as post_attention_norm,
                                  YaRN and sliding-window keys.

    .venv/bin/python tools/make_gpt_oss_reference.py
"""
import json
import pathlib
import shutil

import gguf
import numpy as np
import torch
import transformers
from safetensors.torch import load_file, save_file
from transformers.integrations.mxfp4 import convert_moe_packed_tensors

OUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "data" / "models"
V, H, HEADS, KV_HEADS, D, E, F = 256, 64, 4, 2, 16, 4, 64
SEQUENCES = [[1, 17, 200, 3, 45, 45, 9], [5, 250, 31, 77, 128, 0, 64, 99, 12, 7, 255, 42]]


def config():
    return transformers.GptOssConfig(
        vocab_size=V, hidden_size=H, num_hidden_layers=2, num_attention_heads=HEADS, num_key_value_heads=KV_HEADS,
        head_dim=D, intermediate_size=F, num_local_experts=E, num_experts_per_tok=2, sliding_window=4,
        rms_norm_eps=1e-5, tie_word_embeddings=False, bos_token_id=1, eos_token_id=2, pad_token_id=0,
        max_position_embeddings=131072)


def init_(model, gen):
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 1:  # norms around 1; biases, sinks small
                base = 1.0 if "norm" in name else 0.0
                p.copy_(base + 0.1 * torch.randn(p.shape, generator=gen))
            elif name.endswith("_bias"):  # expert biases [E, n]
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))
            elif name.endswith("experts.gate_up_proj"):  # [E, H, 2F]: x @ W, fan-in H
                p.copy_(torch.randn(p.shape, generator=gen) * H ** -0.5)
            elif name.endswith("experts.down_proj"):  # [E, F, H]: fan-in F
                p.copy_(torch.randn(p.shape, generator=gen) * F ** -0.5)
            else:
                scale = 3.0 if name.endswith("router.weight") else 1.0  # no near-ties between experts
                if "embed_tokens" in name:
                    scale = p.shape[-1] ** 0.5
                p.copy_(torch.randn(p.shape, generator=gen) * scale * p.shape[-1] ** -0.5)


def make(seed):
    cfg = config()
    model = transformers.GptOssForCausalLM(cfg).eval()
    model.config._attn_implementation = "eager"
    init_(model, torch.Generator().manual_seed(seed))
    return cfg, model


def logits(model):
    ref = {}
    with torch.no_grad():
        for s, seq in enumerate(SEQUENCES):
            ids = torch.tensor([seq])
            ref[f"tokens_{s}"] = ids[0].to(torch.int32)
            ref[f"logits_{s}"] = model(ids).logits[0].float().contiguous()
    return ref


def mxfp4(rows):
    """f32 rows [n, cols] -> (ggml blocks u8 [n, cols/32, 17], HF blocks u8 [n, cols/32, 16], scales u8
    [n, cols/32], the f32 values gguf decodes)."""
    n, cols = rows.shape
    q = gguf.quantize(rows.astype(np.float32), gguf.GGMLQuantizationType.MXFP4).reshape(n, cols // 32, 17)
    deq = gguf.dequantize(q.reshape(n, -1), gguf.GGMLQuantizationType.MXFP4).reshape(n, cols).astype(np.float32)
    qs = q[..., 1:]
    codes = np.concatenate([qs & 0x0F, qs >> 4], axis=-1)  # ggml: element j low nibble, j + 16 high
    hf = (codes[..., 0::2] | (codes[..., 1::2] << 4)).astype(np.uint8)  # HF: 2i low, 2i + 1 high
    return q, hf, q[..., 0].copy(), deq


def write_gguf(cfg, state, banks, path):
    w = gguf.GGUFWriter(str(path), "gpt-oss")
    w.add_name("switchyard tiny gpt-oss")
    w.add_context_length(cfg.max_position_embeddings)
    w.add_embedding_length(H)
    w.add_feed_forward_length(F)
    w.add_block_count(cfg.num_hidden_layers)
    w.add_head_count(HEADS)
    w.add_head_count_kv(KV_HEADS)
    w.add_rope_freq_base(cfg.rope_parameters["rope_theta"])
    w.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    w.add_expert_count(E)
    w.add_expert_used_count(cfg.num_experts_per_tok)
    w.add_key_length(D)
    w.add_value_length(D)
    rp = cfg.rope_parameters
    w.add_rope_scaling_type(gguf.RopeScalingType.YARN)
    w.add_rope_scaling_factor(rp["factor"])
    w.add_rope_scaling_orig_ctx_len(rp["original_max_position_embeddings"])
    w.add_rope_scaling_yarn_beta_fast(rp["beta_fast"])
    w.add_rope_scaling_yarn_beta_slow(rp["beta_slow"])
    w.add_sliding_window(cfg.sliding_window)
    w.add_expert_feed_forward_length(F)
    w.add_vocab_size(V)

    def t(name, tensor):
        w.add_tensor(name, tensor.detach().float().contiguous().numpy().astype(np.float32))

    t("token_embd.weight", state["model.embed_tokens.weight"])
    t("output_norm.weight", state["model.norm.weight"])
    t("output.weight", state["lm_head.weight"])
    for l in range(cfg.num_hidden_layers):
        p, b = f"model.layers.{l}.", f"blk.{l}."
        t(b + "attn_norm.weight", state[p + "input_layernorm.weight"])
        t(b + "post_attention_norm.weight", state[p + "post_attention_layernorm.weight"])
        for hf, gg in (("q_proj", "attn_q"), ("k_proj", "attn_k"), ("v_proj", "attn_v"), ("o_proj", "attn_output")):
            t(b + gg + ".weight", state[p + f"self_attn.{hf}.weight"])
            t(b + gg + ".bias", state[p + f"self_attn.{hf}.bias"])
        t(b + "attn_sinks.weight", state[p + "self_attn.sinks"])
        t(b + "ffn_gate_inp.weight", state[p + "mlp.router.weight"])
        t(b + "ffn_gate_inp.bias", state[p + "mlp.router.bias"])
        gub = state[p + "mlp.experts.gate_up_proj_bias"]
        t(b + "ffn_gate_exps.bias", gub[..., 0::2])
        t(b + "ffn_up_exps.bias", gub[..., 1::2])
        t(b + "ffn_down_exps.bias", state[p + "mlp.experts.down_proj_bias"])
        for name, q in banks[l].items():  # ggml blocks [E, rows, G, 17] -> [E, rows, G * 17] raw MXFP4
            w.add_tensor(b + name, q.reshape(q.shape[0], q.shape[1], -1), raw_dtype=gguf.GGMLQuantizationType.MXFP4)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main():
    torch.set_num_threads(2)
    # f32 experts, transformers' layout.
    cfg, model = make(3000)
    out = OUT / "gpt_oss"
    shutil.rmtree(out, ignore_errors=True)
    model.save_pretrained(out)
    (out / "generation_config.json").unlink(missing_ok=True)
    save_file(logits(model), out / "reference.safetensors")

    # MXFP4 experts.
    cfg, model = make(3001)
    params = dict(model.named_parameters())
    tensors, banks = {}, []
    for l in range(cfg.num_hidden_layers):
        p = f"model.layers.{l}.mlp.experts."
        gu = params[p + "gate_up_proj"].detach().transpose(1, 2).contiguous().numpy()  # [E, 2F, H] interleaved rows
        dn = params[p + "down_proj"].detach().transpose(1, 2).contiguous().numpy()      # [E, H, F]
        bank = {}
        for proj, w in (("gate_up_proj", gu), ("down_proj", dn)):
            q, hf, sc, deq = mxfp4(w.reshape(-1, w.shape[-1]))
            rows, cols = w.shape[1], w.shape[2]
            blocks = torch.from_numpy(hf.reshape(E, rows, cols // 32, 16))
            scales = torch.from_numpy(sc.reshape(E, rows, cols // 32))
            tensors[p + proj + "_blocks"], tensors[p + proj + "_scales"] = blocks, scales
            decoded = convert_moe_packed_tensors(blocks, scales, dtype=torch.float32)  # transformers' decode
            want = torch.from_numpy(deq.reshape(E, rows, cols)).transpose(1, 2)
            assert torch.equal(decoded, want), f"{proj}: transformers and gguf decode MXFP4 differently"
            with torch.no_grad():
                params[p + proj].copy_(decoded)
            q = q.reshape(E, rows, cols // 32, 17)
            if proj == "gate_up_proj":  # the converter splits the interleaved rows
                bank["ffn_gate_exps.weight"], bank["ffn_up_exps.weight"] = q[:, 0::2], q[:, 1::2]
            else:
                bank["ffn_down_exps.weight"] = q
        banks.append(bank)
    out = OUT / "gpt_oss_mxfp4"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    ckpt = {k: v for k, v in state.items() if not (k.endswith("experts.gate_up_proj") or k.endswith("experts.down_proj"))}
    ckpt.update(tensors)
    save_file(ckpt, out / "model.safetensors", metadata={"format": "pt"})
    cfg_json = cfg.to_dict()
    cfg_json["quantization_config"] = {"quant_method": "mxfp4", "modules_to_not_convert": [
        "model.layers.*.self_attn", "model.layers.*.mlp.router", "model.embed_tokens", "lm_head"]}
    (out / "config.json").write_text(json.dumps(cfg_json, indent=2, sort_keys=True) + "\n")
    save_file(logits(model), out / "reference.safetensors")
    write_gguf(cfg, state, banks, out / "model.gguf")
    for name in ("gpt_oss", "gpt_oss_mxfp4"):
        print(name, sorted(load_file(OUT / name / "model.safetensors").keys())[:40])


if __name__ == "__main__":
    main()
