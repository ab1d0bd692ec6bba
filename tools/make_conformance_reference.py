#!/usr/bin/env python3
"""The llama.cpp conformance suite's files (issue 19): every architecture switchyard loads from GGUF x
every quant type people download, made by llama.cpp's own llama-quantize, with llama.cpp's logits
and greedy tokens and a float64 NumPy forward pass of each file, saved under tests/data/conformance/.

Architectures (random weights, fixed seeds, written in f32 the way llama.cpp's converter lays them
out: its tensor names and metadata keys, routers and norms f32, 3-D expert banks, DeepSeek's split
attn_k_b / attn_v_b; hidden 256 so that every 256-block type fits a row):
  llama      dense Llama (RoPE on adjacent pairs: the converter's q/k row permutation)
  mixtral    llama arch with 4 experts of 256, top-2 (softmax, renormalized)
  qwen2moe   q/k/v biases, softmax top-2 of 4 not renormalized, a shared expert behind a sigmoid gate
  qwen3moe   per-head q/k RMSNorm, top-2 of 4 renormalized
  olmoe      q/k RMSNorm over the whole projection, top-2 of 4 not renormalized
  deepseek2  MLA (q rank 256, kv rank 256, 4 heads of 32 + 32 RoPE, v 32), a leading dense layer,
             sigmoid-scored top-2 of 8 experts in 4 groups (2 used) with a selection bias and
             routed scaling 2.5, one shared expert
  gpt-oss    q/k/v/o biases, a sink logit per head, a 4-token sliding window on even layers,
             router bias, top-2 of 4 then softmax, clamped SwiGLU experts with biases
Each f32 file is quantized by llama-quantize (the peers build of llama.cpp, pinned by
bench/peers/run.sh) into:
  F16      every matrix f16 (what the converter writes at --outtype f16)
  R1..R5   five "rotations": a Q8_0 base with --tensor-type overrides that put the 14 types
           (q4_0 q4_1 q5_0 q5_1 q8_0 q2_K q3_K q4_K q5_K q6_K iq4_nl iq4_xs mxfp4 bf16) on every
           kind of matrix: each type on an expert bank and on a dense matrix of every architecture
           (this script asserts it from the written files). One file per type and architecture
           would be ~120 MB; the rotations cover the same pairs in a fifth of that.
  Q4_K_M   llama-quantize's own mix (q4_K with q6_K / q5_K, and its fallbacks)
Rows that are not whole blocks of a type fall back as llama-quantize decides (q5_0, q8_0, ...): the
files hold what llama.cpp writes.

For each file a prompt of P token ids is chosen (seeded search) so that the test's comparisons are
well posed: llama.cpp's greedy continuation of N tokens equals the float64 argmax with a clear
margin at every step, and no expert choice is near a tie in float64. Recorded, per file:
  <file>.tokens        i32 [P + N]  the prompt, then llama.cpp's N greedy tokens
  <file>.llama_logits  f32 [P + N, V] llama.cpp's logits (prompt in one batch, then one token per call;
                       1 thread, F32 KV cache, flash attention off, no weight repacking)
  <file>.logits64      f32 [P + N, V] the float64 forward pass on the same tokens (the weights are the
                       file's, dequantized by the gguf package; every op in float64), rounded to f32
cases.json lists the files with the matrix types each holds.

    .venv/bin/python tools/make_conformance_reference.py   # after bash bench/peers/run.sh built llama.cpp
"""
import json
import pathlib
import subprocess
import sys
import tempfile

import gguf
import numpy as np
from gguf.quants import dequantize
from safetensors.numpy import save_file

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import llama_build  # noqa: E402
OUT = ROOT / "tests" / "data" / "conformance"
QUANTIZE = llama_build.QUANTIZE

