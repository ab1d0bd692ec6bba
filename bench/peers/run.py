#!/usr/bin/env python3
"""The peers comparison: switchyard against llama.cpp on the same GGUF files, same machine, same run.

Called by bench/peers/run.sh (which builds both engines); writes docs/performance.md, the PNG plots
and the raw results beside it. For each model family (bench/peers/make_models.py) and format (the
f16 file as the converter writes it; q8_0, q4_0 and Q4_K_M made from it by llama.cpp's own
llama-quantize), at each thread count, the two drivers (bench/peer_switchyard.cpp and
bench/peers/llama/peer_llama.cpp: one prompt of 512 token ids in one batch, then greedy decode one
token at a time) run alternately for --rounds rounds, each a fresh process (load, one warm-up
repetition, --reps timed ones); medians over all timed repetitions, spread = (max - min) / median.
llama.cpp's own llama-bench runs once per cell as a cross-check of the driver. The roofline
fraction = weight bytes one decode token reads from the file (every tensor but the embedding
table; expert banks scaled by used / total experts) x tokens/s / read bandwidth, the bandwidth
probed before and after (the best of the two).
"""
import argparse
import datetime
import json
import os
import pathlib
import platform
import subprocess
import sys
import time

import gguf

from report import FAMILIES, med, vals, write as write_report

FORMATS = ["f16", "q8_0", "q4_0", "Q4_K_M"]


def log(*a):
    print("peers:", *a, file=sys.stderr, flush=True)


def run_json(cmd, timeout):
    """Runs a driver; returns (result dict or None, a one-line reason when None)."""
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, f"timed out after {timeout} s"
    if p.returncode != 0:
        why = (p.stderr.strip().splitlines() or [""])[-1][:300]
        kind = f"killed by signal {-p.returncode}" if p.returncode < 0 else f"exit {p.returncode}"
        return None, f"{kind}: {why}"
    try:
        return json.loads(p.stdout.strip().splitlines()[-1]), ""
    except (json.JSONDecodeError, IndexError):
        return None, "no JSON on stdout"


