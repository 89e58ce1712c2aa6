"""openai_http against guidellm's own mock server: both endpoints, streaming and not, usage,
reasoning, and every injected fault ending in its own error category while the run goes on."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from typing import Any

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
