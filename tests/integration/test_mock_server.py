"""The mock server over real sockets: routes, streaming and non-streaming answers, lengths,
usage, reasoning, determinism and timing distributions (thread mode, httpx and raw clients)."""

from __future__ import annotations

import asyncio
import itertools
import socket
import statistics
import time
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from guidellm.errors import UserError
from guidellm.mock_server import MockServer, MockServerConfig
from guidellm.mock_server.behavior import plan_request

CHAT = {"messages": [{"role": "user", "content": "say three words please"}]}


@pytest.fixture
def serve() -> Iterator[Any]:
    """Start mock servers on threads (``process=True``: in a child process, for timing
    checks, since a thread shares the GIL with the test's client)."""
    started: list[MockServer] = []

    def start(process: bool = False, **settings: Any) -> str:
        server = MockServer(MockServerConfig(**settings))
        started.append(server)
        return server.start_process() if process else server.start_thread()

    yield start
    for server in started:
        server.stop()


def sse_events(response: httpx.Response) -> list[Any]:
    """Every ``data:`` payload of a stream, JSON-decoded except ``[DONE]``."""
    events: list[Any] = []
    for line in response.iter_lines():
        if line.startswith("data: "):
            payload = line[6:]
            events.append(payload if payload == "[DONE]" else orjson.loads(payload))
    return events


def test_health_models_and_errors(serve: Any) -> None:
    url = serve(model="tiny")
    with httpx.Client(base_url=url) as client:
        assert client.get("/health").json() == {"status": "ok"}
        models = client.get("/v1/models").json()
        assert [m["id"] for m in models["data"]] == ["tiny"]
        assert client.get("/nope").status_code == 404
        assert client.get("/v1/chat/completions").status_code == 405
        bad = client.post("/v1/chat/completions", content=b"{not json")
        assert bad.status_code == 400
        assert "JSON" in bad.json()["error"]["message"]
        assert client.post("/v1/chat/completions", json={"prompt": "x"}).status_code == 400
        assert client.post("/v1/completions", json={"messages": []}).status_code == 400
        unknown = client.post("/v1/completions", json={"prompt": "x", "model": "other"})
        assert unknown.status_code == 404
        assert "other" in unknown.json()["error"]["message"]
        huge = client.post("/v1/completions", json={"prompt": "x", "max_tokens": 10**7})
        assert huge.status_code == 400
        assert "max_tokens" in huge.json()["error"]["message"]
        ok = client.post("/v1/completions", json={"prompt": "x", "model": "tiny", "max_tokens": 2})
        assert ok.status_code == 200


def test_chat_stream_one_token_per_chunk_usage_and_done(serve: Any) -> None:
    url = serve(ttft_ms=5, itl_ms=1, output_tokens=7)
    body = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
    with (
        httpx.Client() as client,
        client.stream("POST", url + "/v1/chat/completions", json=body) as r,
    ):
        assert r.status_code == 200
        assert r.headers["content-type"] == "text/event-stream"
        events = sse_events(r)
    assert events[-1] == "[DONE]"
    usage_event = events[-2]
    tokens = events[:-2]
    assert len(tokens) == 7
    assert tokens[0]["choices"][0]["delta"]["role"] == "assistant"
    assert all(e["object"] == "chat.completion.chunk" for e in tokens)
    assert all(e["choices"][0]["delta"]["content"].startswith(" ") for e in tokens)
    assert [e["choices"][0]["finish_reason"] for e in tokens] == [None] * 6 + ["stop"]
    assert usage_event["choices"] == []
    assert usage_event["usage"] == {
        "prompt_tokens": 4,
        "completion_tokens": 7,
        "total_tokens": 11,
        "prompt_tokens_details": {"cached_tokens": 0},
    }


