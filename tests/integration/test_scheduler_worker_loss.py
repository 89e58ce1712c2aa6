"""``on_worker_loss="continue"`` on real worker processes: a worker killed mid-benchmark,
and the benchmark still sends every planned request exactly once.

The kill comes from inside the run (after a set number of results), so each case is exact
about when it lands; the server-less SleepBackend keeps requests short.
"""

from __future__ import annotations

import itertools
import os
import random
import signal
from collections import Counter
from collections.abc import Iterator

import uvloop

from guidellm.request import GenerationRequest, RequestResult, RequestStatus
from guidellm.scheduler.executor import LocalProcessPool
from guidellm.scheduler.scheduler import Limits, Scheduler, ScheduleSummary
from guidellm.scheduler.strategies import ConcurrentStrategy, ConstantStrategy
from guidellm.scheduler.strategy import SchedulingStrategy
from guidellm.testing.sleep_backend import SleepBackend


def _requests() -> Iterator[GenerationRequest]:
    for i in itertools.count():
        yield GenerationRequest(f"r{i}", prompt="hi", max_tokens=2)


def _run_and_kill(
    strategy: SchedulingStrategy, workers: int, planned: int, victim: int, after: int
) -> tuple[ScheduleSummary, list[RequestResult]]:
    """Run ``planned`` requests on ``workers`` processes; SIGKILL worker ``victim`` once
    ``after`` results are in."""
    pool = LocalProcessPool(SleepBackend(ttft_ms=20, itl_ms=1, output_tokens=2), workers, 64)
    pool.start()
    results: list[RequestResult] = []
    out: list[ScheduleSummary] = []

    def on_result(result: RequestResult) -> None:
        results.append(result)
        if len(results) == after:
            os.kill(pool.pids[victim], signal.SIGKILL)

    async def main() -> None:
        scheduler = Scheduler(pool)
        try:
            await pool.connect(scheduler.on_message)
            limits = Limits(max_requests=planned, max_seconds=30, on_worker_loss="continue")
            out.append(
                await scheduler.run(
                    0,
                    strategy,
                    _requests(),
                    on_result=on_result,
                    limits=limits,
                    rng=random.Random(3),
                )
            )
        finally:
            await pool.close()

    uvloop.run(main())
    return out[0], results


def _each_once(summary: ScheduleSummary, results: list[RequestResult], planned: int) -> None:
    """Every planned request has exactly one result, and none was sent twice."""
    ids = Counter(r.request_id for r in results)
    assert len(results) == planned and len(ids) == planned, ids.most_common(3)
    assert summary.failure is None and summary.stop_reason == "completed"
    assert summary.successful + summary.errored + summary.incomplete == planned
    assert sum(summary.sent_by_worker.values()) == planned
    assert summary.unplaced == 0
    lost = [r for r in results if r.error_category == "worker_lost"]
    assert all(r.status == RequestStatus.INCOMPLETE for r in lost)
    assert summary.incomplete == len(lost)


def test_an_open_loop_sends_a_killed_workers_queue_on_the_others() -> None:
    summary, results = _run_and_kill(ConstantStrategy(150), 3, 300, victim=1, after=40)
    _each_once(summary, results, 300)
    assert list(summary.lost_workers) == [1]
    # About a second of its schedule was still queued on it: the others sent that.
    assert summary.sent_by_worker[1] < 60
    assert min(summary.sent_by_worker[w] for w in (0, 2)) > 120
    late = [r for r in results if r.worker != 1 and r.request_start - r.scheduled_time > 0.05]
    assert len(late) < 20  # moved at once, at their own send times


def test_a_closed_loop_deals_a_killed_workers_streams_to_the_others() -> None:
    """Two streams over four workers: two take part; one is killed, the other carries both
    streams (never a worker without streams holding requests it may not send)."""
    summary, results = _run_and_kill(ConcurrentStrategy(2), 4, 200, victim=0, after=30)
    _each_once(summary, results, 200)
    assert set(summary.sent_by_worker) == {0, 1}
    starts = sorted((r.request_start, r.request_end) for r in results if r.worker == 1)
    after_loss = starts[len(starts) // 2 :]
    overlapping = sum(1 for (s1, e1), (s2, _) in itertools.pairwise(after_loss) if s2 < e1)
    # Two streams in step: every other pair overlaps (one stream: none would).
    assert overlapping >= len(after_loss) // 2 - 1


def test_a_lost_single_stream_moves_to_an_idle_worker() -> None:
    """One stream: one worker takes part. Killed, an idle worker joins and finishes."""
    summary, results = _run_and_kill(ConcurrentStrategy(1), 3, 120, victim=0, after=20)
    _each_once(summary, results, 120)
    assert summary.sent_by_worker[0] >= 20 and summary.sent_by_worker[1] >= 60
