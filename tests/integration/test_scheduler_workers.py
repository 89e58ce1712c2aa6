"""The Scheduler and Benchmarker with real worker processes against the real mock server.

Every strategy, every stop condition, warmup/cooldown, and the journal: each test forks real
RequestsWorkers that talk HTTP to a ``guidellm.mock_server`` child process.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from journalread import frames, journal_records

from guidellm.benchmark.benchmarker import Benchmarker, RunOutcome, RunSettings
from guidellm.benchmark.journal import Journal, rebuild_report
from guidellm.data.loader import RequestLoader
from guidellm.mock_server import MockServer
from guidellm.mock_server.behavior import MockServerConfig
from guidellm.plugins import get_plugin_host
from guidellm.runner import validate_backend as _validate_backend

OUTPUT_TOKENS = 8


@pytest.fixture(scope="module")
def fast_server() -> Iterator[str]:
    """TTFT 5 ms, ITL 1 ms, 8 tokens: a request takes ~12 ms."""
    server = MockServer(MockServerConfig(ttft_ms=5, itl_ms=1, output_tokens=OUTPUT_TOKENS))
    url = server.start_process()
    try:
        yield url
    finally:
        server.stop()


@pytest.fixture(scope="module")
def slow_server() -> Iterator[str]:
    """TTFT 20 ms, ITL 50 ms, 40 tokens: a request takes ~2 s (cut by stop conditions)."""
    server = MockServer(MockServerConfig(ttft_ms=20, itl_ms=50, output_tokens=40))
    url = server.start_process()
    try:
        yield url
    finally:
        server.stop()


@pytest.fixture(scope="module")
def failing_server() -> Iterator[str]:
    server = MockServer(MockServerConfig(ttft_ms=2, itl_ms=1, output_tokens=4, error_500_rate=1.0))
    url = server.start_process()
    try:
        yield url
    finally:
        server.stop()


def make_benchmarker(
    url: str,
    profile: str,
    rates: Sequence[float] | None,
    settings: RunSettings,
    *,
    profile_args: dict[str, Any] | None = None,
    journal: Path | None = None,
    output_tokens: int = OUTPUT_TOKENS,
    writers: Sequence[Any] = (),
) -> Benchmarker:
    host = get_plugin_host()
    backend = host.backends.get("openai_http")(url)
    _validate_backend(backend)
    loader = RequestLoader(
        [f"prompt_tokens=16,output_tokens={output_tokens}"],
        {},
        processor=None,
        random_seed=1,
        host=host,
    )
    return Benchmarker(
        backend=backend,
        requests=loader,
        profile=host.profiles.get(profile)(rates, profile_args or {}),
        settings=settings,
        journal=Journal(journal) if journal is not None else None,
        config={"test": True},
        writers=writers,
    )


def run_bench(*args: Any, **kwargs: Any) -> RunOutcome:
    """One Benchmarker run (see :func:`make_benchmarker`)."""
    return make_benchmarker(*args, **kwargs).run()


def test_synchronous_one_at_a_time(fast_server: str) -> None:
    out = run_bench(fast_server, "synchronous", None, RunSettings(max_requests=20, workers=2))
    (bench,) = out.report.benchmarks
    (summary,) = out.summaries
    assert bench.requests.successful == 20
    assert summary.workers == 1
    assert summary.stop_reason == "completed"
    assert bench.metrics.request_concurrency.successful.max <= 1.0 + 1e-9
    assert bench.client["workers"] == 1
    assert bench.client["cpu_seconds"] > 0


def test_concurrent_streams_overlap_across_workers(fast_server: str) -> None:
    out = run_bench(fast_server, "concurrent", [1, 6], RunSettings(max_requests=60, workers=2))
    one, six = out.report.benchmarks
    assert one.requests.successful == 60 and six.requests.successful == 60
    assert out.summaries[1].workers == 2
    # Six streams are really concurrent: well over one request in flight on average.
    assert six.metrics.request_concurrency.successful.mean > 3
    assert one.metrics.request_concurrency.successful.mean <= 1.0 + 1e-9
    assert (
        six.metrics.requests_per_second.successful > 2 * one.metrics.requests_per_second.successful
    )


def test_throughput_caps_concurrency(fast_server: str) -> None:
    out = run_bench(
        fast_server,
        "throughput",
        None,
        RunSettings(max_requests=120, workers=2),
        profile_args={"max_concurrency": 8},
    )
    (bench,) = out.report.benchmarks
    assert bench.requests.successful == 120
    assert bench.metrics.request_concurrency.successful.max <= 8 + 1e-9
    assert bench.metrics.request_concurrency.successful.mean > 4


@pytest.mark.parametrize("profile", ["constant", "poisson"])
def test_open_loop_rates(fast_server: str, profile: str) -> None:
    out = run_bench(fast_server, profile, [40], RunSettings(max_seconds=2.5, workers=2))
    (bench,) = out.report.benchmarks
    (summary,) = out.summaries
    assert summary.stop_reason == "max_seconds"
    sent = summary.sent
    # 40/s for 2.5 s: about 100 intended sends (Poisson: within a wide band).
    if profile == "constant":
        assert 98 <= sent <= 101
    else:
        assert 60 <= sent <= 140
    assert bench.requests.successful >= sent - 5
    delay = bench.client["scheduling_delay_ms_p99"]
    assert delay is not None and delay < 250  # generous: the test machine is shared


def test_constant_rate_is_paced_by_intended_times(fast_server: str, tmp_path: Path) -> None:
    path = tmp_path / "j.journal"
    run_bench(fast_server, "constant", [50], RunSettings(max_requests=50, workers=2), journal=path)
    rows = journal_records(path)
    results = [r["r"] for r in rows if r["type"] == "result"]
    scheduled = sorted(r[2] for r in results)
    gaps = [b - a for a, b in itertools.pairwise(scheduled)]
    assert len(results) == 50
    assert all(abs(g - 0.02) < 1e-6 for g in gaps)
    # Each request went out at (or just after) its intended time, never before it.
    assert all(r[3] >= r[2] - 1e-4 for r in results)


def test_max_seconds_cuts_in_flight_requests_as_incomplete(slow_server: str) -> None:
    out = run_bench(
        slow_server, "concurrent", [4], RunSettings(max_seconds=1.0, workers=2), output_tokens=40
    )
    (bench,) = out.report.benchmarks
    (summary,) = out.summaries
    assert summary.stop_reason == "max_seconds"
    assert bench.requests.incomplete == 4
    assert bench.requests.successful == 0
    assert bench.errors.get("cancelled") == 4
    assert summary.duration == pytest.approx(1.0, abs=0.05)


def test_max_errors_stops_the_benchmark(failing_server: str) -> None:
    out = run_bench(
        failing_server, "concurrent", [2], RunSettings(max_errors=5, max_seconds=20, workers=2)
    )
    (bench,) = out.report.benchmarks
    (summary,) = out.summaries
    assert summary.stop_reason == "max_errors"
    assert bench.requests.errored >= 5
    assert bench.requests.successful == 0
    assert summary.duration < 5
    assert "http_5xx" in bench.errors


def test_warmup_and_cooldown_leave_out_the_edges(fast_server: str) -> None:
    out = run_bench(
        fast_server, "constant", [40], RunSettings(max_seconds=3, warmup=1.0, cooldown=0.25)
    )
    (bench,) = out.report.benchmarks
    start, end = bench.measured_window
    # warmup >= 1 is seconds (1 s), < 1 a fraction of the run (0.25 * 3 s): 1.25 s remain.
    assert end - start == pytest.approx(1.25, abs=0.05)
    assert bench.requests.outside_window >= 60  # ~40 + ~30 at 40/s
    assert 45 <= bench.requests.successful <= 55


def test_sweep_runs_synchronous_throughput_then_rates(fast_server: str) -> None:
    out = run_bench(
        fast_server,
        "sweep",
        [4],
        RunSettings(max_seconds=1.0, workers=2),
        profile_args={"max_concurrency": 8},
    )
    kinds = [b.strategy["type"] for b in out.report.benchmarks]
    assert kinds == ["synchronous", "throughput", "constant", "constant"]
    low = out.report.benchmarks[0].metrics.requests_per_second.successful
    high = out.report.benchmarks[1].metrics.requests_per_second.successful
    rates = [b.strategy["rate"] for b in out.report.benchmarks[2:]]
    assert low < rates[0] < rates[1] < high * 1.2


def test_ramp_plugin_strategy_runs_in_real_workers(fast_server: str) -> None:
    """The example plugin, found through its entry point, crosses to workers as offsets."""
    host = get_plugin_host()
    assert host.strategies.owner("ramp") == "ramp"
    out = run_bench(
        fast_server, "ramp", [10, 50], RunSettings(workers=2), profile_args={"duration": 2}
    )
    (bench,) = out.report.benchmarks
    # Expected sends: the integral of the rate, (10 + 50) / 2 * 2 s = 60.
    assert 55 <= bench.requests.successful <= 62
    assert out.summaries[0].stop_reason == "schedule_complete"


def test_journal_rebuilds_the_same_report(fast_server: str, tmp_path: Path) -> None:
    path = tmp_path / "run.journal"
    out = run_bench(
        fast_server, "concurrent", [2, 4], RunSettings(max_requests=30, workers=2), journal=path
    )
    rebuilt = rebuild_report(path)
    assert [b.requests.successful for b in rebuilt.benchmarks] == [30, 30]
    assert rebuilt.benchmarks[1].metrics.time_to_first_token_ms.successful.median == (
        out.report.benchmarks[1].metrics.time_to_first_token_ms.successful.median
    )
    # A journal cut mid-way (a killed run) still rebuilds what it holds: here, cut inside
    # the first benchmark's end record, that benchmark from its results.
    cut = next(offset for offset, kind in frames(path) if kind == "benchmark_end")
    truncated = tmp_path / "cut.journal"
    truncated.write_bytes(path.read_bytes()[: cut + 20])
    partial = rebuild_report(truncated)
    (only,) = partial.benchmarks
    assert only.requests.successful == 30
    # Rebuilt from full-precision times (the rates differ: the run's span was not journalled).
    live = out.report.benchmarks[0].metrics
    assert only.metrics.time_to_first_token_ms == live.time_to_first_token_ms
    assert only.metrics.request_latency == live.request_latency
    assert any("rebuilt from the journal" in w for w in only.warnings)
    assert any(f"ends mid-record at byte {cut}" in w for w in only.warnings)


def test_workers_quit_while_the_last_benchmark_compiles(fast_server: str) -> None:
    """After the last benchmark the workers are told to quit before it is compiled (they exit
    while the parent aggregates), and they exit on their own: exit code 0, not killed."""
    from guidellm.outputs.base import ReportWriter

    quit_sent: list[bool] = []

    class Probe(ReportWriter):
        name = "probe"

        def benchmark_finished(self, benchmark: Any) -> None:
            quit_sent.append(bench._pool._quit_sent)  # type: ignore[union-attr]

        def write(self, report: Any) -> None:
            pass

    bench = make_benchmarker(
        fast_server,
        "concurrent",
        [1, 2, 3],
        RunSettings(max_requests=10, workers=2),
        writers=[Probe()],
    )
    out = bench.run()
    assert [b.requests.successful for b in out.report.benchmarks] == [10, 10, 10]
    assert quit_sent == [False, False, True]
    assert bench._pool is not None
    assert [p.exitcode for p in bench._pool._processes] == [0, 0]
