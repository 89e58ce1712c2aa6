"""Every file in examples/ works: each scenario resolves, and each runs (bounded, its target
replaced by a local server through flags, which win over the file)."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from guidellm.config import config_from_scenario
from guidellm.mock_server import MockServer
from guidellm.mock_server.behavior import MockServerConfig

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
GUIDELLM = [sys.executable, "-m", "guidellm"]


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    mock = MockServer(MockServerConfig(ttft_ms=2, itl_ms=1, output_tokens=8))
    url = mock.start_process()
    try:
        yield url
    finally:
        mock.stop()


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUIDELLM_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*GUIDELLM, "run", *args, "--disable-progress"], cwd=cwd, env=_env(),
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_every_scenario_resolves() -> None:
    scenarios = sorted(EXAMPLES.glob("*.yaml"))
    assert len(scenarios) >= 4
    for path in scenarios:
        assert config_from_scenario(path), path


def test_the_vllm_sweep(server: str, tmp_path: Path) -> None:
    scenario = str(EXAMPLES / "vllm-sweep.yaml")
    proc = _run("--scenario", scenario, "--target", server, "--rate", "3", "--max-seconds",
                "1", cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "benchmarks.json").read_text())
    assert len(report["benchmarks"]) == 3 and report["labels"] == {"engine": "vllm"}
    assert (tmp_path / "benchmarks.csv").is_file() and (tmp_path / "benchmarks.html").is_file()


def test_goodput_under_slos(server: str, tmp_path: Path) -> None:
    scenario = str(EXAMPLES / "goodput-slo.yaml")
    proc = _run("--scenario", scenario, "--target", server, "--rate", "20", "--max-seconds",
                "2", "--warmup", "0", "--cooldown", "0", cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    (bench,) = json.loads((tmp_path / "benchmarks.json").read_text())["benchmarks"]
    assert bench["metrics"]["goodput"]["requests_per_second"] > 0


def test_a_hugging_face_dataset(server: str, tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")  # the [hf] extra, installed with [dev]
    rows = {"article": [f"story number {i} " * 20 for i in range(30)], "id": list(range(30))}
    folder = tmp_path / "cnn"
    datasets.DatasetDict({"test": datasets.Dataset.from_dict(rows)}).save_to_disk(str(folder))
    scenario = str(EXAMPLES / "hf-dataset.yaml")
    proc = _run("--scenario", scenario, "--target", server, "--data", str(folder),
                "--max-requests", "10", cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    (bench,) = json.loads((tmp_path / "benchmarks.json").read_text())["benchmarks"]
    assert bench["requests"]["successful"] == 10


def test_rerunning_a_saved_report(server: str, tmp_path: Path) -> None:
    first = _run("--target", server, "--profile", "synchronous", "--max-requests", "3",
                 cwd=tmp_path)  # fmt: skip
    assert first.returncode == 0, first.stderr
    proc = subprocess.run(
        ["bash", str(EXAMPLES / "rerun-saved-report.sh"), "benchmarks.json"], cwd=tmp_path,
        env=_env(), capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "max_requests: 3  # scenario benchmarks.json" in proc.stdout
    again = json.loads((tmp_path / "rerun" / "benchmarks.json").read_text())
    assert again["benchmarks"][0]["requests"]["successful"] == 3


def test_a_plugin_used_from_python(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "python_plugin.py"), "--max-seconds", "2"],
        cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report: dict[str, Any] = json.loads((tmp_path / "bursts.json").read_text())
    (bench,) = report["benchmarks"]
    assert bench["strategy"] == {"type": "bursts", "size": 8, "every": 0.5}
    assert bench["requests"]["successful"] >= 8


@pytest.mark.realserver
def test_triton_over_grpc(triton_server: Any, tmp_path: Path) -> None:
    scenario = str(EXAMPLES / "triton-grpc.yaml")
    target, model = triton_server.target, triton_server.model
    proc = _run("--scenario", scenario, "--target", target, "--model", model, "--rate", "2",
                "--max-requests", "6", cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    (bench,) = json.loads((tmp_path / "benchmarks.json").read_text())["benchmarks"]
    assert bench["requests"]["successful"] == 6


def test_bursty_gamma(server: str, tmp_path: Path) -> None:
    scenario = str(EXAMPLES / "bursty-gamma.yaml")
    proc = _run("--scenario", scenario, "--target", server, "--max-seconds", "2", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    (bench,) = json.loads((tmp_path / "benchmarks.json").read_text())["benchmarks"]
    assert bench["strategy"] == {"type": "gamma", "rate": 20.0, "cv": 2.0}
    assert 20 <= bench["requests"]["successful"] <= 80  # 40 expected; bursts make it vary


def test_replaying_the_sample_mooncake_trace(server: str, tmp_path: Path) -> None:
    scenario = str(EXAMPLES / "replay-mooncake.yaml")
    data = str(EXAMPLES / "traces" / "mooncake.jsonl")
    proc = _run("--scenario", scenario, "--target", server, "--data", data, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    (bench,) = json.loads((tmp_path / "benchmarks.json").read_text())["benchmarks"]
    rows = [json.loads(line) for line in Path(data).read_text().splitlines()]
    assert bench["strategy"]["type"] == "replay"
    assert bench["requests"]["successful"] == len(rows)
    assert bench["client"]["stop_reason"] == "data_exhausted"
    # Twice as fast, gaps of 5 s at most: the last request went out that late, not sooner.
    stamps = [r["timestamp"] / 1000 for r in rows]
    gaps = [min(0.5 * (b - a), 5.0) for a, b in itertools.pairwise(stamps)]
    assert bench["duration"] >= sum(gaps)
    assert (tmp_path / "benchmarks.timeline.csv").is_file()


def test_querying_the_per_request_export(tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")  # [hf] and pandas come with [dev]
    pytest.importorskip("pandas")
    import numpy as np

    from guidellm.benchmark.statistics import quantiles

    config = MockServerConfig(
        ttft_ms=2, ttft_ms_std=1, itl_ms=1, output_tokens=4, error_500_rate=0.1, seed=5
    )
    with MockServer(config) as url:
        proc = _run("--target", url, "--profile", "concurrent", "--rate", "8", "--max-requests",
                    "200", "--output", "run.json", "--output", "run.requests.parquet",
                    cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    export = tmp_path / "run.requests.parquet"
    out = subprocess.run(
        [sys.executable, str(EXAMPLES / "query-requests.py"), str(export)], cwd=tmp_path,
        env=_env(), capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    answer = out.stdout.strip().splitlines()[-1]
    # The same question answered without pandas: minutes of the start times, the report's p99.
    table = pq.read_table(export).to_pydict()
    minutes: dict[int, list[Any]] = {}
    for started, status, ttft in zip(
        table["started_at"], table["status"], table["ttft_ms"], strict=True
    ):
        minute = minutes.setdefault(int(started.timestamp() // 60), [0, 0, []])
        minute[0] += 1
        minute[1] += status == "errored"
        if status == "successful":
            minute[2].append(ttft)
    p99 = {m: float(quantiles(np.sort(v[2]), np.array([0.99]))[0]) for m, v in minutes.items()}
    worst = max(p99, key=lambda m: p99[m])
    requests, errors, _ = minutes[worst]
    assert sum(v[1] for v in minutes.values()) > 0  # the mock's 500s are counted as errors
    shown = datetime.fromtimestamp(worst * 60, tz=timezone.utc).strftime("%Y-%m-%d %H:%M")
    assert answer == (
        f"worst minute: {shown} UTC, p99 TTFT {p99[worst]:.3f} ms, "
        f"{errors} errors of {requests} requests"
    )
