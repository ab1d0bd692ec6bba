#!/usr/bin/env python3
"""Reference data for GGUF's score-based SentencePiece vocabulary (tokenizer.ggml.model = "llama",
the Llama / Mistral / Mixtral tokenizer as llama.cpp runs it), saved in tests/data:

  spm_vocab_bpe.gguf      a vocabulary-only GGUF of a SentencePiece BPE model trained here (byte
                          fallback, split digits, as Llama and Mistral are trained), with added
                          special tokens (CONTROL), added plain tokens (USER_DEFINED) and padding
                          entries (UNUSED); add_bos_token = true, add_eos_token = false
  spm_vocab_unigram.gguf  the same from a SentencePiece unigram model, with add_bos_token = false,
                          add_eos_token = true and add_space_prefix = false
  spm_reference.json      for both: llama.cpp's own tokenization of a test corpus (every
                          add_special / parse_special combination), its detokenization of the result
                          (every remove_special / unparse_special combination), every token's piece,
                          attributes and end-of-generation flag; and, beside them, what Hugging Face
                          `tokenizers` (transformers' LlamaTokenizer built from the same model) and
                          the `sentencepiece` library give for the same strings, and the indices
                          of the strings where each differs from llama.cpp ("differences")

How:
1. sentencepiece (tools/requirements.txt) trains both models on a mixed corpus made here (Latin,
   Cyrillic, Greek, CJK, Arabic, Hebrew, Devanagari, Thai, emoji, digits, whitespace runs, Python
   source from the shipped model's held-out file, a little C and JSON).
2. transformers saves each as a Hugging Face tokenizer folder (tokenizer.model, tokenizer.json,
   tokenizer_config.json with the added tokens, config.json with a vocab_size that leaves padding
   entries for the bpe model).
3. llama.cpp's own converter code (conversion/base.py `_set_vocab_sentencepiece`, from the pinned
   llama-cpp-python sdist) writes the vocabulary into a GGUF with the gguf-py vendored beside it,
   plus Llama hyperparameters (no tensors) so that llama.cpp loads the file vocab-only.
4. A small C++ driver linked against the already built libllama (the peers build of
   bench/peers/run.sh) loads each GGUF with vocab_only = true and calls llama_tokenize,
   llama_detokenize and llama_token_to_piece.

Strings that are not valid UTF-8 are stored as {"hex": "..."} in the JSON.

    .venv/bin/python tools/make_spm_reference.py    # after bash bench/peers/run.sh built llama.cpp
    # SWITCHYARD_PEERS_CACHE=... picks another peers cache (default ~/.cache/switchyard-peers)
"""
import json
import pathlib
import random
import subprocess
import sys
import tempfile

import sentencepiece as spm

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import llama_build  # noqa: E402

LLAMA_SRC, LLAMA_VERSION = llama_build.LLAMA_SRC, llama_build.LLAMA_VERSION
DATA = ROOT / "tests" / "data"

# ---------------------------------------------------------------------------------------------
# The training corpus: generated from word lists with a fixed seed.

