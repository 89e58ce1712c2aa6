"""One benchmark on real worker processes with the server-less SleepBackend, for tests of
the Scheduler's strategies (replay, stages): the summary and every result."""

from __future__ import annotations

import random
from collections.abc import Iterator

import uvloop

from guidellm.request import GenerationRequest, RequestResult
from guidellm.scheduler.executor import LocalProcessPool
from guidellm.scheduler.scheduler import Limits, Scheduler, ScheduleSummary
from guidellm.scheduler.strategy import SchedulingStrategy
from guidellm.testing.sleep_backend import SleepBackend


def run_schedule(
    strategy: SchedulingStrategy,
    requests: Iterator[GenerationRequest],
    backend: SleepBackend,
    limits: Limits | None = None,
    keep_text: int = 10_000,
) -> tuple[ScheduleSummary, list[RequestResult]]:
    """Run ``strategy`` once on a pool of 2 workers (64 requests each at most); results keep
    the text of the first ``keep_text`` successful requests."""
    pool = LocalProcessPool(backend, 2, 64)
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
