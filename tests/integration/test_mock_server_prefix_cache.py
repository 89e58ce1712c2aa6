"""The mock's prefix cache seen by a real client: cached tokens reported, TTFT from uncached ones.

A mock server in its own process (timing is measured against a process, see
docs/mock-server.md) and guidellm's own ``openai_http`` backend as the client, so the cached
count also goes through the client's parsing. Each conversation is sent as turn 1, then as
turn 1 + the answer + a new user message (turn 2), the way a multi-turn run does.
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys

import httpx
import pytest
import uvloop

from guidellm.backends.openai_http import OpenAIHTTPBackend
from guidellm.mock_server import MockServer, MockServerConfig
from guidellm.request import GenerationRequest, RequestResult, RequestStatus, ResponseRecorder

TTFT_MS = 5.0
PREFILL_MS = 0.5
BLOCK = 16
CONVERSATIONS = 5


def conversation(c: int) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """Turn 1 (about 100 prompt tokens) and turn 2 (about 40 more); each conversation's first
    token is its own, so conversations share no block."""
    first = [
        {"role": "system", "content": f"conv{c} " + " ".join(f"rule{i}" for i in range(30))},
        {"role": "user", "content": " ".join(f"ask{i}" for i in range(71))},
    ]
    answer = {"role": "assistant", "content": " ".join(f"said{i}" for i in range(20))}
    question = {"role": "user", "content": "and " * 19 + "then?"}
    return first, [*first, answer, question]


def send(url: str, turns: list[list[dict[str, str]]]) -> list[RequestResult]:
    """Send each message list in order, one at a time, streamed, through the real backend."""

    async def main() -> list[RequestResult]:
        backend = OpenAIHTTPBackend(url, None, request_format="chat_completions")
        await backend.startup(1)
        await backend.validate()
        results = []
        for i, messages in enumerate(turns):
            request = GenerationRequest(f"r{i}", messages=messages, max_tokens=3)
            recorder = ResponseRecorder(request, 0.0)
            recorder.start()
            await asyncio.wait_for(backend.resolve(request, recorder), 10)
            results.append(recorder.finish(RequestStatus.SUCCESSFUL))
        await backend.shutdown()
        return results

    return uvloop.run(main())


def ttft_ms(result: RequestResult) -> float:
    assert result.first_token_time is not None
    return 1000 * (result.first_token_time - result.request_start)


def test_second_turn_hits_whole_blocks_and_prefills_only_the_rest() -> None:
    config = MockServerConfig(
        ttft_ms=TTFT_MS, itl_ms=1, prefill_ms_per_token=PREFILL_MS, prefix_block_tokens=BLOCK
    )
    server = MockServer(config)
    url = server.start_process()
    try:
        turns = []
        for c in range(CONVERSATIONS):
            turns += conversation(c)
        results = send(url, turns)
    finally:
        server.stop()
    errors: dict[str, list[float]] = {"turn 1": [], "turn 2": []}
    for c in range(CONVERSATIONS):
        one, two = results[2 * c], results[2 * c + 1]
        for r in (one, two):
            assert r.status == RequestStatus.SUCCESSFUL, r.error
            assert r.prompt_tokens is not None and r.cached_tokens is not None
        assert one.prompt_tokens is not None and two.prompt_tokens is not None
        assert one.prompt_tokens % BLOCK != 0 and two.prompt_tokens > one.prompt_tokens + BLOCK
        assert one.cached_tokens == 0  # a new conversation: nothing cached
        # turn 2 starts with turn 1's tokens: all of turn 1's full blocks hit, no more
        assert two.cached_tokens == one.prompt_tokens // BLOCK * BLOCK
        for name, r in (("turn 1", one), ("turn 2", two)):
            assert r.prompt_tokens is not None and r.cached_tokens is not None
            predicted = TTFT_MS + PREFILL_MS * (r.prompt_tokens - r.cached_tokens)
            errors[name].append(ttft_ms(r) - predicted)
    for name, errs in errors.items():
        # the client adds its loopback round trip and parsing, well under 2 ms
        assert -0.5 < statistics.median(errs) < 2.0, (name, errs)
    # the model's point: the longer turn 2 starts sooner than turn 1
    assert statistics.median(ttft_ms(r) for r in results[1::2]) < statistics.median(
        ttft_ms(r) for r in results[0::2]
    )


def cached_twice(url: str, body: dict[str, object]) -> list[int]:
    out = []
    for _ in range(2):
        usage = httpx.post(url + "/v1/completions", json=body, timeout=5).json()["usage"]
        out.append(usage["prompt_tokens_details"]["cached_tokens"])
    return out


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--prefix-block-tokens", "4"], [0, 8]),  # 10 tokens: 2 blocks of 4 hit
        ([], [0, 0]),  # default blocks of 16: 10 tokens make no full block
        (["--prefix-block-tokens", "4", "--prefix-cache-blocks", "0"], [0, 0]),
    ],
)
def test_cli_flags_reach_the_cache(flags: list[str], expected: list[int]) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "guidellm", "mock-server", "--port", "0", "--ttft-ms", "0",
         "--itl-ms", "0", *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        body = {"prompt": "a b c d e f g h i j", "max_tokens": 1}
        assert cached_twice(url, body) == expected
    finally:
        proc.terminate()
        proc.wait(5)
