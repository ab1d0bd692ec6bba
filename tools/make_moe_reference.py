#!/usr/bin/env python3
"""Reference MoE blocks from Hugging Face transformers' own modules, saved under tests/data/.

Instantiates MixtralSparseMoeBlock, Qwen3MoeSparseMoeBlock, OlmoeSparseMoeBlock, DeepseekV3MoE,
Qwen2MoeSparseMoeBlock, GptOssMLP and SwitchTransformersSparseMLP (capacity 6, so T = 64 drops
tokens) with small random configs (fixed seeds), runs them on random inputs
with T in {1, 7, 64}, and saves weights, inputs, router ids, router weights and outputs.
Weights are drawn so that router logits are spread (tie-free); DeepSeek's correction bias makes
some biased scores negative, where masking groups with 0 instead of -inf would differ.

    .venv/bin/python tools/make_moe_reference.py
"""
import pathlib

import torch
import transformers
from safetensors.torch import save_file
from transformers import (DeepseekV3Config, GptOssConfig, MixtralConfig, OlmoeConfig, Qwen2MoeConfig, Qwen3MoeConfig,
                          SwitchTransformersConfig)
from transformers.models.gpt_oss.modeling_gpt_oss import GptOssMLP
from transformers.models.switch_transformers.modeling_switch_transformers import SwitchTransformersSparseMLP
from transformers.models.deepseek_v3.modeling_deepseek_v3 import DeepseekV3MoE
from transformers.models.mixtral.modeling_mixtral import MixtralSparseMoeBlock
from transformers.models.olmoe.modeling_olmoe import OlmoeSparseMoeBlock
from transformers.models.qwen2_moe.modeling_qwen2_moe import Qwen2MoeSparseMoeBlock
from transformers.models.qwen3_moe.modeling_qwen3_moe import Qwen3MoeSparseMoeBlock

DATA = pathlib.Path(__file__).resolve().parent.parent / "tests" / "data"
H, F, E = 32, 24, 8


def families():
    return {
        "mixtral": (MixtralSparseMoeBlock, MixtralConfig(hidden_size=H, intermediate_size=F, num_local_experts=E,
                                                         num_experts_per_tok=2)),
        "qwen3_moe": (Qwen3MoeSparseMoeBlock, Qwen3MoeConfig(hidden_size=H, moe_intermediate_size=F, num_experts=E,
                                                             num_experts_per_tok=2, norm_topk_prob=True)),
        "olmoe": (OlmoeSparseMoeBlock, OlmoeConfig(hidden_size=H, intermediate_size=F, num_experts=E, num_experts_per_tok=2,
                                                   norm_topk_prob=False)),
        "deepseek_v3": (DeepseekV3MoE, DeepseekV3Config(hidden_size=H, moe_intermediate_size=F, n_routed_experts=E,
                                                        num_experts_per_tok=2, n_group=4, topk_group=2, norm_topk_prob=True,
                                                        routed_scaling_factor=2.5, n_shared_experts=1)),
        "qwen2_moe": (Qwen2MoeSparseMoeBlock, Qwen2MoeConfig(hidden_size=H, moe_intermediate_size=F,
                                                             shared_expert_intermediate_size=40, num_experts=E,
                                                             num_experts_per_tok=2, norm_topk_prob=False)),
        "gpt_oss": (GptOssMLP, GptOssConfig(hidden_size=H, intermediate_size=F, num_local_experts=E, num_experts_per_tok=2)),
        "switch": (SwitchTransformersSparseMLP, SwitchTransformersConfig(d_model=H, d_ff=F, num_experts=E, expert_capacity=6,
                                                                         router_bias=False, dense_act_fn="relu")),
    }


def init_(module, gen, bf16):
    with torch.no_grad():
        for name, p in module.named_parameters():
            fan_in = p.shape[-1]
            router = name.startswith("gate.") or name.startswith("router.")
            scale = 3.0 if router else 1.0  # spread router logits: no near-ties
            p.copy_(torch.randn(p.shape, generator=gen) * scale * fan_in ** -0.5)
            if bf16 and "experts" in name or bf16 and "shared" in name:
                p.copy_(p.to(torch.bfloat16).float())  # bf16-valued weights, computed in f32
        for name, b in module.named_buffers():
            if "e_score_correction_bias" in name:
                b.copy_(torch.randn(b.shape, generator=gen) * 0.5)


def main():
    DATA.mkdir(parents=True, exist_ok=True)
    for i, (fam, (cls, cfg)) in enumerate(families().items()):
        for bf16 in (False, True):
            if bf16 and fam not in ("mixtral", "deepseek_v3"):
                continue
            gen = torch.Generator().manual_seed(1000 + i)
            m = cls(cfg).float().eval()
            init_(m, gen, bf16)
            out = {}
            for k, v in m.state_dict().items():
                v = v.detach().contiguous()
                out[k] = v.to(torch.bfloat16) if bf16 and ("experts" in k or "shared" in k) and v.dim() >= 2 else v
            for t in (1, 7, 64):
                x = torch.randn(1, t, H, generator=gen)
                with torch.no_grad():
                    if fam == "switch":
                        one_hot, probs, logits = m.router(x)
                        ids = logits.view(t, E).argmax(-1, keepdim=True)
                        weights = probs.view(t, 1)
                        out[f"T{t}.kept"] = one_hot.view(t, E).sum(-1).to(torch.int32).contiguous()
                    else:
                        gate = (m.router if fam == "gpt_oss" else m.gate)(x.view(-1, H))
                        ids, weights = gate[2], gate[1]
                    y = m(x)
                    if isinstance(y, tuple):
                        y = y[0]
                out[f"T{t}.x"] = x.view(t, H).contiguous()
                out[f"T{t}.ids"] = ids.to(torch.int32).contiguous()
                out[f"T{t}.weights"] = weights.float().contiguous()
                out[f"T{t}.y"] = y.view(t, H).contiguous()
            name = f"moe_{fam}{'_bf16' if bf16 else ''}.safetensors"
            save_file(out, DATA / name, metadata={"generator": "tools/make_moe_reference.py",
                                                  "transformers": transformers.__version__, "torch": torch.__version__})
            print(name, (DATA / name).stat().st_size, "bytes")


if __name__ == "__main__":
    main()