VOCAB, HIDDEN = 256, 256
HEADS, KV_HEADS, HEAD_DIM = 4, 2, 64
EXPERTS, USED, FFN = 4, 2, 64  # FFN rows of 64: down projections take the 32-blocks only (see ROLES)
ROPE_BASE, EPS = 10000.0, 1e-6
ROUTER_SCALE = 8.0  # router logits' spread: wide gaps between experts
PROMPT, NEW = 10, 6
SWA = 4  # gpt-oss's window here: short enough to matter within PROMPT + NEW tokens
MARGIN = 0.02  # float64 top-1 minus top-2, relative to the row's largest |logit|, at every greedy step
LLAMA_AGREEMENT = 3e-2  # llama.cpp vs float64 row error bound at every row (no expert choice flipped)
ROUTER_GAP = 1e-3  # float64 gap between the last chosen and first unchosen expert score (and group)
TYPES = ["q4_0", "q4_1", "q5_0", "q5_1", "q8_0", "q2_K", "q3_K", "q4_K", "q5_K", "q6_K", "iq4_nl", "iq4_xs", "mxfp4",
         "bf16", "f16"]
BLOCK256 = {"q2_K", "q3_K", "q4_K", "q5_K", "q6_K", "iq4_xs"}  # need rows of whole 256-blocks
ROTATIONS = 2


# --- writing the f32 files ------------------------------------------------------------------------

def normal(rng, shape, fan_in, scale=1.0):
    return (rng.standard_normal(shape) * (scale / np.sqrt(fan_in))).astype(np.float32)


def norm_w(rng, n):
    return (1.0 + 0.1 * rng.standard_normal(n)).astype(np.float32)


class Writer:
    def __init__(self, path, arch, layers):
        self.w = gguf.GGUFWriter(str(path), arch)
        self.w.add_name(f"conformance {arch}")
        self.w.add_tokenizer_model("none")
        self.w.add_vocab_size(VOCAB)
        self.w.add_context_length(256)
        self.w.add_embedding_length(HIDDEN)
        self.w.add_block_count(layers)
        self.w.add_layer_norm_rms_eps(EPS)
        self.w.add_rope_freq_base(ROPE_BASE)
        self.w.add_file_type(gguf.LlamaFileType.ALL_F32)

    def t(self, name, a):
        self.w.add_tensor(name, np.ascontiguousarray(a, dtype=np.float32))

    def close(self):
        self.w.write_header_to_file()
        self.w.write_kv_data_to_file()
        self.w.write_tensors_to_file()
        self.w.close()


def gqa_header(w, feed_forward, kv_heads=KV_HEADS):
    w.add_head_count(HEADS)
    w.add_head_count_kv(kv_heads)
    w.add_key_length(HEAD_DIM)
    w.add_value_length(HEAD_DIM)
    w.add_rope_dimension_count(HEAD_DIM)
    w.add_feed_forward_length(feed_forward)


def embed_and_head(rng, out):
    out.t("token_embd.weight", rng.standard_normal((VOCAB, HIDDEN)))
    out.t("output_norm.weight", norm_w(rng, HIDDEN))
    out.t("output.weight", normal(rng, (VOCAB, HIDDEN), HIDDEN, 2.0))


def gqa(rng, out, b, bias=False, qk_norm=None, kv_heads=KV_HEADS):
    out.t(b + "attn_norm.weight", norm_w(rng, HIDDEN))
    out.t(b + "attn_q.weight", normal(rng, (HEADS * HEAD_DIM, HIDDEN), HIDDEN))
    out.t(b + "attn_k.weight", normal(rng, (kv_heads * HEAD_DIM, HIDDEN), HIDDEN))
    out.t(b + "attn_v.weight", normal(rng, (kv_heads * HEAD_DIM, HIDDEN), HIDDEN))
    out.t(b + "attn_output.weight", normal(rng, (HIDDEN, HEADS * HEAD_DIM), HEADS * HEAD_DIM))
    if bias:
        for n, rows in (("q", HEADS), ("k", kv_heads), ("v", kv_heads)):
            out.t(b + f"attn_{n}.bias", 0.1 * rng.standard_normal(rows * HEAD_DIM))
    if qk_norm == "per_head":
        out.t(b + "attn_q_norm.weight", norm_w(rng, HEAD_DIM))
        out.t(b + "attn_k_norm.weight", norm_w(rng, HEAD_DIM))
    elif qk_norm == "whole":
        out.t(b + "attn_q_norm.weight", norm_w(rng, HEADS * HEAD_DIM))
        out.t(b + "attn_k_norm.weight", norm_w(rng, kv_heads * HEAD_DIM))