def file_facts(path):
    """Weight bytes one decode token reads (every tensor but the embedding table; expert banks x
    used / total experts) and the dtypes of the file's matrices, from one read of its header."""
    r = gguf.GGUFReader(str(path))
    arch = r.fields["general.architecture"].contents()
    used = r.fields[f"{arch}.expert_used_count"].contents()
    total = r.fields[f"{arch}.expert_count"].contents()
    b, count = 0.0, {}
    for t in r.tensors:
        if t.name != "token_embd.weight":  # one row per token
            b += t.n_bytes * (used / total if "_exps." in t.name else 1.0)
        if len(t.shape) >= 2:
            count[t.tensor_type.name] = count.get(t.tensor_type.name, 0) + 1
    mix = ", ".join(f"{k} x{v}" for k, v in sorted(count.items(), key=lambda kv: -kv[1]))
    return b, mix


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--switchyard", required=True, help="the peer_switchyard binary")
    ap.add_argument("--llama-bin", required=True, help="folder with peer_llama, llama-bench, llama-quantize")
    ap.add_argument("--models", required=True, help="folder for the model files (the peers cache)")
    ap.add_argument("--out", required=True, help="docs/performance.md")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--families", default=",".join(FAMILIES))
    ap.add_argument("--formats", default=",".join(FORMATS))
    ap.add_argument("--prompt", type=int, default=512)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--timeout", type=int, default=900, help="seconds one driver process may take")
    ap.add_argument("--update", action="store_true",
                    help="merge into the existing results.json: cells measured now replace the same cells, "
                         "the others are kept (the page says which date each family was measured)")
    a = ap.parse_args()
    models = pathlib.Path(a.models)
    bin_ = pathlib.Path(a.llama_bin)
    threads = [int(t) for t in a.threads.split(",")]
    families = a.families.split(",")
    formats = a.formats.split(",")
    here = pathlib.Path(__file__).resolve().parent
    subprocess.run([sys.executable, str(here / "make_models.py"), str(models)], check=True)
    for fam in families:
        for fmt in formats:
            dst = models / f"{fam}-{fmt}.gguf"
            if fmt == "f16" or dst.exists():
                continue
            log(f"llama-quantize {fam} -> {fmt}")
            tmp = dst.with_suffix(".tmp")
            subprocess.run([str(bin_ / "llama-quantize"), str(models / f"{fam}-f16.gguf"), str(tmp), fmt, "2"],
                           check=True, capture_output=True)
            tmp.rename(dst)

    def bandwidth():
        out = {}
        for t in threads:
            r, why = run_json([a.switchyard, "--bandwidth", "--threads", str(t)], 300)
            out[t] = r["read_gb_s"] if r else float("nan")
        return out

    bw_before = bandwidth()
    log("read bandwidth GB/s", bw_before)
    results = []
    started = time.time()
    for fam in families:
        for fmt in formats:
            path = models / f"{fam}-{fmt}.gguf"
            bpt, mix = file_facts(path)
            for t in threads:
                cell = {"family": fam, "format": fmt, "threads": t, "bytes_per_token": bpt, "dtypes": mix,
                        "switchyard": [], "llama": [], "notes": []}
                common = ["--model", str(path), "--threads", str(t), "--prompt", str(a.prompt), "--tokens",
                          str(a.tokens), "--reps", str(a.reps)]
                repack = True
                sy_refused = ll_failed = False
                for rnd in range(a.rounds):
                    if not sy_refused:
                        r, why = run_json([a.switchyard] + common, a.timeout)
                        if r:
                            cell["switchyard"].append(r)
                        else:
                            sy_refused = True
                            cell["notes"].append(f"switchyard: {why}")
                    if not ll_failed:
                        cmd = [str(bin_ / "peer_llama")] + common + ([] if repack else ["--no-repack"])
                        r, why = run_json(cmd, a.timeout)
                        if not r and repack:
                            cell["notes"].append(f"llama.cpp with weight repacking: {why}; rerun without it")
                            repack = False
                            r, why = run_json(cmd + ["--no-repack"], a.timeout)
                        if r:
                            cell["llama"].append(r)
                        else:
                            ll_failed = True
                            cell["notes"].append(f"llama.cpp: {why}")
                # pp at depth 0 and tg at depth = the prompt: the drivers' two phases.
                bench_cmd = [str(bin_ / "llama-bench"), "-m", str(path), "-t", str(t), "-p", str(a.prompt), "-n",
                             str(a.tokens), "-d", f"0,{a.prompt}", "-r", "3", "-o", "json"] + \
                            ([] if repack else ["--repack", "0"])
                try:
                    p = subprocess.run(bench_cmd, capture_output=True, text=True, timeout=a.timeout)
                    rows = json.loads(p.stdout) if p.returncode == 0 else []
                    cell["llama_bench"] = {("prefill" if row["n_prompt"] else "decode"): row["avg_ts"] for row in rows
                                           if (row["n_prompt"] and not row["n_depth"]) or (row["n_gen"] and row["n_depth"])}
                    if p.returncode != 0:
                        cell["notes"].append(f"llama-bench: exit {p.returncode}")
                except (subprocess.TimeoutExpired, json.JSONDecodeError) as e:
                    cell["notes"].append(f"llama-bench: {type(e).__name__}")
                results.append(cell)
                log(f"{fam} {fmt} t={t}: {summary(cell)} ({time.time() - started:.0f} s so far)")
    bw_after = bandwidth()
    bw = {t: max(bw_before[t], bw_after[t]) for t in threads}
    out = pathlib.Path(a.out)
    raw = out.parent / "performance" / "results.json"
    raw.parent.mkdir(parents=True, exist_ok=True)
    meta = {"date": datetime.date.today().isoformat(), "cpu": cpu_name(), "isa": isa_flags(), "bandwidth_gb_s": bw,
            "prompt": a.prompt, "tokens": a.tokens, "rounds": a.rounds, "reps": a.reps,
            "llama_cpp_python": os.environ.get("LLAMA_CPP_PYTHON_VERSION", "?")}
    for c in results:
        c["date"] = meta["date"]
    if a.update and raw.exists():
        old = json.loads(raw.read_text())
        key = lambda c: (c["family"], c["format"], c["threads"])
        fresh = {key(c) for c in results}
        merged = [c for c in old["cells"] if key(c) not in fresh] + results
        order = {f: i for i, f in enumerate(FAMILIES)}
        fmts = {f: i for i, f in enumerate(FORMATS)}
        results = sorted(merged, key=lambda c: (order.get(c["family"], 99), fmts.get(c["format"], 99), c["threads"]))
        meta["bandwidth_gb_s"] = old["meta"]["bandwidth_gb_s"]  # the full run's probe, for every cell
        meta["updated"] = sorted(set(old["meta"].get("updated", [])) | {k[0] + " " + k[1] for k in fresh})
    raw.write_text(json.dumps({"meta": meta, "cells": results}, indent=1))
    write_report(out, meta, results)
    log(f"wrote {out} and {raw}")


def summary(cell):
    s, l = vals(cell["switchyard"], "decode_tok_s"), vals(cell["llama"], "decode_tok_s")
    if s and l:
        return f"decode {med(s):.1f} vs {med(l):.1f} tok/s ({med(s) / med(l):.2f}x)"
    return "; ".join(cell["notes"]) or "no result"


def cpu_name():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def isa_flags():
    try:
        flags = next(l for l in open("/proc/cpuinfo") if l.startswith("flags")).split()
    except (OSError, StopIteration):
        return ""
    want = ["avx2", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_int8"]
    return " ".join(f for f in want if f in flags)


if __name__ == "__main__":
    main()
