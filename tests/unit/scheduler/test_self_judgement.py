"""The client's judgement of itself (ScheduleSummary.client) and the live judgement: each
rule on constructed summaries."""

from __future__ import annotations

from array import array

import pytest

from guidellm.scheduler.judgement import (
    LIMIT_LOOP_LAG_MS,
    LIMIT_SCHEDULING_DELAY_MS,
    LIVE_MIN_SENDS,
    LIVE_SENDS,
    MIN_CPU_REQUESTS,
    MIN_CPU_SECONDS,
    MIN_LATE_LAGS,
    MIN_LATE_SENDS,
    MIN_SENDS,
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


def _signal(client: dict[str, object], name: str) -> dict[str, object]:
    signals = client["signals"]
    assert isinstance(signals, list)
    return next(s for s in signals if s["name"] == name)


def test_a_client_that_kept_the_schedule_is_not_limited() -> None:
    client = _summary([0.1] * 1000).client()
    assert client["limited"] is False and client["reason"] is None
    assert client["cpu_ms_per_request"] == pytest.approx(1.0)
    assert client["scheduling_delay_ms_p99"] == pytest.approx(0.1)
    assert set(client) == {
        "workers", "sent_by_worker", "lost_workers", "cpu_seconds", "cpu_ms_per_request",
        "cpu_busy", "loop_lag_ms_p99", "loop_lag_ms_max", "scheduling_delay_ms_p99",
        "timing_source", "signals", "limited", "reason",
    }  # fmt: skip
    assert client["timing_source"] is None  # no worker said
    assert [s["name"] for s in client["signals"]] == [
        "scheduling_delay_ms_p99", "loop_lag_ms_p99", "cpu_busy",
    ]  # fmt: skip
    for s in client["signals"]:
        assert s["fired"] is False and s["limit"] is not None and s["note"] is None


def test_late_open_loop_sends_fire_the_delay_signal_and_name_it() -> None:
    client = _summary([0.1] * 950 + [50.0] * 50).client()
    assert client["limited"] is True
    delay = _signal(client, "scheduling_delay_ms_p99")
    assert delay == {
        "name": "scheduling_delay_ms_p99", "value": pytest.approx(50.0),
        "limit": LIMIT_SCHEDULING_DELAY_MS, "fired": True, "note": None,
    }  # fmt: skip
    assert client["reason"].startswith("scheduling_delay_ms_p99 50 > 10: ")
    assert "could not keep the schedule" in client["reason"]
    waited = _summary([0.1] * 950 + [50.0] * 50, waited_for_slot=50).client()
    assert "concurrency slot" in waited["reason"]


def test_a_closed_loop_gap_is_not_lateness() -> None:
    # A synchronous stream's gap between one request's end and the next one's start, or a
    # throughput start burst: no schedule asked for a time, so nothing was late.
    closed = _summary([30.0] * 1000, open_loop=False).client()
    assert closed["limited"] is False and closed["reason"] is None
    delay = _signal(closed, "scheduling_delay_ms_p99")
    assert delay["value"] == pytest.approx(30.0)
    assert delay["fired"] is False and delay["limit"] is None
    assert "closed loop" in delay["note"]
    # The same closed loop is still judged by its loop lag and its CPU.
    lagging = _summary([30.0] * 1000, open_loop=False, loop_lags_ms=[30.0] * 100).client()
    assert lagging["limited"] and lagging["reason"].startswith("loop_lag_ms_p99 30 > 10")


def test_a_handful_of_sends_is_not_judged_but_a_few_lagging_probes_are() -> None:
    few = _summary([50.0] * (MIN_SENDS - 1)).client()
    assert few["limited"] is False
    delay = _signal(few, "scheduling_delay_ms_p99")
    assert delay["fired"] is False and "fewer than" in delay["note"]
    enough = _summary([50.0] * MIN_SENDS).client()
    assert _signal(enough, "scheduling_delay_ms_p99")["fired"] is True
    # A loop too busy to probe itself four times a second leaves few samples, all late.
    stalled = _summary([0.1] * 100, loop_lags_ms=[1500.0] * MIN_LATE_LAGS).client()
    assert stalled["limited"] and _signal(stalled, "loop_lag_ms_p99")["fired"] is True


def test_a_few_stray_late_values_are_not_a_trend() -> None:
    # Two sends of 150 held up 40 ms by a busy machine are the p99, but not a client behind.
    strays = _summary([0.1] * 148 + [40.0] * 2, loop_lags_ms=[0.1] * 78 + [40.0] * 2).client()
    assert strays["scheduling_delay_ms_p99"] > LIMIT_SCHEDULING_DELAY_MS
    assert strays["loop_lag_ms_p99"] > LIMIT_LOOP_LAG_MS
    assert strays["limited"] is False
    for name in ("scheduling_delay_ms_p99", "loop_lag_ms_p99"):
        assert _signal(strays, name)["fired"] is False
        assert "strays" in _signal(strays, name)["note"]
    late = [0.1] * (150 - MIN_LATE_SENDS) + [40.0] * MIN_LATE_SENDS
    lags = [0.1] * (80 - MIN_LATE_LAGS) + [40.0] * MIN_LATE_LAGS
    trend = _summary(late, loop_lags_ms=lags).client()
    assert _signal(trend, "scheduling_delay_ms_p99")["fired"] is True
    assert _signal(trend, "loop_lag_ms_p99")["fired"] is True
    # The live verdict, the same rule.
    assert live_limited([0.1] * 100 + [50.0] * 2, open_loop=True) is False
    assert live_limited([0.1] * 100 + [50.0] * MIN_LATE_SENDS, open_loop=True) is True


def test_loop_lag_and_busy_cpu_mark_it_limited() -> None:
    lagging = _summary([0.1] * 100, loop_lags_ms=[0.1] * 90 + [30.0] * 10).client()
    assert lagging["limited"] and "event-loop lag" in lagging["reason"]
    assert _signal(lagging, "loop_lag_ms_p99")["fired"] is True
    busy = _summary([0.1] * 100, cpu_seconds=100.0).client()
    assert busy["limited"] and busy["reason"].startswith("cpu_busy ")
    assert _signal(busy, "cpu_busy")["fired"] is True


def test_busy_cpu_needs_enough_requests_and_wall_time() -> None:
    # The 501 % of a sub-second benchmark: start-up costs over 0.4 s, not a busy client.
    tiny = _summary([0.1] * 30, end_time=0.4, cpu_seconds=4.0).client()
    assert tiny["cpu_busy"] > 1 and tiny["limited"] is False
    cpu = _signal(tiny, "cpu_busy")
    assert cpu["fired"] is False and cpu["limit"] is None and "too little" in cpu["note"]
    short = _summary([0.1] * 5000, end_time=MIN_CPU_SECONDS / 2, cpu_seconds=100.0).client()
    assert short["limited"] is False  # plenty of requests, too little time
    few = _summary([0.1] * (MIN_CPU_REQUESTS - 1), cpu_seconds=100.0).client()
    assert few["limited"] is False  # plenty of time, too few requests
    both = _summary([0.1] * MIN_CPU_REQUESTS, end_time=MIN_CPU_SECONDS, cpu_seconds=100.0)
    assert both.client()["limited"] is True


def test_busy_is_over_the_wall_time_the_cpu_was_measured_in() -> None:
    # A time limit cuts end_time to 10 s while the CPU was counted over 12 s (the first
    # request read before the clock, the drain after the stop): 2 cores over 12 s, not 10.
    client = _summary([0.1] * 1000, workers=1, cpu_seconds=20.0, cpu_wall_seconds=12.0)
    assert client.client()["cpu_busy"] == pytest.approx(20.0 / 24.0, abs=1e-4)
    assert client.client()["limited"] is False
    assert _summary([0.1] * 1000, workers=1, cpu_seconds=20.0).client()["limited"] is True


def test_live_limited_looks_at_the_recent_sends() -> None:
    from types import SimpleNamespace

    from guidellm.scheduler.delays import DelaySeries
    from guidellm.scheduler.scheduler import Scheduler

    scheduler = Scheduler(pool=None)  # type: ignore[arg-type]
    assert scheduler.live_limited() is False
    delays = DelaySeries()
    delays.recent.extend([50.0] * 2000 + [0.1] * 1000)
    scheduler._run = SimpleNamespace(delays=delays, closed=False)  # type: ignore[assignment]
    assert scheduler.live_limited() is False  # the old backlog is gone
    delays.recent.extend([50.0] * 20)
    assert scheduler.live_limited() is True
    scheduler._run = SimpleNamespace(delays=delays, closed=True)  # type: ignore[assignment]
    assert scheduler.live_limited() is False  # a closed loop has no schedule to be late on


def test_live_verdict_needs_a_few_sends_and_reads_only_the_recent_ones() -> None:
    assert live_limited(array("d"), open_loop=True) is False
    assert live_limited([50.0] * (LIVE_MIN_SENDS - 1), open_loop=True) is False  # too few
    assert live_limited([50.0] * LIVE_MIN_SENDS, open_loop=True) is True
    assert live_limited([50.0] * LIVE_SENDS, open_loop=False) is False  # the judge's rule
    calm_now = [50.0] * 5000 + [0.1] * LIVE_SENDS
    assert live_limited(calm_now, open_loop=True) is False
    # 1 % of the recent sends late is the p99 itself: not past the limit yet, then past it
    assert live_limited(calm_now + [LIMIT_SCHEDULING_DELAY_MS] * 10, open_loop=True) is False
    assert live_limited(calm_now + [LIMIT_SCHEDULING_DELAY_MS + 1] * 11, open_loop=True) is True


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


def test_judged_once_the_per_request_arrays_are_let_go() -> None:
    """A run keeps every benchmark's summary to its end: once judged, it holds no
    per-request delays or loop-lag samples, and judging again gives the same verdict."""
    summary = _summary([30.0] * 1000, loop_lags_ms=[0.1] * 90 + [30.0] * 10)
    first = summary.client()
    assert first["limited"] is True
    assert len(summary.scheduling_delays_ms) == 0 and len(summary.loop_lags_ms) == 0
    first["stop_reason"] = "changed by a caller"
    again = summary.client()
    assert again["limited"] is True and "stop_reason" not in again
    assert again["scheduling_delay_ms_p99"] == first["scheduling_delay_ms_p99"] == 30.0
