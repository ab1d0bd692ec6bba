"""The llama.cpp build the reference tools drive (the peers build of bench/peers/run.sh: llama-cpp-python's
pinned source package), and compiling a small C++ driver against its libllama.

    import llama_build
    exe = llama_build.build_driver(work_dir, CPP_SOURCE)          # libllama, statically linked
    llama_build.QUANTIZE                                          # bin/llama-quantize
SWITCHYARD_PEERS_CACHE picks another peers cache (default ~/.cache/switchyard-peers).
"""
import os
import pathlib
import subprocess
import sys

CACHE = pathlib.Path(os.environ.get("SWITCHYARD_PEERS_CACHE", pathlib.Path.home() / ".cache" / "switchyard-peers"))
LLAMA_VERSION = "0.3.36"  # llama-cpp-python, as bench/peers/run.sh pins it
LLAMA_SRC = CACHE / f"llama_cpp_python-{LLAMA_VERSION}" / "vendor" / "llama.cpp"
LLAMA_BUILD = CACHE / f"build-{LLAMA_VERSION}"
QUANTIZE = LLAMA_BUILD / "bin" / "llama-quantize"


# libllama on a token sequence: the prompt in one batch, then NEW greedy tokens one per call (1 thread,
# F32 KV cache, flash attention off, no weight repacking). OUT gets the NEW tokens (i32), then the
# logits of every position, [prompt + NEW, vocab] f32 (with NEW = 0: the prompt's logits only).
#     driver MODEL OUT NEW TOKEN...
LOGITS_DRIVER = r"""
#include <cstdio>
#include <cstdlib>
#include <vector>
#include "llama.h"
static void quiet(ggml_log_level level, char const* text, void*) { if (level >= GGML_LOG_LEVEL_ERROR) std::fputs(text, stderr); }
static int argmax(float const* x, int n) { int b = 0; for (int i = 1; i < n; ++i) if (x[i] > x[b]) b = i; return b; }
int main(int argc, char** argv) {
  // driver MODEL OUT NEW TOKEN...: OUT gets the NEW greedy tokens (i32) then [P + NEW, V] logits (f32)
  llama_log_set(quiet, nullptr);
  llama_backend_init();
  llama_model_params mp = llama_model_default_params();
  mp.use_extra_bufts = false;  // no weight repacking: the plain kernels on the file's blocks
  mp.progress_callback = [](float, void*) { return true; };  // no progress dots
  llama_model* model = llama_model_load_from_file(argv[1], mp);
  if (!model) return 1;
  int const n_new = std::atoi(argv[3]);
  std::vector<llama_token> toks;
  for (int i = 4; i < argc; ++i) toks.push_back(std::atoi(argv[i]));
  llama_context_params cp = llama_context_default_params();
  cp.n_ctx = 256;
  cp.n_batch = cp.n_ubatch = 256;
  cp.n_threads = cp.n_threads_batch = 1;
  cp.type_k = cp.type_v = GGML_TYPE_F32;
  cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
  llama_context* ctx = llama_init_from_model(model, cp);
  if (!ctx) return 1;
  int const V = llama_vocab_n_tokens(llama_model_get_vocab(model));
  std::vector<float> logits;
  std::vector<llama_token> generated;
  llama_batch b = llama_batch_init((int) toks.size(), 0, 1);
  for (size_t i = 0; i < toks.size(); ++i) {
    b.token[i] = toks[i]; b.pos[i] = (llama_pos) i; b.n_seq_id[i] = 1; b.seq_id[i][0] = 0; b.logits[i] = 1;
  }
  b.n_tokens = (int) toks.size();
  if (llama_decode(ctx, b) != 0) return 1;
  for (size_t i = 0; i < toks.size(); ++i) { float const* l = llama_get_logits_ith(ctx, (int) i); logits.insert(logits.end(), l, l + V); }
  llama_pos pos = (llama_pos) toks.size();
  for (int s = 0; s < n_new; ++s) {
    llama_token t = argmax(logits.data() + logits.size() - V, V);
    generated.push_back(t);
    llama_batch one = llama_batch_init(1, 0, 1);
    one.token[0] = t; one.pos[0] = pos++; one.n_seq_id[0] = 1; one.seq_id[0][0] = 0; one.logits[0] = 1; one.n_tokens = 1;
    if (llama_decode(ctx, one) != 0) return 1;
    float const* l = llama_get_logits_ith(ctx, 0);
    logits.insert(logits.end(), l, l + V);
    llama_batch_free(one);
  }
  FILE* f = std::fopen(argv[2], "wb");
  std::fwrite(generated.data(), sizeof(llama_token), generated.size(), f);
  std::fwrite(logits.data(), sizeof(float), logits.size(), f);
  std::fclose(f);
  llama_batch_free(b);
  llama_free(ctx);
  llama_model_free(model);
  return 0;
}
"""


def build_driver(work: pathlib.Path, source: str, need_quantize: bool = False) -> pathlib.Path:
    """Compiles `source` (C++17 against llama.h) in `work` and links libllama / ggml into it."""
    lib = LLAMA_BUILD / "llama.cpp"
    libs = [lib / "src" / "libllama.a", lib / "ggml" / "src" / "libggml.a", lib / "ggml" / "src" / "libggml-cpu.a",
            lib / "ggml" / "src" / "libggml-base.a"]
    for p in libs + [LLAMA_SRC / "include" / "llama.h"] + ([QUANTIZE] if need_quantize else []):
        if not p.exists():
            sys.exit(f"{p} is missing: build llama.cpp first (bash bench/peers/run.sh, or its first steps)")
    src = work / "driver.cpp"
    src.write_text(source)
    exe = work / "driver"
    subprocess.run(["g++", "-O1", "-std=c++17", str(src), "-I", str(LLAMA_SRC / "include"), "-I",
                    str(LLAMA_SRC / "ggml" / "include"), *map(str, libs), "-fopenmp", "-lpthread", "-ldl", "-lm",
                    "-o", str(exe)], check=True)
    return exe