def dense_ffn(rng, out, b, ffn, suffix=""):
    out.t(b + f"ffn_gate{suffix}.weight", normal(rng, (ffn, HIDDEN), HIDDEN))
    out.t(b + f"ffn_up{suffix}.weight", normal(rng, (ffn, HIDDEN), HIDDEN))
    out.t(b + f"ffn_down{suffix}.weight", normal(rng, (HIDDEN, ffn), ffn))


def expert_banks(rng, out, b, n, ffn):
    out.t(b + "ffn_gate_inp.weight", normal(rng, (n, HIDDEN), HIDDEN, ROUTER_SCALE))
    out.t(b + "ffn_gate_exps.weight", normal(rng, (n, ffn, HIDDEN), HIDDEN))
    out.t(b + "ffn_up_exps.weight", normal(rng, (n, ffn, HIDDEN), HIDDEN))
    out.t(b + "ffn_down_exps.weight", normal(rng, (n, HIDDEN, ffn), ffn))


def write_llama(path, rng, experts):
    out = Writer(path, "llama", 1)
    gqa_header(out.w, FFN)
    if experts:
        out.w.add_expert_count(EXPERTS)
        out.w.add_expert_used_count(USED)
    embed_and_head(rng, out)
    gqa(rng, out, "blk.0.")
    out.t("blk.0.ffn_norm.weight", norm_w(rng, HIDDEN))
    if experts:
        expert_banks(rng, out, "blk.0.", EXPERTS, FFN)
    else:
        dense_ffn(rng, out, "blk.0.", FFN)
    out.close()


def write_qwen(path, rng, arch):
    out = Writer(path, arch, 1)
    gqa_header(out.w, 3 * FFN)
    out.w.add_expert_feed_forward_length(FFN)
    out.w.add_expert_count(EXPERTS)
    out.w.add_expert_used_count(USED)
    embed_and_head(rng, out)
    qwen2 = arch == "qwen2moe"
    gqa(rng, out, "blk.0.", bias=qwen2, qk_norm=None if qwen2 else "per_head")
    out.t("blk.0.ffn_norm.weight", norm_w(rng, HIDDEN))
    expert_banks(rng, out, "blk.0.", EXPERTS, FFN)
    if qwen2:
        out.w.add_expert_shared_feed_forward_length(FFN)
        out.t("blk.0.ffn_gate_inp_shexp.weight", normal(rng, (HIDDEN,), HIDDEN))
        dense_ffn(rng, out, "blk.0.", FFN, "_shexp")
    out.close()


def write_olmoe(path, rng):
    out = Writer(path, "olmoe", 1)  # llama.cpp's olmoe has no GQA: k_norm spans n_embd
    gqa_header(out.w, FFN, kv_heads=HEADS)
    out.w.add_expert_count(EXPERTS)
    out.w.add_expert_used_count(USED)
    embed_and_head(rng, out)
    gqa(rng, out, "blk.0.", qk_norm="whole", kv_heads=HEADS)
    out.t("blk.0.ffn_norm.weight", norm_w(rng, HIDDEN))
    expert_banks(rng, out, "blk.0.", EXPERTS, FFN)
    out.close()


MLA = dict(heads=4, nope=32, rope=32, vd=32, q_rank=128, kv_rank=128, experts=8, groups=(4, 2), scale=2.5)