def test_completions_stream_without_usage_and_max_tokens_exact(serve: Any) -> None:
    url = serve(ttft_ms=2, itl_ms=0.5, output_tokens=100)
    body = {"prompt": "one two", "max_tokens": 12, "stream": True}
    with httpx.Client() as client, client.stream("POST", url + "/v1/completions", json=body) as r:
        events = sse_events(r)
    assert events[-1] == "[DONE]"
    texts = [e["choices"][0]["text"] for e in events[:-1]]
    assert len(texts) == 12  # exactly max_tokens, as with ignore_eos; no usage chunk unasked
    assert events[-2]["choices"][0]["finish_reason"] == "length"
    assert all("usage" not in e for e in events[:-1])


def test_non_streaming_answers_carry_usage_and_honour_limits(serve: Any) -> None:
    url = serve(ttft_ms=1, itl_ms=0.2, output_tokens=30, output_tokens_std=0)
    with httpx.Client(base_url=url) as client:
        chat = client.post("/v1/chat/completions", json={**CHAT, "max_completion_tokens": 5})
        data = chat.json()
        assert data["object"] == "chat.completion"
        assert data["usage"]["completion_tokens"] == 5
        assert len(data["choices"][0]["message"]["content"].split()) == 5
        free = client.post("/v1/completions", json={"prompt": "a b c"}).json()
        assert free["usage"] == {
            "prompt_tokens": 3,
            "completion_tokens": 30,
            "total_tokens": 33,
            "prompt_tokens_details": {"cached_tokens": 0},
        }
        assert free["choices"][0]["finish_reason"] == "stop"
        marks = client.post(
            "/v1/completions", json={"prompt": "Hello, world! It's 42.", "max_tokens": 1}
        )
        assert marks.json()["usage"]["prompt_tokens"] == 9  # Hello , world ! It ' s 42 .
        parts = [{"type": "text", "text": "one two"}, {"type": "text", "text": "three"}]
        multipart = client.post(
            "/v1/chat/completions",
            json={
                "messages": [
                    {"role": "user", "content": parts},
                    {"role": "assistant", "content": "four"},
                ],
                "max_tokens": 1,
            },
        )
        assert multipart.json()["usage"]["prompt_tokens"] == 4
        capped = client.post(
            "/v1/completions", json={"prompt": "a", "max_tokens": 10, "ignore_eos": False}
        ).json()
        assert capped["usage"]["completion_tokens"] == 10
        roomy = client.post(
            "/v1/completions", json={"prompt": "a", "max_tokens": 500, "ignore_eos": False}
        ).json()
        assert roomy["usage"]["completion_tokens"] == 30


def test_reasoning_tokens_come_first_as_reasoning_content(serve: Any) -> None:
    url = serve(ttft_ms=1, itl_ms=0.2, reasoning_tokens=3)
    body = {**CHAT, "max_tokens": 8, "stream": True, "stream_options": {"include_usage": True}}
    with (
        httpx.Client() as client,
        client.stream("POST", url + "/v1/chat/completions", json=body) as r,
    ):
        events = sse_events(r)
    deltas = [e["choices"][0]["delta"] for e in events[:-2]]
    assert len(deltas) == 8
    assert all("reasoning_content" in d and "content" not in d for d in deltas[:3])
    assert all("content" in d and "reasoning_content" not in d for d in deltas[3:])
    usage = events[-2]["usage"]
    assert usage["completion_tokens"] == 8
    assert usage["completion_tokens_details"] == {"reasoning_tokens": 3}
    with httpx.Client() as client:
        whole = client.post(url + "/v1/chat/completions", json={**CHAT, "max_tokens": 8}).json()
    message = whole["choices"][0]["message"]
    assert len(message["reasoning_content"].split()) == 3
    assert len(message["content"].split()) == 5


def _texts(url: str, n: int) -> list[str]:
    with httpx.Client(base_url=url) as client:
        return [
            client.post("/v1/completions", json={"prompt": "x"}).json()["choices"][0]["text"]
            for _ in range(n)
        ]


