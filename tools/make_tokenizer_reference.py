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

from tokenizers import Tokenizer, pre_tokenizers

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
]


def gpt2_variant(tok: Tokenizer) -> Tokenizer:
    j = json.loads(tok.to_str())
    j["pre_tokenizer"] = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    return Tokenizer.from_str(json.dumps(j))


def main():
    tok = Tokenizer.from_file(str(MODEL / "tokenizer.json"))
    source = (MODEL / "heldout.txt").read_text(encoding="utf-8")
    cases = CASES + [source[i:i + 700] for i in range(0, min(len(source), 14000), 700)]
    out = {"qwen2": [], "gpt2": []}
    for name, t in (("qwen2", tok), ("gpt2", gpt2_variant(tok))):
        for text in cases:
            ids = t.encode(text).ids
            out[name].append({"text": text, "ids": ids, "decoded": t.decode(ids, skip_special_tokens=False)})
    (ROOT / "tests" / "data" / "tokenizer_reference.json").write_text(json.dumps(out, ensure_ascii=False, indent=0))
    (ROOT / "tests" / "data" / "tokenizer_gpt2_variant.json").write_text(gpt2_variant(tok).to_str())
    print(len(cases), "cases")


if __name__ == "__main__":
    main()
