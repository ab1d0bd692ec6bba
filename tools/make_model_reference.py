#!/usr/bin/env python3
"""Tiny random-weight models of every shipped architecture, with the logits transformers computes.

For each of llama, mixtral, qwen2_moe, qwen3_moe, olmoe and deepseek_v3: a 2-3 layer instance with
small sizes (vocab 256, hidden 64) and fixed seeds, saved with save_pretrained (config.json +
model.safetensors, transformers' own naming), converted to GGUF with the gguf package under
llama.cpp's tensor and metadata names (Llama/Mixtral with q/k rows permuted as llama.cpp's
converter does, so that RoPE rotates adjacent pairs), and the logits of every position for two
fixed token sequences (prefill, float32, eager attention) in reference.safetensors.

Sliding-window variants (mixtral_swa, qwen2_moe_swa, qwen3_moe_swa: window 4, shorter than the
12-token sequence; Qwen2-MoE's layer 0 sliding and layer 1 full, Qwen3-MoE's layer 1 a dense
mlp_only layer) are saved as safetensors only: their GGUF round trip is switchyard's exporter's.

    .venv/bin/python tools/make_model_reference.py [name ...]   # writes tests/data/models/<name>/
"""
import json
import pathlib
import shutil

import gguf
import numpy as np
import torch
import transformers
from safetensors.torch import load_file, save_file

OUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "data" / "models"
V, H, HEADS, KV_HEADS, D = 256, 64, 4, 2, 16
SEQUENCES = [[1, 17, 200, 3, 45, 45, 9], [5, 250, 31, 77, 128, 0, 64, 99, 12, 7, 255, 42]]


def configs():
    common = dict(vocab_size=V, hidden_size=H, num_attention_heads=HEADS, num_key_value_heads=KV_HEADS, head_dim=D,
                  rms_norm_eps=1e-6, tie_word_embeddings=False, bos_token_id=1, eos_token_id=2, pad_token_id=0,
                  max_position_embeddings=512)
    return {
        "llama": transformers.LlamaConfig(num_hidden_layers=2, intermediate_size=96, rope_theta=10000.0, **common),
        "mixtral": transformers.MixtralConfig(num_hidden_layers=2, intermediate_size=64, num_local_experts=4,
                                              num_experts_per_tok=2, rope_theta=1e6, **common),
        "qwen2_moe": transformers.Qwen2MoeConfig(num_hidden_layers=2, moe_intermediate_size=32, num_experts=8,
                                                 num_experts_per_tok=2, shared_expert_intermediate_size=64,
                                                 intermediate_size=96, norm_topk_prob=False, **common),
        "qwen3_moe": transformers.Qwen3MoeConfig(num_hidden_layers=2, moe_intermediate_size=32, num_experts=8,
                                                 num_experts_per_tok=2, intermediate_size=96, norm_topk_prob=True,
                                                 **common),
        "olmoe": transformers.OlmoeConfig(num_hidden_layers=2, intermediate_size=32, num_experts=8,
                                          num_experts_per_tok=2, norm_topk_prob=False, **common),
        "deepseek_v3": transformers.DeepseekV3Config(
            num_hidden_layers=3, intermediate_size=96, moe_intermediate_size=32, n_routed_experts=8,
            num_experts_per_tok=2, n_shared_experts=1, first_k_dense_replace=1, n_group=4, topk_group=2,
            routed_scaling_factor=2.5, norm_topk_prob=True, q_lora_rank=32, kv_lora_rank=32, qk_nope_head_dim=16,
            qk_rope_head_dim=8, v_head_dim=16, num_key_value_heads=HEADS,
            **{k: v for k, v in common.items() if k not in ("head_dim", "num_key_value_heads")}),
        "mixtral_swa": transformers.MixtralConfig(num_hidden_layers=2, intermediate_size=64, num_local_experts=4,
                                                  num_experts_per_tok=2, rope_theta=1e6, sliding_window=4, **common),
        "qwen2_moe_swa": transformers.Qwen2MoeConfig(num_hidden_layers=2, moe_intermediate_size=32, num_experts=8,
                                                     num_experts_per_tok=2, shared_expert_intermediate_size=64,
                                                     intermediate_size=96, norm_topk_prob=False,
                                                     use_sliding_window=True, sliding_window=4, max_window_layers=2,
                                                     **common),
        "qwen3_moe_swa": transformers.Qwen3MoeConfig(num_hidden_layers=2, moe_intermediate_size=32, num_experts=8,
                                                     num_experts_per_tok=2, intermediate_size=96, norm_topk_prob=True,
                                                     use_sliding_window=True, sliding_window=4, mlp_only_layers=[1],
                                                     **common),
    }


