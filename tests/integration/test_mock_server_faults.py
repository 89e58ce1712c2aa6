"""Every injected fault, observed by a raw-socket client: status codes, Retry-After, a TCP
reset mid-stream, a malformed chunk, a stall that keeps the socket open, a stream without
[DONE]; and fault rates mixing as configured."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import httptools
import orjson
import pytest

from guidellm.mock_server import MockServer, MockServerConfig
from guidellm.mock_server.behavior import FAULTS, plan_request

STREAM = {
    "prompt": "x",
    "stream": True,
    "max_tokens": 10,
    "stream_options": {"include_usage": True},
}


@pytest.fixture
def serve() -> Iterator[Any]:
    started: list[MockServer] = []

    def start(**settings: Any) -> str:
        settings.setdefault("ttft_ms", 5)
        settings.setdefault("itl_ms", 2)
        server = MockServer(MockServerConfig(**settings))
        started.append(server)
        return server.start_thread()

    yield start
    for server in started:
        server.stop()


class RawResponse:
    """What came back on the socket, parsed by httptools (chunked encoding undone)."""

    def __init__(self) -> None:
        self.status = 0
        self.headers: dict[str, str] = {}
        self.body = b""
        self.complete = False
        self.eof = False
        self.reset = False
        self.timed_out = False
        self.body_at: list[float] = []

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode().lower()] = value.decode()

    def on_body(self, body: bytes) -> None:
        self.body += body
        self.body_at.append(time.monotonic())

    def on_message_complete(self) -> None:
        self.complete = True

    def events(self) -> list[bytes]:
        return [e[6:] for e in self.body.split(b"\n\n") if e.startswith(b"data: ")]


def raw_post(url: str, path: str, body: dict[str, Any], wait: float = 3.0) -> RawResponse:
    """POST over a bare socket and read until the response completes, EOF, RST or ``wait``."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    payload = orjson.dumps(body)
    response = RawResponse()
    parser = httptools.HttpResponseParser(response)
    with socket.create_connection((host, int(port)), timeout=wait) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            f"content-length: {len(payload)}\r\n\r\n".encode()
            + payload
        )
        deadline = time.monotonic() + wait
        while not response.complete:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                response.reset = True
                break
            except TimeoutError:
                response.timed_out = True
                break
            if not data:
                response.eof = True
                break
            parser.feed_data(data)
            if response.status == 0:
                response.status = parser.get_status_code()
    return response


def test_http_500(serve: Any) -> None:
    r = raw_post(serve(error_500_rate=1.0), "/v1/chat/completions", {"messages": []})
    assert r.status == 500
    assert orjson.loads(r.body)["error"]["code"] == 500


def test_http_429_with_retry_after(serve: Any) -> None:
    r = raw_post(serve(error_429_rate=1.0, retry_after_s=7), "/v1/completions", STREAM)
    assert r.status == 429
    assert r.headers["retry-after"] == "7"
    assert "rate limit" in orjson.loads(r.body)["error"]["message"]


def test_reset_mid_stream(serve: Any) -> None:
    r = raw_post(serve(reset_rate=1.0), "/v1/completions", STREAM)
    assert r.status == 200
    assert r.reset, "the client must see ECONNRESET"
    assert not r.complete
    assert len(r.events()) == 5  # half of the 10 tokens, then the reset
    assert b"[DONE]" not in r.body


def test_reset_of_a_non_streaming_answer(serve: Any) -> None:
    r = raw_post(serve(reset_rate=1.0), "/v1/completions", {"prompt": "x", "max_tokens": 3})
    assert r.reset
    assert r.status == 0


def test_malformed_chunk(serve: Any) -> None:
    r = raw_post(serve(malformed_rate=1.0), "/v1/completions", STREAM)
    assert r.complete and r.status == 200
    bad = []
    for event in r.events():
        if event == b"[DONE]":
            continue
        try:
            orjson.loads(event)
        except orjson.JSONDecodeError:
            bad.append(event)
    assert len(bad) == 1
    assert r.events()[-1] == b"[DONE]"
    whole = raw_post(serve(malformed_rate=1.0), "/v1/completions", {"prompt": "x"})
    assert whole.status == 200
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(whole.body)


def test_stall_keeps_the_socket_open(serve: Any) -> None:
    url = serve(stall_rate=1.0)
    r = raw_post(url, "/v1/completions", STREAM, wait=0.6)
    assert r.status == 200
    assert r.timed_out and not r.eof and not r.reset and not r.complete
    assert len(r.events()) == 5
    assert r.body_at[-1] < time.monotonic() - 0.4  # nothing came for the last ~0.5 s
    whole = raw_post(url, "/v1/completions", {"prompt": "x"}, wait=0.3)
    assert whole.timed_out and whole.status == 0


def test_stream_without_done(serve: Any) -> None:
    r = raw_post(serve(no_done_rate=1.0), "/v1/chat/completions", {**STREAM, "messages": []})
    assert r.complete and r.status == 200
    events = r.events()
    assert b"[DONE]" not in events
    assert len(events) == 11  # 10 tokens and the usage chunk
    assert orjson.loads(events[-1])["usage"]["completion_tokens"] == 10


def test_fault_rates_mix_as_configured(serve: Any) -> None:
    rates = {f"{name}_rate": 0.1 for name in FAULTS}
    config = MockServerConfig(**rates)  # type: ignore[arg-type]
    plans = [plan_request(config, i) for i in range(5000)]
    for name in FAULTS:
        share = sum(p.fault == name for p in plans) / len(plans)
        assert 0.08 <= share <= 0.12, (name, share)
    assert 0.37 <= sum(p.fault is None for p in plans) / len(plans) <= 0.43
    # the server follows the same plan: request i of a fresh server gets plans[i]'s fault
    url = serve(ttft_ms=0, itl_ms=0, **rates)
    statuses = [
        raw_post(url, "/v1/completions", {"prompt": "x", "max_tokens": 2}, wait=0.2)
        for _ in range(12)
    ]
    assert len({p.fault for p in plans[:12]}) >= 3  # the sample mixes faults and successes
    for plan, r in zip(plans, statuses, strict=False):
        if plan.fault == "error_500":
            assert r.status == 500
        elif plan.fault == "error_429":
            assert r.status == 429
        elif plan.fault in ("reset", "stall"):
            assert r.status == 0
        else:
            assert r.status == 200 and r.complete
