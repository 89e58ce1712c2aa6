"""When the mock's prefix cache learns a prompt: only once its prefill is done.

A request is looked up when the server starts on it (after any --max-concurrency wait) and
its blocks enter the cache at its first token, so an equal prompt sent during the first one's
prefill misses and pays the whole prefill, as on vLLM; one sent later hits. Thread-mode
servers and an httpx client that stamps the first streamed event.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from guidellm.mock_server import MockServer, MockServerConfig
from guidellm.mock_server.behavior import plan_request

TTFT_MS, PREFILL_MS, BLOCK = 5.0, 1.0, 16
PROMPT = " ".join(f"w{i}" for i in range(400))  # 400 prompt tokens: 24 blocks may hit
HIT = (400 - 1) // BLOCK * BLOCK  # 384
#: The client in the same process as the server's loop thread: generous, yet far from the
#: 400 ms a wrong hit or miss makes.
SLACK_MS = 40.0


@pytest.fixture
def serve() -> Iterator[Any]:
    started: list[MockServer] = []

    def start(warm: bool = True, **settings: Any) -> str:
        config = MockServerConfig(
            ttft_ms=TTFT_MS,
            itl_ms=1,
            prefill_ms_per_token=PREFILL_MS,
            prefix_block_tokens=BLOCK,
            **settings,
        )
        server = MockServer(config)
        started.append(server)
        url = server.start_thread()
        if warm:  # the client's first request pays ~35 ms of imports; this is request 0
            run(url, {"prompt": "warm up"})
        return url

    yield start
    for server in started:
        server.stop()


async def stream(
    client: httpx.AsyncClient, prompt: str = PROMPT, delay_s: float = 0.0, tokens: int = 2
) -> tuple[float, int]:
    """``(TTFT ms from sending, cached_tokens)`` of one streamed completion."""
    await asyncio.sleep(delay_s)
    body = {
        "prompt": prompt,
        "max_tokens": tokens,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    sent = time.perf_counter()
    first = None
    cached = -1
    async with client.stream("POST", "/v1/completions", json=body) as response:
        assert response.status_code == 200
        async for line in response.aiter_lines():
            if not line.startswith("data: {"):
                continue
            event = orjson.loads(line[6:])
            if event["choices"] and first is None:
                first = time.perf_counter()
            if event.get("usage"):
                cached = event["usage"]["prompt_tokens_details"]["cached_tokens"]
    assert first is not None
    return 1000 * (first - sent), cached


def run(url: str, *requests: dict[str, Any]) -> list[tuple[float, int]]:
    """Send the requests concurrently (each after its own ``delay_s``), one connection each."""

    async def main() -> list[tuple[float, int]]:
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            return list(await asyncio.gather(*(stream(client, **r) for r in requests)))

    return asyncio.run(main())


def full(prompt_tokens: int = 400, cached: int = 0) -> float:
    return TTFT_MS + PREFILL_MS * (prompt_tokens - cached)


def test_an_equal_prompt_sent_during_the_prefill_misses(serve: Any) -> None:
    url = serve()
    (ttft1, cached1), (ttft2, cached2) = run(url, {}, {"delay_s": 0.010})
    assert (cached1, cached2) == (0, 0)  # the first one's blocks are not computed yet
    # the second pays the whole prefill, so its first token comes after the first one's
    assert abs(ttft1 - full()) < SLACK_MS, ttft1
    assert abs(ttft2 - full()) < SLACK_MS, ttft2
    # sent after both are done: a hit of every block but the last token's
    ((ttft3, cached3),) = run(url, {})
    assert cached3 == HIT
    assert abs(ttft3 - full(cached=HIT)) < SLACK_MS, ttft3


def test_a_prompt_sent_after_the_first_token_hits(serve: Any) -> None:
    url = serve()
    # the first token of the first request is due at ~405 ms: 100 ms later its blocks are in,
    # though it still streams (50 tokens of 1 ms)
    (_, cached1), (ttft2, cached2) = run(url, {"tokens": 50}, {"delay_s": 0.505})
    assert (cached1, cached2) == (0, HIT)
    assert abs(ttft2 - full(cached=HIT)) < SLACK_MS, ttft2


def test_a_concurrent_twin_hits_only_what_was_cached_before(serve: Any) -> None:
    url = serve()
    head = " ".join(f"w{i}" for i in range(200))  # the first 200 tokens of PROMPT
    ((_, cached),) = run(url, {"prompt": head})
    assert cached == 0
    (_, cached1), (ttft2, cached2) = run(url, {}, {"delay_s": 0.010})
    before = 200 // BLOCK * BLOCK  # 192: head's 12 full blocks
    assert (cached1, cached2) == (before, before)
    assert abs(ttft2 - full(cached=before)) < SLACK_MS, ttft2


def test_a_request_waiting_for_a_slot_is_looked_up_when_it_starts(serve: Any) -> None:
    url = serve(max_concurrency=1)
    # the second arrives during the first one's prefill, waits for its slot (the first ends at
    # ~405 + 9 ms) and by then the first one's blocks are cached
    (ttft1, cached1), (ttft2, cached2) = run(url, {"tokens": 10}, {"delay_s": 0.010})
    assert (cached1, cached2) == (0, HIT)
    assert abs(ttft1 - full()) < SLACK_MS, ttft1
    # its TTFT is the wait for the slot plus the short prefill of the uncached tokens
    waited = full() + 9 - 10
    assert abs(ttft2 - (waited + full(cached=HIT))) < SLACK_MS, ttft2


def test_a_non_streaming_request_inserts_at_its_first_token_time(serve: Any) -> None:
    url = serve()
    body = {"prompt": PROMPT, "max_tokens": 300}  # answered at ~405 + 299 ms

    async def main() -> tuple[int, tuple[float, int]]:
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            long = asyncio.create_task(client.post("/v1/completions", json=body))
            hit = await stream(client, delay_s=0.5)  # after its prefill, before its answer
            answer = (await long).json()
            assert answer["usage"]["completion_tokens"] == 300
            return answer["usage"]["prompt_tokens_details"]["cached_tokens"], hit

    cached1, (ttft2, cached2) = asyncio.run(main())
    assert (cached1, cached2) == (0, HIT)
    assert abs(ttft2 - full(cached=HIT)) < SLACK_MS, ttft2


def test_a_request_whose_client_leaves_during_its_prefill_inserts_then(serve: Any) -> None:
    url = serve()

    async def main() -> tuple[float, int]:
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            body = {"prompt": PROMPT, "max_tokens": 2, "stream": True}
            async with client.stream("POST", "/v1/completions", json=body) as response:
                assert response.status_code == 200  # headers come at once; then leave
            await asyncio.sleep(0.05)
            return await stream(client)

    ttft, cached = asyncio.run(main())
    assert cached == HIT
    assert abs(ttft - full(cached=HIT)) < SLACK_MS, ttft


def test_injected_errors_insert_nothing(serve: Any) -> None:
    url = serve(warm=False, error_500_rate=0.5, seed=1)  # request i is faults[i]
    config = MockServerConfig(error_500_rate=0.5, seed=1)
    faults = [plan_request(config, i).fault for i in range(8)]
    assert "error_500" in faults and None in faults
    assert faults[0] == "error_500"  # the seed makes the first one an error
    body = {"prompt": PROMPT, "max_tokens": 1}
    seen = False
    for fault in faults:
        response = httpx.post(url + "/v1/completions", json=body, timeout=5)
        if fault == "error_500":
            assert response.status_code == 500
            continue
        assert response.status_code == 200
        assert response.json()["usage"]["prompt_tokens_details"]["cached_tokens"] == (
            HIT if seen else 0
        )
        seen = True
