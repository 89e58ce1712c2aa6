"""End to end: ``guidellm run`` against the mock server with known TTFT/ITL, then the saved
report read back. The tolerance is the one docs/metrics.md promises ("Accuracy against a
known server")."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from guidellm.benchmark.report import Report
from guidellm.mock_server import MockServer, MockServerConfig

TTFT_MS = 40.0
ITL_MS = 8.0
TOKENS = 32


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "guidellm", "run", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        env={"PATH": "/usr/bin:/bin", "GUIDELLM_LOAD_PLUGINS": "", "COLUMNS": "120"},
    )


def within(measured: float | None, expected: float, floor: float) -> bool:
    assert measured is not None
    return abs(measured - expected) <= max(floor, 0.10 * expected)


@pytest.mark.slow
def test_reported_medians_match_the_mock(tmp_path: Path) -> None:
    config = MockServerConfig(ttft_ms=TTFT_MS, itl_ms=ITL_MS, output_tokens=TOKENS, seed=1)
    with MockServer(config) as url:
        proc = run(
            "--target", url, "--profile", "concurrent", "--rate", "4",
            "--max-requests", "120", "--data", f"prompt_tokens=32,output_tokens={TOKENS}",
            "--slo", "ttft_ms=1000", "--output", "run.json", "--output", "run.html",
            "--disable-progress", cwd=tmp_path,
        )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = Report.load(tmp_path / "run.json")
    (b,) = report.benchmarks
    m = b.metrics
    assert b.requests.successful == 120 and b.requests.errored == 0
    assert b.strategy["type"] == "concurrent"
    ttft = m.time_to_first_token_ms.successful.median
    itl = m.inter_token_latency_ms.successful.median
    assert within(ttft, TTFT_MS, 5.0), f"TTFT median {ttft} vs configured {TTFT_MS}"
    assert within(itl, ITL_MS, 1.0), f"ITL median {itl} vs configured {ITL_MS}"
    expected_latency = (TTFT_MS + (TOKENS - 1) * ITL_MS) / 1000
    assert within(m.request_latency.successful.median, expected_latency, 0.005)
    assert m.output_token_count.successful.median == TOKENS
    assert b.tokens.source == "usage" and b.tokens.disagreements == 0
    assert m.inter_chunk_latency_ms.successful.count == 120 * (TOKENS - 1)
    assert within(m.inter_chunk_latency_ms.successful.median, ITL_MS, 1.0)
    assert 3.0 <= (m.request_concurrency.total.mean or 0) <= 4.0
    assert m.goodput is not None and m.goodput.attainment == 1.0
    assert b.errors == {}
    assert m.time_to_first_token_ms.successful.ci95 is not None
    assert "mean" in m.time_to_first_token_ms.successful.ci95
    # Nothing per request in the report, and no response text without --output-sampling.
    raw = (tmp_path / "run.json").read_text()
    assert len(raw) < 200_000
    assert b.samples == [] and "output_text" not in raw


@pytest.mark.slow
def test_errors_are_counted_by_category_and_the_journal_rebuilds(tmp_path: Path) -> None:
    config = MockServerConfig(ttft_ms=5.0, itl_ms=1.0, output_tokens=8, seed=3, error_500_rate=0.25)
    with MockServer(config) as url:
        proc = run(
            "--target", url, "--profile", "concurrent", "--rate", "2",
            "--max-requests", "80", "--data", "prompt_tokens=16,output_tokens=8",
            "--output", "run.json", "--output-sampling", "3", "--disable-progress",
            cwd=tmp_path,
        )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = Report.load(tmp_path / "run.json")
    (b,) = report.benchmarks
    assert b.requests.successful + b.requests.errored == 80
    assert 5 <= b.requests.errored <= 40
    assert b.errors == {"http_5xx": b.requests.errored}
    assert b.error_examples["http_5xx"].startswith("HTTP 500")
    assert len(b.samples) == 3
    assert all(s.get("output_text") or s.get("error") for s in b.samples)
    # The console printed the error table.
    assert "http_5xx" in proc.stdout
    journals = list(tmp_path.glob("*.journal"))
    assert journals, "the run wrote no journal"
    out = subprocess.run(
        [sys.executable, "-m", "guidellm", "report", str(journals[0]), "-o", "rebuilt.json",
         "--disable-console-outputs"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    rebuilt = json.loads((tmp_path / "rebuilt.json").read_text())["benchmarks"][0]
    assert rebuilt["requests"] == b.requests.model_dump()
    assert rebuilt["errors"] == b.errors
    assert rebuilt["metrics"]["time_to_first_token_ms"]["successful"]["median"] == pytest.approx(
        b.metrics.time_to_first_token_ms.successful.median
    )