def write_deepseek2(path, rng):
    m = MLA
    out = Writer(path, "deepseek2", 2)
    w = out.w
    w.add_feed_forward_length(FFN)
    w.add_head_count(m["heads"])
    w.add_head_count_kv(1)
    w.add_key_length(m["kv_rank"] + m["rope"])  # the latent cache, as the converter describes MLA
    w.add_value_length(m["kv_rank"])
    w.add_key_length_mla(m["nope"] + m["rope"])
    w.add_value_length_mla(m["vd"])
    w.add_rope_dimension_count(m["rope"])
    w.add_q_lora_rank(m["q_rank"])
    w.add_kv_lora_rank(m["kv_rank"])
    w.add_leading_dense_block_count(1)
    w.add_expert_feed_forward_length(FFN)
    w.add_expert_count(m["experts"])
    w.add_expert_used_count(USED)
    w.add_expert_shared_count(1)
    w.add_expert_weights_scale(m["scale"])
    w.add_expert_weights_norm(True)
    w.add_expert_gating_func(gguf.ExpertGatingFuncType.SIGMOID)
    w.add_expert_group_count(m["groups"][0])
    w.add_expert_group_used_count(m["groups"][1])
    embed_and_head(rng, out)
    h, nope, rope, vd, qr, kvr = m["heads"], m["nope"], m["rope"], m["vd"], m["q_rank"], m["kv_rank"]
    for l in range(2):
        b = f"blk.{l}."
        out.t(b + "attn_norm.weight", norm_w(rng, HIDDEN))
        out.t(b + "attn_q_a.weight", normal(rng, (qr, HIDDEN), HIDDEN))
        out.t(b + "attn_q_a_norm.weight", norm_w(rng, qr))
        out.t(b + "attn_q_b.weight", normal(rng, (h * (nope + rope), qr), qr))
        out.t(b + "attn_kv_a_mqa.weight", normal(rng, (kvr + rope, HIDDEN), HIDDEN))
        out.t(b + "attn_kv_a_norm.weight", norm_w(rng, kvr))
        kv_b = normal(rng, (h, nope + vd, kvr), kvr)
        out.t(b + "attn_k_b.weight", kv_b[:, :nope, :].transpose(0, 2, 1))  # [heads][kv_rank][nope]
        out.t(b + "attn_v_b.weight", kv_b[:, nope:, :])  # [heads][vd][kv_rank]
        out.t(b + "attn_output.weight", normal(rng, (HIDDEN, h * vd), h * vd))
        out.t(b + "ffn_norm.weight", norm_w(rng, HIDDEN))
        if l == 0:
            dense_ffn(rng, out, b, FFN)
            continue
        expert_banks(rng, out, b, m["experts"], FFN)
        out.t(b + "exp_probs_b.bias", 0.1 * rng.standard_normal(m["experts"]))
        dense_ffn(rng, out, b, FFN, "_shexp")
    out.close()


def write_gpt_oss(path, rng):
    out = Writer(path, "gpt-oss", 2)
    gqa_header(out.w, FFN)
    out.w.add_expert_feed_forward_length(FFN)
    out.w.add_expert_count(EXPERTS)
    out.w.add_expert_used_count(USED)
    out.w.add_sliding_window(SWA)
    embed_and_head(rng, out)
    for l in range(2):
        b = f"blk.{l}."
        gqa(rng, out, b, bias=True)
        out.t(b + "attn_output.bias", 0.1 * rng.standard_normal(HIDDEN))
        out.t(b + "attn_sinks.weight", rng.standard_normal(HEADS))
        out.t(b + "post_attention_norm.weight", norm_w(rng, HIDDEN))
        expert_banks(rng, out, b, EXPERTS, FFN)
        out.t(b + "ffn_gate_inp.bias", rng.standard_normal(EXPERTS))
        out.t(b + "ffn_gate_exps.bias", 0.1 * rng.standard_normal((EXPERTS, FFN)))
        out.t(b + "ffn_up_exps.bias", 0.1 * rng.standard_normal((EXPERTS, FFN)))
        out.t(b + "ffn_down_exps.bias", 0.1 * rng.standard_normal((EXPERTS, HIDDEN)))
    out.close()


ARCHS = {
    "llama": lambda p, r: write_llama(p, r, experts=False),
    "mixtral": lambda p, r: write_llama(p, r, experts=True),
    "qwen2moe": lambda p, r: write_qwen(p, r, "qwen2moe"),
    "qwen3moe": lambda p, r: write_qwen(p, r, "qwen3moe"),
    "olmoe": write_olmoe,
    "deepseek2": write_deepseek2,
    "gpt-oss": write_gpt_oss,
}

# The matrices of each architecture that take a type: (regex for --tensor-type, whether its rows are
# whole 256-blocks: hidden-wide rows are, FFN-, rank- and head-wide ones (64, 128, 32) are not).
GQA_ROLES = [("token_embd", True), ("output", True), (r"attn_q\.weight", True), (r"attn_k\.weight", True),
             (r"attn_v\.weight", True), (r"attn_output\.weight", True)]