def init_(model, gen):
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 1:  # norms around 1, biases and correction biases small
                base = 1.0 if "norm" in name else 0.0
                p.copy_(base + 0.1 * torch.randn(p.shape, generator=gen))
                continue
            fan_in = p.shape[-1]
            router = name.endswith("mlp.gate.weight") or name.endswith("block_sparse_moe.gate.weight")
            scale = 3.0 if router else 1.0  # spread router logits: no near-ties between experts
            if "embed_tokens" in name:
                scale = fan_in ** 0.5  # unit-variance embeddings
            p.copy_(torch.randn(p.shape, generator=gen) * scale * fan_in ** -0.5)


def permute_rows(w, heads):
    """llama.cpp's converter: rows of each head reordered so that rotate-half becomes adjacent pairs."""
    return w.reshape(heads, 2, w.shape[0] // heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


GGUF_ARCH = {"llama": "llama", "mixtral": "llama", "qwen2_moe": "qwen2moe", "qwen3_moe": "qwen3moe", "olmoe": "olmoe",
             "deepseek_v3": "deepseek2"}


def write_gguf(arch, cfg, state, path):
    ga = GGUF_ARCH[arch]
    w = gguf.GGUFWriter(str(path), ga)
    w.add_name(f"switchyard tiny {arch}")
    if ga == "deepseek2":
        return write_gguf_deepseek(cfg, state, path)
    w.add_context_length(cfg.max_position_embeddings)
    w.add_embedding_length(H)
    w.add_block_count(cfg.num_hidden_layers)
    w.add_head_count(HEADS)
    w.add_head_count_kv(KV_HEADS)
    w.add_key_length(D)
    w.add_value_length(D)
    w.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    w.add_rope_freq_base(cfg.rope_parameters["rope_theta"])
    w.add_rope_dimension_count(D)
    w.add_vocab_size(V)
    if arch == "llama":
        w.add_feed_forward_length(cfg.intermediate_size)
    elif arch in ("mixtral", "olmoe"):
        w.add_feed_forward_length(cfg.intermediate_size)
        w.add_expert_count(cfg.num_local_experts if arch == "mixtral" else cfg.num_experts)
        w.add_expert_used_count(cfg.num_experts_per_tok)
    else:
        w.add_feed_forward_length(cfg.intermediate_size)
        w.add_expert_feed_forward_length(cfg.moe_intermediate_size)
        w.add_expert_count(cfg.num_experts)
        w.add_expert_used_count(cfg.num_experts_per_tok)
        if arch == "qwen2_moe":
            w.add_expert_shared_feed_forward_length(cfg.shared_expert_intermediate_size)

    def t(name, tensor):
        w.add_tensor(name, tensor.detach().float().numpy().astype(np.float32))

    t("token_embd.weight", state["model.embed_tokens.weight"])
    t("output_norm.weight", state["model.norm.weight"])
    t("output.weight", state["lm_head.weight"])
    for l in range(cfg.num_hidden_layers):
        p, b = f"model.layers.{l}.", f"blk.{l}."
        q, k = state[p + "self_attn.q_proj.weight"], state[p + "self_attn.k_proj.weight"]
        if ga == "llama":
            q, k = permute_rows(q, HEADS), permute_rows(k, KV_HEADS)
        t(b + "attn_norm.weight", state[p + "input_layernorm.weight"])
        t(b + "ffn_norm.weight", state[p + "post_attention_layernorm.weight"])
        t(b + "attn_q.weight", q)
        t(b + "attn_k.weight", k)
        t(b + "attn_v.weight", state[p + "self_attn.v_proj.weight"])
        t(b + "attn_output.weight", state[p + "self_attn.o_proj.weight"])
        for hf, gg in (("q_proj.bias", "attn_q.bias"), ("k_proj.bias", "attn_k.bias"), ("v_proj.bias", "attn_v.bias"),
                       ("q_norm.weight", "attn_q_norm.weight"), ("k_norm.weight", "attn_k_norm.weight")):
            if p + "self_attn." + hf in state:
                t(b + gg, state[p + "self_attn." + hf])
        if arch == "llama":
            for proj in ("gate", "up", "down"):
                t(b + f"ffn_{proj}.weight", state[p + f"mlp.{proj}_proj.weight"])
            continue
        moe = p + ("block_sparse_moe." if arch == "mixtral" else "mlp.")
        t(b + "ffn_gate_inp.weight", state[moe + "gate.weight"])
        names = {"gate": "w1", "up": "w3", "down": "w2"} if arch == "mixtral" else \
            {"gate": "gate_proj", "up": "up_proj", "down": "down_proj"}
        n_exp = cfg.num_local_experts if arch == "mixtral" else cfg.num_experts
        for proj, hf in names.items():
            t(b + f"ffn_{proj}_exps.weight", torch.stack([state[moe + f"experts.{e}.{hf}.weight"] for e in range(n_exp)]))
        if arch == "qwen2_moe":
            for proj in ("gate", "up", "down"):
                t(b + f"ffn_{proj}_shexp.weight", state[p + f"mlp.shared_expert.{proj}_proj.weight"])
            t(b + "ffn_gate_inp_shexp.weight", state[p + "mlp.shared_expert_gate.weight"].reshape(-1))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def write_gguf_deepseek(cfg, state, path):
    """DeepSeek-V3 as llama.cpp's converter writes deepseek2: MLA metadata describing the latent
    cache (key_length = rank + rope, value_length = rank) plus the per-head *_mla lengths, kv_b_proj
    split per head into attn_k_b (transposed) and attn_v_b, the correction bias as exp_probs_b."""
    w = gguf.GGUFWriter(str(path), "deepseek2")
    w.add_name("switchyard tiny deepseek_v3")
    n_layers, heads = cfg.num_hidden_layers, cfg.num_attention_heads
    nope, rope, vd, rank = cfg.qk_nope_head_dim, cfg.qk_rope_head_dim, cfg.v_head_dim, cfg.kv_lora_rank
    w.add_context_length(cfg.max_position_embeddings)
    w.add_embedding_length(H)
    w.add_block_count(n_layers)
    w.add_feed_forward_length(cfg.intermediate_size)
    w.add_head_count(heads)
    w.add_head_count_kv(1)
    w.add_key_length(rank + rope)
    w.add_value_length(rank)
    w.add_key_length_mla(nope + rope)
    w.add_value_length_mla(vd)
    w.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    w.add_rope_freq_base(cfg.rope_parameters["rope_theta"])
    w.add_rope_dimension_count(rope)
    w.add_vocab_size(V)
    w.add_q_lora_rank(cfg.q_lora_rank)
    w.add_kv_lora_rank(rank)
    w.add_leading_dense_block_count(cfg.first_k_dense_replace)
    w.add_expert_feed_forward_length(cfg.moe_intermediate_size)
    w.add_expert_count(cfg.n_routed_experts)
    w.add_expert_used_count(cfg.num_experts_per_tok)
    w.add_expert_shared_count(cfg.n_shared_experts)
    w.add_expert_weights_scale(cfg.routed_scaling_factor)
    w.add_expert_weights_norm(cfg.norm_topk_prob)
    w.add_expert_gating_func(gguf.ExpertGatingFuncType.SIGMOID)
    w.add_expert_group_count(cfg.n_group)
    w.add_expert_group_used_count(cfg.topk_group)

    def t(name, tensor):
        w.add_tensor(name, tensor.detach().float().contiguous().numpy().astype(np.float32))

    t("token_embd.weight", state["model.embed_tokens.weight"])
    t("output_norm.weight", state["model.norm.weight"])
    t("output.weight", state["lm_head.weight"])
    for l in range(n_layers):
        p, b = f"model.layers.{l}.", f"blk.{l}."
        a = p + "self_attn."
        t(b + "attn_norm.weight", state[p + "input_layernorm.weight"])
        t(b + "ffn_norm.weight", state[p + "post_attention_layernorm.weight"])
        t(b + "attn_q_a.weight", state[a + "q_a_proj.weight"])
        t(b + "attn_q_a_norm.weight", state[a + "q_a_layernorm.weight"])
        t(b + "attn_q_b.weight", state[a + "q_b_proj.weight"])
        t(b + "attn_kv_a_mqa.weight", state[a + "kv_a_proj_with_mqa.weight"])
        t(b + "attn_kv_a_norm.weight", state[a + "kv_a_layernorm.weight"])
        kv_b = state[a + "kv_b_proj.weight"].view(heads, nope + vd, rank)
        k_b, v_b = torch.split(kv_b, [nope, vd], dim=1)
        t(b + "attn_k_b.weight", k_b.transpose(1, 2))
        t(b + "attn_v_b.weight", v_b)
        t(b + "attn_output.weight", state[a + "o_proj.weight"])
        if l < cfg.first_k_dense_replace:
            for proj in ("gate", "up", "down"):
                t(b + f"ffn_{proj}.weight", state[p + f"mlp.{proj}_proj.weight"])
            continue
        t(b + "ffn_gate_inp.weight", state[p + "mlp.gate.weight"])
        t(b + "exp_probs_b.bias", state[p + "mlp.gate.e_score_correction_bias"])
        for proj in ("gate", "up", "down"):
            t(b + f"ffn_{proj}_exps.weight",
              torch.stack([state[p + f"mlp.experts.{e}.{proj}_proj.weight"] for e in range(cfg.n_routed_experts)]))
            t(b + f"ffn_{proj}_shexp.weight", state[p + f"mlp.shared_experts.{proj}_proj.weight"])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main():
    import sys
    torch.set_num_threads(2)
    wanted = set(sys.argv[1:])
    for i, (arch, cfg) in enumerate(configs().items()):
        if wanted and arch not in wanted:
            continue
        cfg._attn_implementation = "eager"
        gen = torch.Generator().manual_seed(1000 + i)
        model = transformers.AutoModelForCausalLM.from_config(cfg, attn_implementation="eager").eval()
        init_(model, gen)
        out = OUT / arch
        shutil.rmtree(out, ignore_errors=True)
        model.save_pretrained(out)
        (out / "generation_config.json").unlink(missing_ok=True)
        state = load_file(out / "model.safetensors")  # the checkpoint's own naming, as a converter reads it
        ref = {}
        with torch.no_grad():
            for s, seq in enumerate(SEQUENCES):
                ids = torch.tensor([seq])
                ref[f"tokens_{s}"] = ids[0].to(torch.int32)
                ref[f"logits_{s}"] = model(ids).logits[0].float().contiguous()
        save_file(ref, out / "reference.safetensors")
        if arch in GGUF_ARCH:
            write_gguf(arch, cfg, state, out / "model.gguf")
        print(arch, {k: tuple(v.shape) for k, v in ref.items()})


if __name__ == "__main__":
    main()
