"""A ``stages`` run as a user makes it: ``examples/stages.yaml`` (10 requests/s for 10 s, a
ramp to 40/s over 10 s, 40/s for 10 s) against the mock server. The time slices must show the
achieved rate following the stages, within 5 % in every slice after the first of each stage;
the report has a row per stage, the HTML its over-time charts with the stages marked."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from guidellm.mock_server import MockServer
from guidellm.mock_server.behavior import MockServerConfig

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def test_the_achieved_rate_follows_the_stages(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUIDELLM_")}
    with MockServer(MockServerConfig(ttft_ms=20, itl_ms=5, output_tokens=8)) as url:
        proc = subprocess.run(
            [sys.executable, "-m", "guidellm", "run", "--scenario",
             str(ROOT / "examples" / "stages.yaml"), "--target", url,
             "--data", "prompt_tokens=32,output_tokens=8", "--output", "run.json",
             "--output", "run.html", "--output", "run.timeline.csv", "--disable-progress"],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    (bench,) = json.loads((tmp_path / "run.json").read_text())["benchmarks"]
    assert bench["client"]["stop_reason"] == "schedule_complete"
    assert bench["requests"]["successful"] == 100 + 250 + 400
    ts = bench["timeslices"]
    assert ts["size"] == 1.0 and len(ts["start_s"]) >= 30
    asked = [10.0] * 10 + [10 + 3 * (s + 0.5) for s in range(10)] + [40.0] * 10
    checked = 0
    for i in range(30):
        if i % 10 == 0:  # the first slice of each stage
            continue
        assert ts["stage"][i] == i // 10
        achieved, intended = ts["requests_per_second"][i], ts["intended_per_second"][i]
        # The schedule's own count per slice is the asked curve to within one request ...
        assert abs(intended - asked[i]) <= 1.0 + 1e-9, (i, intended, asked[i])
        # ... and what was sent follows the schedule.
        assert abs(achieved - intended) <= 0.05 * intended, (i, achieved, intended)
        if i < 10 or i >= 20:  # held rates: the asked rate itself
            assert abs(achieved - asked[i]) <= 0.05 * asked[i], (i, achieved)
        checked += 1
    assert checked == 27
    stages = bench["stages"]
    assert [s["successful"] for s in stages] == [100, 250, 400]
    assert [s["intended_rate"] for s in stages] == [10.0, 25.0, 40.0]
    for s in stages:
        assert s["requests_per_second"] == pytest.approx(s["intended_rate"], rel=0.05)
    with (tmp_path / "run.timeline.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(ts["start_s"]) and rows[15]["stage"] == "1"
    html = (tmp_path / "run.html").read_text()
    assert "Stages (requests by intended send time)" in proc.stdout
    for marker in ("stage 0", "stage 1", "stage 2", "achieved req/s", "intended req/s"):
        assert marker in html, marker
