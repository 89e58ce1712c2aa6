"""On a recorded run: the percentiles computed with every array spilled to disk equal those
the run computed in memory.

A real ``guidellm run`` against the mock server (3,000 requests, with errors, a warmup and a
cooldown) journals its results and reports its numbers, computed in memory (3,000 rows stay
under ``SPILL_ROWS``). Its journal's results are then fed to an aggregator with spilling
forced at 50 rows: every per-request percentile, mean and count must be the same to the bit.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from clirun import guidellm

from guidellm.benchmark import spill
from guidellm.benchmark.aggregator import BenchmarkAggregator
from guidellm.benchmark.journal import read_journal
from guidellm.benchmark.report import Report
from guidellm.mock_server import MockServer
from guidellm.mock_server.behavior import MockServerConfig

# The metrics whose every value comes from full-precision times or counts (the journal keeps
# chunk times to the microsecond, so inter-chunk gaps are compared apart, to that precision).
_EXACT = (
    "time_to_first_token_ms",
    "inter_token_latency_ms",
    "time_per_output_token_ms",
    "request_latency",
    "scheduled_latency",
    "scheduling_delay_ms",
    "prompt_token_count",
    "output_token_count",
    "requests_per_second",
    "output_tokens_per_second",
    "request_concurrency",
)


@pytest.fixture(scope="module")
def faulty_server() -> Iterator[str]:
    server = MockServer(
        MockServerConfig(
            ttft_ms=3,
            ttft_ms_std=1,
            itl_ms=1,
            output_tokens=12,
            output_tokens_std=4,
            error_500_rate=0.03,
            reset_rate=0.02,
            seed=7,
        )
    )
    url = server.start_process()
    try:
        yield url
    finally:
        server.stop()


def test_a_recorded_run_spilled_gives_the_percentiles_it_reported(
    faulty_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    proc = guidellm(
        [
            "run", "--target", faulty_server, "--profile", "concurrent", "--rate", "16",
            "--max-requests", "3000", "--warmup", "0.1", "--cooldown", "0.1",
            "--output", "r.json", "--disable-console-outputs", "--server-metrics", "off",
        ],
        tmp_path,
        timeout=180,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    (live,) = Report.load(tmp_path / "r.json").benchmarks
    assert live.requests.errored > 50  # the mock's 5 % errors: every status is exercised
    started: dict[str, Any] = {}
    end: dict[str, Any] = {}
    results = []
    for kind, record in read_journal(tmp_path / "r.journal"):
        if kind == "benchmark":
            started = record
        elif kind == "benchmark_end":
            end = record
        elif kind == "result":
            results.append(record[1])
    assert len(results) == 3000
    monkeypatch.setattr(spill, "SPILL_ROWS", 50)
    agg = BenchmarkAggregator(index=0, strategy=started["strategy"], **started["settings"])
    for result in results:
        agg.add(result)
    again = agg.compile(start_time=end["start_time"], end_time=end["end_time"], client=live.client)
    assert again.requests == live.requests
    for name in _EXACT:
        assert getattr(again.metrics, name) == getattr(live.metrics, name), name
    gaps, live_gaps = again.metrics.inter_chunk_latency_ms, live.metrics.inter_chunk_latency_ms
    assert gaps.successful.count == live_gaps.successful.count
    assert gaps.successful.mean == pytest.approx(live_gaps.successful.mean, abs=1e-3)
