"""``--stop-on-saturation`` end to end: ``guidellm run`` (a subprocess) against mock servers
of 32 slots at 1.32 s a request (capacity ~24 requests/s) that the tests start."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from guidellm.mock_server import MockServer, MockServerConfig
from tests.clirun import guidellm

DATA = "prompt_tokens=64,output_tokens=128"


def _mock() -> MockServer:
    config = MockServerConfig(max_concurrency=32, ttft_ms=50, itl_ms=10, output_tokens=128)
    return MockServer(config)


@pytest.fixture
def mock_urls() -> Iterator[list[str]]:
    servers = [_mock(), _mock()]
    try:
        yield [s.start_process() for s in servers]
    finally:
        for server in servers:
            server.stop()


def _run(url: str, folder: Path, *args: str) -> dict[str, Any]:
    folder.mkdir(exist_ok=True)
    proc = guidellm(
        ["run", "--target", url, "--data", DATA, "--output", "r.json", "--disable-progress",
         *args],
        folder,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    (bench,) = json.loads((folder / "r.json").read_text())["benchmarks"]
    bench["console"] = proc.stdout + proc.stderr
    return dict(bench)


@pytest.mark.slow
def test_twice_the_capacity_stops_early_with_its_evidence(
    mock_urls: list[str], tmp_path: Path
) -> None:
    bench = _run(
        mock_urls[0], tmp_path / "a",
        "--profile", "constant", "--rate", "48", "--max-seconds", "60",
        "--stop-on-saturation", "on",
    )  # fmt: skip
    assert bench["client"]["stop_reason"] == "over_saturated"
    assert bench["duration"] < 15
    sat = bench["over_saturation"]
    assert sat["detected"] is True and sat["at_s"] < 15
    assert sat["in_flight_t"] > 3 and sat["ttft_t"] > 3
    assert sat["in_flight_slope_per_s"] > 10  # ~24/s: arrivals 48/s, departures 24/s
    assert sat["ttft_slope_ms_per_s"] > 100
    assert sat["in_flight_end"] >= 2 * sat["in_flight_start"]
    assert any("over-saturated" in w for w in bench["warnings"])
    assert "over-saturated" in bench["console"]  # the console shows the warning


@pytest.mark.slow
def test_below_capacity_it_runs_to_the_end(mock_urls: list[str], tmp_path: Path) -> None:
    """0.7x capacity, Poisson, two seeds at once (one mock each); the 20-seed version runs in
    simulated time (tests/unit/scheduler/test_saturation.py), the real one in docs/metrics.md."""

    def one(i: int) -> dict[str, Any]:
        return _run(
            mock_urls[i], tmp_path / f"s{i}",
            "--profile", "poisson", "--rate", "17", "--max-seconds", "15",
            "--stop-on-saturation", "on", "--random-seed", str(i + 1),
        )  # fmt: skip

    with ThreadPoolExecutor(2) as pool:
        benches = list(pool.map(one, range(2)))
    for bench in benches:
        assert bench["client"]["stop_reason"] == "max_seconds", bench["over_saturation"]
        assert bench["over_saturation"] is None
        assert bench["duration"] == pytest.approx(15, abs=0.5)


@pytest.mark.slow
def test_off_and_auto_for_constant_let_an_overload_run(
    mock_urls: list[str], tmp_path: Path
) -> None:
    """The same overload with the test off (and with auto, which a constant profile leaves
    off) runs to --max-seconds: the stop above is the test's doing."""

    def one(i: int) -> dict[str, Any]:
        mode = ("off", "auto")[i]
        return _run(
            mock_urls[i], tmp_path / mode,
            "--profile", "constant", "--rate", "48", "--max-seconds", "12",
            "--stop-on-saturation", mode,
        )  # fmt: skip

    with ThreadPoolExecutor(2) as pool:
        benches = list(pool.map(one, range(2)))
    for bench in benches:
        assert bench["client"]["stop_reason"] == "max_seconds"
        assert bench["over_saturation"] is None
