"""openai_http against guidellm's own mock server: both endpoints, streaming and not, usage,
reasoning, and every injected fault ending in its own error category while the run goes on."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import uvloop

from guidellm.backends.openai_http import OpenAIHTTPBackend
from guidellm.errors import RequestError
from guidellm.mock_server import MockServer, MockServerConfig
from guidellm.request import GenerationRequest, RequestResult, RequestStatus, ResponseRecorder

FAST = {"ttft_ms": 5.0, "itl_ms": 1.0}


@pytest.fixture
def mock() -> Iterator[Any]:
    """``mock(**config)`` -> base URL of a mock server in this process, stopped afterwards."""
    servers: list[MockServer] = []

    def start(**config: Any) -> str:
        server = MockServer(MockServerConfig(**{**FAST, **config}))
        servers.append(server)
        return server.start_thread()

    try:
        yield start
    finally:
        for server in servers:
            server.stop()


def run_requests(
    url: str, n: int, concurrency: int = 1, max_tokens: int = 8, **options: Any
) -> list[RequestResult]:
    """Validate, then send ``n`` requests ``concurrency`` at a time, like a worker does."""

    async def main() -> list[RequestResult]:
        backend = OpenAIHTTPBackend(url, None, **options)
        await backend.startup(1)
        await backend.validate()
        await backend.shutdown()
        await backend.startup(concurrency)
        results: list[RequestResult] = []
        queue = list(range(n))

        async def one(i: int) -> None:
            request = GenerationRequest(f"r{i}", prompt=f"request {i}", max_tokens=max_tokens)
            recorder = ResponseRecorder(request, 0.0)
            recorder.start()
            try:
                await backend.resolve(request, recorder)
            except RequestError as exc:
                results.append(
                    recorder.finish(
                        RequestStatus.ERRORED, error_category=exc.category, error=str(exc)
                    )
                )
            else:
                results.append(recorder.finish(RequestStatus.SUCCESSFUL, keep_text=True))

        async def lane() -> None:
            while queue:
                await one(queue.pop(0))

        await asyncio.wait_for(asyncio.gather(*(lane() for _ in range(concurrency))), 60)
        await backend.shutdown()
        return results

    return uvloop.run(main())


@pytest.mark.parametrize("fmt", ["chat_completions", "text_completions"])
@pytest.mark.parametrize("stream", [True, False])
@pytest.mark.parametrize("options", [{}, {"transport": "httpx"}, {"http2": True}])
def test_token_counts_match_usage(
    mock: Any, fmt: str, stream: bool, options: dict[str, Any]
) -> None:
    url = mock(output_tokens=50)
    results = run_requests(
        url, 6, concurrency=3, max_tokens=12, request_format=fmt, stream=stream, **options
    )
    assert len(results) == 6
    for r in results:
        assert r.status == RequestStatus.SUCCESSFUL, r.error
        assert r.output_tokens == 12
        assert r.content_chunks == (12 if stream else 1)
        assert r.output_text and len(r.output_text.split()) == 12
        assert r.prompt_tokens is not None and r.prompt_tokens > 0
        assert r.chunk_times == sorted(r.chunk_times)
        assert r.first_token_time is not None and r.first_token_time >= r.request_start


@pytest.mark.parametrize("transport", ["lean", "httpx"])
def test_a_whole_answer_ends_when_its_body_has_arrived(mock: Any, transport: str) -> None:
    # A non-streamed body is read to its end, and its connection is back in the pool: the
    # request must not then wait for more of it (the lean transport waited 0.5 s a request).
    url = mock(ttft_ms=5.0, itl_ms=1.0)
    results = run_requests(url, 5, max_tokens=8, stream=False, transport=transport)
    latencies = [r.request_end - r.request_start for r in results]
    assert all(r.status == RequestStatus.SUCCESSFUL for r in results)
    # 0.5 s of waiting would show in every one of them; a loaded machine adds far less
    assert sorted(latencies)[2] < 0.3, latencies
    assert all(r.first_token_time is not None for r in results)


def test_reasoning_counts_for_ttft_but_is_kept_apart(mock: Any) -> None:
    url = mock(reasoning_tokens=3, ttft_ms=30.0, itl_ms=10.0)
    (result,) = run_requests(url, 1, max_tokens=10)
    assert result.status == RequestStatus.SUCCESSFUL, result.error
    assert result.reasoning_chunks == 3 and result.content_chunks == 7
    assert result.output_tokens == 10
    assert result.first_token_time == result.chunk_times[0]
    assert result.first_token_time - result.request_start >= 0.025
    assert result.reasoning_text is not None and result.output_text is not None


@pytest.mark.parametrize(
    ("fault", "category"),
    [
        ("error_500", "http_5xx"),
        ("error_429", "http_429"),
        ("reset", "connection"),
        ("malformed", "protocol"),
        ("stall", "stall"),
        ("no_done", "protocol"),
    ],
)
@pytest.mark.parametrize("transport", ["lean", "httpx"])
def test_each_fault_has_its_category_and_the_run_goes_on(
    mock: Any, fault: str, category: str, transport: str
) -> None:
    url = mock(seed=3, **{f"{fault}_rate": 0.4})
    results = run_requests(url, 16, concurrency=4, stall_timeout=0.4, transport=transport)
    outcome = Counter(r.error_category or "ok" for r in results)
    assert set(outcome) == {"ok", category}, outcome
    assert outcome[category] >= 2 and outcome["ok"] >= 4
    for r in results:
        if r.status == RequestStatus.SUCCESSFUL:
            assert r.content_chunks == r.output_tokens == 8
        else:
            assert r.error


def test_all_faults_at_once_under_concurrency(mock: Any) -> None:
    rates = {f"{f}_rate": 0.08 for f in ("error_500", "error_429", "reset", "malformed", "stall")}
    url = mock(seed=11, no_done_rate=0.08, **rates)
    results = run_requests(url, 60, concurrency=8, stall_timeout=0.4)
    outcome = Counter(r.error_category or "ok" for r in results)
    assert set(outcome) <= {"ok", "http_5xx", "http_429", "connection", "protocol", "stall"}
    assert outcome["ok"] >= 20 and len(outcome) >= 5, outcome
    assert all(r.content_chunks == r.output_tokens for r in results if r.status == "successful")


class _MinimalClient(asyncio.Protocol):
    """The reference: one request per connection, every read stamped before any parsing."""

    def __init__(self, request: bytes, done: asyncio.Future[None]) -> None:
        self.request, self.done = request, done
        self.sent = 0.0
        self.times: list[float] = []
        self.buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.sent = time.perf_counter()
        transport.write(self.request)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        arrived = time.perf_counter()
        *events, self.buffer = (self.buffer + data).split(b"\n\n")
        self.times += [arrived for e in events if b'"text":" ' in e]
        if any(b"[DONE]" in e for e in events) and not self.done.done():
            self.done.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(None)


@pytest.mark.slow
def test_timing_matches_a_minimal_client() -> None:
    """20 sequential requests each way against one mock process (TTFT 50 ms, ITL 10 ms, 32
    tokens): the backend's TTFT and ITL medians agree with a bare asyncio client's."""
    tokens = 32
    server = MockServer(MockServerConfig(ttft_ms=50.0, itl_ms=10.0, output_tokens=tokens))
    url = server.start_process()
    host, port = url.removeprefix("http://").split(":")
    body = orjson.dumps({"prompt": "hello", "max_tokens": tokens, "stream": True})
    raw = (
        b"POST /v1/completions HTTP/1.1\r\nhost: %s\r\ncontent-type: application/json\r\n"
        b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (host.encode(), len(body), body)
    )

    async def main() -> tuple[list[float], list[float], list[float], list[float]]:
        backend = OpenAIHTTPBackend(url, "mock-model", request_format="text_completions")
        await backend.startup(1)
        loop = asyncio.get_running_loop()
        ours: tuple[list[float], list[float]] = ([], [])
        ref: tuple[list[float], list[float]] = ([], [])
        for i in range(20):  # interleaved, so both see the same machine load
            request = GenerationRequest(f"r{i}", prompt="hello", max_tokens=tokens)
            recorder = ResponseRecorder(request, 0.0)
            recorder.start()
            await backend.resolve(request, recorder)
            assert recorder.first_token_time and recorder.last_token_time
            assert recorder.content_chunks == tokens
            ours[0].append(recorder.first_token_time - recorder.request_start)
            ours[1].append((recorder.last_token_time - recorder.first_token_time) / (tokens - 1))
            done: asyncio.Future[None] = loop.create_future()
            transport, client = await loop.create_connection(
                lambda d=done: _MinimalClient(raw, d), host, int(port)
            )
            await asyncio.wait_for(done, 10)
            transport.close()
            assert len(client.times) == tokens
            ref[0].append(client.times[0] - client.sent)
            ref[1].append((client.times[-1] - client.times[0]) / (tokens - 1))
        await backend.shutdown()
        return ours[0], ours[1], ref[0], ref[1]

    try:
        ttft, itl, ref_ttft, ref_itl = uvloop.run(main())
    finally:
        server.stop()
    med = statistics.median
    assert abs(med(ttft) - med(ref_ttft)) < 0.003, (med(ttft), med(ref_ttft))
    assert abs(med(itl) - med(ref_itl)) < 0.0005, (med(itl), med(ref_itl))
    assert 0.045 < med(ttft) < 0.08


def test_cancelled_streams_give_their_connections_back(mock: Any) -> None:
    """A stop condition cancels every in-flight request; the pool must not leak a slot."""
    url = mock(ttft_ms=5.0, itl_ms=20.0, output_tokens=40)

    async def main() -> list[int]:
        backend = OpenAIHTTPBackend(url, "mock-model")
        await backend.startup(8)

        async def one(i: int) -> int:
            request = GenerationRequest(f"r{i}", prompt="p", max_tokens=5 if i >= 100 else 40)
            recorder = ResponseRecorder(request, 0.0)
            recorder.start()
            await backend.resolve(request, recorder)
            return recorder.content_chunks

        for _ in range(3):
            tasks = [asyncio.ensure_future(one(i)) for i in range(8)]
            await asyncio.sleep(0.1)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            assert all(t.cancelled() for t in tasks)
        # the pool holds 8 connections; all 8 slots must be free again
        counts = await asyncio.wait_for(asyncio.gather(*(one(100 + i) for i in range(8))), 10)
        await backend.shutdown()
        return list(counts)

    assert uvloop.run(main()) == [5] * 8
