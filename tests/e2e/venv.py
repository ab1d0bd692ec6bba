#!/usr/bin/env python3
"""Makes (or reuses) the end-to-end tests' virtual environment: python3 -m venv DIR, then
pip install -r tests/e2e/requirements.txt (pinned). Reused while DIR/requirements.txt equals the
requirements; made afresh otherwise. Every step has a time limit, so an unreachable package index
fails the test with a message instead of hanging it.

    python3 tests/e2e/venv.py DIR            # CTest's "e2e: python environment" (a fixture)
"""
import hashlib
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REQUIREMENTS = os.path.join(HERE, "requirements.txt")


def fail(msg):
    print(f"e2e venv: {msg}", file=sys.stderr)
    sys.exit(1)


def run(cmd, timeout, what):
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"")
        out = out.decode(errors="replace") if isinstance(out, bytes) else out
        fail(f"{what} took more than {timeout} s (is the package index reachable?)\n{out[-3000:]}")
    if p.returncode != 0:
        fail(f"{what} failed (exit {p.returncode}):\n{p.stdout[-3000:]}")
    return p.stdout


def main():
    if len(sys.argv) != 2:
        fail("usage: venv.py DIR")
    venv = os.path.abspath(sys.argv[1])
    wanted = open(REQUIREMENTS, encoding="utf-8").read()
    stamp = os.path.join(venv, "requirements.txt")
    python = os.path.join(venv, "bin", "python")
    if os.path.exists(python) and os.path.exists(stamp) and open(stamp, encoding="utf-8").read() == wanted:
        print(f"e2e venv: {venv} is up to date ({hashlib.sha256(wanted.encode()).hexdigest()[:12]})")
        return
    t0 = time.time()
    shutil.rmtree(venv, ignore_errors=True)
    run([sys.executable, "-m", "venv", venv], 180,
        "python3 -m venv (on Debian it needs the python3-venv package: scripts/setup.sh installs it)")
    env_pip = [python, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    run(env_pip + ["install", "--timeout", "20", "--retries", "2", "-r", REQUIREMENTS], 420,
        "pip install -r tests/e2e/requirements.txt (the packages come from PyPI: is it reachable?)")
    run([python, "-c", "import openai; print(openai.__version__)"], 60, "importing openai")
    with open(stamp, "w", encoding="utf-8") as f:
        f.write(wanted)
    print(f"e2e venv: made {venv} in {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
