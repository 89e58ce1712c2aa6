"""One benchmark on real workers (local processes or Ray actors) with the server-less
SleepBackend, for tests of the Scheduler's strategies (replay, stages, sessions): the summary
and every result."""

from __future__ import annotations

import random
from collections.abc import Iterator

import uvloop

from guidellm.request import GenerationRequest, RequestResult
from guidellm.scheduler.executor import LocalProcessPool, WorkerPool
from guidellm.scheduler.scheduler import Limits, Scheduler, ScheduleSummary
from guidellm.scheduler.strategy import SchedulingStrategy
from guidellm.testing.sleep_backend import SleepBackend


def make_pool(kind: str, backend: SleepBackend, size: int, concurrency: int) -> WorkerPool:
    """A pool of ``kind`` (``local``, or ``ray``: actors on the Ray instance the
    ``pool_kind`` fixture started) of ``size`` workers."""
    if kind == "ray":
        from guidellm.scheduler.ray_pool import RayPool

        return RayPool(backend, size, concurrency, {"workers": size, "num_cpus": 0})
    return LocalProcessPool(backend, size, concurrency)


def run_schedule(
    strategy: SchedulingStrategy,
    requests: Iterator[GenerationRequest],
    backend: SleepBackend,
    limits: Limits | None = None,
    keep_text: int = 10_000,
    *,
    pool_kind: str = "local",
) -> tuple[ScheduleSummary, list[RequestResult]]:
    """Run ``strategy`` once on a pool of 2 workers (64 requests each at most); results keep
    the text of the first ``keep_text`` successful requests."""
    pool = make_pool(pool_kind, backend, 2, 64)
    pool.start()
    results: list[RequestResult] = []
    out: list[ScheduleSummary] = []

    async def main() -> None:
        scheduler = Scheduler(pool)
        try:
            await pool.connect(scheduler.on_message)
            summary = await scheduler.run(
                0, strategy, requests, on_result=results.append, limits=limits or Limits(),
                rng=random.Random(1), keep_text=keep_text,
            )  # fmt: skip
            out.append(summary)
        finally:
            await pool.close()

    uvloop.run(main())
    return out[0], results