WORDS = {
    "en": "the of and to in is that for it as with was on be by this are from at or an which have not but all "
          "they one were there their what so up out if about who get go me when make can like time no just him "
          "know take people into year your good some could them see other than then now look only come its over "
          "think also back after use two how our work first well way even new want because any these give day "
          "most us Hello World Python Tokenizer Mixture Experts llama switchyard quickly brown fox jumps lazy dog",
    "de": "der die und in den von zu das mit sich des auf für ist im dem nicht ein eine als auch es an werden aus "
          "er hat daß sie nach wird bei einer um am sind noch wie einem über einen so zum war haben nur oder aber "
          "vor zur bis mehr durch man sehr Straße Größe Äpfel Übung schön Mädchen heißen Fußgänger",
    "fr": "le de un être et à il avoir ne je son que se qui ce dans en du elle au pour pas plus par sur faire "
          "naïve café résumé garçon français où déjà très été après là-bas cœur Noël hôpital",
    "es": "el la de que y a en un ser se no haber por con su para como estar tener le lo todo pero más hacer "
          "año niño señor mañana corazón canción también",
    "ru": "и в не на я быть он с что а по это она этот к но они мы как из у который то за свой весь год от "
          "Русский язык привет мир Москва хорошо спасибо пожалуйста",
    "el": "και το να η ο του της με που τα στο την θα για δεν από είναι Ελληνικά Ωμέγα καλημέρα ευχαριστώ",
    "zh": "的 一 是 不 了 人 我 在 有 他 这 中 大 来 上 国 个 到 说 们 为 子 和 你 地 出 道 也 时 年 中文 测试 "
          "你好 世界 模型 语言 分词 专家 混合",
    "ja": "日本語 の テキスト です ます ひらがな カタカナ 漢字 東京 こんにちは ありがとう トークン 単語 文章",
    "ko": "한국어 텍스트 안녕하세요 감사합니다 모델 언어 서울 사람 시간",
    "ar": "العربية في من على إلى أن هذا مع كان التي الذي عن لا ما مرحبا عالم",
    "he": "עברית של את על לא זה הוא עם שלום עולם",
    "hi": "हिन्दी भाषा के में है और की को से एक नमस्ते दुनिया",
    "th": "ภาษาไทย สวัสดี โลก ครับ ค่ะ ขอบคุณ",
}
EMOJI = ["👍", "👍🏽", "👨‍👩‍👧", "🇩🇪", "❤️", "🤖", "✨", "🦙", "🚀", "😁", "✅", "🎉", "🔥", "😶‍🌫️", "🙂"]
CODE = [
    "int main(int argc, char** argv) {\n  for (int i = 0; i < argc; ++i) printf(\"%s\\n\", argv[i]);\n  return 0;\n}\n",
    "{\"name\": \"switchyard\", \"version\": [0, 3, 36], \"tags\": [\"moe\", \"gguf\"], \"ok\": true}\n",
    "#include <vector>\nstd::vector<float> x(n, 0.0f);\n\tx[i] += w[i * k + j] * y[j];\n",
    "SELECT id, name FROM users WHERE age >= 18 ORDER BY name;\n",
    "<div class=\"row\"><span>Hello</span></div>\n",
]


def make_corpus(rng: random.Random) -> list[str]:
    source = (ROOT / "models" / "switchyard-tiny-moe" / "heldout.txt").read_text(encoding="utf-8")
    lines = []
    langs = list(WORDS)
    for _ in range(6000):
        lang = rng.choice(langs)
        words = WORDS[lang].split()
        sep = "" if lang in ("zh", "ja") and rng.random() < 0.5 else " "
        s = sep.join(rng.choice(words) for _ in range(rng.randint(3, 14)))
        r = rng.random()
        if r < 0.15:
            s += rng.choice([".", "!", "?", ",", ";", ":", "...", " ?", "!!"])
        elif r < 0.25:
            s += " " + " ".join(str(rng.randint(0, 10 ** rng.randint(1, 7))) for _ in range(rng.randint(1, 3)))
        elif r < 0.33:
            s += " " + "".join(rng.choice(EMOJI) for _ in range(rng.randint(1, 3)))
        elif r < 0.40:
            s = " " * rng.randint(1, 8) + s + " " * rng.randint(0, 3)
        elif r < 0.45:
            s = s.replace(" ", "\t" if rng.random() < 0.5 else "   ")
        lines.append(s)
    # Python source (PSF licence, shipped with the model), a few other languages, numbers.
    src_lines = source.splitlines()
    for i in range(0, min(len(src_lines), 4000), 20):
        lines.append("\n".join(src_lines[i:i + 20]))
    for _ in range(200):
        lines.append(rng.choice(CODE))
        lines.append(f"{rng.randint(1, 31):02d}.{rng.randint(1, 12):02d}.{rng.randint(1900, 2100)} "
                     f"{rng.random() * 1000:.3f} {rng.randint(0, 2**31)} 0x{rng.randint(0, 2**32):08X}")
    rng.shuffle(lines)
    return lines


