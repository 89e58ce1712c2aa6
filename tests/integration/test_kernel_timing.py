"""Chunk times carry no client lag: a worker loop blocked 5 ms of every 6 still records each
token at the time the server sent it (the kernel's receive stamp), where read-time stamping is
milliseconds late. The server is a real process that writes its own send time into every token
(:mod:`guidellm.testing.stamping_server`)."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Iterator

import httpx
import pytest
import uvloop

from guidellm.backends.http_transport import LeanHTTPTransport
from guidellm.backends.openai_http import OpenAIHTTPBackend
from guidellm.backends.stamped_socket import kernel_stamping
from guidellm.request import GenerationRequest, ResponseRecorder, now
from guidellm.testing.stamping_server import StampingServer

pytestmark = pytest.mark.skipif(not kernel_stamping(), reason="kernel receive stamps: Linux")

STREAMS = 4
TOKENS = 30


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with StampingServer(ttft_ms=20, itl_ms=10).start() as running:
        yield running.url


async def _blocked_run(url: str, timing: str) -> tuple[list[float], str]:
    """STREAMS streams of TOKENS tokens while the loop is blocked 5 ms of every 6; returns
    every token's recorded arrival minus the server's send time (ms), and the timing source."""
    backend = OpenAIHTTPBackend(url, model="stamp", timing=timing)
    await backend.startup(STREAMS)
    done = asyncio.Event()

    async def block() -> None:
        while not done.is_set():
            time.sleep(0.005)  # the worker's loop busy with something else
            await asyncio.sleep(0.001)

    async def one(i: int) -> ResponseRecorder:
        request = GenerationRequest(f"r{i}", prompt="x", max_tokens=TOKENS)
        recorder = ResponseRecorder(request, now())
        recorder.start()
        await backend.resolve(recorder.request, recorder)
        return recorder

    blocker = asyncio.create_task(block())
    try:
        recorders = await asyncio.gather(*(one(i) for i in range(STREAMS)))
    finally:
        done.set()
        await blocker
        await backend.shutdown()
    errors = []
    for recorder in recorders:
        assert len(recorder.chunk_times) == TOKENS
        for text, arrived in zip(recorder.parts, recorder.chunk_times, strict=True):
            errors.append((arrived - float(text)) * 1e3)
    return errors, backend.timing_source


def test_a_blocked_loop_still_records_each_token_when_the_server_sent_it(server: str) -> None:
    errors, source = uvloop.run(_blocked_run(server, "kernel"))
    assert source == "kernel"
    median = statistics.median(errors)
    assert 0 <= median < 0.2, f"kernel-stamped tokens {median:.3f} ms after their send"
    # No token is recorded before the server sent it, whatever the clocks' conversion.
    assert min(errors) > -0.05


def test_read_time_stamping_carries_the_blocked_loop(server: str) -> None:
    """The same run stamped when the loop reads: the test above could fail."""
    errors, source = uvloop.run(_blocked_run(server, "loop"))
    assert source == "loop"
    assert statistics.median(errors) > 1.0


async def _send_times(url: str, count: int) -> list[tuple[float, float]]:
    transport = LeanHTTPTransport(max_connections=1, kernel_timing=True)
    pairs = []
    try:
        for _ in range(count):
            request = httpx.Request("POST", f"{url}/v1/completions", content=b'{"max_tokens": 1}')
            response = await transport.handle_async_request(request)
            sent = response.extensions["arrival_clock"].sent
            async for _chunk in response.aiter_raw():
                pass
            await response.aclose()
            pairs.append((sent, float(response.headers["x-received-at"])))
    finally:
        await transport.aclose()
    return pairs


def test_a_request_is_timed_from_when_its_bytes_left(server: str) -> None:
    """The send time is taken when the request was handed to the kernel: the server has it
    within microseconds (its own stamp, taken once it read the whole request)."""
    pairs = uvloop.run(_send_times(server, 20))
    gaps = [(received - sent) * 1e3 for sent, received in pairs]
    assert abs(statistics.median(gaps)) < 0.5, gaps


async def _starts(url: str) -> list[tuple[float, float]]:
    """(worker's start, recorded request_start) of two requests over one connection."""
    backend = OpenAIHTTPBackend(url, model="stamp")
    await backend.startup(1)  # no connection opened ahead
    out = []
    try:
        for i in range(2):
            recorder = ResponseRecorder(GenerationRequest(f"r{i}", prompt="x", max_tokens=2), now())
            began = recorder.start()
            await backend.resolve(recorder.request, recorder)
            out.append((began, recorder.request_start))
    finally:
        await backend.shutdown()
    return out


def test_a_new_connection_keeps_its_connect_in_the_ttft(server: str) -> None:
    """The first request opens the connection: timed from the worker's start, connect and
    all; the second goes over the kept connection: timed from its send call."""
    (first_began, first_start), (second_began, second_start) = uvloop.run(_starts(server))
    assert first_start == first_began
    assert second_start > second_began
