"""A loopback OpenAI-compatible chat-completions server for tests and benchmarks.

It listens on 127.0.0.1 (a free port), answers ``POST /v1/chat/completions`` (and
``/chat/completions``) and records every request body. Its ``mode`` says how it
answers; ``script`` queues modes for the next requests (one per request) before
falling back to ``mode``:

- ``"normal"``: a JSON answer (server-sent events when the request asks ``stream``);
- ``"stream"``: always server-sent events, one chunk per word;
- ``"tool_call"``: a call of the request's first tool with ``tool_arguments``;
- ``"429"``: HTTP 429 with ``Retry-After: <retry_after>``;
- ``"500"``: HTTP 500;
- ``"slow"``: waits ``delay_s`` and then answers normally;
- ``"malformed"``: HTTP 200 with a body that is not JSON;
- ``"length"``: a normal answer whose choices end with ``finish_reason: "length"`` (cut off).

Two switches imitate limited servers in any mode: ``refuse_response_format``
answers HTTP 400 to a request that carries ``response_format``, and ``max_choices``
returns at most that many choices whatever ``n`` asks.
"""

from __future__ import annotations

import collections
import contextlib
import json
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["MODES", "LoopbackServer", "openai_server"]

MODES = ("normal", "stream", "tool_call", "429", "500", "slow", "malformed", "length")


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"unknown loopback server mode {mode!r}; use one of {', '.join(MODES)}")


class LoopbackServer:
    """The running server; see :func:`openai_server`.

    Example:
        >>> server = LoopbackServer("500").start()
        >>> server.url.startswith("http://127.0.0.1:"), server.mode
        (True, '500')
        >>> server.close()

    Attributes:
        url: base URL to pass as ``api_base`` (ends in ``/v1``).
        mode: how requests are answered when ``script`` is empty.
        script: modes for the next requests, consumed one per request.
        reply: answer text, or a function of the request body returning it.
        tool_arguments: arguments of the tool call in ``tool_call`` mode.
        retry_after: value of the ``Retry-After`` header in ``429`` mode.
        error_message: the message of the error bodies (``429``, ``500``).
        delay_s: wait of the ``slow`` mode.
        requests: the JSON bodies received, in order.
        headers: the request headers received, in order (lower-case names).
        peak_in_flight: the most requests it was answering at once.
        refuse_response_format: answer HTTP 400 to requests with ``response_format``.
        max_choices: the most choices an answer holds (None: ``n``).
    """

    def __init__(self, mode: str = "normal", *, reply: str | Callable[[dict], str] = "Hello from the loopback server.",
                 delay_s: float = 0.2, retry_after: str = "0") -> None:
        _check_mode(mode)
        self.mode = mode
        self.script: collections.deque[str] = collections.deque()
        self.reply = reply
        self.tool_arguments: dict[str, Any] = {}
        self.retry_after = retry_after
        self.delay_s = delay_s
        self.error_message = "the loopback server was told to fail"
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.in_flight = self.peak_in_flight = 0
        self.refuse_response_format = False
        self.max_choices: int | None = None
        self._lock = threading.Lock()
        self._httpd = _HTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.02,), name="openai-loopback",
                                        daemon=True)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def start(self) -> "LoopbackServer":
        """Start serving in a daemon thread."""
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving and release the port."""
        self._httpd.shutdown()
        self._httpd.server_close()

    def reset(self, mode: str = "normal") -> None:
        """Forget recorded requests, queued modes, the in-flight peak and the switches; set ``mode``."""
        _check_mode(mode)
        with self._lock:
            self.refuse_response_format, self.max_choices = False, None
            self.requests.clear()
            self.headers.clear()
            self.script.clear()
            self.mode = mode
            self.peak_in_flight = self.in_flight

    def _count(self, step: int) -> None:
        with self._lock:
            self.in_flight += step
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)

    def _next_mode(self, body: dict[str, Any], headers: dict[str, str]) -> str:
        with self._lock:
            self.requests.append(body)
            self.headers.append(headers)
            return self.script.popleft() if self.script else self.mode

    def __enter__(self) -> "LoopbackServer":
        return self if self._thread.is_alive() else self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def openai_server(mode: str = "normal", **options: Any) -> Iterator[LoopbackServer]:
    """Run a loopback OpenAI-compatible server for the duration of a ``with`` block.

    Example:
        >>> import json, urllib.request
        >>> with openai_server() as srv:
        ...     req = urllib.request.Request(srv.url + "/chat/completions", method="POST",
        ...         data=json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]}).encode())
        ...     body = json.load(urllib.request.urlopen(req))
        >>> body["choices"][0]["message"]["content"], len(srv.requests)
        ('Hello from the loopback server.', 1)
    """
    server = LoopbackServer(mode, **options).start()
    try:
        yield server
    finally:
        server.close()


def _texts(server: LoopbackServer, body: dict[str, Any]) -> list[str]:
    """The answer texts, one per requested choice (at most ``max_choices``); a reply
    function is called once per choice."""
    n = int(body.get("n") or 1)
    if server.max_choices is not None:
        n = min(n, server.max_choices)
    if callable(server.reply):
        return [server.reply(body) for _ in range(n)]
    return [server.reply] * n


def _tool_call(server: LoopbackServer, body: dict[str, Any]) -> dict[str, Any]:
    tools = body.get("tools") or [{"function": {"name": "no_tool_given"}}]
    return {"id": f"call_{uuid.uuid4().hex[:12]}", "type": "function",
            "function": {"name": tools[0]["function"]["name"], "arguments": json.dumps(server.tool_arguments)}}


def _usage(body: dict[str, Any], texts: list[str]) -> dict[str, int]:
    prompt = sum(len(str(m.get("content") or "").split()) + 4 for m in body.get("messages", []))
    completion = sum(len(t.split()) for t in texts)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _completion_body(body: dict[str, Any], texts: list[str], call: dict[str, Any] | None,
                     finish: str = "stop") -> dict[str, Any]:
    choices = []
    for i, text in enumerate(texts):
        message: dict[str, Any] = {"role": "assistant", "content": None if call else text}
        if call:
            message["tool_calls"] = [call]
        choices.append({"index": i, "message": message, "finish_reason": "tool_calls" if call else finish})
    return {"id": f"chatcmpl-{uuid.uuid4().hex[:12]}", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model", "loopback"), "choices": choices, "usage": _usage(body, texts)}


def _stream_events(body: dict[str, Any], texts: list[str], call: dict[str, Any] | None) -> Iterator[dict[str, Any]]:
    base = {"id": f"chatcmpl-{uuid.uuid4().hex[:12]}", "object": "chat.completion.chunk",
            "created": int(time.time()), "model": body.get("model", "loopback")}
    for i, text in enumerate(texts):
        yield {**base, "choices": [{"index": i, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}
        if call:
            delta = {"tool_calls": [{"index": 0, **call}]}
            yield {**base, "choices": [{"index": i, "delta": delta, "finish_reason": None}]}
        else:
            words = text.split(" ")
            for k, word in enumerate(words):
                piece = word if k == len(words) - 1 else word + " "
                yield {**base, "choices": [{"index": i, "delta": {"content": piece}, "finish_reason": None}]}
        yield {**base, "choices": [{"index": i, "delta": {}, "finish_reason": "tool_calls" if call else "stop"}]}
    if (body.get("stream_options") or {}).get("include_usage"):
        yield {**base, "choices": [], "usage": _usage(body, texts)}


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # the default backlog (5) drops bursts of connections for a second

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Ignore clients that hung up (a timed-out ``slow`` request); report anything else."""
        exc = sys.exc_info()[1]
        if not isinstance(exc, ConnectionError):
            super().handle_error(request, client_address)


