#!/usr/bin/env python3
"""A fake OpenAI-compatible generation server and reward server for optune's tests.

Python 3 standard library only. Usage:

    tools/fake_openai_server.py [--lifetime SECONDS]

It listens on 127.0.0.1 on two ports the OS picks and prints them on the first line of
standard output as "PORT SERVICE_PORT":

- PORT always answers: the API below and the control endpoint.
- SERVICE_PORT answers the same, but can be taken down: while "down", nothing listens on it,
  so clients get "connection refused" (a server that crashed or is restarting).

It exits after --lifetime seconds (default 600), on SIGTERM or SIGINT, and when its parent dies.

API (fixed, deterministic answers; the seed defaults to 0, `s` below is seed mod 100000):

- GET  /v1/models                -> {"object": "list", "data": [{"id": MODEL}, ...]}
- POST /v1/completions           -> one choice per request (n is ignored). Completion token ids
  are [s, len(prompt), 4294967295] cut to max_tokens (finish_reason "length" when cut, else
  "stop"); text "réponse ✓ s"; prompt token ids = the code points of the prompt's first 8
  characters. Like vLLM: "token_ids" and "prompt_token_ids" in the choice only with
  "return_token_ids": true; logprobs (token_logprobs -0.5, -0.25, -0.125, ...) only when the
  request has "logprobs", with tokens "token_id:N" when "return_tokens_as_token_ids" is true.
  A request whose "model" is not listed gets vLLM's 404.
- POST /v1/chat/completions      -> the same for the last message's content, as a chat
  completion ("prompt_token_ids" at the top level, logprobs under "content").
- POST /reward                   -> for {"items": [...]}: one score per item,
  (len(response or "") % 10) / 10 + 0.01 * len(response_token_ids or []), as {"scores": [...]}
  (or a bare list / {"rewards": [...]}, see reward_format).
- GET  /reward                   -> 405 (as a POST-only endpoint would).
- POST /pooling                  -> vLLM's pooling API for a reward model (shape recorded from
  vLLM v0.12-v0.18 `PoolingResponse`): for {"model"?, "messages": [..., {"role": "assistant",
  "content": C}], "use_activation"?} the raw score is (len(C) % 10) / 10 - 0.5, passed through
  a sigmoid unless "use_activation" is false, answered as {"id": "pool-…", "object": "list",
  "created": …, "model": …, "data": [{"index": 0, "object": "pooling", "data": DATA}],
  "usage": {...}} where DATA (see pooling_shape) is [score] ("sequence", a sequence classifier),
  one row per word of C then [score] ("token", a token reward model), [score, 2*score]
  ("multi"), or a base64 string ("base64"). A "model" that is not listed gets vLLM's 404; a
  conversation that does not end with an assistant turn gets a 400.
- GET  /health                   -> 200 (vLLM's health check).

Control (on either port):

- GET  /control -> {"counts": {"METHOD PATH": n, ...}, "requests": [last 200 JSON bodies
  posted to the API, with "path" and "authorization" (the header) added], "down": bool,
  "models": [...], "max_in_flight": the most API POSTs being answered at once}
- POST /control with a JSON object, keys applied in this order:
    "reset": true           forget counts, requests, faults; models back to ["test://pi0"]; up
    "models": [...]         what /v1/models lists
    "reward_format": "scores" | "rewards" | "list"
    "pooling_shape": "sequence" | "token" | "multi" | "base64"
    "hang_seconds": x       how long a "hang" fault sleeps before answering (default 30)
    "down": true | false    stop / start listening on SERVICE_PORT
    "faults": [{"fault": NAME, "count": N, "message": "..."}]   appended to the fault queue
  Each POST to /v1/completions, /v1/chat/completions or /reward takes the first fault of the
  queue that applies (count -1 = forever) and decrements its count; a fault with
  "match": ["a", "b"] applies only to requests whose JSON body contains every string. Faults:
    401, 429, 500, 503   that status with an OpenAI-style error body
    400               400 with {"error": {"message": MESSAGE}} (default "bad request")
    hang              sleep hang_seconds, then answer normally
    malformed         200 with a body that is not JSON
    no_token_ids      200 with text only: no token_ids, prompt_token_ids or logprobs
    wrong_count       (reward) one score too few
    nan               (reward) the first score is NaN (Python's json writes a bare NaN)
"""

import argparse
import json
import math
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
DEFAULT_MODELS = ["test://pi0"]
STATE = {
    "models": list(DEFAULT_MODELS),
    "faults": [],
    "counts": {},
    "requests": [],
    "reward_format": "scores",
    "pooling_shape": "sequence",
    "hang_seconds": 30.0,
    "in_flight": 0,
    "max_in_flight": 0,
}
API_POSTS = ("/v1/completions", "/v1/chat/completions", "/reward", "/pooling")


