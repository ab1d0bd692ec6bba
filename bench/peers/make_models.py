#!/usr/bin/env python3
"""Random-weight MoE models for the peers comparison, written as llama.cpp's converter writes them.

Three families at hidden 1024 (fixed seeds, numpy only): a Mixtral-like (llama arch, 8 experts of
2816, top-2), a Qwen3-MoE-like (64 experts of 512, top-8, q/k norms) and a DeepSeek-V3-like
(deepseek2 arch: MLA with q and kv LoRA ranks, a leading dense layer, 64 routed experts of 512
top-6 in 8 groups with sigmoid gating and a correction bias, one shared expert). Tensor names,
metadata keys and dtypes follow llama.cpp's convert_hf_to_gguf at --outtype f16: matrices f16;
norms, 1-D tensors, biases and the routers (ffn_gate_inp) f32; q and k rows of the llama arch
permuted so RoPE rotates adjacent pairs (immaterial for random weights, but the layout is the
converter's). No tokenizer: `tokenizer.ggml.model` = "none" with the vocab size, which llama.cpp
loads as a dummy vocab; both engines are fed token ids.

    make_models.py OUT_DIR            # writes OUT_DIR/<family>-f16.gguf
"""
import pathlib
import sys

import gguf
import numpy as np

VOCAB, HIDDEN, LAYERS = 32000, 1024, 8
HEADS, KV_HEADS, HEAD_DIM = 16, 4, 64
ROUTER_SCALE = 3.0  # router logits' spread: no near-ties between experts


def normal(rng, shape, fan_in, scale=1.0):
    return (rng.standard_normal(shape, dtype=np.float32) * (scale / np.sqrt(fan_in))).astype(np.float32)


def norm(rng, n):
    return (1.0 + 0.1 * rng.standard_normal(n, dtype=np.float32)).astype(np.float32)


class Writer:
    def __init__(self, path, arch, name):
        self.w = gguf.GGUFWriter(str(path), arch)
        self.w.add_name(name)
        self.w.add_tokenizer_model("none")
        self.w.add_vocab_size(VOCAB)
        self.w.add_context_length(4096)
        self.w.add_embedding_length(HIDDEN)
        self.w.add_block_count(LAYERS)
        self.w.add_layer_norm_rms_eps(1e-6)
        self.w.add_file_type(gguf.LlamaFileType.MOSTLY_F16)

    def f16(self, name, a):
        self.w.add_tensor(name, a.astype(np.float16))

    def f32(self, name, a):
        self.w.add_tensor(name, a.astype(np.float32))

    def close(self):
        self.w.write_header_to_file()
        self.w.write_kv_data_to_file()
        self.w.write_tensors_to_file()
        self.w.close()


def common_tensors(rng, out):
    out.f16("token_embd.weight", rng.standard_normal((VOCAB, HIDDEN), dtype=np.float32))
    out.f32("output_norm.weight", norm(rng, HIDDEN))
    out.f16("output.weight", normal(rng, (VOCAB, HIDDEN), HIDDEN))


def gqa_attention(rng, out, b, qk_norm):
    out.f32(b + "attn_norm.weight", norm(rng, HIDDEN))
    out.f16(b + "attn_q.weight", normal(rng, (HEADS * HEAD_DIM, HIDDEN), HIDDEN))
    out.f16(b + "attn_k.weight", normal(rng, (KV_HEADS * HEAD_DIM, HIDDEN), HIDDEN))
    out.f16(b + "attn_v.weight", normal(rng, (KV_HEADS * HEAD_DIM, HIDDEN), HIDDEN))
    out.f16(b + "attn_output.weight", normal(rng, (HIDDEN, HEADS * HEAD_DIM), HEADS * HEAD_DIM))
    if qk_norm:
        out.f32(b + "attn_q_norm.weight", norm(rng, HEAD_DIM))
        out.f32(b + "attn_k_norm.weight", norm(rng, HEAD_DIM))


def experts(rng, out, b, n, ffn):
    out.f32(b + "ffn_norm.weight", norm(rng, HIDDEN))
    out.f32(b + "ffn_gate_inp.weight", normal(rng, (n, HIDDEN), HIDDEN, ROUTER_SCALE))
    out.f16(b + "ffn_gate_exps.weight", normal(rng, (n, ffn, HIDDEN), HIDDEN))
    out.f16(b + "ffn_up_exps.weight", normal(rng, (n, ffn, HIDDEN), HIDDEN))
    out.f16(b + "ffn_down_exps.weight", normal(rng, (n, HIDDEN, ffn), ffn))


def gqa_header(w, rope_base):
    w.add_head_count(HEADS)
    w.add_head_count_kv(KV_HEADS)
    w.add_key_length(HEAD_DIM)
    w.add_value_length(HEAD_DIM)
    w.add_rope_dimension_count(HEAD_DIM)
    w.add_rope_freq_base(rope_base)