def test_seeded_token_stream_is_deterministic(serve: Any) -> None:
    settings = {"ttft_ms": 0, "itl_ms": 0, "output_tokens": 20, "output_tokens_std": 5}
    a = _texts(serve(seed=7, **settings), 4)
    b = _texts(serve(seed=7, **settings), 4)
    c = _texts(serve(seed=8, **settings), 4)
    assert a == b
    assert a != c
    assert len(set(a)) == 4  # each request of a server gets its own text
    expected = plan_request(MockServerConfig(seed=7, **settings), 0)  # type: ignore[arg-type]
    assert a[0] == "".join(expected.tokens)


def test_keep_alive_serves_many_requests_on_one_connection(serve: Any) -> None:
    url = serve(ttft_ms=0, itl_ms=0, output_tokens=3)
    with httpx.Client(base_url=url, limits=httpx.Limits(max_connections=1)) as client:
        for _ in range(20):
            body = {"prompt": "p", "stream": True}
            with client.stream("POST", "/v1/completions", json=body) as r:
                assert sse_events(r)[-1] == "[DONE]"
            assert client.get("/health").status_code == 200


async def _timed_stream(url: str, body: dict[str, Any]) -> tuple[float, list[float], int, int]:
    """A minimal raw-socket client: (TTFT s, chunk arrival times, completion tokens, index).

    ``index`` is the server's request number, read from the ``cmpl-<index>`` id: it says which
    :func:`plan_request` draw the answer followed.
    """
    host, port = url.removeprefix("http://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    payload = orjson.dumps(body)
    head = (
        f"POST /v1/completions HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(payload)}\r\nconnection: close\r\n\r\n"
    ).encode()
    start = time.perf_counter()
    writer.write(head + payload)
    times: list[float] = []
    usage = 0
    index = -1
    buffer = b""
    while True:
        data = await reader.read(65536)
        if not data:
            break
        arrived = time.perf_counter()
        buffer += data
        while b"\n\n" in buffer:
            event, buffer = buffer.split(b"\n\n", 1)
            line = event[event.find(b"data: ") :]
            if line.startswith(b"data: {"):
                parsed = orjson.loads(line[6:])
                index = int(parsed["id"].removeprefix("cmpl-"))
                if parsed["choices"]:
                    times.append(arrived)
                if parsed.get("usage"):
                    usage = parsed["usage"]["completion_tokens"]
    writer.close()
    return times[0] - start, times, usage, index


def test_timing_and_length_distributions_are_respected(serve: Any) -> None:
    settings: dict[str, Any] = {"ttft_ms": 30, "ttft_ms_std": 6, "itl_ms": 4, "itl_ms_std": 1,
                                "output_tokens": 20, "output_tokens_std": 4, "seed": 3}  # fmt: skip
    url = serve(process=True, **settings)
    body = {"prompt": "x", "stream": True, "stream_options": {"include_usage": True}}

    async def staggered(i: int) -> tuple[float, list[float], int, int]:
        await asyncio.sleep(i * 0.004)  # ~20 streams in flight, not 60 connecting at once
        return await _timed_stream(url, body)

    async def run() -> list[tuple[float, list[float], int, int]]:
        return await asyncio.gather(*(staggered(i) for i in range(60)))

    results = asyncio.run(run())
    config = MockServerConfig(**settings)
    plans = {i: plan_request(config, i) for i in range(60)}
    assert sorted(r[3] for r in results) == list(range(60))
    # what the server drew follows the configured distributions, truncated at +-3 std
    ttfts = [p.ttft_s * 1000 for p in plans.values()]
    itls = [p.itl_s * 1000 for p in plans.values()]
    lengths = [p.total for p in plans.values()]
    assert 27 <= statistics.mean(ttfts) <= 33 and 4 <= statistics.stdev(ttfts) <= 8
    assert min(ttfts) >= 12 and max(ttfts) <= 48
    assert 3.5 <= statistics.mean(itls) <= 4.5 and 0.6 <= statistics.stdev(itls) <= 1.4
    assert min(itls) >= 1 and max(itls) <= 7
    assert 18 <= statistics.mean(lengths) <= 22 and 2.5 <= statistics.stdev(lengths) <= 5.5
    assert min(lengths) >= 8 and max(lengths) <= 32
    # and the wire follows the draws: exact lengths, never early, the median on time
    late_ttft, itl_error = [], []
    for ttft, times, usage, index in results:
        plan = plans[index]
        assert len(times) == usage == plan.total
        assert ttft >= plan.ttft_s
        assert times[-1] - times[0] + ttft >= plan.duration_s
        late_ttft.append((ttft - plan.ttft_s) * 1000)
        itl_error.append(abs((times[-1] - times[0]) / (plan.total - 1) - plan.itl_s) * 1000)
    assert statistics.median(late_ttft) < 10  # loose: the client shares 2 busy cores
    assert statistics.median(itl_error) < 0.5


def test_fixed_timing_keeps_absolute_deadlines(serve: Any) -> None:
    url = serve(process=True, ttft_ms=40, itl_ms=5, output_tokens=16)
    ttft, times, _, _ = asyncio.run(_timed_stream(url, {"prompt": "x", "stream": True}))
    assert len(times) == 16
    assert ttft >= 0.040
    end = ttft + times[-1] - times[0]  # last token after the request was sent
    assert end >= 0.040 + 15 * 0.005
    # no drift: a late token does not push the later ones (generous bound for a loaded machine)
    assert end <= 0.040 + 15 * 0.005 + 0.020
    assert all(b >= a for a, b in itertools.pairwise(times))


def test_bad_config_is_a_user_error() -> None:
    for settings in (
        {"ttft_ms": -1},
        {"itl_ms": float("nan")},
        {"output_tokens": 0},
        {"stall_rate": 1.5},
        {"error_500_rate": 0.6, "reset_rate": 0.6},
        {"model": " "},
    ):
        with pytest.raises(UserError):
            MockServerConfig(**settings)  # type: ignore[arg-type]
    with pytest.raises(UserError, match="unknown setting"):
        MockServerConfig.from_dict({"ttft": 3})


def test_port_in_use_is_a_user_error(serve: Any) -> None:
    url = serve()
    port = int(url.rsplit(":", 1)[1])
    with pytest.raises(UserError, match="cannot listen"):
        MockServer(MockServerConfig(), port=port).start_thread()


def test_pipelined_requests_are_answered_in_order(serve: Any) -> None:
    url = serve(ttft_ms=1, itl_ms=0)
    host, port = url.removeprefix("http://").rsplit(":", 1)
    one = orjson.dumps({"prompt": "x", "max_tokens": 3})
    two = orjson.dumps({"prompt": "x", "max_tokens": 5})
    requests = b"".join(
        b"POST /v1/completions HTTP/1.1\r\nhost: x\r\ncontent-length: %d\r\n\r\n%s" % (len(b), b)
        for b in (one, two)
    )
    requests += b"GET /health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(requests)  # all three in one write
        received = b""
        while chunk := sock.recv(65536):
            received += chunk  # the server closes after the third answer (connection: close)
    answers = [part for part in received.split(b"HTTP/1.1 ") if part]
    assert [a[:3] for a in answers] == [b"200"] * 3
    bodies = [orjson.loads(a.split(b"\r\n\r\n", 1)[1]) for a in answers]
    assert [b["usage"]["completion_tokens"] for b in bodies[:2]] == [3, 5]
    assert bodies[2] == {"status": "ok"}
    assert b"connection: close" in answers[2]


def test_max_concurrency_queues_requests_in_order(serve: Any) -> None:
    url = serve(process=True, ttft_ms=100, itl_ms=0, max_concurrency=2)

    async def one() -> float:
        ttft, _, _, _ = await _timed_stream(url, {"prompt": "x", "max_tokens": 1, "stream": True})
        return ttft * 1000

    async def run() -> list[float]:
        return await asyncio.gather(*(one() for _ in range(4)))

    ttfts = sorted(asyncio.run(run()))
    assert all(t >= 100 for t in ttfts)
    assert ttfts[1] < 190  # two slots: two start at once
    assert ttfts[2] >= 190  # the other two waited for a slot (sent within a few ms)


def test_a_stalled_request_holds_its_slot_until_its_client_leaves(serve: Any) -> None:
    rates = {"stall_rate": 0.5}
    seed = next(
        s
        for s in range(100)
        if plan_request(MockServerConfig(seed=s, **rates), 0).fault == "stall"
        and plan_request(MockServerConfig(seed=s, **rates), 1).fault is None
    )
    url = serve(ttft_ms=5, itl_ms=1, max_concurrency=1, seed=seed, **rates)
    host, port = url.removeprefix("http://").rsplit(":", 1)
    body = orjson.dumps({"prompt": "x", "max_tokens": 4, "stream": True})
    request = b"POST /v1/completions HTTP/1.1\r\nhost: x\r\ncontent-length: %d\r\n\r\n%s" % (
        len(body),
        body,
    )
    stalled = socket.create_connection((host, int(port)), timeout=5)
    with stalled, socket.create_connection((host, int(port)), timeout=0.4) as waiting:
        stalled.sendall(request)
        time.sleep(0.1)  # request 0 (the stalled one) arrives first
        waiting.sendall(request)
        with pytest.raises(TimeoutError):
            waiting.recv(65536)  # no slot: not even the headers
        stalled.close()  # the stalled client gives up: its slot frees
        waiting.settimeout(5)
        received = b""
        while b"[DONE]" not in received:
            chunk = waiting.recv(65536)
            assert chunk, "connection closed before [DONE]"
            received += chunk
    assert received.startswith(b"HTTP/1.1 200")


def test_capacity_gate_order_and_gone_requests() -> None:
    from guidellm.mock_server.behavior import CapacityGate

    gate = CapacityGate(1)
    started: list[tuple[str, bool]] = []

    def start(name: str, present: bool = True) -> Any:
        def go(waited: bool) -> bool:
            if present:
                started.append((name, waited))
            return present

        return go

    gate.enter(start("a"))
    gate.enter(start("gone", present=False))
    gate.enter(start("b"))
    assert started == [("a", False)] and gate.active == 1 and len(gate.waiting) == 2
    gate.leave()  # "gone" left meanwhile: its turn is skipped, "b" starts
    assert started == [("a", False), ("b", True)] and gate.active == 1
    gate.leave()
    assert gate.active == 0 and not gate.waiting
    unlimited = CapacityGate(0)
    for name in "xyz":
        unlimited.enter(start(name))
    assert started[-3:] == [("x", False), ("y", False), ("z", False)]


def test_expect_100_continue_is_answered(serve: Any) -> None:
    url = serve(ttft_ms=0, itl_ms=0)
    host, port = url.removeprefix("http://").rsplit(":", 1)
    body = orjson.dumps({"prompt": "word " * 400, "max_tokens": 2})
    with socket.create_connection((host, int(port)), timeout=0.5) as sock:
        sock.sendall(
            b"POST /v1/completions HTTP/1.1\r\nhost: x\r\nexpect: 100-continue\r\n"
            b"content-length: %d\r\nconnection: close\r\n\r\n" % len(body)
        )
        assert sock.recv(1024) == b"HTTP/1.1 100 Continue\r\n\r\n"  # well before curl's 1 s
        sock.sendall(body)
        sock.settimeout(5)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    assert received.startswith(b"HTTP/1.1 200")
    assert orjson.loads(received.split(b"\r\n\r\n", 1)[1])["usage"]["prompt_tokens"] == 400


@pytest.mark.parametrize("kind", ["http", "grpc"])
def test_both_mocks_refuse_a_second_start_and_forget_their_address(kind: str) -> None:
    from guidellm.mock_server.grpc_server import GRPCMockServer

    server = MockServer() if kind == "http" else GRPCMockServer()
    address = server.start_thread()
    try:
        assert address.startswith("http://" if kind == "http" else "grpc://")
        with pytest.raises(RuntimeError, match="already running"):
            server.start_thread()
    finally:
        server.stop()
    assert (server.url if isinstance(server, MockServer) else server.target) is None