def take_fault(body):
    """The first fault that applies to this request: faults with "match" (a list of strings)
    apply only to requests whose JSON body contains every one of them, and are skipped otherwise."""
    text = json.dumps(body, ensure_ascii=False)
    with LOCK:
        faults = STATE["faults"]
        faults[:] = [fault for fault in faults if fault.get("count", 1) != 0]
        for fault in faults:
            if not all(part in text for part in fault.get("match", [])):
                continue
            if fault.get("count", 1) > 0:
                fault["count"] = fault.get("count", 1) - 1
            return dict(fault)
        return None


def sample(prompt_text, body):
    seed = body.get("seed") or 0
    s = int(seed) % 100000
    max_tokens = body.get("max_tokens")
    ids = [s, len(prompt_text), 4294967295]
    finish = "stop"
    if isinstance(max_tokens, int) and max_tokens < len(ids):
        ids = ids[:max_tokens]
        finish = "length"
    logprobs = [-0.5 / (2 ** i) for i in range(len(ids))]
    text = f"réponse ✓ {s}"
    prompt_ids = [ord(c) for c in prompt_text[:8]]
    return ids, logprobs, text, finish, prompt_ids


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # one request per connection: "down" really refuses
    server_version = "fake-openai/1"

    def log_message(self, *args):
        pass

    def send_json(self, status, value, raw=None):
        body = raw if raw is not None else json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def error(self, status, message, kind="BadRequestError"):
        self.send_json(status, {"error": {"message": message, "type": kind, "code": status}})

    def count(self):
        with LOCK:
            key = f"{self.command} {self.path}"
            STATE["counts"][key] = STATE["counts"].get(key, 0) + 1

    def read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            return json.loads(raw or b"{}")
        except ValueError:
            return None

    def do_GET(self):
        if self.path == "/control":
            with LOCK:
                snapshot = {
                    "counts": dict(STATE["counts"]),
                    "requests": list(STATE["requests"]),
                    "models": list(STATE["models"]),
                    "down": SERVICE.down,
                    "max_in_flight": STATE["max_in_flight"],
                }
            return self.send_json(200, snapshot)
        self.count()
        if self.path == "/v1/models":
            with LOCK:
                models = list(STATE["models"])
            return self.send_json(200, {"object": "list", "data": [
                {"id": m, "object": "model", "owned_by": "fake", "root": m} for m in models]})
        if self.path == "/reward":
            return self.error(405, "Method Not Allowed", "MethodNotAllowed")
        if self.path == "/health":
            return self.send_json(200, {})
        return self.error(404, f"no route {self.path}", "NotFoundError")

    def do_POST(self):
        body = self.read_body()
        if self.path == "/control":
            return self.control(body or {})
        with LOCK:
            STATE["in_flight"] += 1
            STATE["max_in_flight"] = max(STATE["max_in_flight"], STATE["in_flight"])
        try:
            return self.api_post(body)
        finally:
            with LOCK:
                STATE["in_flight"] -= 1

    def api_post(self, body):
        self.count()
        if body is None:
            return self.error(400, "the body is not JSON")
        if self.path not in API_POSTS:
            return self.error(404, f"no route {self.path}", "NotFoundError")
        with LOCK:
            STATE["requests"].append(dict(body, path=self.path, authorization=self.headers.get("Authorization")))
            del STATE["requests"][:-200]
        fault = take_fault(body)
        name = str(fault["fault"]) if fault else None
        if name in ("401", "429", "500", "503"):
            return self.error(int(name), fault.get("message") or f"injected {name}", "InjectedError")
        if name == "400":
            return self.error(400, fault.get("message") or "bad request")
        if name == "hang":
            with LOCK:
                seconds = STATE["hang_seconds"]
            time.sleep(seconds)
        if name == "malformed":
            return self.send_json(200, None, raw=b'{"choices": [{"text": "cut off')
        if self.path == "/reward":
            return self.reward(body, name)
        if self.path == "/pooling":
            return self.pooling(body)
        return self.completion(body, chat=self.path.endswith("chat/completions"), text_only=name == "no_token_ids")

    def completion(self, body, chat, text_only):
        model = body.get("model")
        with LOCK:
            models = list(STATE["models"])
        if model not in models:
            return self.error(404, f"The model `{model}` does not exist.", "NotFoundError")
        if chat:
            messages = body.get("messages") or []
            prompt_text = str(messages[-1].get("content", "")) if messages else ""
        else:
            prompt_text = str(body.get("prompt", ""))
        ids, logprobs, text, finish, prompt_ids = sample(prompt_text, body)
        want_ids = bool(body.get("return_token_ids")) and not text_only
        want_logprobs = body.get("logprobs") is not None and body.get("logprobs") is not False and not text_only
        as_ids = bool(body.get("return_tokens_as_token_ids"))
        tokens = [f"token_id:{i}" if as_ids else f"<{i}>" for i in ids]
        choice = {"index": 0, "finish_reason": finish, "logprobs": None}
        response = {"id": "cmpl-fake", "created": int(time.time()), "model": model,
                    "usage": {"prompt_tokens": len(prompt_ids), "completion_tokens": len(ids)}}
        if chat:
            response["object"] = "chat.completion"
            choice["message"] = {"role": "assistant", "content": text}
            if want_logprobs:
                choice["logprobs"] = {"content": [
                    {"token": t, "logprob": lp, "bytes": None, "top_logprobs": []} for t, lp in zip(tokens, logprobs)]}
            if want_ids:
                choice["token_ids"] = ids
                response["prompt_token_ids"] = prompt_ids
        else:
            response["object"] = "text_completion"
            choice["text"] = text
            if want_logprobs:
                choice["logprobs"] = {"tokens": tokens, "token_logprobs": logprobs,
                                      "text_offset": list(range(len(ids))), "top_logprobs": None}
            if want_ids:
                choice["token_ids"] = ids
                choice["prompt_token_ids"] = prompt_ids
        response["choices"] = [choice]
        return self.send_json(200, response)

    def reward(self, body, fault):
        items = body.get("items")
        if not isinstance(items, list):
            return self.error(400, "items must be a list")
        scores = [(len(item.get("response") or "") % 10) / 10 + 0.01 * len(item.get("response_token_ids") or [])
                  for item in items]
        if fault == "wrong_count":
            scores = scores[:-1]
        if fault == "nan" and scores:
            scores[0] = float("nan")
        with LOCK:
            form = STATE["reward_format"]
        value = scores if form == "list" else {form: scores}
        return self.send_json(200, value)

    def pooling(self, body):
        model = body.get("model")
        with LOCK:
            models = list(STATE["models"])
            shape = STATE["pooling_shape"]
        if model is not None and model not in models:
            return self.error(404, f"The model `{model}` does not exist.", "NotFoundError")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return self.error(400, "messages must be a non-empty list")
        for message in messages:
            if not isinstance(message, dict) or not isinstance(message.get("content"), str) or not message.get("role"):
                return self.error(400, "each message needs a role and a string content")
        last = messages[-1]
        if last["role"] != "assistant":
            return self.error(400, "the conversation must end with the assistant's response")
        content = last["content"]
        raw = (len(content) % 10) / 10 - 0.5
        score = raw if body.get("use_activation") is False else 1 / (1 + math.exp(-raw))
        if shape == "token":
            data = [[0.0] for _ in content.split()] + [[score]]
        elif shape == "multi":
            data = [score, 2 * score]
        elif shape == "base64":
            data = "AAAAAA=="
        else:
            data = [score]
        prompt_tokens = sum(len(m["content"].split()) for m in messages)
        return self.send_json(200, {
            "id": "pool-fake", "object": "list", "created": int(time.time()), "model": model or models[0],
            "data": [{"index": 0, "object": "pooling", "data": data}],
            "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens, "completion_tokens": 0,
                      "prompt_tokens_details": None}})

    def control(self, body):
        with LOCK:
            if body.get("reset"):
                STATE.update(models=list(DEFAULT_MODELS), faults=[], counts={}, requests=[],
                             reward_format="scores", pooling_shape="sequence", hang_seconds=30.0, max_in_flight=0)
            if "models" in body:
                STATE["models"] = list(body["models"])
            if "reward_format" in body:
                STATE["reward_format"] = body["reward_format"]
            if "pooling_shape" in body:
                STATE["pooling_shape"] = body["pooling_shape"]
            if "hang_seconds" in body:
                STATE["hang_seconds"] = float(body["hang_seconds"])
            for fault in body.get("faults", []):
                STATE["faults"].append(dict(fault))
        if body.get("reset"):
            SERVICE.set_down(False)
        if "down" in body:
            SERVICE.set_down(bool(body["down"]))
        return self.send_json(200, {"ok": True, "down": SERVICE.down})


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


