"""The capacity a run reports, against a mock whose capacity is known: 32 requests at once,
each 50 ms to the first token then 127 x 10 ms, so 32 / 1.32 s = 24.2 requests/s. The
default sweep's saturation point and an SLO search's answer (TTFT 200 ms: met until the
queue forms) both land within 10 % of it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from clirun import guidellm

from guidellm.mock_server import MockServer, MockServerConfig

CAPACITY = 32 / (0.050 + 127 * 0.010)


@pytest.fixture(scope="module")
def mock_url() -> Iterator[str]:
    config = MockServerConfig(max_concurrency=32, ttft_ms=50, itl_ms=10, output_tokens=128)
    with MockServer(config) as url:
        yield url


def _run(url: str, tmp_path: Path, *args: str) -> dict[str, Any]:
    proc = guidellm(
        ["run", "--target", url, "--data", "prompt_tokens=32,output_tokens=128",
         "--max-seconds", "8", "--output", "r.json", "--disable-progress", *args],
        tmp_path, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report: dict[str, Any] = json.loads((tmp_path / "r.json").read_text())
    return report


def test_the_default_sweep_names_the_saturation_point(mock_url: str, tmp_path: Path) -> None:
    report = _run(mock_url, tmp_path)
    capacity = report["capacity"]
    assert capacity["kind"] == "saturation" and capacity["unit"] == "requests/s"
    assert len(report["benchmarks"]) == 10
    assert abs(capacity["value"] - CAPACITY) <= 0.10 * CAPACITY, capacity
    low, high = capacity["bracket"]
    assert low == capacity["value"] <= high
    rates = sorted(p["rate"] for p in capacity["probes"])
    # The top of the range is measured densely, and once just past the throughput rate.
    assert rates[-1] > CAPACITY and rates[-2] > 0.9 * CAPACITY


def test_slo_search_finds_the_capacity_within_its_precision(mock_url: str, tmp_path: Path) -> None:
    report = _run(
        mock_url, tmp_path, "--profile", "slo-search", "--slo", "ttft_ms=200",
        "--profile-args", "goodput=0.95,precision=0.05",
    )  # fmt: skip
    capacity = report["capacity"]
    assert capacity["kind"] == "slo" and capacity["goodput"] == 0.95
    assert capacity["slo"] == {"ttft_ms": 200.0}
    assert abs(capacity["value"] - CAPACITY) <= 0.10 * CAPACITY, capacity
    low, high = capacity["bracket"]
    assert high - low <= 0.05 * high, capacity
    # Each probe says why it passed or failed; the one above the bracket failed.
    assert all(p["reason"] for p in capacity["probes"])
    assert any(not p["passed"] and p["rate"] >= high for p in capacity["probes"])


def test_slo_search_needs_slos(tmp_path: Path) -> None:
    proc = guidellm(["run", "--profile", "slo-search", "--max-seconds", "1"], tmp_path)
    assert proc.returncode == 2
    assert "--slo" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
