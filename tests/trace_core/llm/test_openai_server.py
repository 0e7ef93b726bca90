"""The loopback OpenAI-compatible server on its own (plain HTTP, no client library)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from trace_core.testing import MODES, openai_server
from trace_core.testing.pytest_plugin import openai_server as openai_server_fixture  # noqa: F401


def post(url: str, body: dict, route: str = "/chat/completions") -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url + route, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json", "Authorization": "Bearer k"})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


BODY = {"model": "m", "messages": [{"role": "user", "content": "hi there"}]}


def test_modes_and_recording():
    with openai_server(reply="pong", retry_after="3") as srv:
        status, _, data = post(srv.url, {**BODY, "n": 2})
        answer = json.loads(data)
        assert status == 200 and [c["message"]["content"] for c in answer["choices"]] == ["pong", "pong"]
        assert answer["usage"]["prompt_tokens"] > 0
        srv.script.extend(["429", "500", "malformed"])
        status, headers, _ = post(srv.url, BODY)
        assert status == 429 and headers["Retry-After"] == "3"
        assert post(srv.url, BODY)[0] == 500
        status, _, data = post(srv.url, BODY)
        assert status == 200 and data.startswith(b'{"id": "broken"')
        with pytest.raises(json.JSONDecodeError):
            json.loads(data)
        srv.mode = "tool_call"
        srv.tool_arguments = {"q": 1}
        tool = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}
        message = json.loads(post(srv.url, {**BODY, "tools": [tool]})[2])["choices"][0]["message"]
        assert message["tool_calls"][0]["function"] == {"name": "lookup", "arguments": '{"q": 1}'}
        assert len(srv.requests) == 5 and srv.requests[0]["n"] == 2 and srv.headers[0]["authorization"] == "Bearer k"
        srv.mode = "no-such-mode"
        assert post(srv.url, BODY)[0] == 500  # the handler refuses an unknown mode
    with pytest.raises(ValueError, match="unknown loopback server mode"):
        openai_server("sideways").__enter__()
    assert set(MODES) == {"normal", "stream", "tool_call", "429", "500", "slow", "malformed", "length"}


def test_stream_events_and_fixture(openai_server):
    openai_server.reply = "a b"
    status, headers, data = post(openai_server.url, {**BODY, "stream": True,
                                                     "stream_options": {"include_usage": True}})
    events = [line[6:] for line in data.decode().splitlines() if line.startswith("data: ")]
    assert status == 200 and headers["Content-Type"] == "text/event-stream" and events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "a b" and chunks[-1]["usage"]["completion_tokens"] == 2
    assert post(openai_server.url, BODY, route="/embeddings")[0] == 404
    openai_server.reset()
    assert openai_server.requests == [] and openai_server.mode == "normal"
