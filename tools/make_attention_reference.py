#!/usr/bin/env python3
"""Attention references, saved under tests/data/.

attention_rope.safetensors
    RoPE from transformers' own rope-init functions (default, linear, yarn with DeepSeek's mscale
    pair, partial rotary) applied with its apply_rotary_pos_emb (rotate-half), and GPT-J's
    interleaved pairs computed directly from the same cos/sin. params = [head_dim, rotary_dim,
    theta, layout (0 rotate-half, 1 interleaved), scaling (0 none, 1 linear, 2 yarn), factor,
    original_max_position, beta_fast, beta_slow, mscale, mscale_all_dim] (f64).

attention_sdpa.safetensors
    torch.nn.functional.scaled_dot_product_attention in float64 with an explicit boolean mask
    for every pattern (none, causal, sliding window, sinks + window, block-sparse), GQA/MQA
    ratios, head dims 64/96/128 and 192/128, lengths 1, 17, 128, 1000 and a chunked-prefill case
    (queries are the last T of S keys). Inputs are stored in f32, bf16 or f16; the reference is
    computed from exactly those values. mask params per case: [kind, a, b, c, d] (see below).

attention_{mixtral,qwen3_moe,deepseek_v3}.safetensors
    MixtralAttention (sliding window), Qwen3MoeAttention (q/k RMSNorm) and DeepseekV3Attention
    (MLA, q_lora_rank, yarn, interleaved rope) in float32, with random weights, on T in {1, 17, 64}.

attention_gpt_oss.safetensors
    Learned attention sinks (gpt-oss), two parts:
    sinks.<case>.*  raw sink attention in float64 (numpy, the eager form of transformers' GptOss:
        the head's sink appended as a logit column, softmax after subtracting the row max, the
        column dropped) on GQA inputs with random per-head sinks, for causal and sliding-window
        masks ([kind, a, b, c, d] as in the SDPA file); lengths 1..1100 (the long ones make
        paged decode split its keys), queries the last T of S keys, and one case whose sinks
        dwarf every logit (+-100).
    sliding.* / full.*  GptOssAttention (eager, float32) of a small GptOssConfig: layer 0 is a
        sliding layer (window 8), layer 1 a full one; q/k/v/o weights and biases, sinks, on T in
        {1, 20, 40}; rope is GptOssConfig's default (YaRN, factor 32, truncate False, theta
        150000) and its inv_freq / attention factor are saved as rope.*. config = [hidden, heads,
        kv_heads, head_dim, sliding_window, theta, factor, original_max_position, beta_fast,
        beta_slow, truncate] (f64). Drawn from a generator of its own, after the files above, so
        adding it left them byte-identical.

    .venv/bin/python tools/make_attention_reference.py
"""
import math
import pathlib

import numpy as np
import torch
from safetensors.torch import save_file
from transformers import DeepseekV3Config, GptOssConfig, MixtralConfig, Qwen3MoeConfig
from transformers.masking_utils import causal_mask_function, sliding_window_causal_mask_function
from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS
from transformers.models.deepseek_v3.modeling_deepseek_v3 import DeepseekV3Attention, DeepseekV3RotaryEmbedding
from transformers.models.gpt_oss.modeling_gpt_oss import GptOssAttention, GptOssRotaryEmbedding
from transformers.models.gpt_oss.modeling_gpt_oss import eager_attention_forward as gpt_oss_eager
from transformers.models.llama.modeling_llama import apply_rotary_pos_emb
from transformers.models.mixtral.modeling_mixtral import MixtralAttention, MixtralRotaryEmbedding
from transformers.models.qwen3_moe.modeling_qwen3_moe import Qwen3MoeAttention, Qwen3MoeRotaryEmbedding

DATA = pathlib.Path(__file__).resolve().parent.parent / "tests" / "data"


# ---------------------------------------------------------------- RoPE
def rope_cases():
    # (head_dim, rotary_dim, theta, layout, rope_parameters)
    return [
        (64, 64, 10000.0, 0, {"rope_type": "default"}),
        (128, 128, 1e6, 0, {"rope_type": "default"}),
        (64, 64, 10000.0, 0, {"rope_type": "linear", "factor": 4.0}),
        (64, 32, 10000.0, 0, {"rope_type": "default", "partial_rotary_factor": 0.5}),
        (64, 64, 10000.0, 1, {"rope_type": "default"}),
        (64, 64, 10000.0, 1, {"rope_type": "yarn", "factor": 40.0, "original_max_position_embeddings": 4096,
                               "beta_fast": 32.0, "beta_slow": 1.0, "mscale": 1.0, "mscale_all_dim": 0.8}),
        (128, 128, 1e6, 0, {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768}),
    ]