# ---------------------------------------------------------------------------------------------
# The test corpus.

CASES = [
    "", " ", "  ", "   ", "\t", "\n", "\n\n", "\n\n\n", "\t\n", "\r\n", " \n ", "a", "Hello world", " Hello world",
    "Hello World", " Hello World!", "Hello, world!", "  Hello", "   Hello", "    Hello\n    Hello", " (", "\n =",
    "' era", "Hello, y'all! How are you 😁 ?我想在apple工作1314151天～", "!!!!!!", "3", "33", "333", "3333",
    "33333", "333333", "1234567890", "3.14159 1e-9 0x1F 1,000,000 ½ ² ٣ Ⅻ", "Cửa Việt", " discards",
    "   leading and trailing   ", "trailing spaces   \n  next line", "a \n b", "  \n  \n  ", "multiple     spaces",
    "tabs\tand\t\tnewlines\n\n\nand\r\r\ncarriage",
    "naïve café résumé Straße ÆØÅ Ωμέγα Ελληνικά Русский язык", "中文测试，你好世界！日本語のテキスト。한국어 텍스트",
    "العربية עברית हिन्दी भाषा ภาษาไทย", "e\u0301 n\u0303 combining: a\u0300\u0301\u0302",
    "emoji 👍 👍🏽 👨‍👩‍👧 🇩🇪 ❤️ 🤖✨ 🦙.cpp", "🚀 (normal) 😶‍🌫️ (multiple emojis concatenated) ✅ (only emoji)",
    "math ∀x∈ℝ: x² ≥ 0 → ∞", "nbsp\u00a0here\u3000ideographic\u2028line\u2029para", "zero\u200bwidth\u200djoiner",
    "control \x01\x02\x7f chars", "def f(x):\n    return x + 1\n",
    "if __name__ == \"__main__\":\n\tmain()\r\n", "class Stack:\n    def __init__(self):\n        self.items = []\n",
    "for (int i = 0; i < n; ++i) {\n  sum += a[i];\n}", "https://example.com/path?q=1&r=2#frag",
    "“smart quotes” ‘single’ — dashes – …", "€100 £5 ¥3 ©®™ ±×÷", "\u2581", "\u2581\u2581hello", "a\u2581b",
    "<0x0A>", "<0x41><0x42>", "[PAD0]", "w048 7tuijk dsdfhu", "нещо на Български", "កាន់តែពិសេសអាចខលចេញ",
    # special and added tokens inside text
    "<s>", "</s>", "<unk>", "<s>Hello", "<s> Hello", "Hello</s>", "Hello </s>", "a<s>b", "<s><s>", "</s><s>",
    " <s>", "<s>\n", "<<s>>", "<s", "s>", "<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n",
    "<|im_start|><|im_end|>", "<|im_start|> x", "x <|im_end|> y", "<tool>", "call <tool> now", "<tool><tool>",
    "<tool> </s> <tool>", "{{user}}", "{{ x }} {user}}", "{{{user}}}", "<tool_call>", "<|im_start|<|im_end|>",
    "a[PAD1]b",
]
INVALID_UTF8 = [b"\xff", b"abc\xc3", b"\xc3(", b"\xe2\x82", b"x\x80y", b"\xf0\x9f\x98", b"\xed\xa0\x80",
                b"<s>\xfe</s>", b"\x00", b"a\x00b"]


def source_cases() -> list[str]:
    source = (ROOT / "models" / "switchyard-tiny-moe" / "heldout.txt").read_text(encoding="utf-8")
    return [source[i:i + 500] for i in range(0, 3000, 500)]


# ---------------------------------------------------------------------------------------------
# The driver: llama.cpp's C API on a vocabulary-only GGUF.

