#!/usr/bin/env python3
"""End-to-end test of examples/server with the real `openai` client (tests/e2e/requirements.txt).

Starts the server on 127.0.0.1 with --port 0 on the shipped model and checks: /health and
/v1/models; completions and chat completions, non-streaming and streaming (the chunks reassemble
to the non-streaming greedy text); 8 concurrent requests whose greedy outputs equal the same
requests run alone and that share decode steps; malformed JSON and bad parameters (400 with an
OpenAI JSON error naming the parameter); oversized prompts (400 context_length_exceeded); 404 and
405; queue full (503) with --parallel 1 --max-queue 1; SIGTERM while requests are in flight (they
finish, new ones get 503, exit status 0). The whole run is bounded (--timeout).

    python tests/e2e/server_openai.py --server build/release/examples/server \
        --model models/switchyard-tiny-moe --chat-template tests/data/chat_templates/Qwen-Qwen2.5-7B-Instruct.jinja
"""
import argparse
import http.client
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

for k in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
    os.environ.pop(k, None)
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"

import openai  # noqa: E402

DEADLINE = None
PASSED = []


def remaining():
    return max(1.0, DEADLINE - time.time())


def check(cond, what):
    if not cond:
        raise AssertionError(what)


class Server:
    """The server process; its stdout is read for the 'listening on' line, stderr passes through."""

    def __init__(self, binary, args, name):
        self.name = name
        self.proc = subprocess.Popen([binary, "--host", "127.0.0.1", "--port", "0"] + args, stdout=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL, text=True)
        lines = queue.Queue()
        threading.Thread(target=lambda: [lines.put(l) for l in self.proc.stdout] and None, daemon=True).start()
        limit = time.time() + min(120, remaining())
        while True:
            try:
                line = lines.get(timeout=max(0.1, limit - time.time()))
            except queue.Empty:
                self.proc.kill()
                raise AssertionError(f"{name}: no 'listening on' line within the time limit")
            if line.startswith("listening on http://"):
                self.base = line.split()[-1].strip()
                self.port = int(self.base.rsplit(":", 1)[1])
                break
        print(f"[{name}] {self.base}", flush=True)

    def client(self):
        return openai.OpenAI(base_url=self.base + "/v1", api_key="none", max_retries=0, timeout=min(120, remaining()))

    def raw(self, method, path, body=None, headers=None):
        """One request on its own connection: (status, headers, body text)."""
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=min(120, remaining()))
        try:
            if isinstance(body, (dict, list)):
                body = json.dumps(body)
            c.request(method, path, body=body, headers=headers or {"Content-Type": "application/json"})
            r = c.getresponse()
            return r.status, dict(r.getheaders()), r.read().decode()
        finally:
            c.close()

    def stop(self):
        """SIGTERM; the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=min(60, remaining()))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError(f"{self.name}: still running 60 s after SIGTERM")


def test(name):
    def wrap(f):
        def run(*a):
            t0 = time.time()
            f(*a)
            PASSED.append(name)
            print(f"PASS {name} ({time.time() - t0:.1f} s)", flush=True)
        run.__name__ = f.__name__
        return run
    return wrap


def json_error(status, text, want_status, param=None, code=None):
    check(status == want_status, f"status {status}, expected {want_status}: {text}")
    body = json.loads(text)
    err = body.get("error")
    check(isinstance(err, dict) and isinstance(err.get("message"), str) and err["message"], f"no OpenAI error: {text}")
    check(set(err) >= {"message", "type", "param", "code"}, f"error lacks fields: {text}")
    if param is not None:
        check(err["param"] == param, f"param {err['param']!r}, expected {param!r}: {text}")
    if code is not None:
        check(err["code"] == code, f"code {err['code']!r}, expected {code!r}: {text}")
    return err


# ---------------------------------------------------------------------------------------------------

PROMPTS = ["def fibonacci(n):\n", "class Stack:\n    def __init__(self", "import os\nimport sys\n\n",
           "for i in range(10):\n", "    return self.", "def main():\n    parser = ", "# Copyright", "try:\n    import "]


@test("health and models")
def t_health_models(srv, model_id):
    status, _, text = srv.raw("GET", "/health")
    check(status == 200 and json.loads(text)["status"] == "ok", f"/health: {status} {text}")
    models = srv.client().models.list()
    ids = [m.id for m in models.data]
    check(ids == [model_id], f"/v1/models lists {ids}")
    check(srv.client().models.retrieve(model_id).id == model_id, "/v1/models/{id}")


@test("completion: non-streaming and streaming agree (greedy)")
def t_completion(srv, model_id):
    c = srv.client()
    r = c.completions.create(model=model_id, prompt=PROMPTS[0], max_tokens=24, temperature=0)
    text = r.choices[0].text
    check(r.object == "text_completion" and text, f"empty completion: {r}")
    check(r.choices[0].finish_reason in ("length", "stop"), f"finish_reason {r.choices[0].finish_reason}")
    check(0 < r.usage.completion_tokens <= 24 and r.usage.prompt_tokens > 0, f"usage {r.usage}")
    pieces, finish, n = [], None, 0
    for chunk in c.completions.create(model=model_id, prompt=PROMPTS[0], max_tokens=24, temperature=0, stream=True):
        n += 1
        pieces.append(chunk.choices[0].text)
        finish = chunk.choices[0].finish_reason or finish
    check("".join(pieces) == text, f"stream {''.join(pieces)!r} != {text!r}")
    # How many chunks carry the text depends on timing (tokens produced while the handler was
    # writing go out together); at least one with text and the finishing one.
    check(finish == r.choices[0].finish_reason and n >= 2, f"stream finish {finish}, {n} chunks")
    # prompt as a list of one string, echo, stop, seeded sampling is reproducible
    e = c.completions.create(model=model_id, prompt=[PROMPTS[0]], max_tokens=24, temperature=0, echo=True)
    check(e.choices[0].text == PROMPTS[0] + text, "echo")
    ids = c.completions.create(model=model_id, prompt=[400, 401, 402], max_tokens=4, temperature=0,
                               extra_body={"ignore_eos": True})
    check(ids.usage.prompt_tokens == 3 and ids.usage.completion_tokens == 4, f"token-id prompt: {ids.usage}")
    s1 = c.completions.create(model=model_id, prompt=PROMPTS[1], max_tokens=16, temperature=0.9, seed=7)
    s2 = c.completions.create(model=model_id, prompt=PROMPTS[1], max_tokens=16, temperature=0.9, seed=7)
    check(s1.choices[0].text == s2.choices[0].text, "the same seed gave different texts")
    if len(text) > 4:
        stop = text[2:4]
        st = c.completions.create(model=model_id, prompt=PROMPTS[0], max_tokens=24, temperature=0, stop=[stop])
        check(stop not in st.choices[0].text and text.startswith(st.choices[0].text) and st.choices[0].finish_reason == "stop",
              f"stop {stop!r}: {st.choices[0].text!r}")


@test("chat completion: non-streaming and streaming agree (greedy)")
def t_chat(srv, model_id):
    c = srv.client()
    msgs = [{"role": "system", "content": "You write Python."}, {"role": "user", "content": "A stack class, please."}]
    r = c.chat.completions.create(model=model_id, messages=msgs, max_tokens=20, temperature=0)
    m = r.choices[0].message
    check(r.object == "chat.completion" and m.role == "assistant" and isinstance(m.content, str) and m.content,
          f"chat reply {r}")
    check(r.usage.prompt_tokens > 10, f"the template was not applied? usage {r.usage}")
    pieces, finish, roles = [], None, []
    stream = c.chat.completions.create(model=model_id, messages=msgs, max_tokens=20, temperature=0, stream=True,
                                       stream_options={"include_usage": True})
    usage = None
    for chunk in stream:
        if chunk.usage:
            usage = chunk.usage
        for ch in chunk.choices:
            if ch.delta.role:
                roles.append(ch.delta.role)
            pieces.append(ch.delta.content or "")
            finish = ch.finish_reason or finish
    check("".join(pieces) == m.content, f"stream {''.join(pieces)!r} != {m.content!r}")
    check(roles == ["assistant"] and finish == r.choices[0].finish_reason, f"roles {roles}, finish {finish}")
    check(usage is not None and usage.completion_tokens == r.usage.completion_tokens, f"stream usage {usage}")


@test("8 concurrent requests: the same greedy outputs as alone, sharing decode steps")
def t_concurrent(srv, model_id):
    def one(i):
        c = srv.client()
        if i % 4 == 3:
            r = c.chat.completions.create(model=model_id, messages=[{"role": "user", "content": PROMPTS[i]}],
                                          max_tokens=24, temperature=0)
            return r.choices[0].message.content
        if i % 4 == 1:
            return "".join(ch.choices[0].text for ch in c.completions.create(
                model=model_id, prompt=PROMPTS[i], max_tokens=24, temperature=0, stream=True))
        return c.completions.create(model=model_id, prompt=PROMPTS[i], max_tokens=24, temperature=0).choices[0].text

    def steps():
        return json.loads(srv.raw("GET", "/health")[2])["steps"]

    s0 = steps()
    alone = [one(i) for i in range(8)]
    s1 = steps()
    barrier = threading.Barrier(8)

    def together(i):
        barrier.wait(timeout=remaining())
        return one(i)

    with ThreadPoolExecutor(8) as ex:
        both = list(ex.map(together, range(8)))
    s2 = steps()
    for i in range(8):
        check(both[i] == alone[i], f"request {i}: concurrent {both[i]!r} != alone {alone[i]!r}")
    check(s2 - s1 < s1 - s0, f"concurrent requests took {s2 - s1} steps, alone {s1 - s0}: no batching?")
    print(f"  steps: alone {s1 - s0}, concurrent {s2 - s1}", flush=True)


@test("malformed JSON and bad parameters: 400 with an OpenAI error")
def t_bad_requests(srv, model_id):
    json_error(*srv.raw("POST", "/v1/completions", "{not json")[::2], 400)
    json_error(*srv.raw("POST", "/v1/chat/completions", '{"messages": [')[::2], 400)
    json_error(*srv.raw("POST", "/v1/completions", "[1, 2]")[::2], 400)
    base = {"model": model_id, "prompt": "x"}
    for extra, param in [({"max_tokens": -1}, "max_tokens"), ({"max_tokens": "5"}, "max_tokens"),
                         ({"max_tokens": 2.5}, "max_tokens"), ({"temperature": 3}, "temperature"),
                         ({"temperature": "hot"}, "temperature"), ({"top_p": 1.5}, "top_p"), ({"top_k": -2}, "top_k"),
                         ({"n": 2}, "n"), ({"stop": 5}, "stop"), ({"stop": [""]}, "stop"), ({"stream": "yes"}, "stream"),
                         ({"prompt": 12}, "prompt"), ({"prompt": ["a", "b"]}, "prompt"), ({"prompt": ""}, "prompt"),
                         ({"prompt": [99999999]}, "prompt"), ({"logprobs": 3}, "logprobs"), ({"seed": "x"}, "seed"),
                         ({"presence_penalty": 1.0}, "presence_penalty")]:
        json_error(*srv.raw("POST", "/v1/completions", {**base, **extra})[::2], 400, param=param)
    del base["prompt"]
    json_error(*srv.raw("POST", "/v1/completions", base)[::2], 400, param="prompt")
    chat = {"model": model_id, "messages": [{"role": "user", "content": "hi"}]}
    for extra, param in [({"messages": []}, "messages"), ({"messages": "hi"}, "messages"),
                         ({"messages": [{"role": "wizard", "content": "hi"}]}, "messages[0].role"),
                         ({"messages": [{"content": "hi"}]}, "messages[0].role"),
                         ({"messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
                         ({"messages": [{"role": "user"}]}, "messages[0].content"),
                         ({"max_completion_tokens": -3}, "max_completion_tokens")]:
        json_error(*srv.raw("POST", "/v1/chat/completions", {**chat, **extra})[::2], 400, param=param)
    # through the client as well: a BadRequestError carrying the parameter
    try:
        srv.client().completions.create(model=model_id, prompt="x", temperature=7)
        check(False, "temperature 7 was accepted")
    except openai.BadRequestError as e:
        check(e.status_code == 400 and e.param == "temperature", f"{e}")
    # the server is still fine
    r = srv.client().completions.create(model=model_id, prompt="x", max_tokens=2, temperature=0)
    check(r.usage.completion_tokens <= 2, "server broken after bad requests")


@test("oversized prompt: 400 context_length_exceeded")
def t_oversized(srv, model_id):
    long_prompt = "def f(x):\n    return x + 1\n" * 400
    try:
        srv.client().completions.create(model=model_id, prompt=long_prompt, max_tokens=8)
        check(False, "an oversized prompt was accepted")
    except openai.BadRequestError as e:
        check(e.status_code == 400 and e.code == "context_length_exceeded", f"{e}")
    for max_tokens in (5000, 2**63 - 1):
        json_error(*srv.raw("POST", "/v1/completions", {"prompt": "x", "max_tokens": max_tokens})[::2], 400,
                   param="prompt", code="context_length_exceeded")
    json_error(*srv.raw("POST", "/v1/chat/completions",
                        {"messages": [{"role": "user", "content": long_prompt}]})[::2], 400, code="context_length_exceeded")


@test("unknown route 404, wrong method 405")
def t_routes(srv, model_id):
    json_error(*srv.raw("GET", "/v1/nothing")[::2], 404)
    json_error(*srv.raw("POST", "/v2/completions", {})[::2], 404)
    status, headers, text = srv.raw("GET", "/v1/completions")
    json_error(status, text, 405)
    check("POST" in headers.get("Allow", ""), f"Allow header: {headers}")
    json_error(*srv.raw("POST", "/health", {})[::2], 405)
    json_error(*srv.raw("DELETE", "/v1/models")[::2], 405)
    json_error(*srv.raw("GET", "/v1/models/no-such-model")[::2], 404, code="model_not_found")


def stream_raw(srv, body):
    """Starts a streaming request; returns (connection, response) once the headers are in."""
    c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=min(120, remaining()))
    c.request("POST", "/v1/completions", body=json.dumps({**body, "stream": True}), headers={"Content-Type": "application/json"})
    return c, c.getresponse()


def read_events(resp, until_first_text=False):
    """Reads SSE events; returns (texts, finish_reason, usage, saw_done)."""
    texts, finish, usage, done = [], None, None, False
    while True:
        line = resp.readline()
        if not line:
            break
        line = line.decode().rstrip("\n")
        if not line.startswith("data: "):
            continue
        data = line[6:]
        if data == "[DONE]":
            done = True
            break
        ev = json.loads(data)
        check("error" not in ev, f"stream error {ev}")
        if ev.get("usage"):
            usage = ev["usage"]
        for ch in ev["choices"]:
            texts.append(ch["text"])
            finish = ch["finish_reason"] or finish
        if until_first_text and "".join(texts):
            break
    return texts, finish, usage, done


@test("queue full: 503; SIGTERM finishes the requests in flight and exits 0")
def t_queue_and_shutdown(binary, server_args):
    srv = Server(binary, server_args + ["--parallel", "1", "--max-queue", "1"], "server --parallel 1 --max-queue 1")
    try:
        # A streams 1000 tokens; B (200 tokens) waits for the one slot; C finds the queue full.
        long_req = {"prompt": PROMPTS[0], "max_tokens": 1000, "temperature": 0, "ignore_eos": True,
                    "stream_options": {"include_usage": True}}
        conn_a, resp_a = stream_raw(srv, long_req)
        check(resp_a.status == 200, f"A: {resp_a.status}")
        read_events(resp_a, until_first_text=True)
        result_b = {}

        def b():
            result_b["r"] = srv.raw("POST", "/v1/completions",
                                    {"prompt": PROMPTS[1], "max_tokens": 200, "temperature": 0, "ignore_eos": True})
        tb = threading.Thread(target=b)
        tb.start()
        limit = time.time() + 30
        while json.loads(srv.raw("GET", "/health")[2])["requests_in_flight"] < 2:
            check(time.time() < limit, "B never got queued")
            time.sleep(0.005)
        status, headers, text = srv.raw("POST", "/v1/completions", {"prompt": "x", "max_tokens": 4})
        json_error(status, text, 503, code="queue_full")
        check(headers.get("Retry-After") == "1", f"503 without Retry-After: {headers}")
        # SIGTERM with A streaming and B waiting: both finish, new requests get 503, exit 0.
        in_flight = json.loads(srv.raw("GET", "/health")[2])["requests_in_flight"]
        srv.proc.send_signal(signal.SIGTERM)
        check(in_flight >= 1, "nothing was in flight at SIGTERM (the requests finished too fast for this test)")
        seen = "the server had exited"
        limit = time.time() + 30
        try:  # while the requests drain, /health says so and new requests are refused
            while True:
                status, _, text = srv.raw("GET", "/health")
                if status == 503:
                    check(json.loads(text)["status"] == "shutting down", f"/health during shutdown: {text}")
                    json_error(*srv.raw("POST", "/v1/completions", {"prompt": "x", "max_tokens": 4})[::2], 503,
                               code="shutting_down")
                    seen = "503 shutting_down"
                    break
                check(time.time() < limit, "/health never reported the shutdown")
                time.sleep(0.005)
        except ConnectionError:
            pass
        print(f"  new request during the shutdown: {seen}", flush=True)
        _, finish, usage, done = read_events(resp_a)
        conn_a.close()
        check(done and finish == "length" and usage and usage["completion_tokens"] == 1000,
              f"A after SIGTERM: done {done}, finish {finish}, usage {usage}")
        tb.join(timeout=remaining())
        status, _, text = result_b["r"]
        check(status == 200 and json.loads(text)["usage"]["completion_tokens"] == 200, f"B after SIGTERM: {status} {text}")
        code = srv.proc.wait(timeout=min(60, remaining()))
        check(code == 0, f"exit status {code} after SIGTERM")
    finally:
        if srv.proc.poll() is None:
            srv.proc.kill()


def main():
    global DEADLINE
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--chat-template", required=True)
    ap.add_argument("--timeout", type=float, default=420, help="the whole test, seconds")
    args = ap.parse_args()
    DEADLINE = time.time() + args.timeout
    # A watchdog: past the deadline the test fails even if something blocks.
    def watchdog():
        time.sleep(args.timeout + 30)
        print(f"FAIL: the test ran past {args.timeout} s", flush=True)
        os._exit(1)
    threading.Thread(target=watchdog, daemon=True).start()

    server_args = ["--model", args.model, "--chat-template", args.chat_template, "--threads", "2"]
    model_id = os.path.basename(os.path.normpath(args.model))
    srv = Server(args.server, server_args, "server")
    failed = []
    try:
        for t in (t_health_models, t_completion, t_chat, t_concurrent, t_bad_requests, t_oversized, t_routes):
            try:
                t(srv, model_id)
            except Exception as e:  # noqa: BLE001
                failed.append(t.__name__)
                print(f"FAIL {t.__name__}: {type(e).__name__}: {e}", flush=True)
        check(srv.proc.poll() is None, "the server died")
    finally:
        code = srv.stop()
    if code != 0:
        failed.append("exit status")
        print(f"FAIL: the server exited with {code} after SIGTERM", flush=True)
    try:
        t_queue_and_shutdown(args.server, server_args)
    except Exception as e:  # noqa: BLE001
        failed.append("t_queue_and_shutdown")
        print(f"FAIL t_queue_and_shutdown: {type(e).__name__}: {e}", flush=True)
    print(f"{len(PASSED)} passed, {len(failed)} failed", flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
