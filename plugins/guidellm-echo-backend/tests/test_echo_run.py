"""``guidellm run --backend echo`` end to end: entry point, real worker processes, JSON report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from guidellm import RequestResult

pytestmark = pytest.mark.slow


def guidellm_run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "guidellm", "run", "--disable-progress", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def journal_results(path: Path) -> list[RequestResult]:
    from guidellm.benchmark.journal import read_journal

    return [record[1] for kind, record in read_journal(path) if kind == "result"]


def test_echo_backend_runs_in_real_workers(tmp_path: Path) -> None:
    proc = guidellm_run(
        tmp_path,
        "--backend", "echo",
        "--target", "echo://",
        "--backend-args", "ttft_ms=20,itl_ms=2",
        "--data", "words:16",
        "--data-args", "output_tokens=8",
        "--profile", "constant",
        "--rate", "40",
        "--max-requests", "40",
        "--workers", "2",
        "--output", "run.json",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "run.json").read_text())
    backend = report["resolved"]["backend"]
    assert backend["type"] == "echo"
    assert (backend["ttft_ms"], backend["itl_ms"]) == (20.0, 2.0)
    (bench,) = report["benchmarks"]
    assert bench["requests"]["successful"] == 40
    assert bench["requests"]["errored"] == 0
    metrics = bench["metrics"]
    assert metrics["prompt_token_count"]["successful"]["median"] == 16
    assert metrics["output_token_count"]["successful"]["median"] == 8
    assert bench["tokens"]["source"] == "usage"
    assert bench["tokens"]["disagreements"] == 0  # usage == chunks counted by the recorder
    # Delays are lower bounds: nothing may arrive earlier than asked.
    assert metrics["time_to_first_token_ms"]["successful"]["min"] >= 20.0
    assert metrics["request_latency"]["successful"]["min"] >= 0.020 + 7 * 0.002
    assert bench["client"]["workers"] == 2
    results = journal_results(tmp_path / "run.journal")
    assert len(results) == 40
    assert {r.worker for r in results} == {0, 1}  # both worker processes answered
    assert all(r.content_chunks == 8 for r in results)


def test_the_echo_scheme_picks_the_backend_and_bad_options_stop_early(tmp_path: Path) -> None:
    bad = guidellm_run(
        tmp_path, "--target", "echo://", "--backend-args", "ttft=5", "--max-requests", "5",
        "--output", "bad.json",
    )  # fmt: skip
    assert bad.returncode == 2
    assert bad.stderr.strip().count("\n") == 0
    assert "unknown option(s) ttft for backend 'echo'" in bad.stderr
    assert not (tmp_path / "bad.json").exists()
    good = guidellm_run(
        tmp_path, "--target", "echo://", "--data", "words:4", "--profile", "synchronous",
        "--max-requests", "5", "--workers", "1", "--output", "good.json",
    )  # fmt: skip
    assert good.returncode == 0, good.stderr
    report = json.loads((tmp_path / "good.json").read_text())
    assert report["resolved"]["backend"]["type"] == "echo"
    assert report["benchmarks"][0]["requests"]["successful"] == 5