DRIVER = r"""
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>
#include "llama.h"

static std::string hex(std::string const& s) {
  static char const* d = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) { out += d[c >> 4]; out += d[c & 15]; }
  return out.empty() ? "-" : out;
}
static std::string unhex(std::string const& h) {
  std::string out;
  for (size_t i = 0; i + 1 < h.size(); i += 2) out += static_cast<char>(std::stoi(h.substr(i, 2), nullptr, 16));
  return out;
}
static void quiet(ggml_log_level, char const*, void*) {}

int main(int argc, char** argv) {
  if (argc != 3) { std::fprintf(stderr, "usage: driver vocab.gguf cases.hex\n"); return 2; }
  llama_log_set(quiet, nullptr);
  llama_backend_init();
  llama_model_params mp = llama_model_default_params();
  mp.vocab_only = true;
  llama_model* model = llama_model_load_from_file(argv[1], mp);
  if (!model) { std::fprintf(stderr, "cannot load %s\n", argv[1]); return 1; }
  llama_vocab const* v = llama_model_get_vocab(model);
  int const n = llama_vocab_n_tokens(v);
  std::printf("meta %d %d %d %d %d\n", n, llama_vocab_bos(v), llama_vocab_eos(v), llama_vocab_get_add_bos(v),
              llama_vocab_get_add_eos(v));
  for (int id = 0; id < n; ++id) {
    std::string p[2];
    for (int s = 0; s < 2; ++s) {
      char buf[512];
      int k = llama_token_to_piece(v, id, buf, sizeof buf, 0, s != 0);
      if (k < 0) { std::fprintf(stderr, "piece too long\n"); return 1; }
      p[s].assign(buf, k);
    }
    std::printf("tok %d %d %d %s %s\n", id, (int) llama_vocab_get_attr(v, id), (int) llama_vocab_is_eog(v, id),
                hex(p[0]).c_str(), hex(p[1]).c_str());
  }
  std::ifstream in(argv[2]);
  std::string line;
  for (int c = 0; std::getline(in, line); ++c) {
    std::string const text = line == "-" ? std::string() : unhex(line);
    std::vector<llama_token> both, plain;
    for (int add = 0; add < 2; ++add)
      for (int parse = 0; parse < 2; ++parse) {
        std::vector<llama_token> ids(text.size() + 8);
        int k = llama_tokenize(v, text.data(), (int) text.size(), ids.data(), (int) ids.size(), add, parse);
        if (k < 0) { ids.resize(-k); k = llama_tokenize(v, text.data(), (int) text.size(), ids.data(), -k, add, parse); }
        ids.resize(k);
        std::printf("enc %d %d %d", c, add, parse);
        for (auto id : ids) std::printf(" %d", id);
        std::printf("\n");
        if (add && parse) both = ids;
        if (!add && !parse) plain = ids;
      }
    for (int which = 0; which < 2; ++which)
      for (int rs = 0; rs < 2; ++rs)
        for (int us = 0; us < 2; ++us) {
          auto const& ids = which ? both : plain;
          std::vector<char> buf(ids.size() * 64 + 16);
          int k = llama_detokenize(v, ids.data(), (int) ids.size(), buf.data(), (int) buf.size(), rs, us);
          if (k < 0) { std::fprintf(stderr, "detokenize overflow\n"); return 1; }
          std::printf("dec %d %d%d %d %d %s\n", c, which, which, rs, us, hex(std::string(buf.data(), k)).c_str());
        }
  }
  llama_model_free(model);
  return 0;
}
"""


def build_driver(work: pathlib.Path) -> pathlib.Path:
    return llama_build.build_driver(work, DRIVER, need_quantize=False)


