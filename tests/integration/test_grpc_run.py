"""``guidellm run --backend grpc_kserve`` end to end: the same report structure as an HTTP run
of the same mock settings, the mock's known timings measured through gRPC, and full runs
against a real Triton and a real MLServer."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from guidellm.benchmark.report import Report
from guidellm.mock_server import MockServer, MockServerConfig
from guidellm.mock_server.grpc_server import GRPCMockServer

TTFT_MS = 40.0
ITL_MS = 8.0
TOKENS = 24


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


def key_paths(value: Any, prefix: str = "") -> set[str]:
    """Every key path of a JSON tree; list items share one path (``[]``)."""
    paths = {prefix}
    if isinstance(value, dict):
        for key, item in value.items():
            paths |= key_paths(item, f"{prefix}.{key}")
    elif isinstance(value, list):
        for item in value:
            paths |= key_paths(item, f"{prefix}[]")
    return paths


def within(measured: float | None, expected: float, floor: float) -> bool:
    assert measured is not None
    return abs(measured - expected) <= max(floor, 0.10 * expected)


COMMON = (
    "--profile", "concurrent", "--rate", "4", "--max-requests", "60",
    "--data", f"prompt_tokens=32,output_tokens={TOKENS}", "--slo", "ttft_ms=1000",
    "--disable-progress",
)  # fmt: skip


@pytest.mark.slow
def test_grpc_run_has_the_http_report_structure_and_the_mocks_timings(tmp_path: Path) -> None:
    config = MockServerConfig(ttft_ms=TTFT_MS, itl_ms=ITL_MS, output_tokens=TOKENS, seed=1)
    with MockServer(config) as url:
        http = run("--target", url, *COMMON, "--output", "http.json", cwd=tmp_path)
    assert http.returncode == 0, http.stderr[-3000:]
    with GRPCMockServer(config) as target:
        grpc = run(
            "--backend", "grpc_kserve", "--target", target, "--model", config.model,
            *COMMON, "--output", "grpc.json", cwd=tmp_path,
        )  # fmt: skip
    assert grpc.returncode == 0, grpc.stderr[-3000:]
    http_report = Report.load(tmp_path / "http.json")
    grpc_report = Report.load(tmp_path / "grpc.json")

    # The benchmarks (metrics, requests, errors, tokens, client...) have the same shape.
    # (tokens.sources is keyed by where counts came from: usage over HTTP, chunks here;
    # the HTTP mock reports its prefix cache, KServe v2 has no field for one; the HTTP mock
    # answers /metrics on its own port, a gRPC target needs --server-metrics URL)
    def shape(report: Report) -> set[str]:
        skip = ("[].tokens.sources.", "[].prompt_cache.", "[].server.")
        return {p for p in key_paths(report.to_dict()["benchmarks"]) if not p.startswith(skip)}

    http_paths, grpc_paths = shape(http_report), shape(grpc_report)
    assert grpc_paths == http_paths, sorted(grpc_paths ^ http_paths)[:20]
    assert grpc_report.to_dict().keys() == http_report.to_dict().keys()
    assert http_report.benchmarks[0].prompt_cache is not None
    assert grpc_report.benchmarks[0].prompt_cache is None
    assert http_report.benchmarks[0].server is not None
    assert grpc_report.benchmarks[0].server is None
    # ...and through gRPC the mock's known timings are measured as through HTTP.
    (b,) = grpc_report.benchmarks
    m = b.metrics
    assert b.requests.successful == 60 and b.requests.errored == 0
    assert b.errors == {}
    assert within(m.time_to_first_token_ms.successful.median, TTFT_MS, 5.0)
    assert within(m.inter_token_latency_ms.successful.median, ITL_MS, 1.0)
    assert m.output_token_count.successful.median == TOKENS
    assert b.tokens.source == "chunks"  # Triton's dialect carries no counts: one per response
    assert m.inter_chunk_latency_ms.successful.count == 60 * (TOKENS - 1)
    (hb,) = http_report.benchmarks
    # Both read plain sockets with kernel receive stamps, and say so.
    assert b.client["timing_source"] == hb.client["timing_source"] == "kernel"
    for name in ("time_to_first_token_ms", "inter_token_latency_ms"):
        g = getattr(m, name).successful.median
        h = getattr(hb.metrics, name).successful.median
        assert within(g, h, 2.0), f"{name}: grpc {g} vs http {h}"


@pytest.mark.slow
@pytest.mark.realserver
def test_grpc_run_against_real_triton(triton_server: Any, tmp_path: Path) -> None:
    proc = run(
        "--backend", "grpc_kserve", "--target", triton_server.target,
        "--model", triton_server.model, "--profile", "concurrent", "--rate", "2",
        "--max-requests", "12", "--data", "prompt_tokens=16,output_tokens=10",
        "--output", "triton.json", "--disable-progress", cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    (b,) = Report.load(tmp_path / "triton.json").benchmarks
    assert b.requests.successful == 12 and b.errors == {}
    assert b.metrics.output_token_count.successful.median == 10  # one token per response
    itl = b.metrics.inter_token_latency_ms.successful.median
    assert itl is not None and itl > 0.5  # the model sleeps 5 ms per token


@pytest.mark.slow
@pytest.mark.realserver
def test_grpc_run_against_real_mlserver_uses_its_token_counts(
    mlserver_server: Any, tmp_path: Path
) -> None:
    proc = run(
        "--target", mlserver_server.target, "--profile", "synchronous",
        "--max-requests", "6", "--data", "prompt_tokens=16,output_tokens=8",
        "--backend-args", "dialect=mlserver",
        "--output", "mlserver.json", "--disable-progress", cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    (b,) = Report.load(tmp_path / "mlserver.json").benchmarks
    assert b.requests.successful == 6 and b.errors == {}
    assert b.metrics.output_token_count.successful.median == 8
    assert b.tokens.source == "usage" and b.tokens.disagreements == 0