def gqa_moe(path, seed, arch, name, n_experts, used, ffn, qk_norm, feed_forward=None):
    """A GQA + MoE family: Mixtral's layout (llama arch) or Qwen3-MoE's (q/k norms, its own
    expert FFN length key beside the dense one)."""
    rng = np.random.default_rng(seed)
    out = Writer(path, arch, name)
    gqa_header(out.w, 1e6)
    out.w.add_feed_forward_length(feed_forward or ffn)
    if feed_forward:
        out.w.add_expert_feed_forward_length(ffn)
    out.w.add_expert_count(n_experts)
    out.w.add_expert_used_count(used)
    common_tensors(rng, out)
    for l in range(LAYERS):
        gqa_attention(rng, out, f"blk.{l}.", qk_norm=qk_norm)
        experts(rng, out, f"blk.{l}.", n_experts, ffn)
    out.close()


def mixtral(path, seed):
    gqa_moe(path, seed, "llama", "peers mixtral-like", 8, 2, 2816, qk_norm=False)


def qwen3_moe(path, seed):
    gqa_moe(path, seed, "qwen3moe", "peers qwen3-moe-like", 64, 8, 512, qk_norm=True, feed_forward=3072)


def deepseek_v3(path, seed, heads=16, nope=64, rope=32, vd=64, q_rank=384, kv_rank=256, n_exp=64, ffn=512,
                dense_ffn=2816, used=6, groups=(8, 4)):
    """Sizes as keywords so that tools/make_mixed_gguf_reference.py can make a small one."""
    rng = np.random.default_rng(seed)
    out = Writer(path, "deepseek2", "peers deepseek-v3-like")
    w = out.w
    w.add_feed_forward_length(dense_ffn)
    w.add_head_count(heads)
    w.add_head_count_kv(1)
    w.add_key_length(kv_rank + rope)  # the latent cache, as the converter describes MLA
    w.add_value_length(kv_rank)
    w.add_key_length_mla(nope + rope)
    w.add_value_length_mla(vd)
    w.add_rope_dimension_count(rope)
    w.add_rope_freq_base(10000.0)
    w.add_q_lora_rank(q_rank)
    w.add_kv_lora_rank(kv_rank)
    w.add_leading_dense_block_count(1)
    w.add_expert_feed_forward_length(ffn)
    w.add_expert_count(n_exp)
    w.add_expert_used_count(used)
    w.add_expert_shared_count(1)
    w.add_expert_weights_scale(2.5)
    w.add_expert_weights_norm(True)
    w.add_expert_gating_func(gguf.ExpertGatingFuncType.SIGMOID)
    w.add_expert_group_count(groups[0])
    w.add_expert_group_used_count(groups[1])
    common_tensors(rng, out)
    for l in range(LAYERS):
        b = f"blk.{l}."
        out.f32(b + "attn_norm.weight", norm(rng, HIDDEN))
        out.f16(b + "attn_q_a.weight", normal(rng, (q_rank, HIDDEN), HIDDEN))
        out.f32(b + "attn_q_a_norm.weight", norm(rng, q_rank))
        out.f16(b + "attn_q_b.weight", normal(rng, (heads * (nope + rope), q_rank), q_rank))
        out.f16(b + "attn_kv_a_mqa.weight", normal(rng, (kv_rank + rope, HIDDEN), HIDDEN))
        out.f32(b + "attn_kv_a_norm.weight", norm(rng, kv_rank))
        kv_b = normal(rng, (heads, nope + vd, kv_rank), kv_rank)
        out.f16(b + "attn_k_b.weight", np.ascontiguousarray(kv_b[:, :nope, :].transpose(0, 2, 1)))
        out.f16(b + "attn_v_b.weight", np.ascontiguousarray(kv_b[:, nope:, :]))
        out.f16(b + "attn_output.weight", normal(rng, (HIDDEN, heads * vd), heads * vd))
        if l == 0:
            out.f32(b + "ffn_norm.weight", norm(rng, HIDDEN))
            out.f16(b + "ffn_gate.weight", normal(rng, (dense_ffn, HIDDEN), HIDDEN))
            out.f16(b + "ffn_up.weight", normal(rng, (dense_ffn, HIDDEN), HIDDEN))
            out.f16(b + "ffn_down.weight", normal(rng, (HIDDEN, dense_ffn), dense_ffn))
            continue
        experts(rng, out, b, n_exp, ffn)
        out.f32(b + "exp_probs_b.bias", 0.1 * rng.standard_normal(n_exp, dtype=np.float32))
        out.f16(b + "ffn_gate_shexp.weight", normal(rng, (ffn, HIDDEN), HIDDEN))
        out.f16(b + "ffn_up_shexp.weight", normal(rng, (ffn, HIDDEN), HIDDEN))
        out.f16(b + "ffn_down_shexp.weight", normal(rng, (HIDDEN, ffn), ffn))
    out.close()


FAMILIES = {"mixtral": mixtral, "qwen3moe": qwen3_moe, "deepseek2": deepseek_v3}


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make_models.py OUT_DIR")
    out = pathlib.Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    for i, (family, make) in enumerate(FAMILIES.items()):
        path = out / f"{family}-f16.gguf"
        if path.exists():
            continue
        tmp = path.with_suffix(".tmp")
        make(tmp, 20261206 + i)
        tmp.rename(path)
        print(f"make_models: wrote {path} ({path.stat().st_size / 1e9:.2f} GB)")


if __name__ == "__main__":
    main()