def run_driver(exe: pathlib.Path, gguf_path: pathlib.Path, cases: list[bytes], work: pathlib.Path) -> dict:
    inp = work / "cases.hex"
    inp.write_text("".join((c.hex() or "-") + "\n" for c in cases))
    out = subprocess.run([str(exe), str(gguf_path), str(inp)], check=True, capture_output=True, text=True).stdout
    res = {"pieces": [], "enc": {}, "dec": {}}
    for line in out.splitlines():
        f = line.split(" ")
        if f[0] == "meta":
            res["meta"] = dict(zip(["n_tokens", "bos", "eos", "add_bos", "add_eos"], map(int, f[1:])))
        elif f[0] == "tok":
            unh = lambda h: b"" if h == "-" else bytes.fromhex(h)
            res["pieces"].append((int(f[2]), int(f[3]), unh(f[4]), unh(f[5])))
        elif f[0] == "enc":
            res["enc"][(int(f[1]), f[2] + f[3])] = [int(x) for x in f[4:]]
        elif f[0] == "dec":
            res["dec"][(int(f[1]), f[2], f[3] + f[4])] = b"" if f[5] == "-" else bytes.fromhex(f[5])
    return res


# ---------------------------------------------------------------------------------------------
# Training, the Hugging Face folder, the GGUF.

def train(corpus_file: pathlib.Path, prefix: pathlib.Path, model_type: str, vocab_size: int, dummy_prefix: bool):
    # Llama's and Mistral's trainer settings where they matter here: byte fallback, digits split,
    # no normalization, whitespace-only pieces allowed, extra whitespace kept, a dummy prefix.
    spm.SentencePieceTrainer.train(
        input=str(corpus_file), model_prefix=str(prefix), model_type=model_type, vocab_size=vocab_size,
        character_coverage=0.9995, byte_fallback=True, split_digits=True, normalization_rule_name="identity",
        remove_extra_whitespaces=False, add_dummy_prefix=dummy_prefix, allow_whitespace_only_pieces=True,
        max_sentence_length=1 << 16, unk_id=0, bos_id=1, eos_id=2, pad_id=-1, num_threads=1, minloglevel=2,
        shuffle_input_sentence=False)


def hf_folder(sp_model: pathlib.Path, folder: pathlib.Path, specials, plain, add_bos, add_eos, add_prefix_space,
              padding: int, first_added: int):
    """A Hugging Face tokenizer folder as released Llama / Mistral / Mixtral checkpoints have it:
    tokenizer.model; tokenizer.json with the Prepend("▁") + Replace(" ", "▁") normalizer and no
    pre-tokenizer (what transformers 4 wrote; transformers 5 writes a Metaspace pre-tokenizer
    instead, which does not double a leading space); tokenizer_config.json with added_tokens_decoder,
    add_bos_token, add_eos_token; config.json. Returns the `tokenizers` Tokenizer of tokenizer.json.
    added_tokens_decoder lists the added tokens from id first_added on (0: <unk>, <s>, </s> too, which
    the converter then types CONTROL; past them: <unk> stays UNKNOWN, as in older folders)."""
    from tokenizers import AddedToken, Tokenizer
    from transformers import LlamaTokenizer
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tokenizer.model").write_bytes(sp_model.read_bytes())
    tok = LlamaTokenizer.from_pretrained(str(folder), from_slow=True, legacy=True)
    if specials:
        tok.add_special_tokens({"additional_special_tokens": [AddedToken(s, special=True, normalized=False)
                                                              for s in specials]})
    if plain:
        tok.add_tokens([AddedToken(s, special=False, normalized=False) for s in plain])
    tok.save_pretrained(str(folder))
    j = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
    norms = [{"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]
    decoders = [{"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "}, {"type": "ByteFallback"},
                {"type": "Fuse"}]
    if add_prefix_space is not False:
        norms.insert(0, {"type": "Prepend", "prepend": "\u2581"})
        decoders.append({"type": "Strip", "content": " ", "start": 1, "stop": 0})
    j["normalizer"] = {"type": "Sequence", "normalizers": norms}
    j["pre_tokenizer"] = None
    j["decoder"] = {"type": "Sequence", "decoders": decoders}
    ends = ([("<s>", 1)] if add_bos else []), ([("</s>", 2)] if add_eos else [])
    seq = lambda s, t: [{"SpecialToken": {"id": x, "type_id": t}} for x, _ in s]
    j["post_processor"] = {
        "type": "TemplateProcessing",
        "single": seq(ends[0], 0) + [{"Sequence": {"id": "A", "type_id": 0}}] + seq(ends[1], 0),
        "pair": seq(ends[0], 0) + [{"Sequence": {"id": "A", "type_id": 0}}] + seq(ends[1], 0) + seq(ends[0], 1) +
                [{"Sequence": {"id": "B", "type_id": 1}}] + seq(ends[1], 1),
        "special_tokens": {x: {"id": x, "ids": [i], "tokens": [x]} for x, i in ends[0] + ends[1]}}
    (folder / "tokenizer.json").write_text(json.dumps(j, ensure_ascii=False), encoding="utf-8")
    cfg = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    cfg["add_bos_token"], cfg["add_eos_token"] = add_bos, add_eos
    cfg["legacy"] = True
    if add_prefix_space is not None:
        cfg["add_prefix_space"] = add_prefix_space
    cfg["added_tokens_decoder"] = {
        str(a["id"]): {k: a[k] for k in ("content", "lstrip", "normalized", "rstrip", "single_word", "special")}
        for a in j["added_tokens"] if a["id"] >= first_added}
    (folder / "tokenizer_config.json").write_text(json.dumps(cfg, indent=2, ensure_ascii=False), encoding="utf-8")
    (folder / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"], "model_type": "llama",
                                                    "vocab_size": len(tok) + padding, "bos_token_id": 1,
                                                    "eos_token_id": 2, "pad_token_id": 0}))
    return Tokenizer.from_str(json.dumps(j))


