"""The Scheduler's handling of a lost worker, driven message by message: a pool that records
what the Scheduler sends and answers as the test says, so that the moments that matter
(a loss as the data runs out; every worker gone before a benchmark) are exact."""

from __future__ import annotations

import asyncio
from typing import Any

from guidellm.request import GenerationRequest, RequestResult, RequestStatus
from guidellm.scheduler.limits import Limits
from guidellm.scheduler.protocol import Done, End, Failed, Items, Results
from guidellm.scheduler.scheduler import Scheduler, ScheduleSummary
from guidellm.scheduler.strategies import ConcurrentStrategy


class _ScriptedPool:
    """Takes the Scheduler's messages; answers nothing by itself. A Ray-like pool (a lost
    worker's held requests all count as lost) when ``uncertain``."""

    def __init__(self, size: int, uncertain: bool) -> None:
        self.size = size
        self.concurrency = 64
        self.loss_is_uncertain = uncertain
        self.lost_workers: dict[int, str] = {}
        self.sent: list[tuple[int, Any]] = []

    def send(self, worker: int, message: Any) -> None:
        self.sent.append((worker, message))

    def launched(self, worker: int) -> int | None:
        return None

    def requests_to(self, worker: int) -> list[GenerationRequest]:
        return [r for w, m in self.sent if w == worker and isinstance(m, Items) for r in m.requests]


def _answer(scheduler: Scheduler, pool: _ScriptedPool, worker: int, answered: set[str]) -> None:
    """Worker ``worker`` answers everything it was sent and not answered yet."""
    results = [
        RequestResult(r.request_id, RequestStatus.SUCCESSFUL, 0.0, 0.0, 0.001, worker=worker)
        for r in pool.requests_to(worker)
        if r.request_id not in answered
    ]
    answered.update(r.request_id for r in results)
    if results:
        scheduler.on_message(Results(0, results))


def _requests(count: int) -> list[GenerationRequest]:
    return [GenerationRequest(f"r{i}", prompt="hi", max_tokens=2) for i in range(count)]


def test_a_loss_as_the_data_runs_out_still_ends_the_closed_loop() -> None:
    """Six streams on three Ray actors, 220 requests: after the first fills, dealing the lost
    actor's streams to the others takes the last requests. End must still reach them."""

    async def main() -> ScheduleSummary:
        pool = _ScriptedPool(3, uncertain=True)
        scheduler = Scheduler(pool)
        run = asyncio.ensure_future(
            scheduler.run(
                0,
                ConcurrentStrategy(6),
                iter(_requests(220)),
                on_result=lambda _r: None,
                limits=Limits(on_worker_loss="continue"),
            )
        )
        await asyncio.sleep(0.05)
        scheduler.on_message(Failed(2, "worker 2 (a Ray actor) was lost"))
        answered: set[str] = set()
        for _ in range(10):
            for w in (0, 1):
                _answer(scheduler, pool, w, answered)
            for w in {w for w, m in pool.sent if isinstance(m, End)}:
                scheduler.on_message(Done(0, w, 0.0, [], len(pool.requests_to(w)), 0))
            await asyncio.sleep(0)
            if run.done():
                break
        return await asyncio.wait_for(run, 1.0)

    summary = asyncio.run(main())
    assert summary.failure is None
    assert summary.successful + summary.incomplete == 220
    assert summary.incomplete == 72  # the lost actor's queue: 4 x 2 streams + 64


def test_every_worker_lost_before_a_benchmark_fails_it_at_once() -> None:
    async def main() -> ScheduleSummary:
        pool = _ScriptedPool(4, uncertain=False)
        pool.lost_workers = {3: "gone", 0: "gone", 1: "gone", 2: "gone"}
        scheduler = Scheduler(pool)
        return await asyncio.wait_for(
            scheduler.run(
                1, ConcurrentStrategy(2), iter(_requests(50)), on_result=lambda _r: None,
                limits=Limits(on_worker_loss="continue"),
            ),
            1.0,
        )  # fmt: skip

    summary = asyncio.run(main())
    assert summary.failure == "gone"
    assert summary.stop_reason.startswith("worker failed")
