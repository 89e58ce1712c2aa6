"""``guidellm run --profile ramp`` end to end: entry point, real worker processes, JSON report.

Uses the echo backend from plugins/guidellm-echo-backend (installed alongside in CI).
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
from guidellm_ramp.strategy import RampStrategy

pytestmark = pytest.mark.slow


def test_ramp_profile_sends_exactly_its_offsets_in_real_workers(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "guidellm",
            "run",
            "--disable-progress",
            "--target",
            "echo://",
            "--data",
            "words:4",
            "--data-args",
            "output_tokens=2",
            "--profile",
            "ramp",
            "--rate",
            "10,90",
            "--profile-args",
            "duration=2",
            "--workers",
            "2",
            "--output",
            "ramp.json",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "ramp.json").read_text())
    (bench,) = report["benchmarks"]
    assert bench["strategy"] == {
        "type": "ramp",
        "start_rate": 10.0,
        "end_rate": 90.0,
        "duration": 2.0,
        "arrivals": "uniform",
    }
    # L(T) = (10 + 90) * 2 / 2 = 100 requests, and the benchmark ends with the ramp.
    assert bench["requests"]["successful"] == 100
    assert bench["duration"] < 2.0 + 3.0, "the benchmark should end when the ramp's offsets do"
    assert bench["client"]["workers"] == 2

    from guidellm.benchmark.journal import read_journal

    journal = tmp_path / "ramp.journal"
    results = [record[1] for kind, record in read_journal(journal) if kind == "result"]
    assert {r.worker for r in results} == {0, 1}
    scheduled = sorted(r.scheduled_time for r in results)
    offsets = [t - scheduled[0] for t in scheduled]
    expected = list(RampStrategy(10.0, 90.0, 2.0).arrival_offsets(random.Random(0)))
    assert offsets == pytest.approx(expected, abs=1e-6)
