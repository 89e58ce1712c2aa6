"""``stages`` on real worker processes (server-less SleepBackend): rate stages send their
rates and end with the schedule; concurrency stages keep their level of requests in flight,
and a smaller stage lets busy streams finish rather than cancelling them."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

from schedulerrun import run_schedule

from guidellm.request import GenerationRequest, RequestResult, RequestStatus
from guidellm.scheduler.scheduler import ScheduleSummary
from guidellm.scheduler.stages import StagesStrategy
from guidellm.testing.sleep_backend import SleepBackend


def _requests(count: int | None = None) -> Iterator[GenerationRequest]:
    for i in itertools.count() if count is None else range(count):
        yield GenerationRequest(f"r{i}", prompt="hi", max_tokens=2)


def _stages(
    stages: list[dict[str, object]], count: int | None = None, pool_kind: str = "local"
) -> tuple[ScheduleSummary, list[RequestResult]]:
    (strategy,) = StagesStrategy.from_rates(None, {"stages": stages})
    backend = SleepBackend(ttft_ms=40, itl_ms=5, output_tokens=2)
    return run_schedule(strategy, _requests(count), backend, pool_kind=pool_kind)


def _in_flight(results: list[RequestResult], at: float) -> int:
    return sum(1 for r in results if r.request_start <= at < r.request_end)


def test_rate_stages_send_each_rate_and_end_with_the_schedule(pool_kind: str) -> None:
    summary, results = _stages(
        [{"rate": 20, "seconds": 1}, {"rate": 0, "seconds": 0.5}, {"rate": 60, "seconds": 1}],
        pool_kind=pool_kind,
    )
    assert summary.stop_reason == "schedule_complete"
    offsets = [r.scheduled_time - summary.start_time for r in results]
    assert sum(1 for t in offsets if t < 1.0) == 20
    assert sum(1 for t in offsets if 1.0 <= t < 1.5) == 0
    assert sum(1 for t in offsets if t >= 1.5) == 60
    assert all(r.status == RequestStatus.SUCCESSFUL for r in results)


def test_concurrency_stages_hold_each_level(pool_kind: str) -> None:
    summary, results = _stages(
        [
            {"concurrency": 2, "seconds": 1},
            {"concurrency": 6, "seconds": 1},
            {"concurrency": 1, "seconds": 1},
        ],
        pool_kind=pool_kind,
    )
    assert summary.stop_reason == "schedule_complete"
    assert 2.9 < summary.end_time - summary.start_time < 3.2
    start = summary.start_time
    for middle, level in ((0.5, 2), (1.5, 6), (2.5, 1)):
        # Every millisecond of the stage's middle 0.6 s: never above the level, and at the
        # level nearly all the time (a stream's gap between two requests is not in flight,
        # and on a busy machine the gaps of several streams can line up for a moment).
        samples = [_in_flight(results, start + middle + ms / 1000) for ms in range(-300, 300)]
        assert max(samples) == level, (middle, max(samples))
        assert sum(samples) / len(samples) >= 0.9 * level, (middle, sum(samples) / 600)
    # Going from 6 to 1, the busy streams finished: nothing cancelled before the end.
    cancelled = [r for r in results if r.status != RequestStatus.SUCCESSFUL]
    assert all(r.request_end >= start + 2.95 for r in cancelled)
    assert len(cancelled) <= 1


def test_a_stage_of_one_stream_sends_all_of_finite_data(pool_kind: str) -> None:
    """With one stream, one worker sends: no requests wait, unsent, on a worker without
    streams while the data runs out elsewhere."""
    summary, results = _stages(
        [{"concurrency": 2, "seconds": 0.5}, {"concurrency": 1, "seconds": 5}],
        count=60,
        pool_kind=pool_kind,
    )
    assert len(results) == summary.sent == 60
    assert summary.stop_reason == "data_exhausted"
    assert summary.end_time - summary.start_time < 4.0


def test_a_last_pause_stage_lasts_to_its_end(pool_kind: str) -> None:
    summary, results = _stages(
        [{"rate": 10, "seconds": 1}, {"rate": 0, "seconds": 1.5}], pool_kind=pool_kind
    )
    assert len(results) == 10
    assert summary.stop_reason == "schedule_complete"
    assert 2.4 < summary.end_time - summary.start_time < 2.8