def make_rope(gen):
    out = {}
    for i, (hd, rd, theta, layout, rp) in enumerate(rope_cases()):
        rp = dict(rp, rope_theta=theta)
        cfg = MixtralConfig(hidden_size=hd * 4, num_attention_heads=4, head_dim=hd, rope_parameters=rp,
                            max_position_embeddings=131072)
        kind = rp["rope_type"]
        if kind == "default":  # the families' own default init (it knows no partial rotary: same formula over rd)
            inv_freq = 1.0 / (theta ** (torch.arange(0, rd, 2, dtype=torch.float) / rd))
            if rd == hd:
                ref, _ = MixtralRotaryEmbedding.compute_default_rope_parameters(cfg)
                assert torch.equal(ref, inv_freq)
            attention_factor = 1.0
        else:
            inv_freq, attention_factor = ROPE_INIT_FUNCTIONS[kind](cfg, "cpu")
        assert inv_freq.numel() == rd // 2, (inv_freq.numel(), rd)
        T, H = 23, 3
        pos = torch.cat([torch.tensor([0, 1, 2]), torch.randint(0, 70000, (T - 3,), generator=gen)]).to(torch.int64)
        x = torch.randn(T, H, hd, generator=gen)
        freqs = inv_freq[None, :].float() * pos[:, None].float()  # [T, rd/2], one f32 product each
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos() * attention_factor, emb.sin() * attention_factor
        xr, xp = x[..., :rd], x[..., rd:]
        if layout == 0:
            y, _ = apply_rotary_pos_emb(xr.transpose(0, 1), xr.transpose(0, 1), cos, sin, unsqueeze_dim=0)
            y = y.transpose(0, 1)
        else:
            c, s = cos[:, None, : rd // 2], sin[:, None, : rd // 2]
            a, b = xr[..., 0::2], xr[..., 1::2]
            y = torch.stack([a * c - b * s, b * c + a * s], dim=-1).reshape(xr.shape)
        y = torch.cat([y, xp], dim=-1)
        scaling = {"default": 0, "linear": 1, "yarn": 2}[kind]
        out[f"case{i}.params"] = torch.tensor(
            [hd, rd, theta, layout, scaling, rp.get("factor", 1.0), rp.get("original_max_position_embeddings", 0),
             rp.get("beta_fast", 32.0), rp.get("beta_slow", 1.0), rp.get("mscale", 0.0), rp.get("mscale_all_dim", 0.0)],
            dtype=torch.float64)
        out[f"case{i}.positions"] = pos
        out[f"case{i}.x"] = x.contiguous()
        out[f"case{i}.y"] = y.contiguous()
        out[f"case{i}.inv_freq"] = inv_freq.float().contiguous()
        out[f"case{i}.attention_factor"] = torch.tensor([attention_factor], dtype=torch.float32)
    save_file(out, DATA / "attention_rope.safetensors")


# ---------------------------------------------------------------- masks and SDPA
# mask kinds: 0 none, 1 causal, 2 sliding(window a), 3 sinks(a) + window(b),
#             4 block_sparse(block a, local b, global c, stride d)
def keep(kind, p, q, k):
    if kind == 0:
        return True
    if k > q:
        return False
    if kind == 1:
        return True
    if kind == 2:
        return k > q - p[0]
    if kind == 3:
        return k < p[0] or k > q - p[1]
    qb, kb = q // p[0], k // p[0]
    return qb - kb < p[1] or kb < p[2] or (p[3] > 0 and (qb - kb) % p[3] == 0)


def bool_mask(kind, p, T, S, q0):
    q = torch.arange(T)[:, None] + q0
    k = torch.arange(S)[None, :]
    if kind == 0:
        return torch.ones(T, S, dtype=torch.bool)
    m = k <= q
    if kind == 2:
        m &= k > q - p[0]
    elif kind == 3:
        m &= (k < p[0]) | (k > q - p[1])
    elif kind == 4:
        qb, kb = q // p[0], k // p[0]
        m &= (qb - kb < p[1]) | (kb < p[2]) | ((qb - kb) % p[3] == 0 if p[3] > 0 else torch.zeros_like(m))
    # spot-check the vectorized form against the scalar definition
    for (i, j) in [(0, 0), (T - 1, S - 1), (T // 2, S // 3), (T - 1, 0)]:
        assert bool(m[i, j]) == keep(kind, p, i + q0, j)
    return m


MASKS = {"none": (0, [0, 0, 0, 0]), "causal": (1, [0, 0, 0, 0]), "sliding": (2, [37, 0, 0, 0]),
         "sinks": (3, [4, 29, 0, 0]), "block_sparse": (4, [16, 2, 1, 3])}


def make_sdpa(gen):
    # (name, T, S, Hq, Hkv, D, Dv, dtype, masks)
    all_masks = list(MASKS)
    cases = [
        ("t1", 1, 1, 4, 2, 64, 64, torch.float32, ["none", "causal"]),
        ("t17", 17, 17, 4, 4, 64, 64, torch.float32, all_masks),
        ("gqa128", 128, 128, 8, 2, 128, 128, torch.float32, ["causal", "sliding", "block_sparse"]),
        ("mqa96", 96, 96, 6, 1, 96, 96, torch.float32, ["causal", "sliding"]),
        ("mla", 65, 65, 4, 4, 192, 128, torch.float32, ["causal"]),
        ("chunk", 17, 100, 4, 2, 64, 64, torch.float32, ["causal", "sliding", "sinks"]),
        ("bf16", 77, 77, 4, 2, 128, 128, torch.bfloat16, ["causal", "sliding"]),
        ("f16", 50, 50, 4, 2, 64, 64, torch.float16, ["causal"]),
        ("odd", 33, 33, 3, 3, 40, 24, torch.float32, ["causal", "none"]),
        ("long", 1000, 1000, 2, 1, 64, 64, torch.bfloat16, ["causal", "sliding", "sinks", "block_sparse"]),
    ]
    out = {}
    for name, T, S, Hq, Hkv, D, Dv, dt, masks in cases:
        q = torch.randn(T, Hq, D, generator=gen).to(dt)
        k = torch.randn(S, Hkv, D, generator=gen).to(dt)
        v = torch.randn(S, Hkv, Dv, generator=gen).to(dt)
        out[f"{name}.q"], out[f"{name}.k"], out[f"{name}.v"] = q, k, v
        scale = 1.0 / math.sqrt(D)
        out[f"{name}.scale"] = torch.tensor([scale], dtype=torch.float32)
        G = Hq // Hkv
        qd = q.double().transpose(0, 1)
        kd = k.double().repeat_interleave(G, dim=1).transpose(0, 1)
        vd = v.double().repeat_interleave(G, dim=1).transpose(0, 1)
        for mname in masks:
            kind, p = MASKS[mname]
            m = bool_mask(kind, p, T, S, S - T)
            y = torch.nn.functional.scaled_dot_product_attention(qd, kd, vd, attn_mask=m, scale=scale)
            out[f"{name}.{mname}.out"] = y.transpose(0, 1).float().contiguous()
            out[f"{name}.{mname}.mask"] = torch.tensor([kind] + p, dtype=torch.int64)
    save_file(out, DATA / "attention_sdpa.safetensors")


# ---------------------------------------------------------------- transformers modules
def init_(module, gen):
    with torch.no_grad():
        for name, p in module.named_parameters():
            if "norm" in name:
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=gen))
            else:
                p.copy_(torch.randn(p.shape, generator=gen) * p.shape[-1] ** -0.5)


def hf_mask(fn, T):
    z = torch.tensor(0)
    m = fn(z, z, torch.arange(T)[:, None], torch.arange(T)[None, :]).expand(T, T)
    return torch.where(m, 0.0, torch.finfo(torch.float32).min)[None, None]


def make_module(name, cls, rotary_cls, cfg, mask_fn, gen, extra=None):
    cfg._attn_implementation = "eager"
    attn = cls(cfg, layer_idx=0).eval()
    init_(attn, gen)
    rope = rotary_cls(cfg)
    out = {f"{n}": p.detach().contiguous() for n, p in attn.named_parameters()}
    for T in (1, 17, 64):
        x = torch.randn(1, T, cfg.hidden_size, generator=gen)
        pos = torch.arange(T)[None]
        cos, sin = rope(x, pos)
        with torch.no_grad():
            y, _ = attn(x, (cos, sin), hf_mask(mask_fn, T))
        out[f"T{T}.x"] = x[0].contiguous()
        out[f"T{T}.y"] = y[0].contiguous()
    for k, v in (extra or {}).items():
        out[k] = v
    save_file(out, DATA / f"attention_{name}.safetensors")


def make_modules(gen):
    mix = MixtralConfig(hidden_size=64, num_attention_heads=4, num_key_value_heads=2, head_dim=32, sliding_window=12,
                        rope_parameters={"rope_type": "default", "rope_theta": 1e6})
    make_module("mixtral", MixtralAttention, MixtralRotaryEmbedding, mix, sliding_window_causal_mask_function(12), gen,
                {"config": torch.tensor([64, 4, 2, 32, 12, 1e6, 1e-5], dtype=torch.float64)})
    qw = Qwen3MoeConfig(hidden_size=64, num_attention_heads=8, num_key_value_heads=2, head_dim=16, rms_norm_eps=1e-6,
                        rope_parameters={"rope_type": "default", "rope_theta": 1e6})
    make_module("qwen3_moe", Qwen3MoeAttention, Qwen3MoeRotaryEmbedding, qw, causal_mask_function, gen,
                {"config": torch.tensor([64, 8, 2, 16, 0, 1e6, 1e-6], dtype=torch.float64)})
    rp = {"rope_type": "yarn", "rope_theta": 10000.0, "factor": 40.0, "original_max_position_embeddings": 4096,
          "beta_fast": 32.0, "beta_slow": 1.0, "mscale": 1.0, "mscale_all_dim": 1.0}
    ds = DeepseekV3Config(hidden_size=64, num_attention_heads=4, num_key_value_heads=4, q_lora_rank=48, kv_lora_rank=32,
                          qk_nope_head_dim=16, qk_rope_head_dim=8, v_head_dim=12, rope_parameters=rp,
                          max_position_embeddings=163840, rope_interleave=True, rms_norm_eps=1e-6)
    make_module("deepseek_v3", DeepseekV3Attention, DeepseekV3RotaryEmbedding, ds, causal_mask_function, gen,
                {"config": torch.tensor([64, 4, 48, 32, 16, 8, 12, 10000.0, 40.0, 4096, 1.0, 1.0, 1e-6],
                                        dtype=torch.float64)})


# ---------------------------------------------------------------- gpt-oss: learned sinks
def sink_attention64(q, k, v, sinks, scale, mask):
    """float64 sink attention, the eager GptOss form: q [T,Hq,D], k [S,Hkv,D], v [S,Hkv,Dv],
    sinks [Hq], mask [T,S] bool. Returns [T,Hq,Dv]."""
    q, k, v, sinks = (np.asarray(a, dtype=np.float64) for a in (q, k, v, sinks))
    T, Hq, _ = q.shape
    G = Hq // k.shape[1]
    kk = np.repeat(k, G, axis=1).transpose(1, 0, 2)  # [Hq,S,D]
    vv = np.repeat(v, G, axis=1).transpose(1, 0, 2)
    logits = np.einsum("thd,hsd->hts", q, kk) * scale
    logits = np.where(mask[None], logits, -np.inf)
    combined = np.concatenate([logits, np.broadcast_to(sinks[:, None, None], (Hq, T, 1))], axis=-1)
    combined = combined - combined.max(axis=-1, keepdims=True)  # finite: the sink column is
    probs = np.exp(combined)
    probs = probs / probs.sum(axis=-1, keepdims=True)
    return np.einsum("hts,hsd->thd", probs[..., :-1], vv)


def check_against_transformers(q, k, v, sinks, scale, mask, y):
    """The numpy form equals transformers' own GptOss eager_attention_forward run in float64."""
    module = torch.nn.Module()
    module.sinks = torch.nn.Parameter(sinks.double(), requires_grad=False)
    module.num_key_value_groups = q.shape[1] // k.shape[1]
    module.training = False
    add = torch.where(torch.from_numpy(mask), 0.0, -torch.inf).double()[None, None]
    ref, _ = gpt_oss_eager(module, q.double().transpose(0, 1)[None], k.double().transpose(0, 1)[None],
                           v.double().transpose(0, 1)[None], add, scale)
    assert np.allclose(ref[0].numpy(), y, rtol=0, atol=1e-12), np.abs(ref[0].numpy() - y).max()


def make_sink_kernels(gen, out):
    # (name, T, S, Hq, Hkv, D, Dv, masks, sink scale); the queries are the last T of the S keys.
    cases = [
        ("t1", 1, 1, 4, 2, 64, 64, ["causal"], 2.0),
        ("t17", 17, 17, 4, 2, 64, 64, ["causal", "sliding"], 2.0),
        ("gqa128", 128, 128, 8, 2, 128, 128, ["causal", "sliding"], 2.0),
        ("chunk", 9, 100, 6, 2, 64, 48, ["causal", "sliding"], 2.0),
        ("big", 33, 33, 4, 2, 64, 64, ["causal", "sliding"], 0.0),
        ("long", 24, 1100, 8, 2, 64, 64, ["causal", "sliding"], 2.0),
        ("long2", 24, 600, 8, 2, 64, 64, ["causal", "sliding"], 2.0),
    ]
    masks = {"causal": (1, [0, 0, 0, 0]), "sliding": (2, [37, 0, 0, 0])}
    for name, T, S, Hq, Hkv, D, Dv, mnames, sink_scale in cases:
        q = torch.randn(T, Hq, D, generator=gen)
        k = torch.randn(S, Hkv, D, generator=gen)
        v = torch.randn(S, Hkv, Dv, generator=gen)
        if sink_scale > 0:
            sinks = torch.randn(Hq, generator=gen) * sink_scale
        else:  # one head whose sink takes all the weight, one whose sink takes none, two ordinary
            sinks = torch.tensor([100.0, -100.0, 0.5, 3.0])
        scale = 1.0 / math.sqrt(D)
        for key, t in (("q", q), ("k", k), ("v", v), ("sinks", sinks)):
            out[f"sinks.{name}.{key}"] = t.contiguous()
        out[f"sinks.{name}.scale"] = torch.tensor([scale], dtype=torch.float32)
        for mname in mnames:
            kind, p = masks[mname]
            m = bool_mask(kind, p, T, S, S - T).numpy()
            y = sink_attention64(q.numpy(), k.numpy(), v.numpy(), sinks.numpy(), scale, m)
            check_against_transformers(q, k, v, sinks, scale, m, y)
            out[f"sinks.{name}.{mname}.out"] = torch.from_numpy(y).float().contiguous()
            out[f"sinks.{name}.{mname}.mask"] = torch.tensor([kind] + p, dtype=torch.int64)


def make_gpt_oss_modules(gen, out):
    window = 8
    cfg = GptOssConfig(hidden_size=64, num_attention_heads=4, num_key_value_heads=2, head_dim=16,
                       sliding_window=window, num_hidden_layers=2, attention_bias=True)
    cfg._attn_implementation = "eager"
    rp = cfg.rope_parameters
    assert rp["rope_type"] == "yarn" and rp["truncate"] is False, rp
    rope = GptOssRotaryEmbedding(cfg)
    out["rope.inv_freq"] = rope.inv_freq.float().contiguous()
    out["rope.attention_factor"] = torch.tensor([rope.attention_scaling], dtype=torch.float32)
    out["config"] = torch.tensor([cfg.hidden_size, cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim,
                                  window, rp["rope_theta"], rp["factor"], rp["original_max_position_embeddings"],
                                  rp["beta_fast"], rp["beta_slow"], float(rp["truncate"])], dtype=torch.float64)
    for layer, kind, mask_fn in ((0, "sliding", sliding_window_causal_mask_function(window)),
                                 (1, "full", causal_mask_function)):
        attn = GptOssAttention(cfg, layer_idx=layer).eval()
        assert attn.layer_type == f"{kind}_attention" and attn.q_proj.bias is not None
        init_(attn, gen)
        with torch.no_grad():  # sinks of either sign, large enough to matter
            attn.sinks.copy_(torch.randn(attn.sinks.shape, generator=gen) * 1.5)
        for n, p in attn.named_parameters():
            out[f"{kind}.{n}"] = p.detach().contiguous()
        for T in (1, 20, 40):
            x = torch.randn(1, T, cfg.hidden_size, generator=gen)
            cos, sin = rope(x, torch.arange(T)[None])
            with torch.no_grad():
                y, _ = attn(x, (cos, sin), hf_mask(mask_fn, T))
            out[f"{kind}.T{T}.x"] = x[0].contiguous()
            out[f"{kind}.T{T}.y"] = y[0].contiguous()


def make_gpt_oss():
    gen = torch.Generator().manual_seed(20270301)
    out = {}
    make_sink_kernels(gen, out)
    make_gpt_oss_modules(gen, out)
    save_file(out, DATA / "attention_gpt_oss.safetensors")


def main():
    DATA.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(20261128)
    make_rope(gen)
    make_sdpa(gen)
    make_modules(gen)
    make_gpt_oss()


if __name__ == "__main__":
    main()
