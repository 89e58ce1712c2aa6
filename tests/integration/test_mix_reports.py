"""End to end: a mix of traffic classes run against the mock server, its per-class rows in the
console, HTML and CSV, and ``guidellm report`` rebuilding them from the saved JSON."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from guidellm.benchmark.report import Report
from guidellm.mock_server import MockServer, MockServerConfig

#: The checkout under test, not whichever guidellm the interpreter would import.
ROOT = Path(__file__).resolve().parents[2]

SCENARIO = """\
max_requests: 60
profile: concurrent
rate: [4]
classes:
  - name: chat
    weight: 0.5
    data: prompt_tokens=64,output_tokens=16
    slo: {ttft_ms: 5000}
  - name: batch
    weight: 0.3
    data: prompt_tokens=256,output_tokens=32
    slo: {latency_ms: 30000}
  - name: embed
    weight: 0.2
    data: prompt_tokens=32
    request_format: embeddings
"""


def guidellm(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "guidellm", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        env={
            "PATH": "/usr/bin:/bin",
            "GUIDELLM_LOAD_PLUGINS": "",
            "COLUMNS": "80",
            "PYTHONPATH": str(ROOT),
        },
    )


@pytest.mark.slow
def test_a_mix_shows_its_classes_in_every_output_and_again_from_json(tmp_path: Path) -> None:
    (tmp_path / "mix.yaml").write_text(SCENARIO)
    config = MockServerConfig(ttft_ms=10, itl_ms=2, output_tokens=16, seed=1)
    with MockServer(config) as url:
        proc = guidellm(
            "run", "--target", url, "--scenario", "mix.yaml", "--disable-progress",
            "--output", "run.json", "--output", "run.html", "--output", "run.csv",
            cwd=tmp_path,
        )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    (b,) = Report.load(tmp_path / "run.json").benchmarks
    assert b.groups is not None
    classes = {g.name: g for g in b.groups.classes}
    assert list(classes) == ["chat", "batch", "embed"]

    # Console: one row per class with its counts and share; the embeddings class has no
    # output rate, the others no inputs rate.
    text = proc.stdout
    load = text.split("Traffic classes: concurrent 4 (requests")[1].split("Traffic classes")[0]
    rows = {line.split()[0]: line.split() for line in load.splitlines() if line[:2] == " c"}
    chat = classes["chat"]
    assert chat.share is not None
    assert rows["chat"][1:4] == ["chat", f"{chat.successful}/0/0", f"{chat.share * 100:.1f}/50.0"]
    assert "Overall goodput" in " ".join(text.split())
    assert "Models:" not in text  # one model

    html = (tmp_path / "run.html").read_text()
    assert "<h2>Traffic classes: concurrent 4 (requests in the window, every status)</h2>" in html
    assert "<td>embed</td><td>embeddings</td>" in html

    (row,) = list(csv.DictReader((tmp_path / "run.csv").open()))
    totals = sum(int(row[f"class.{name}.total"]) for name in classes)
    window = sum(int(row[f"requests.{s}"]) for s in ("successful", "errored", "incomplete"))
    assert totals == window == 60
    assert float(row["class.chat.goodput.attainment"]) == 1.0
    assert "class.embed.goodput.attainment" not in row  # no SLO, no goodput
    assert row["goodput.by_class"] == "True"

    # `guidellm report` rebuilds the same tables from the saved JSON.
    again = guidellm("report", "run.json", cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    part = again.stdout.split("Traffic classes: concurrent 4 (requests")[1].split(
        "Traffic classes"
    )[0]
    assert part == load