EXPERT_ROLES = [(r"ffn_gate_exps\.weight", True), (r"ffn_up_exps\.weight", True), (r"ffn_down_exps\.weight", False)]
DENSE_FFN = [(r"ffn_gate\.weight", True), (r"ffn_up\.weight", True), (r"ffn_down\.weight", False)]
SHARED_FFN = [(r"ffn_gate_shexp\.weight", True), (r"ffn_up_shexp\.weight", True), (r"ffn_down_shexp\.weight", False)]
MLA_ROLES = [("token_embd", True), ("output", True), (r"attn_q_a\.weight", True), (r"attn_q_b\.weight", False),
             (r"attn_kv_a_mqa\.weight", True), (r"attn_k_b\.weight", False), (r"attn_v_b\.weight", False),
             (r"attn_output\.weight", False)]
ROLES = {
    "llama": GQA_ROLES + DENSE_FFN,
    "mixtral": EXPERT_ROLES + GQA_ROLES,
    "qwen2moe": EXPERT_ROLES + GQA_ROLES + SHARED_FFN,
    "qwen3moe": EXPERT_ROLES + GQA_ROLES,
    "olmoe": EXPERT_ROLES + GQA_ROLES,
    "deepseek2": EXPERT_ROLES + MLA_ROLES + DENSE_FFN + SHARED_FFN,
    "gpt-oss": EXPERT_ROLES + GQA_ROLES,
}


def assignment(arch, a):
    """--tensor-type overrides of every rotation of architecture number a: the slots (rotation,
    matrix) take the 15 types once each before any repeats, the 256-block types on slots whose rows
    fit them, starting at a different type and slot per architecture so that, over the
    architectures, every type lands on an expert bank and on a dense matrix."""
    slots = [(r, pat, fits) for r in range(ROTATIONS) for pat, fits in ROLES[arch]]
    shift = a % len(slots)
    slots = slots[shift:] + slots[:shift]
    order = TYPES[(2 * a) % len(TYPES):] + TYPES[:(2 * a) % len(TYPES)]
    big = [t for t in order if t in BLOCK256]
    small = [t for t in order if t not in BLOCK256]
    out = {}
    wide = [x for x in slots if x[2]]
    for x, t in zip(wide, big):
        out[x] = t
    rest = [x for x in slots if x not in out]
    queue = list(small)
    for x in rest:
        fits = [t for t in queue if x[2] or t not in BLOCK256]
        if not fits:  # every type placed once: go round again, 256-blocks only where they fit
            queue = [t for t in order if x[2] or t not in BLOCK256]
            fits = queue
        out[x] = fits[0]
        queue.remove(fits[0])
    per = [[] for _ in range(ROTATIONS)]
    for (r, pat, _), t in out.items():
        per[r].append((pat, t))
    return per


def quantize(src, dst, qtype, overrides=()):
    args = [str(QUANTIZE)]
    for pat, t in overrides:
        if pat == "token_embd":
            args += ["--token-embedding-type", t]
        elif pat == "output":
            args += ["--output-tensor-type", t]
        else:
            args += ["--tensor-type", f"{pat}={t}"]
    args += [str(src), str(dst), qtype, "1"]
    subprocess.run(args, check=True, capture_output=True)


# --- llama.cpp: prompt, greedy continuation, logits ------------------------------------------------



def build_driver(work: pathlib.Path) -> pathlib.Path:
    return llama_build.build_driver(work, llama_build.LOGITS_DRIVER, need_quantize=True)


def run_llama(driver, path, prompt, work):
    out = work / "llama.bin"
    subprocess.run([str(driver), str(path), str(out), str(NEW), *map(str, prompt)], check=True)
    raw = out.read_bytes()
    gen = np.frombuffer(raw[:4 * NEW], dtype=np.int32)
    logits = np.frombuffer(raw[4 * NEW:], dtype=np.float32).reshape(PROMPT + NEW, VOCAB)
    return np.concatenate([np.asarray(prompt, np.int32), gen]), logits


# --- the float64 forward pass ----------------------------------------------------------------------

def read_weights(path):
    """Every tensor of a GGUF file dequantized to float64 in NumPy order, and the matrix types."""
    r = gguf.GGUFReader(str(path))
    w, types = {}, {}
    for t in r.tensors:
        a = dequantize(t.data, t.tensor_type)
        shape = tuple(int(d) for d in reversed(t.shape.tolist()))
        w[t.name] = np.asarray(a, dtype=np.float64).reshape(shape)
        if len(shape) >= 2:
            types[t.name] = t.tensor_type.name
    return w, types


def rms(x, weight):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + EPS) * weight


