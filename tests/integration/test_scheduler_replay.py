"""The Scheduler replaying a trace on real worker processes (server-less SleepBackend).

Each request's intended send time must be the trace's, offset from the benchmark start, and
the stop conditions cut the trace like any benchmark.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from schedulerrun import run_schedule

from guidellm.request import GenerationRequest, RequestResult
from guidellm.scheduler.replay import ReplayStrategy
from guidellm.scheduler.scheduler import Limits, ScheduleSummary
from guidellm.testing.sleep_backend import SleepBackend


def _trace(stamps: list[float], cost_s: float = 0.0) -> Iterator[GenerationRequest]:
    for i, stamp in enumerate(stamps):
        if cost_s:
            time.sleep(cost_s)  # a row that is slow to read (a prompt to build)
        yield GenerationRequest(f"r{i}", prompt="hi", max_tokens=2, timestamp=stamp)


def _replay(
    options: dict[str, object],
    stamps: list[float],
    limits: Limits | None = None,
    cost_s: float = 0.0,
    pool_kind: str = "local",
) -> tuple[ScheduleSummary, list[RequestResult]]:
    (strategy,) = ReplayStrategy.from_rates(None, options)
    backend = SleepBackend(ttft_ms=2, itl_ms=1, output_tokens=2)
    return run_schedule(strategy, _trace(stamps, cost_s), backend, limits, pool_kind=pool_kind)


STAMPS = [1000.0 + 0.01 * i + (0.5 if i >= 50 else 0.0) for i in range(100)]


def test_each_request_is_scheduled_at_its_trace_time(pool_kind: str) -> None:
    summary, results = _replay({"time_scale": 0.5}, STAMPS, pool_kind=pool_kind)
    assert summary.stop_reason == "data_exhausted"
    assert summary.successful == len(results) == 100
    by_id = {r.request_id: r for r in results}
    for i, stamp in enumerate(STAMPS):
        intended = summary.start_time + 0.5 * (stamp - STAMPS[0])
        assert abs(by_id[f"r{i}"].scheduled_time - intended) < 1e-9
    late = sorted(r.request_start - r.scheduled_time for r in results)
    assert late[-1] < 0.05  # sent on time, not as fast as possible


def test_start_offset_skips_rows_and_max_gap_closes_the_pause(pool_kind: str) -> None:
    summary, results = _replay(
        {"start_offset_s": 0.2, "max_gap_s": 0.05}, STAMPS, pool_kind=pool_kind
    )
    ids = sorted(int(r.request_id[1:]) for r in results)
    assert ids == list(range(20, 100))
    assert summary.sent == 80
    first = min(r.scheduled_time for r in results)
    last = max(r.scheduled_time for r in results)
    assert abs((last - first) - (0.01 * 78 + 0.05)) < 1e-6


def test_max_requests_and_max_seconds_cut_the_trace(pool_kind: str) -> None:
    summary, results = _replay({}, STAMPS, Limits(max_requests=30), pool_kind=pool_kind)
    assert (summary.stop_reason, len(results), summary.sent) == ("completed", 30, 30)
    summary, results = _replay({}, STAMPS, Limits(max_seconds=0.305), pool_kind=pool_kind)
    assert summary.stop_reason == "max_seconds"
    assert len(results) == summary.sent == 31  # due at 0.00-0.30 s of trace time


def test_rows_skipped_by_start_offset_are_read_before_the_clock_starts(pool_kind: str) -> None:
    """Skipping 2,000 rows that take 0.5 ms each to read (1 s) must not make the first
    replayed requests late."""
    stamps = [0.001 * i for i in range(2000)] + [2.0 + 0.01 * i for i in range(50)]
    _summary, results = _replay({"start_offset_s": 2.0}, stamps, cost_s=0.0005, pool_kind=pool_kind)
    assert len(results) == 50
    late_ms = max(r.request_start - r.scheduled_time for r in results) * 1000
    assert late_ms < 100, late_ms
