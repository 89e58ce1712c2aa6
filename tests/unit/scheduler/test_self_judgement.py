"""The client's judgement of itself (ScheduleSummary.client) and the live judgement."""

from __future__ import annotations

from array import array

import pytest

from guidellm.scheduler.judgement import (
    LIMIT_SCHEDULING_DELAY_MS,
    LIVE_MIN_SENDS,
    LIVE_SENDS,
    live_limited,
)
from guidellm.scheduler.scheduler import ScheduleSummary


def _summary(delays: list[float], **kwargs: object) -> ScheduleSummary:
    defaults: dict[str, object] = {
        "start_time": 0.0,
        "end_time": 10.0,
        "stop_reason": "completed",
        "sent": len(delays),
        "completed": len(delays),
        "workers": 2,
        "cpu_seconds": 1.0,
        "loop_lags_ms": [0.1] * 100,
        "scheduling_delays_ms": array("d", delays),
    }
    defaults.update(kwargs)
    return ScheduleSummary(**defaults)  # type: ignore[arg-type]


def test_a_client_that_kept_the_schedule_is_not_limited() -> None:
    client = _summary([0.1] * 1000).client()
    assert client["limited"] is False and client["reason"] is None
    assert client["cpu_ms_per_request"] == pytest.approx(1.0)
    assert client["scheduling_delay_ms_p99"] == pytest.approx(0.1)
    assert set(client) == {
        "workers", "cpu_seconds", "cpu_ms_per_request", "loop_lag_ms_p99", "loop_lag_ms_max",
        "scheduling_delay_ms_p99", "limited", "reason",
    }  # fmt: skip


def test_late_sends_mark_the_benchmark_limited_and_say_why() -> None:
    client = _summary([0.1] * 950 + [50.0] * 50).client()
    assert client["limited"] is True
    assert "could not keep the schedule" in client["reason"]
    waited = _summary([0.1] * 950 + [50.0] * 50, waited_for_slot=50).client()
    assert "concurrency slot" in waited["reason"]


def test_loop_lag_and_busy_cpu_mark_it_limited() -> None:
    lagging = _summary([0.1] * 100, loop_lags_ms=[0.1] * 90 + [30.0] * 10).client()
    assert lagging["limited"] and "event-loop lag" in lagging["reason"]
    busy = _summary([0.1] * 100, cpu_seconds=100.0).client()
    assert busy["limited"] and "busy" in busy["reason"]


def test_live_limited_looks_at_the_recent_sends() -> None:
    from types import SimpleNamespace

    from guidellm.scheduler.scheduler import Scheduler

    scheduler = Scheduler(pool=None)  # type: ignore[arg-type]
    assert scheduler.live_limited() is False
    scheduler._run = SimpleNamespace(delays=array("d", [50.0] * 2000 + [0.1] * 1000))  # type: ignore[assignment]
    assert scheduler.live_limited() is False  # the old backlog is gone
    scheduler._run.delays.extend([50.0] * 20)  # type: ignore[union-attr]
    assert scheduler.live_limited() is True


def test_live_verdict_needs_a_few_sends_and_reads_only_the_recent_ones() -> None:
    assert live_limited(array("d")) is False
    assert live_limited([50.0] * (LIVE_MIN_SENDS - 1)) is False  # too few to say
    assert live_limited([50.0] * LIVE_MIN_SENDS) is True
    calm_now = [50.0] * 5000 + [0.1] * LIVE_SENDS
    assert live_limited(calm_now) is False
    # 1 % of the recent sends late is the p99 itself: not past the limit yet, then past it
    assert live_limited(calm_now + [LIMIT_SCHEDULING_DELAY_MS] * 10) is False
    assert live_limited(calm_now + [LIMIT_SCHEDULING_DELAY_MS + 1] * 11) is True


def test_the_progress_display_shows_the_schedulers_live_verdict() -> None:
    import asyncio
    from types import SimpleNamespace

    from guidellm.benchmark.aggregator import BenchmarkAggregator
    from guidellm.benchmark.benchmarker import Benchmarker, RunSettings
    from guidellm.outputs.base import Progress, ReportWriter
    from guidellm.plugins import PluginHost
    from guidellm.testing.sleep_backend import SleepBackend

    class Shown(ReportWriter):
        name = "shown"

        def __init__(self) -> None:
            super().__init__(None)
            self.snapshots: list[Progress] = []

        def progress(self, snapshot: Progress) -> None:
            self.snapshots.append(snapshot)

        def write(self, report: object) -> None:
            pass

    async def show(limited: bool) -> list[Progress]:
        shown = Shown()
        benchmarker = Benchmarker(
            backend=SleepBackend(),
            requests=[],
            profile=PluginHost(entry_points=False).profiles.get("constant")([5], {}),
            settings=RunSettings(),
            writers=[shown],
        )
        agg = BenchmarkAggregator(
            index=0, strategy={}, warmup=None, cooldown=None, max_seconds=None,
            max_requests=None, slo=None,
        )  # fmt: skip
        scheduler = SimpleNamespace(
            progress_counts=lambda: (0, 0),
            started_at=lambda: None,
            live_limited=lambda: limited,
        )
        ticker = asyncio.ensure_future(benchmarker._tick(agg, scheduler))  # type: ignore[arg-type]
        while not shown.snapshots:
            await asyncio.sleep(0.05)
        ticker.cancel()
        return shown.snapshots

    assert all(s.client_limited for s in asyncio.run(show(True)))
    assert not any(s.client_limited for s in asyncio.run(show(False)))


def test_busy_cpu_is_measured_against_the_cores_that_exist(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import os

    # One worker per core on 2 cores: the parent and both workers share those 2 cores, so
    # 19 CPU-seconds in 10 s is 95% busy (against 3 processes it would read 63%: never 90%).
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0, 1}, raising=False)
    busy = _summary([0.1] * 100, workers=2, cpu_seconds=19.0).client()
    assert busy["limited"] and "95% busy" in busy["reason"]
    calm = _summary([0.1] * 100, workers=2, cpu_seconds=17.0).client()
    assert calm["limited"] is False
    # Fewer workers than cores: the parent and the one worker can use one core each.
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: set(range(8)), raising=False)
    one = _summary([0.1] * 100, workers=1, cpu_seconds=19.0).client()
    assert one["limited"] and "95% busy" in one["reason"]
