"""The server's own metrics, scraped from real servers during a run, agree with the client's
counts: llama-server's token counters to the token, Triton's request counter to the request."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from guidellm.benchmark.report import Report


def _run(tmp_path: Path, *args: str) -> Report:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUIDELLM_")}
    proc = subprocess.run(
        [sys.executable, "-m", "guidellm", "run", "--output", "r.json", "--disable-progress",
         *args],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return Report.load(tmp_path / "r.json")


def _row(bench: Any, name: str) -> Any:
    return next(row for row in bench.server.crosscheck if row.name == name)


@pytest.mark.realserver
def test_llama_server_token_counters_equal_the_clients(llama_server: Any, tmp_path: Path) -> None:
    report = _run(
        tmp_path,
        "--target", llama_server.url, "--data", "prompt_tokens=40,output_tokens=12",
        "--data-args", "ignore_eos=true", "--profile", "concurrent", "--rate", "4",
        "--max-requests", "24", "--random-seed", "16", "--server-metrics-interval", "500ms",
    )  # fmt: skip
    bench = report.benchmarks[0]
    server = bench.server
    assert server is not None and server.server == "llamacpp"
    assert report.resolved["server_metrics"]["setting"] == "auto"
    endpoint = server.endpoints[0]
    assert endpoint.exact and endpoint.failed == 0, endpoint
    assert bench.requests.successful == 24
    # Every generated token and every prompt token (computed or from the cache) counted once.
    assert server.counters["generation_tokens"] == 24 * 12
    output = _row(bench, "output_tokens")
    assert output.client == output.server == 24 * 12 and output.agree
    prompt = _row(bench, "prompt_tokens")
    assert prompt.server == server.counters["prompt_tokens"]
    assert prompt.difference == 0 and prompt.agree, prompt
    # llama.cpp has no request counter: the row stays without a server number, and says so.
    assert _row(bench, "requests").server is None
    assert any("no request counter" in note for note in server.notes)
    # Its gauges are charted: requests processing at each scrape.
    assert "requests_running" in server.series.values
    assert not [w for w in bench.warnings if "server" in w], bench.warnings


@pytest.mark.realserver
def test_triton_request_counter_equals_the_clients(triton_server: Any, tmp_path: Path) -> None:
    report = _run(
        tmp_path,
        "--backend", "grpc_kserve", "--target", triton_server.target,
        "--model", triton_server.model, "--profile", "concurrent", "--rate", "2",
        "--max-requests", "14", "--data", "prompt_tokens=16,output_tokens=6",
        "--server-metrics", triton_server.metrics_url, "--server-metrics-interval", "500ms",
    )  # fmt: skip
    bench = report.benchmarks[0]
    server = bench.server
    assert server is not None and server.server == "triton"
    assert server.endpoints[0].exact, server.endpoints
    # The test server also serves "vllm_like": only this benchmark's model is read.
    assert server.endpoints[0].model == triton_server.model
    assert bench.requests.successful == 14
    assert server.counters["requests"] == 14
    row = _row(bench, "requests")
    assert row.client == row.server == 14 and row.agree


def test_a_grpc_target_is_not_scraped_without_a_url(tmp_path: Path) -> None:
    """``auto`` needs an HTTP target: a gRPC one says how to ask (the mock's gRPC mode)."""
    from guidellm.mock_server import MockServerConfig
    from guidellm.mock_server.grpc_server import GRPCMockServer

    with GRPCMockServer(MockServerConfig(ttft_ms=1, itl_ms=1, output_tokens=4)) as target:
        report = _run(
            tmp_path, "--target", target, "--model", "mock-model", "--max-requests", "3",
            "--data", "prompt_tokens=8,output_tokens=4",
        )  # fmt: skip
    assert report.benchmarks[0].server is None
    assert "--server-metrics URL" in report.resolved["server_metrics"]["note"]