def _handler_for(server: LoopbackServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out as separate writes

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence stderr logging
            pass

        def do_POST(self) -> None:  # noqa: N802 - http.server naming
            server._count(1)
            try:
                self._answer()
            finally:
                server._count(-1)

        def _answer(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                body = json.loads(raw or b"{}")
            except json.JSONDecodeError:
                return self._send(400, {"error": {"message": "request body is not JSON", "type": "invalid_request"}})
            if not self.path.rstrip("/").endswith("/chat/completions"):
                return self._send(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
            mode = server._next_mode(body, {k.lower(): v for k, v in self.headers.items()})
            if mode not in MODES:
                message = f"unknown loopback server mode {mode!r}; use one of {', '.join(MODES)}"
                return self._send(500, {"error": {"message": message, "type": "server_error"}})
            if mode == "429":
                return self._send(429, {"error": {"message": server.error_message, "type": "rate_limit_error"}},
                                  {"Retry-After": server.retry_after})
            if mode == "500":
                return self._send(500, {"error": {"message": server.error_message, "type": "server_error"}})
            if server.refuse_response_format and body.get("response_format") is not None:
                message = "response_format is not supported by this server"
                return self._send(400, {"error": {"message": message, "type": "invalid_request_error"}})
            if mode == "malformed":
                return self._send_raw(200, b'{"id": "broken", "choices": [ this is not json', "application/json")
            if mode == "slow":
                time.sleep(server.delay_s)
            texts = _texts(server, body)
            call = _tool_call(server, body) if mode == "tool_call" else None
            if mode == "stream" or body.get("stream"):
                return self._send_events(_stream_events(body, texts, call))
            return self._send(200, _completion_body(body, texts, call, "length" if mode == "length" else "stop"))

        def _send(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
            self._send_raw(status, json.dumps(payload).encode(), "application/json", headers)

        def _send_raw(self, status: int, data: bytes, ctype: str, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        def _send_events(self, events: Iterator[dict[str, Any]]) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for event in [*(f"data: {json.dumps(e)}\n\n" for e in events), "data: [DONE]\n\n"]:
                data = event.encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")

    return Handler


def main(argv: list[str] | None = None) -> None:
    """Serve in the foreground: ``python -m trace_core.testing.server [mode]``.

    Writes the base URL as the first line of stdout and serves until stdin closes
    (so a parent process can run it out of process, e.g. for benchmarks).
    """
    args = sys.argv[1:] if argv is None else argv
    with openai_server(args[0] if args else "normal") as server:
        sys.stdout.write(server.url + "\n")
        sys.stdout.flush()
        sys.stdin.read()


if __name__ == "__main__":
    main()
