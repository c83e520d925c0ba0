"""A small, real OpenAI-compatible HTTP server on 127.0.0.1 that answers like Qwen3.5 behind llama.cpp.

It is driven by a script: a list of replies, one consumed per `POST /v1/chat/completions`, in order.

Reply entries (all keys optional unless noted):
    {"reasoning": "thought", "content": "answer or <tool_call>…</tool_call> XML"}
        streamed as SSE chunks: the thought in `delta.reasoning_content` (llama.cpp, older vLLM) first,
        then `delta.content`. Extra keys:
          "reasoning_field": "reasoning"       name newer vLLM uses for the thought delta
          "tool_calls": [{"name": "bash", "arguments": {...} or "raw json", "id": "call_1"}]
                                               OpenAI-native calls, streamed as `delta.tool_calls` fragments
          "finish_reason": "stop"              default "tool_calls" when tool_calls is given, else "stop"
          "usage": {...}                       the usage object to send instead of the computed one
          "chunk_delay": 0.01                  seconds between chunks
          "drop_after_chars": N                close the connection abruptly after N streamed characters
          "logprobs": [[lp, ...], ...]          top logprobs per streamed text piece (thought, then answer),
                                               sent as `choice.logprobs.content` when the request asks for
                                               `logprobs`; pieces past the list's end get `logprobs: null`
    {"text": "raw completion"}                  for `POST /v1/completions` (raw prompt): streamed as
                                               `text_completion` chunks; "logprobs" as above, sent in the
                                               legacy shape (`tokens`, `top_logprobs: [{token: lp}]`)
                                               when the request's `logprobs` is a number > 0
    {"status": 500, "message": "boom"}          an error answer with an OpenAI-style JSON error body
    {"status": 429, "retry_after": 1}           ... with a `Retry-After` header (seconds)
    {"hang": seconds}                           accept the request, then send nothing for that long

Streams end with a usage chunk when the request asks for `stream_options.include_usage` (computed usage:
prompt tokens ~ characters / 4 of the messages, completion tokens = chunks sent, no reasoning-token
details, as llama.cpp does), then `data: [DONE]`. Non-streaming requests get one `chat.completion` JSON.
When the script is used up the server answers 400 "script exhausted" (400 is never retried).

`GET /v1/models` lists `models` (default ["qwen3.5-test"]); a chat request naming another model gets
vLLM's 404 `The model `x` does not exist.` without consuming a script entry.

Use in-process:
    server = FakeOpenAIServer([{"reasoning": "hm", "content": "hi"}]).start()
    server.base_url   # "http://127.0.0.1:PORT/v1"
    server.requests   # every chat request body received (dicts), in order
    server.headers    # their headers (lower-cased names)
    server.close()

From a subprocess (the CLI end-to-end tests):
    python -m tests.fake_openai_server --script FILE.json --port-file FILE [--requests-file FILE.jsonl]
FILE.json holds the list of replies, or {"replies": [...], "models": [...]}. The port is written to
--port-file once the server listens; each request body is appended to --requests-file as one JSON line.
The server runs until SIGTERM / SIGINT.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

DEFAULT_MODEL = "qwen3.5-test"


def qwen_tool_call(name: str, **params: Any) -> str:
    """The Qwen3.5 XML a model writes into `content` to call a tool."""
    body = "".join(f"<parameter={key}>\n{value}\n</parameter>\n" for key, value in params.items())
    return f"<tool_call>\n<function={name}>\n{body}</function>\n</tool_call>"


def split_tokens(text: str, size: int = 4) -> list[str]:
    """Token-sized pieces (a few characters each), so streaming is exercised as with a real server."""
    return [text[i : i + size] for i in range(0, len(text), size)]


class FakeOpenAIServer:
    def __init__(
        self,
        script: list[dict[str, Any]],
        *,
        models: list[str] | None = None,
        requests_file: Path | None = None,
    ):
        self.script = list(script)
        self.models = models or [DEFAULT_MODEL]
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.requests_file = requests_file
        self._lock = threading.Lock()
        self._next = 0
        self._stopping = threading.Event()
        self._httpd = _QuietServer(("127.0.0.1", 0), _make_handler(self))
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> FakeOpenAIServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-openai", daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        self._stopping.set()  # wakes handlers sleeping in a "hang"
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def record(self, body: dict[str, Any], headers: dict[str, str]) -> dict[str, Any] | None:
        """Store a chat request and hand out the next script entry (None when the script is used up)."""
        with self._lock:
            self.requests.append(body)
            self.headers.append(headers)
            if self.requests_file is not None:
                with self.requests_file.open("a", encoding="utf-8") as fh:
                    fh.write(json.dumps(body) + "\n")
            if self._next >= len(self.script):
                return None
            entry = self.script[self._next]
            self._next += 1
            return entry


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up (timeouts, dropped streams, closed keep-alive) is what tests provoke.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def _make_handler(server: FakeOpenAIServer) -> type[BaseHTTPRequestHandler]:
    class Handler(_Handler):
        fake = server

    return Handler


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # chunked streaming, like uvicorn
    fake: FakeOpenAIServer

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        pass

    # -- routes -------------------------------------------------------------------------------------
    def do_GET(self) -> None:
        if self.path.rstrip("/") in ("/v1/models", "/models"):
            data = [{"id": m, "object": "model", "owned_by": "fake"} for m in self.fake.models]
            self._json(200, {"object": "list", "data": data})
        else:
            self._error(404, f"no route {self.path}", "NotFoundError")

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length)
        route = self.path.rstrip("/")
        if route not in ("/v1/chat/completions", "/chat/completions", "/v1/completions", "/completions"):
            self._error(404, f"no route {self.path}", "NotFoundError")
            return
        try:
            body = json.loads(raw)
        except ValueError:
            self._error(400, "request body is not JSON", "BadRequestError")
            return
        if body.get("model") not in self.fake.models:
            self._error(404, f"The model `{body.get('model')}` does not exist.", "NotFoundError")
            return
        entry = self.fake.record(body, {k.lower(): v for k, v in self.headers.items()})
        if entry is None:
            self._error(400, f"fake server script exhausted after {len(self.fake.script)} replies")
        elif "hang" in entry:
            self.fake._stopping.wait(float(entry["hang"]))
            self.close_connection = True
        elif "status" in entry:
            extra = {"Retry-After": str(entry["retry_after"])} if "retry_after" in entry else {}
            status = int(entry["status"])
            self._error(status, entry.get("message", f"scripted HTTP {status}"), **extra)
        elif route.endswith("/chat/completions") and body.get("stream"):
            self._stream(body, entry)
        elif body.get("stream"):
            self._stream_text(body, entry)
        else:
            self._complete(body, entry)

    # -- answers ------------------------------------------------------------------------------------
    def _stream(self, body: dict[str, Any], entry: dict[str, Any]) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream; charset=utf-8")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        chunk_id = f"chatcmpl-{uuid.uuid4().hex[:12]}"
        model = body.get("model", DEFAULT_MODEL)
        drop_after = entry.get("drop_after_chars")
        delay = float(entry.get("chunk_delay", 0))
        sent_chars = 0
        pieces = 0

        def event(delta: dict[str, Any], finish: str | None = None, usage: dict | None = None,
                  logprobs: dict | None = None) -> None:
            choices = [] if usage is not None else [{"index": 0, "delta": delta, "finish_reason": finish}]
            if logprobs is not None and choices:
                choices[0]["logprobs"] = logprobs
            payload = {"id": chunk_id, "object": "chat.completion.chunk", "created": int(time.time()),
                       "model": model, "choices": choices}
            if usage is not None:
                payload["usage"] = usage
            self._chunk(f"data: {json.dumps(payload)}\n\n")

        event({"role": "assistant", "content": None})
        reasoning_field = entry.get("reasoning_field", "reasoning_content")
        deltas = [{reasoning_field: p} for p in split_tokens(entry.get("reasoning", ""))]
        deltas += [{"content": p} for p in split_tokens(entry.get("content", ""))]
        deltas += _tool_call_deltas(entry.get("tool_calls", []))
        tops = (entry.get("logprobs") or []) if body.get("logprobs") else []
        for index, delta in enumerate(deltas):
            if drop_after is not None and sent_chars >= drop_after:
                self._drop()
                return
            if delay:
                time.sleep(delay)
            text = next((v for v in delta.values() if isinstance(v, str)), "")
            event(delta, logprobs=_chat_logprobs(text, tops[index]) if index < len(tops) else None)
            sent_chars += sum(len(v) for v in delta.values() if isinstance(v, str))
            pieces += 1
        if drop_after is not None:
            self._drop()
            return
        finish = entry.get("finish_reason") or ("tool_calls" if entry.get("tool_calls") else "stop")
        event({}, finish)
        if (body.get("stream_options") or {}).get("include_usage"):
            event({}, usage=entry.get("usage") or _usage(body, pieces))
        self._chunk("data: [DONE]\n\n")
        self._chunk("")  # the terminating zero-length chunk

    def _stream_text(self, body: dict[str, Any], entry: dict[str, Any]) -> None:
        """A raw-prompt completion stream (POST /v1/completions), as llama.cpp and vLLM send it."""
        self.send_response(200)
        self.send_header("content-type", "text/event-stream; charset=utf-8")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        chunk_id = f"cmpl-{uuid.uuid4().hex[:12]}"
        pieces = split_tokens(entry.get("text", ""))
        tops = (entry.get("logprobs") or []) if (body.get("logprobs") or 0) > 0 else []
        delay = float(entry.get("chunk_delay", 0))

        def event(text: str, logprobs: dict | None, finish: str | None = None) -> None:
            payload = {"id": chunk_id, "object": "text_completion", "created": int(time.time()),
                       "model": body.get("model"),
                       "choices": [{"text": text, "index": 0, "logprobs": logprobs, "finish_reason": finish}]}
            self._chunk(f"data: {json.dumps(payload)}\n\n")

        for index, piece in enumerate(pieces):
            if delay:
                time.sleep(delay)
            event(piece, _legacy_logprobs(piece, tops[index]) if index < len(tops) else None)
        event("", None, entry.get("finish_reason") or "stop")
        if (body.get("stream_options") or {}).get("include_usage"):
            prompt = {"messages": [{"content": body.get("prompt", "")}]}
            usage = entry.get("usage") or _usage(prompt, len(pieces))
            payload = {"id": chunk_id, "object": "text_completion", "created": int(time.time()),
                       "model": body.get("model"), "choices": [], "usage": usage}
            self._chunk(f"data: {json.dumps(payload)}\n\n")
        self._chunk("data: [DONE]\n\n")
        self._chunk("")

    def _complete(self, body: dict[str, Any], entry: dict[str, Any]) -> None:
        message: dict[str, Any] = {"role": "assistant", "content": entry.get("content", "")}
        if entry.get("reasoning"):
            message[entry.get("reasoning_field", "reasoning_content")] = entry["reasoning"]
        if entry.get("tool_calls"):
            message["tool_calls"] = [_openai_call(i, c) for i, c in enumerate(entry["tool_calls"])]
        text = entry.get("reasoning", "") + entry.get("content", "")
        finish = entry.get("finish_reason") or ("tool_calls" if entry.get("tool_calls") else "stop")
        self._json(200, {
            "id": f"chatcmpl-{uuid.uuid4().hex[:12]}", "object": "chat.completion",
            "created": int(time.time()), "model": body.get("model"),
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": entry.get("usage") or _usage(body, len(split_tokens(text))),
        })

    # -- plumbing -----------------------------------------------------------------------------------
    def _chunk(self, text: str) -> None:
        data = text.encode()
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _drop(self) -> None:
        """Close mid-body without the terminating chunk: what a crashed server looks like."""
        self.close_connection = True
        self.connection.shutdown(socket.SHUT_RDWR)

    def _json(self, status: int, payload: dict[str, Any], **headers: str) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str, kind: str = "BadRequestError", **headers: str) -> None:
        self._json(status, {"error": {"message": message, "type": kind, "code": status}}, **headers)


def _usage(body: dict[str, Any], completion_tokens: int) -> dict[str, int]:
    prompt_chars = sum(len(str(m.get("content") or "")) for m in body.get("messages", []))
    prompt = max(1, prompt_chars // 4)
    return {"prompt_tokens": prompt, "completion_tokens": completion_tokens,
            "total_tokens": prompt + completion_tokens}


def _chat_logprobs(token: str, top: list[float]) -> dict[str, Any]:
    """Chat-completions logprobs for one streamed piece, taken as one token; the top list's own tokens are
    placeholders (only their numbers matter to a client estimating entropy)."""
    listed = [{"token": f"<tok{i}>", "logprob": lp, "bytes": None} for i, lp in enumerate(top)]
    return {"content": [{"token": token, "logprob": top[0] if top else 0.0, "bytes": None,
                         "top_logprobs": listed}]}


def _legacy_logprobs(token: str, top: list[float]) -> dict[str, Any]:
    return {"tokens": [token], "text_offset": [0], "token_logprobs": [top[0] if top else 0.0],
            "top_logprobs": [{f"<tok{i}>": lp for i, lp in enumerate(top)}]}


def _openai_call(index: int, call: dict[str, Any]) -> dict[str, Any]:
    args = call.get("arguments", {})
    return {
        "id": call.get("id", f"call_{index}"),
        "type": "function",
        "function": {"name": call["name"], "arguments": args if isinstance(args, str) else json.dumps(args)},
    }


def _tool_call_deltas(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """OpenAI streaming shape: the first fragment names the call, later ones append to `arguments`."""
    deltas: list[dict[str, Any]] = []
    for index, call in enumerate(calls):
        full = _openai_call(index, call)
        deltas.append({"tool_calls": [{"index": index, "id": full["id"], "type": "function",
                                       "function": {"name": full["function"]["name"], "arguments": ""}}]})
        for piece in split_tokens(full["function"]["arguments"], 7):
            deltas.append({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
    return deltas


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Scripted OpenAI-compatible server for tests.")
    parser.add_argument("--script", type=Path, required=True)
    parser.add_argument("--port-file", type=Path, required=True)
    parser.add_argument("--requests-file", type=Path)
    args = parser.parse_args(argv)
    loaded = json.loads(args.script.read_text(encoding="utf-8"))
    if isinstance(loaded, list):
        replies, models = loaded, None
    else:
        replies, models = loaded["replies"], loaded.get("models")
    server = FakeOpenAIServer(replies, models=models, requests_file=args.requests_file)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    server.start()
    # Written atomically so a reader polling for the file never sees it half-written.
    tmp = args.port_file.with_name(args.port_file.name + ".tmp")
    tmp.write_text(str(server.port), encoding="utf-8")
    os.replace(tmp, args.port_file)
    stop.wait()
    server.close()


if __name__ == "__main__":
    main()
