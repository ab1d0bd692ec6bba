#!/usr/bin/env python3
"""Reference encodings for the tokenizer tests: Hugging Face `tokenizers` on the shipped model's
tokenizer.json (byte-level BPE, Qwen2 pre-tokenizer) and on a GPT-2-style variant of it (same
vocabulary and merges, ByteLevel(use_regex=True) pre-tokenizer), over a corpus built to hit the
hard cases: Unicode scripts and combining marks, emoji (with skin tones and ZWJ sequences),
whitespace runs of every kind, digits, contractions in both cases, special tokens inside text, and
slices of Python source. Saved as tests/data/tokenizer_reference.json.

    .venv/bin/python tools/make_tokenizer_reference.py
"""
import json
import pathlib

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

ROOT = pathlib.Path(__file__).resolve().parent.parent
MODEL = ROOT / "models" / "switchyard-tiny-moe"

CASES = [
    "", " ", "  ", "\t", "\n", "\r\n", "a", "hello world", " hello  world ", "Hello,   World!\n\n",
    "def f(x):\n    return x + 1\n", "if __name__ == \"__main__\":\n\tmain()\r\n",
    "I'm, you're, he's, we've, they'll, I'd, don't, DON'T, I'M, We'Ve, it'S, 'tis", "''quoted''  'x",
    "12345 3.14159 1e-9 0x1F 1,000,000 ½ ² ٣ Ⅻ", "x1y22z333", "   leading and trailing   ",
    "tabs\tand\t\tnewlines\n\n\nand\r\r\ncarriage", "trailing spaces   \n  next line", "a \n b", "  \n  \n  ",
    "naïve café résumé Straße ÆØÅ Ωμέγα Ελληνικά Русский язык", "中文测试，你好世界！日本語のテキスト。한국어 텍스트",
    "العربية עברית हिन्दी भाषा ภาษาไทย", "e\u0301 n\u0303 combining: a\u0300\u0301\u0302",
    "emoji 👍 👍🏽 👨‍👩‍👧 🇩🇪 ❤️ 🤖✨", "math ∀x∈ℝ: x² ≥ 0 → ∞", "nbsp\u00a0here\u3000ideographic\u2028line\u2029para",
    "zero\u200bwidth\u200djoiner", "control \x01\x02\x7f chars", "<|endoftext|>", "before<|endoftext|>after",
    "a<|endoftext|><|endoftext|>b", "<|endoftext", "mixed CASE and camelCase and snake_case and SCREAMING_CASE",
    "https://example.com/path?q=1&r=2#frag", "email@example.org", "$HOME/bin:/usr/bin", "((([[[{{{}}}]]])))",
    "----====____****", "...!!!???", "“smart quotes” ‘single’ — dashes – …",
    "1234567 digits 12 345 6789012", "漢字とひらがなとカタカナ混じり文です。", "x.append(y) a,b;c:d !important",
    "naïve\u0301 Ω̃ \u200d\u200c", "€100 £5 ¥3 ©®™ ±×÷", "\tindent\n\t\tmore\r\n",
]


def gpt2_variant(tok: Tokenizer) -> Tokenizer:
    j = json.loads(tok.to_str())
    j["pre_tokenizer"] = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    return Tokenizer.from_str(json.dumps(j))


def sentencepiece_style(lines):
    """A Llama-style tokenizer.json: Prepend("▁") + Replace(" ", "▁") normalizer, no pre-tokenizer,
    byte-fallback BPE with <0x00>..<0xFF> in the model vocabulary (not added tokens)."""
    tok = Tokenizer(models.BPE(byte_fallback=True, unk_token="<unk>", fuse_unk=True))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("\u2581"), normalizers.Replace(" ", "\u2581")])
    tok.decoder = decoders.Sequence([decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse(),
                                     decoders.Strip(" ", 1, 0)])
    tok.train_from_iterator(lines, trainer=trainers.BpeTrainer(vocab_size=1200, special_tokens=["<unk>", "<s>", "</s>"],
                                                               show_progress=False))
    j = json.loads(tok.to_str())
    vocab = j["model"]["vocab"]
    for b in range(256):
        name = f"<0x{b:02X}>"
        if name not in vocab:
            vocab[name] = len(vocab)
    return Tokenizer.from_str(json.dumps(j))


LLAMA3 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|"
          r"\s+(?!\S)|\s+")
DEEPSEEK_V3 = [r"\p{N}{1,3}", "[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+",
               "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+" +
               r"|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|"
               r"\s*[\r\n]+|\s+(?!\S)|\s+"]


def split_variant(tok: Tokenizer, patterns) -> Tokenizer:
    """The same vocabulary and merges behind other Split stages (Llama 3's, DeepSeek-V3's), as their
    tokenizer.json files spell them."""
    j = json.loads(tok.to_str())
    stages = [{"type": "Split", "pattern": {"Regex": p}, "behavior": "Isolated", "invert": False} for p in patterns]
    stages.append({"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False})
    j["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": stages}
    return Tokenizer.from_str(json.dumps(j))


def metaspace_variant(tok: Tokenizer) -> Tokenizer:
    j = json.loads(tok.to_str())
    j["normalizer"] = None
    j["pre_tokenizer"] = {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first", "split": False}
    return Tokenizer.from_str(json.dumps(j))


def main():
    tok = Tokenizer.from_file(str(MODEL / "tokenizer.json"))
    source = (MODEL / "heldout.txt").read_text(encoding="utf-8")
    cases = CASES + [source[i:i + 700] for i in range(0, min(len(source), 14000), 700)]
    lines = [line for line in source.splitlines() if line.strip()][:3000]
    spm = sentencepiece_style(lines)
    spm_cases = [c.replace("<|endoftext|>", "</s>") for c in cases]
    out = {"qwen2": [], "gpt2": [], "llama3": [], "deepseek_v3": [], "spm": [], "spm_metaspace": []}
    llama3, deepseek = split_variant(tok, [LLAMA3]), split_variant(tok, DEEPSEEK_V3)
    (ROOT / "tests" / "data" / "tokenizer_llama3_variant.json").write_text(llama3.to_str())
    (ROOT / "tests" / "data" / "tokenizer_deepseek_v3_variant.json").write_text(deepseek.to_str())
    for name, t, cs in (("qwen2", tok, cases), ("gpt2", gpt2_variant(tok), cases), ("llama3", llama3, cases),
                        ("deepseek_v3", deepseek, cases), ("spm", spm, spm_cases),
                        ("spm_metaspace", metaspace_variant(spm), spm_cases)):
        for text in cs:
            ids = t.encode(text, add_special_tokens=False).ids
            out[name].append({"text": text, "ids": ids, "decoded": t.decode(ids, skip_special_tokens=False)})
    (ROOT / "tests" / "data" / "tokenizer_spm.json").write_text(spm.to_str())
    (ROOT / "tests" / "data" / "tokenizer_spm_metaspace.json").write_text(metaspace_variant(spm).to_str())
    (ROOT / "tests" / "data" / "tokenizer_reference.json").write_text(json.dumps(out, ensure_ascii=False, indent=0))
    (ROOT / "tests" / "data" / "tokenizer_gpt2_variant.json").write_text(gpt2_variant(tok).to_str())
    print(len(cases), "cases")


if __name__ == "__main__":
    main()
