"""Live progress on a real run: elapsed time and fraction done count from the real start."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterator
from typing import Any

import pytest

import guidellm.benchmark.benchmarker as benchmarker_mod
from guidellm.benchmark.benchmarker import Benchmarker, RunSettings
from guidellm.outputs.base import Progress, ReportWriter
from guidellm.plugins import PluginHost
from guidellm.request import GenerationRequest
from guidellm.testing.sleep_backend import SleepBackend

_IMPORT_DELAY_S = 0.6


class _Recorder(ReportWriter):
    name = "recorder"

    def __init__(self) -> None:
        super().__init__(None)
        self.snapshots: list[tuple[float, Progress]] = []

    def progress(self, snapshot: Progress) -> None:
        self.snapshots.append((time.perf_counter(), snapshot))

    def write(self, report: Any) -> None:
        pass


class _Requests:
    def __iter__(self) -> Iterator[GenerationRequest]:
        return (GenerationRequest(f"r{i}", prompt="hi", max_tokens=2) for i in itertools.count())


def test_progress_counts_from_the_schedule_start_not_the_aggregator(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = benchmarker_mod._import_heavy_in_thread

    def slow_imports(loop: asyncio.AbstractEventLoop) -> asyncio.Future[None]:
        # As on a cold start: the aggregator's imports finish well after the schedule began.
        done: asyncio.Future[None] = loop.create_future()
        inner = real(loop)
        loop.call_later(_IMPORT_DELAY_S, lambda: inner.add_done_callback(
            lambda f: done.set_result(f.result())))  # fmt: skip
        return done

    monkeypatch.setattr(benchmarker_mod, "_import_heavy_in_thread", slow_imports)
    recorder = _Recorder()
    host = PluginHost(entry_points=False)
    outcome = Benchmarker(
        backend=SleepBackend(ttft_ms=5, itl_ms=1, output_tokens=2),
        requests=_Requests(),
        profile=host.profiles.get("constant")([50], {}),
        settings=RunSettings(max_seconds=2.0, workers=1),
        writers=[recorder],
    ).run()
    (summary,) = outcome.summaries
    assert recorder.snapshots, "no live progress"
    for at, snap in recorder.snapshots:
        real_elapsed = at - summary.start_time
        assert snap.elapsed == pytest.approx(real_elapsed, abs=0.1), (snap.elapsed, real_elapsed)
        assert snap.fraction_done == pytest.approx(min(real_elapsed / 2.0, 1.0), abs=0.05)
    # The final numbers come from the scheduler's own start and end, as before.
    (bench,) = outcome.report.benchmarks
    assert bench.duration == pytest.approx(summary.duration)