def write_gguf(folder: pathlib.Path, out: pathlib.Path):
    """llama.cpp's converter code, run on the folder: the vocabulary exactly as convert_hf_to_gguf.py
    writes it for a Llama-family model, plus hyperparameters so that llama.cpp loads the file."""
    sys.path.insert(0, str(LLAMA_SRC))
    sys.path.insert(0, str(LLAMA_SRC / "gguf-py"))
    import gguf
    from conversion.base import TextModel

    hparams = json.loads((folder / "config.json").read_text())
    writer = gguf.GGUFWriter(str(out), "llama")
    writer.add_name("switchyard spm test vocabulary")
    writer.add_context_length(512)
    writer.add_embedding_length(64)
    writer.add_block_count(1)
    writer.add_feed_forward_length(128)
    writer.add_head_count(4)
    writer.add_head_count_kv(4)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_rope_dimension_count(16)
    writer.add_vocab_size(hparams["vocab_size"])

    class Converter:  # what _set_vocab_sentencepiece needs of a TextModel
        dir_model = folder
        gguf_writer = writer
        _create_vocab_sentencepiece = TextModel._create_vocab_sentencepiece
        does_token_look_special = TextModel.does_token_look_special

        def find_hparam(self, keys, optional=False):
            return next((hparams[k] for k in keys if k in hparams), None)

    cfg = json.loads((folder / "tokenizer_config.json").read_text())
    if cfg.get("add_prefix_space") is not None:  # as conversion/llama.py LlamaModel.set_vocab does
        writer.add_add_space_prefix(cfg["add_prefix_space"])
    TextModel._set_vocab_sentencepiece(Converter())
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def as_json_text(b: bytes):
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError:
        return {"hex": b.hex()}


VOCABS = [
    # name, model type, size, added special tokens, added plain tokens, add_bos, add_eos, add_prefix_space,
    # padding entries, first id in added_tokens_decoder
    ("bpe", "bpe", 2000, ["<|im_start|>", "<|im_end|>"], ["<tool>", "<tool_call>", "{{", "{user}}"], True, False,
     None, 2, 0),
    ("unigram", "unigram", 1500, ["<|im_start|>"], ["<tool>"], False, True, False, 0, 3),
]
MODES = ("00", "01", "10", "11")


