#!/usr/bin/env python3
"""Writes models/switchyard-tiny-moe/calibration.txt: calibration text for pruning (examples/prune
--calibration), taken from the shipped model's *training* split, so that nothing of heldout.txt (the
text the accuracy tables are measured on) is seen while choosing what to prune.

The split is tools/train_small_model.py's: the Python 3.11 standard library's source, tests
excluded, a file held out when the first byte of the SHA-1 of its path is 0 mod 40. Calibration
takes the training files whose first byte is 1 mod 40 (a fixed, spread-out 1-in-40 sample of the
training split), joined by <|endoftext|> as in training, up to --max-bytes.

    python3 tools/make_calibration_text.py [--max-bytes N]
"""
import argparse
import hashlib
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "models" / "switchyard-tiny-moe" / "calibration.txt"
STDLIB = pathlib.Path("/usr/lib/python3.11")
EOT = "<|endoftext|>"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max-bytes", type=int, default=200_000)
    args = ap.parse_args()
    files = sorted(p for p in STDLIB.rglob("*.py")
                   if not any(part in ("test", "tests", "site-packages", "dist-packages", "idle_test", "__pycache__")
                              for part in p.relative_to(STDLIB).parts))
    parts, size = [], 0
    for p in files:
        key = hashlib.sha1(str(p.relative_to(STDLIB)).encode()).digest()[0]
        if key % 40 != 1:
            continue
        text = p.read_text(encoding="utf-8", errors="replace")
        if size + len(text) > args.max_bytes and parts:
            continue
        parts.append(text)
        size += len(text) + len(EOT)
    OUT.write_text(EOT.join(parts), encoding="utf-8")
    print(f"{OUT}: {len(parts)} training files, {OUT.stat().st_size} bytes")


if __name__ == "__main__":
    main()