def rope(x, kind):
    """x [T, H, D] at positions 0..T-1; 'norm' rotates adjacent pairs, 'neox' the two halves."""
    T, _, D = x.shape
    inv = ROPE_BASE ** (-np.arange(0, D, 2, dtype=np.float64) / D)
    ang = np.arange(T, dtype=np.float64)[:, None] * inv[None, :]
    cos, sin = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
    if kind == "norm":
        a, b = x[..., 0::2], x[..., 1::2]
        out = np.empty_like(x)
        out[..., 0::2], out[..., 1::2] = a * cos - b * sin, a * sin + b * cos
        return out
    a, b = x[..., : D // 2], x[..., D // 2:]
    return np.concatenate([a * cos - b * sin, a * sin + b * cos], axis=-1)


def attend(q, k, v, scale, window=None, sinks=None):
    """q [T, H, D], k [T, KV, D], v [T, KV, Dv]: causal (and windowed) softmax attention, GQA."""
    T, H, _ = q.shape
    group = H // k.shape[1]
    out = np.zeros((T, H, v.shape[2]))
    i, j = np.arange(T)[:, None], np.arange(T)[None, :]
    visible = j <= i
    if window:
        visible &= (i - j) < window
    for h in range(H):
        s = (q[:, h, :] @ k[:, h // group, :].T) * scale
        s = np.where(visible, s, -np.inf)
        m = s.max(axis=1, keepdims=True)
        if sinks is not None:
            m = np.maximum(m, sinks[h])
        e = np.exp(s - m)
        den = e.sum(axis=1, keepdims=True) + (np.exp(sinks[h] - m) if sinks is not None else 0.0)
        out[:, h, :] = (e / den) @ v[:, h // group, :]
    return out


def silu(x):
    return x / (1.0 + np.exp(-x))


def swiglu(x, gate, up, down):
    return (silu(x @ gate.T) * (x @ up.T)) @ down.T


class Gaps:
    """The smallest float64 gap between the last expert (or group) chosen and the first left out."""

    def __init__(self):
        self.min = np.inf

    def see(self, scores, k):
        s = np.sort(scores)[::-1]
        if k < len(s):
            self.min = min(self.min, s[k - 1] - s[k])


def moe(x, w, b, arch, gaps):
    """The routed experts of layer prefix b on rows x [T, H]."""
    gate, up, down = (w[b + f"ffn_{n}_exps.weight"] for n in ("gate", "up", "down"))
    logits = x @ w[b + "ffn_gate_inp.weight"].T
    out = np.zeros_like(x)
    for t in range(x.shape[0]):
        if arch == "deepseek2":
            p = 1.0 / (1.0 + np.exp(-logits[t]))
            sel = p + w[b + "exp_probs_b.bias"]
            n_group, used_groups = MLA["groups"]
            per = len(sel) // n_group
            group_scores = np.array([np.sort(sel[g * per:(g + 1) * per])[::-1][:2].sum() for g in range(n_group)])
            gaps.see(group_scores, used_groups)
            keep = np.argsort(-group_scores, kind="stable")[:used_groups]
            masked = np.full_like(sel, -np.inf)
            for g in keep:
                masked[g * per:(g + 1) * per] = sel[g * per:(g + 1) * per]
            gaps.see(masked[np.isfinite(masked)], USED)
            chosen = np.argsort(-masked, kind="stable")[:USED]
            weights = p[chosen] / p[chosen].sum() * MLA["scale"]
        elif arch == "gpt-oss":
            l = logits[t] + w[b + "ffn_gate_inp.bias"]
            gaps.see(l, USED)
            chosen = np.argsort(-l, kind="stable")[:USED]
            e = np.exp(l[chosen] - l[chosen].max())
            weights = e / e.sum()
        else:
            l = logits[t]
            gaps.see(l, USED)
            p = np.exp(l - l.max())
            p /= p.sum()
            chosen = np.argsort(-p, kind="stable")[:USED]
            weights = p[chosen]
            if arch in ("mixtral", "qwen3moe"):  # renormalized over the chosen
                weights = weights / weights.sum()
        for e_id, wt in zip(chosen, weights):
            if arch == "gpt-oss":
                g = x[t] @ gate[e_id].T + w[b + "ffn_gate_exps.bias"][e_id]
                u = x[t] @ up[e_id].T + w[b + "ffn_up_exps.bias"][e_id]
                g = np.minimum(g, 7.0)
                u = np.clip(u, -7.0, 7.0)
                h = g / (1.0 + np.exp(-1.702 * g)) * (u + 1.0)
                y = h @ down[e_id].T + w[b + "ffn_down_exps.bias"][e_id]
            else:
                y = swiglu(x[t], gate[e_id], up[e_id], down[e_id])
            out[t] += wt * y
    return out


def gqa_attention(x, w, b, arch, layer):
    T = x.shape[0]
    q, k, v = (x @ w[b + f"attn_{n}.weight"].T for n in "qkv")
    if b + "attn_q.bias" in w:
        q, k, v = q + w[b + "attn_q.bias"], k + w[b + "attn_k.bias"], v + w[b + "attn_v.bias"]
    if arch == "olmoe":
        q, k = rms(q, w[b + "attn_q_norm.weight"]), rms(k, w[b + "attn_k_norm.weight"])
    kv = k.shape[1] // HEAD_DIM
    q, k, v = q.reshape(T, HEADS, HEAD_DIM), k.reshape(T, kv, HEAD_DIM), v.reshape(T, kv, HEAD_DIM)
    if arch == "qwen3moe":
        q, k = rms(q, w[b + "attn_q_norm.weight"]), rms(k, w[b + "attn_k_norm.weight"])
    kind = "norm" if arch in ("llama", "mixtral") else "neox"
    q, k = rope(q, kind), rope(k, kind)
    sinks = w.get(b + "attn_sinks.weight") if arch == "gpt-oss" else None
    window = SWA if arch == "gpt-oss" and layer % 2 == 0 else None
    a = attend(q, k, v, 1.0 / np.sqrt(HEAD_DIM), window, sinks).reshape(T, HEADS * HEAD_DIM)
    y = a @ w[b + "attn_output.weight"].T
    if b + "attn_output.bias" in w:
        y = y + w[b + "attn_output.bias"]
    return y


def mla_attention(x, w, b):
    m = MLA
    T, H, nope, rp, vd = x.shape[0], m["heads"], m["nope"], m["rope"], m["vd"]
    q = rms(x @ w[b + "attn_q_a.weight"].T, w[b + "attn_q_a_norm.weight"]) @ w[b + "attn_q_b.weight"].T
    q = q.reshape(T, H, nope + rp)
    kv = x @ w[b + "attn_kv_a_mqa.weight"].T
    c = rms(kv[:, : m["kv_rank"]], w[b + "attn_kv_a_norm.weight"])
    k_pe = rope(kv[:, None, m["kv_rank"]:], "norm")
    q_pe = rope(q[..., nope:], "norm")
    k_b = w[b + "attn_k_b.weight"]  # [H][kv_rank][nope]
    v_b = w[b + "attn_v_b.weight"]  # [H][vd][kv_rank]
    k_nope = np.einsum("tr,hrn->thn", c, k_b)
    v = np.einsum("tr,hdr->thd", c, v_b)
    k = np.concatenate([k_nope, np.broadcast_to(k_pe, (T, H, rp))], axis=-1)
    qf = np.concatenate([q[..., :nope], q_pe], axis=-1)
    a = attend(qf, k, v, 1.0 / np.sqrt(nope + rp)).reshape(T, H * vd)
    return a @ w[b + "attn_output.weight"].T


def forward64(arch, w, tokens):
    layers = 2 if arch in ("deepseek2", "gpt-oss") else 1
    gaps = Gaps()
    h = w["token_embd.weight"][np.asarray(tokens)]
    for l in range(layers):
        b = f"blk.{l}."
        a = rms(h, w[b + "attn_norm.weight"])
        h = h + (mla_attention(a, w, b) if arch == "deepseek2" else gqa_attention(a, w, b, arch, l))
        f = rms(h, w[b + ("post_attention_norm.weight" if arch == "gpt-oss" else "ffn_norm.weight")])
        if b + "ffn_gate.weight" in w:
            y = swiglu(f, w[b + "ffn_gate.weight"], w[b + "ffn_up.weight"], w[b + "ffn_down.weight"])
        else:
            y = moe(f, w, b, arch, gaps)
        if b + "ffn_gate_shexp.weight" in w:
            s = swiglu(f, w[b + "ffn_gate_shexp.weight"], w[b + "ffn_up_shexp.weight"], w[b + "ffn_down_shexp.weight"])
            if b + "ffn_gate_inp_shexp.weight" in w:
                s = s * (1.0 / (1.0 + np.exp(-(f @ w[b + "ffn_gate_inp_shexp.weight"]))))[:, None]
            y = y + s
        h = h + y
    return rms(h, w["output_norm.weight"]) @ w["output.weight"].T, gaps.min


# --- choosing prompts and recording ----------------------------------------------------------------

def row_errors(got, want):
    return np.abs(got - want).max(axis=1) / np.abs(want).max(axis=1)


def well_posed(tokens, llama_logits, logits64, gap):
    if gap < ROUTER_GAP:
        return "router near-tie"
    if row_errors(llama_logits, logits64).max() > LLAMA_AGREEMENT:
        return "llama.cpp far from float64"
    for r in range(PROMPT - 1, PROMPT + NEW - 1):
        row = logits64[r]
        top = np.sort(row)[::-1]
        if np.argmax(row) != tokens[r + 1]:
            return "greedy differs from float64"
        if top[0] - top[1] < MARGIN * np.abs(row).max():
            return "small greedy margin"
    return None


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("*.gguf"):
        old.unlink()
    ref, cases = {}, []
    coverage = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = pathlib.Path(tmp)
        driver = build_driver(work)
        for a_i, (arch, write) in enumerate(ARCHS.items()):
            src = work / f"{arch}-f32.gguf"
            write(src, np.random.default_rng(20261207 + a_i))
            rotations = assignment(arch, a_i)
            variants = [(f"R{r + 1}", "Q8_0", rotations[r]) for r in range(ROTATIONS)]
            variants.append(("Q4_K_M", "Q4_K_M", ()))
            for tag, base, overrides in variants:
                name = f"{arch}-{tag}.gguf"
                path = OUT / name
                quantize(src, path, base, overrides)
                w, types = read_weights(path)
                for tname, ttype in types.items():
                    expert = "_exps." in tname
                    coverage.setdefault(arch, {"expert": set(), "dense": set()})["expert" if expert else "dense"].add(
                        ttype.lower())
                rng = np.random.default_rng(7 + a_i)
                for attempt in range(400):
                    prompt = rng.integers(0, VOCAB, size=PROMPT).tolist()
                    tokens, llama_logits = run_llama(driver, path, prompt, work)
                    logits64, gap = forward64(arch, w, tokens)
                    why = well_posed(tokens, llama_logits, logits64, gap)
                    if why is None:
                        break
                else:
                    sys.exit(f"{name}: no well-posed prompt in 400 tries (last: {why})")
                ref[f"{name}.tokens"] = tokens.astype(np.int32)
                ref[f"{name}.llama_logits"] = llama_logits.astype(np.float32)
                ref[f"{name}.logits64"] = logits64.astype(np.float32)
                err = row_errors(llama_logits, logits64).max()
                cases.append({"file": name, "arch": arch, "prompt": PROMPT, "new": NEW,
                              "types": sorted(set(t.lower() for t in types.values()))})
                print(f"{name}: {path.stat().st_size / 1e6:.2f} MB, prompt try {attempt + 1}, llama.cpp vs float64 "
                      f"{err:.1e}, router gap {gap:.2e}, types {' '.join(cases[-1]['types'])}", flush=True)
    # Every type in every architecture's files, and, over all architectures, every type on an expert
    # bank and on a dense matrix (the expert GEMVs are shared code, so one architecture each will do).
    want = set(t.lower() for t in TYPES)
    missing = []
    for arch, c in coverage.items():
        missing += [f"{arch}: no {t}" for t in sorted(want - c["expert"] - c["dense"])]
    for kind in ("expert", "dense"):
        seen = set().union(*(c[kind] for c in coverage.values()))
        missing += [f"{t} on no {kind} matrix of any architecture" for t in sorted(want - seen)]
    if missing:
        sys.exit("coverage:\n  " + "\n  ".join(missing))
    save_file(ref, OUT / "reference.safetensors")
    (OUT / "cases.json").write_text(json.dumps(cases, indent=1) + "\n")


if __name__ == "__main__":
    main()