def main():
    rng = random.Random(19)
    texts = CASES + source_cases()
    cases = [t.encode("utf-8") for t in texts] + INVALID_UTF8
    out = {"llama_cpp": f"llama-cpp-python {LLAMA_VERSION} (vendor/llama.cpp)", "sentencepiece": spm.__version__,
           "modes": "ids[add_special parse_special]; decoded[which ids: 00 or 11][remove_special unparse_special]",
           "vocabs": {}}
    with tempfile.TemporaryDirectory() as tmp:
        work = pathlib.Path(tmp)
        exe = build_driver(work)
        corpus = work / "corpus.txt"
        corpus.write_text("\n".join(make_corpus(rng)) + "\n", encoding="utf-8")
        for name, model_type, size, specials, plain, add_bos, add_eos, prefix_space, padding, first_added in VOCABS:
            train(corpus, work / name, model_type, size, prefix_space is not False)
            sp = spm.SentencePieceProcessor(model_file=str(work / f"{name}.model"))
            hf = hf_folder(work / f"{name}.model", work / f"hf_{name}", specials, plain, add_bos, add_eos, prefix_space,
                           padding, first_added)
            gguf_path = DATA / f"spm_vocab_{name}.gguf"
            write_gguf(work / f"hf_{name}", gguf_path)
            r = run_driver(exe, gguf_path, cases, work)
            v = {"file": gguf_path.name, "model_type": model_type, **r["meta"],
                 # [attr, eog, piece(special = false), piece(special = true) where it differs]
                 "tokens": [[a, e, as_json_text(p0)] + ([as_json_text(p1)] if p1 != p0 else [])
                            for a, e, p0, p1 in r["pieces"]],
                 "cases": []}
            differ = {"compared": 0, "hf_ids": [], "hf_text": [], "sp_ids": [], "sp_text": []}
            for i, c in enumerate(cases):
                case = {"text": as_json_text(c), "ids": {k: r["enc"][(i, k)] for k in MODES},
                        "decoded": {w: {k: as_json_text(r["dec"][(i, w, k)]) for k in MODES} for w in ("00", "11")}}
                if isinstance(case["text"], str):
                    # Hugging Face tokenizer.json: added tokens matched in the text, BOS / EOS as the
                    # post-processor adds them (llama.cpp: add_special, parse_special); decoded as is.
                    e = hf.encode(case["text"], add_special_tokens=True)
                    case["hf_ids"], case["hf_decoded"] = e.ids, hf.decode(e.ids, skip_special_tokens=False)
                    # sentencepiece: no BOS / EOS, no special tokens in the text (llama.cpp: neither).
                    case["sp_ids"] = sp.encode(case["text"])
                    case["sp_decoded"] = sp.decode(case["sp_ids"])
                    differ["compared"] += 1
                    for key, mine, theirs in (("hf_ids", case["hf_ids"], case["ids"]["11"]),
                                              ("hf_text", case["hf_decoded"], case["decoded"]["11"]["01"]),
                                              ("sp_ids", case["sp_ids"], case["ids"]["00"]),
                                              ("sp_text", case["sp_decoded"], case["decoded"]["00"]["00"])):
                        if mine != theirs:
                            differ[key].append(i)
                v["cases"].append(case)
            v["differences"] = differ  # case indices where the library and llama.cpp disagree
            out["vocabs"][name] = v
            print(f"{name}: {len(r['pieces'])} tokens, {gguf_path.stat().st_size} bytes, {len(cases)} cases; "
                  f"differences from llama.cpp (of {differ['compared']}): " +
                  ", ".join(f"{k} {len(x)}" for k, x in differ.items() if k != "compared"))
    (DATA / "spm_reference.json").write_text(dump(out) + "\n", encoding="utf-8")


def dump(x, depth=0) -> str:
    """JSON with one token or case per line (diffable, compact)."""
    compact = lambda y: json.dumps(y, ensure_ascii=False, separators=(",", ":"))
    if isinstance(x, dict) and depth < 3:
        return "{" + ",\n".join(f"{compact(k)}:{dump(v, depth + 1)}" for k, v in x.items()) + "}"
    if isinstance(x, list) and x and isinstance(x[0], (dict, list)):
        return "[\n" + ",\n".join(compact(y) for y in x) + "]"
    return compact(x)


if __name__ == "__main__":
    main()
