"""Time slices of a real run: ``guidellm run`` against the mock server, read back as CSV."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from guidellm.mock_server import MockServer
from guidellm.mock_server.behavior import MockServerConfig


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    mock = MockServer(MockServerConfig(ttft_ms=20, itl_ms=5, output_tokens=8))
    url = mock.start_process()
    try:
        yield url
    finally:
        mock.stop()


def test_constant_rate_shows_in_every_full_slice(server: str, tmp_path: Path) -> None:
    timeline, report = tmp_path / "run.timeline.csv", tmp_path / "run.json"
    env = dict(os.environ, GUIDELLM_DISABLE_PLUGINS="")
    env.pop("GUIDELLM_WORKERS", None)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "guidellm",
            "run",
            "--target",
            server,
            "--profile",
            "constant",
            "--rate",
            "20",
            "--max-seconds",
            "3",
            "--time-slice",
            "1s",
            "--data",
            "prompt_tokens=8,output_tokens=8",
            "--output",
            str(report),
            "--output",
            str(timeline),
            "--disable-progress",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    with timeline.open() as f:
        rows = list(csv.DictReader(f))
    assert rows and {r["benchmark"] for r in rows} == {"0"}
    assert rows[0]["strategy"] == "constant 20/s" and float(rows[0]["start_s"]) == 0.0
    # A loop timer may fire a millisecond early: a last slice of 0.999 s counts as full.
    full = [r for r in rows if float(r["end_s"]) - float(r["start_s"]) >= 0.99]
    assert len(full) >= 3
    for row in full[1:]:
        assert abs(float(row["requests_per_second"]) - 20.0) <= 2.0, row
    (bench,) = json.loads(report.read_text())["benchmarks"]
    ts = bench["timeslices"]
    assert ts["size"] == 1.0 and len(ts["start_s"]) == len(rows)
    assert sum(ts["started"]) == sum(
        bench["requests"][k] for k in ("successful", "errored", "incomplete")
    )
    assert bench["stages"] is None
