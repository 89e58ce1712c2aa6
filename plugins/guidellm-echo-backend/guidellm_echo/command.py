"""``guidellm echo-overhead``: time the echo backend in this process, no scheduler involved."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import click

__all__ = ["echo_overhead", "measure"]


def _pct(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile; ``None`` when there is nothing to rank."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100.0 * len(ordered)))]


async def _measure(
    requests: int, concurrency: int, tokens: int, ttft_ms: float, itl_ms: float
) -> dict[str, Any]:
    from guidellm import GenerationRequest, ResponseRecorder
    from guidellm_echo.backend import EchoBackend

    backend = EchoBackend("echo://", ttft_ms=ttft_ms, itl_ms=itl_ms)
    await backend.startup(concurrency)
    prompt = " ".join(["word"] * tokens)
    ttft_late: list[float] = []
    itl_late: list[float] = []
    queue = iter(range(requests))

    async def stream() -> None:
        for i in queue:
            recorder = ResponseRecorder(
                GenerationRequest(str(i), prompt=prompt), time.perf_counter()
            )
            start = recorder.start()
            await backend.resolve(recorder.request, recorder)
            result = recorder.finish("successful")
            if result.first_token_time is None or result.last_token_time is None:
                raise RuntimeError("the echo backend sent no content")
            ttft_late.append((result.first_token_time - start) * 1000.0 - ttft_ms)
            if tokens > 1:
                itl = (result.last_token_time - result.first_token_time) / (tokens - 1)
                itl_late.append(itl * 1000.0 - itl_ms)

    cpu = time.process_time()
    wall = time.perf_counter()
    await asyncio.gather(*(stream() for _ in range(concurrency)))
    wall = time.perf_counter() - wall
    cpu = time.process_time() - cpu
    await backend.shutdown()

    return {
        "requests": requests,
        "concurrency": concurrency,
        "tokens": tokens,
        "requests_per_second": requests / wall,
        "cpu_ms_per_request": cpu * 1000.0 / requests,
        "ttft_late_ms": {"p50": _pct(ttft_late, 50), "p99": _pct(ttft_late, 99)},
        "itl_late_ms": {"p50": _pct(itl_late, 50), "p99": _pct(itl_late, 99)},
    }


def measure(
    requests: int = 1000,
    concurrency: int = 8,
    tokens: int = 64,
    ttft_ms: float = 0.0,
    itl_ms: float = 0.0,
) -> dict[str, Any]:
    """Run the echo backend on one event loop (uvloop when installed) and time it."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(_measure(requests, concurrency, tokens, ttft_ms, itl_ms))
    return uvloop.run(_measure(requests, concurrency, tokens, ttft_ms, itl_ms))


@click.command("echo-overhead")
@click.option("--requests", default=1000, show_default=True, type=click.IntRange(min=1))
@click.option("--concurrency", default=8, show_default=True, type=click.IntRange(min=1))
@click.option(
    "--tokens",
    default=64,
    show_default=True,
    type=click.IntRange(min=1),
    help="Words per prompt, hence chunks per answer.",
)
@click.option("--ttft-ms", default=0.0, show_default=True, type=click.FloatRange(min=0))
@click.option("--itl-ms", default=0.0, show_default=True, type=click.FloatRange(min=0))
def echo_overhead(
    requests: int, concurrency: int, tokens: int, ttft_ms: float, itl_ms: float
) -> None:
    """Time the echo backend alone: how late its chunks come versus the delays asked for,
    and the CPU each request costs (backend + ResponseRecorder + event loop), as JSON."""
    click.echo(json.dumps(measure(requests, concurrency, tokens, ttft_ms, itl_ms), indent=2))