class Flappable:
    """The service port: can stop and start listening on the same port."""

    def __init__(self):
        self.lock = threading.Lock()
        self.server = self.start(0)
        self.port = self.server.server_address[1]

    @staticmethod
    def start(port):
        server = Server(("127.0.0.1", port), Handler)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return server

    @property
    def down(self):
        return self.server is None

    def set_down(self, down):
        with self.lock:
            if down and self.server is not None:
                server, self.server = self.server, None
                server.shutdown()
                server.server_close()
            elif not down and self.server is None:
                for _ in range(100):
                    try:
                        self.server = self.start(self.port)
                        break
                    except OSError:
                        time.sleep(0.05)


def main():
    parser = argparse.ArgumentParser(description="fake OpenAI-compatible and reward server for tests")
    parser.add_argument("--lifetime", type=float, default=600.0, help="exit after this many seconds")
    args = parser.parse_args()

    global SERVICE
    SERVICE = Flappable()
    main_server = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=main_server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    # A parent may spawn us with signals blocked (a thread's mask is inherited): unblock them.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    signal.signal(signal.SIGINT, lambda *_: os._exit(0))
    print(f"{main_server.server_address[1]} {SERVICE.port}", flush=True)

    parent = os.getppid()
    deadline = time.monotonic() + args.lifetime
    while time.monotonic() < deadline:
        if os.getppid() != parent:  # the test process died: do not linger
            break
        time.sleep(0.2)
    os._exit(0)


SERVICE = None

if __name__ == "__main__":
    main()
