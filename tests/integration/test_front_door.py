"""The front door as a new user meets it: default outputs, reruns from a saved report, the
Python API, ``guidellm config``, and the flags users of other tools type."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import guidellm
from guidellm.mock_server import MockServer
from guidellm.mock_server.behavior import MockServerConfig

GUIDELLM = [sys.executable, "-m", "guidellm"]


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    mock = MockServer(MockServerConfig(ttft_ms=2, itl_ms=1, output_tokens=4, seed=5))
    url = mock.start_process()
    try:
        yield url
    finally:
        mock.stop()


@pytest.fixture(scope="module")
def failing() -> Iterator[str]:
    mock = MockServer(MockServerConfig(ttft_ms=1, itl_ms=1, output_tokens=4, error_500_rate=1.0))
    url = mock.start_process()
    try:
        yield url
    finally:
        mock.stop()


def _guidellm(*args: str, cwd: Path, env: dict[str, str] | None = None) -> Any:
    base = {k: v for k, v in os.environ.items() if not k.startswith("GUIDELLM_")}
    return subprocess.run(
        [*GUIDELLM, *args], cwd=cwd, env={**base, **(env or {})}, capture_output=True,
        text=True, timeout=120, check=False,
    )  # fmt: skip


SHORT = ("--profile", "synchronous", "--max-requests", "4", "--disable-progress")


def test_a_first_run_leaves_its_reports_here_and_says_so(tmp_path: Path) -> None:
    first = _guidellm("run", *SHORT, cwd=tmp_path)  # no --target: the built-in mock
    assert first.returncode == 0, first.stderr
    assert (tmp_path / "benchmarks.json").is_file() and (tmp_path / "benchmarks.html").is_file()
    assert first.stderr.strip().splitlines()[-1] == (
        "guidellm: wrote benchmarks.json, benchmarks.html"
    )
    second = _guidellm("run", *SHORT, cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    stamped = sorted(p.name for p in tmp_path.glob("benchmarks-*.json"))
    assert len(stamped) == 1, "a second run must not overwrite the first"
    assert stamped[0] in second.stderr.splitlines()[-1]


def test_a_saved_report_reruns_the_same_run(server: str, tmp_path: Path) -> None:
    args = ("--target", server, *SHORT, "--label", "team=infra", "--slo", "ttft_ms=500")
    first = _guidellm("run", *args, "--output", "a.json", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    again = _guidellm("run", "--scenario", "a.json", "--output", "b.json", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    a = json.loads((tmp_path / "a.json").read_text())
    b = json.loads((tmp_path / "b.json").read_text())
    for report in (a, b):
        report["config"].pop("outputs")
    assert a["config"] == b["config"] and b["labels"] == {"team": "infra"}
    assert [x["requests"] for x in a["benchmarks"]] == [x["requests"] for x in b["benchmarks"]]


def test_the_python_api_gives_the_cli_s_report(
    server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli = _guidellm("run", "--target", server, *SHORT, "--output", "cli.json", cwd=tmp_path)
    assert cli.returncode == 0, cli.stderr
    from_cli = json.loads((tmp_path / "cli.json").read_text())
    monkeypatch.chdir(tmp_path)
    config = guidellm.RunConfig(
        target=server, profile="synchronous", max_requests=4, progress=False,
        console=False, outputs=["py.json"],
    )  # fmt: skip
    report = guidellm.run(config)
    from_py = json.loads((tmp_path / "py.json").read_text())
    assert report.to_dict()["config"] == from_py["config"]
    for tree in (from_cli, from_py):
        tree["config"].pop("outputs")
        tree["config"].pop("console")
    assert from_cli["config"] == from_py["config"]
    cli_b, py_b = from_cli["benchmarks"][0], from_py["benchmarks"][0]
    assert cli_b["requests"] == py_b["requests"]
    assert cli_b["tokens"] == py_b["tokens"]  # the mock's seeded lengths: the same numbers


def test_config_shows_each_value_and_its_source(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text("max_seconds: 5\nrate_type: constant\n")
    proc = _guidellm(
        "config", "--scenario", "s.yaml", "--num-prompts", "7", "--rate", "2,4",
        cwd=tmp_path, env={"GUIDELLM_MAX_CONCURRENCY": "9"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = dict(line.split(":", 1) for line in proc.stdout.splitlines())
    assert lines["max_requests"].strip() == "7  # flag"
    assert lines["max_concurrency"].strip() == "9  # env GUIDELLM_MAX_CONCURRENCY"
    assert lines["profile"].strip() == '"constant"  # scenario s.yaml'
    assert yaml.safe_load(proc.stdout)["rate"] == [2.0, 4.0]


def test_no_success_exits_1_and_max_error_rate_stops(failing: str, tmp_path: Path) -> None:
    proc = _guidellm(
        "run", "--target", failing, "--profile", "constant", "--rate", "50",
        "--max-seconds", "20", "--max-error-rate", "0.5", "--output", "r.json",
        "--disable-progress", cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert "no request succeeded" in proc.stderr
    (bench,) = json.loads((tmp_path / "r.json").read_text())["benchmarks"]
    assert bench["client"]["stop_reason"] == "max_error_rate"
    assert bench["duration"] < 5
