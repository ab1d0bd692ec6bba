#!/usr/bin/env python3
"""A bounded load test of examples/server: C concurrent clients, each sending R completion requests
one after another on its own keep-alive connection (Python's standard library only). Every request
generates exactly --max-tokens tokens (ignore_eos), so the numbers compare across runs. Reports
throughput (requests/s, generated tokens/s) and latency percentiles (p50, p90, p99, max; with
--stream also the time to the first token); exits non-zero if any request fails.

    python3 bench/server_load.py --server build/release/examples/server --clients 64 --requests 4
    python3 bench/server_load.py --url http://127.0.0.1:8080 --clients 64 --requests 4 --stream
"""
import argparse
import http.client
import json
import os
import platform
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.parse

PROMPTS = ["def fibonacci(n):\n", "class Stack:\n    def __init__(self", "import os\nimport sys\n\n",
           "for i in range(10):\n", "    return self.", "def main():\n    parser = ", "# Copyright", "try:\n    import ",
           "def __repr__(self):\n", "with open(path) as f:\n", "if __name__ == '__main__':\n", "raise ValueError("]


def percentile(xs, p):
    """Nearest rank."""
    if not xs:
        return float("nan")
    xs = sorted(xs)
    k = max(0, min(len(xs) - 1, int(round(p / 100 * len(xs) + 0.5)) - 1))
    return xs[k]


def start_server(args):
    here = os.path.dirname(os.path.abspath(__file__))
    model = args.model or os.path.join(here, "..", "models", "switchyard-tiny-moe")
    cmd = [args.server, "--host", "127.0.0.1", "--port", "0", "--model", model] + args.server_arg
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    lines = queue.Queue()
    threading.Thread(target=lambda: [lines.put(l) for l in proc.stdout], daemon=True).start()
    limit = time.time() + 120
    while True:
        try:
            line = lines.get(timeout=max(0.1, limit - time.time()))
        except queue.Empty:
            proc.kill()
            sys.exit("server_load: the server printed no 'listening on' line in 120 s")
        if line.startswith("listening on http://"):
            return proc, line.split()[-1].strip()


def client(url, args, index, results, barrier):
    u = urllib.parse.urlparse(url)
    conn = None
    barrier.wait()
    for r in range(args.requests):
        body = {"prompt": PROMPTS[(index + r) % len(PROMPTS)], "max_tokens": args.max_tokens, "ignore_eos": True,
                "temperature": args.temperature, "seed": index * 1000 + r, "stream": args.stream}
        if args.stream:
            body["stream_options"] = {"include_usage": True}
        t0 = time.perf_counter()
        ttft = None
        try:
            if conn is None:
                conn = http.client.HTTPConnection(u.hostname, u.port, timeout=args.request_timeout)
            conn.request("POST", "/v1/completions", body=json.dumps(body), headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            if resp.status != 200:
                results.append(("error", f"HTTP {resp.status}: {resp.read()[:300]!r}"))
                conn.close()
                conn = None
                continue
            tokens = 0
            if args.stream:
                done = False
                while True:
                    line = resp.readline()
                    if not line:
                        break
                    line = line.decode().strip()
                    if not line.startswith("data: "):
                        continue
                    if line == "data: [DONE]":
                        done = True
                        break
                    ev = json.loads(line[6:])
                    if "error" in ev:
                        raise RuntimeError(ev["error"]["message"])
                    if ev.get("usage"):
                        tokens = ev["usage"]["completion_tokens"]
                    if ttft is None and ev["choices"] and ev["choices"][0]["text"]:
                        ttft = time.perf_counter() - t0
                resp.read()
                if not done:
                    raise RuntimeError("the stream ended without [DONE]")
            else:
                tokens = json.loads(resp.read())["usage"]["completion_tokens"]
            results.append(("ok", time.perf_counter() - t0, ttft, tokens))
        except Exception as e:  # noqa: BLE001
            results.append(("error", f"{type(e).__name__}: {e}"))
            if conn is not None:
                conn.close()
            conn = None
    if conn is not None:
        conn.close()


def cpu_model():
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except Exception:  # noqa: BLE001
        pass
    return platform.processor() or "?"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--server", help="start this server binary (--port 0) and stop it at the end")
    ap.add_argument("--model", help="with --server: the model (default: the shipped one)")
    ap.add_argument("--server-arg", action="append", default=[], help="with --server: one more server argument")
    ap.add_argument("--url", help="an already running server")
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--requests", type=int, default=4, help="requests per client")
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--temperature", type=float, default=0.7)
    ap.add_argument("--stream", action="store_true")
    ap.add_argument("--request-timeout", type=float, default=300)
    ap.add_argument("--timeout", type=float, default=900, help="the whole run, seconds")
    ap.add_argument("--json", help="also write the numbers to this file")
    args = ap.parse_args()
    if bool(args.server) == bool(args.url):
        ap.error("give --server or --url")

    def watchdog():
        time.sleep(args.timeout)
        print(f"server_load: past {args.timeout} s; giving up", flush=True)
        os._exit(1)
    threading.Thread(target=watchdog, daemon=True).start()

    proc = None
    url = args.url
    if args.server:
        proc, url = start_server(args)
    try:
        results = []
        barrier = threading.Barrier(args.clients)
        threads = [threading.Thread(target=client, args=(url, args, i, results, barrier)) for i in range(args.clients)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
    finally:
        code = None
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=60)
    ok = [r for r in results if r[0] == "ok"]
    errors = [r[1] for r in results if r[0] == "error"]
    lat = [r[1] for r in ok]
    ttft = [r[2] for r in ok if r[2] is not None]
    tokens = sum(r[3] for r in ok)
    report = {
        "cpu": cpu_model(), "cores": os.cpu_count(), "clients": args.clients, "requests": len(results), "ok": len(ok),
        "errors": len(errors), "max_tokens": args.max_tokens, "stream": args.stream, "wall_s": round(wall, 3),
        "requests_per_s": round(len(ok) / wall, 2), "generated_tokens_per_s": round(tokens / wall, 1),
        "latency_s": {p: round(percentile(lat, int(p[1:])), 3) for p in ("p50", "p90", "p99")} | {"max": round(max(lat, default=0), 3)},
    }
    if ttft:
        report["ttft_s"] = {p: round(percentile(ttft, int(p[1:])), 3) for p in ("p50", "p90", "p99")}
    print(f"server_load: {args.clients} clients x {args.requests} requests, {args.max_tokens} tokens each"
          f"{' (streaming)' if args.stream else ''}; {report['cpu']}, {report['cores']} cores")
    print(f"  {len(ok)} ok, {len(errors)} failed in {wall:.2f} s: {report['requests_per_s']} requests/s, "
          f"{report['generated_tokens_per_s']} generated tokens/s")
    l = report["latency_s"]
    print(f"  latency p50 {l['p50']:.3f} s, p90 {l['p90']:.3f} s, p99 {l['p99']:.3f} s, max {l['max']:.3f} s")
    if ttft:
        t = report["ttft_s"]
        print(f"  time to first token p50 {t['p50']:.3f} s, p90 {t['p90']:.3f} s, p99 {t['p99']:.3f} s")
    for e in errors[:5]:
        print(f"  error: {e}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
    if code not in (None, 0):
        print(f"server_load: the server exited with {code}")
    sys.exit(1 if errors or code not in (None, 0) or len(results) != args.clients * args.requests else 0)


if __name__ == "__main__":
    main()
