"""Embeddings and rerank benchmarks against a real llama-server (``--embeddings --pooling
mean``, ``--rerank``) running the tiny random model: every request succeeds, and the prompt
tokens the client read from ``usage`` are those llama-server's own ``/metrics`` counted."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from guidellm.benchmark.report import Report

_PROMPT_COUNTERS = ("llamacpp:prompt_tokens_total", "llamacpp:prompt_tokens_cached_total")


def _prompt_tokens(url: str) -> int:
    """Prompt tokens llama-server processed, computed or from its cache."""
    total = 0
    for line in httpx.get(f"{url}/metrics", timeout=10).text.splitlines():
        name, _, value = line.partition(" ")
        if name in _PROMPT_COUNTERS:
            total += int(float(value))
    return total


def _run(tmp_path: Path, *args: str) -> tuple[Report, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUIDELLM_")}
    proc = subprocess.run(
        [sys.executable, "-m", "guidellm", "run", "--output", "r.json", "--disable-progress",
         *args],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return Report.load(tmp_path / "r.json"), proc.stdout + proc.stderr


@pytest.mark.realserver
@pytest.mark.parametrize(
    ("kind", "flags", "batch"),
    [("embeddings", ("--embeddings", "--pooling", "mean"), 3), ("rerank", ("--rerank",), 4)],
)
def test_llama_server_pooling_tokens_equal_the_clients(
    start_llama_server: Callable[..., Any],
    tmp_path: Path,
    kind: str,
    flags: tuple[str, ...],
    batch: int,
) -> None:
    server = start_llama_server(extra_args=flags)
    before = _prompt_tokens(server.url)
    report, console = _run(
        tmp_path,
        "--target", server.url,
        "--backend-args", f"request_format={kind},batch_size={batch}",
        "--data", "prompt_tokens=48,output_tokens=1", "--profile", "concurrent",
        "--rate", "4", "--max-requests", "16", "--random-seed", "7",
        "--server-metrics-interval", "500ms",
    )  # fmt: skip
    bench = report.benchmarks[0]
    assert bench.requests.successful == 16, bench.errors
    assert bench.requests.errored == bench.requests.incomplete == 0
    assert bench.inputs is not None and bench.inputs.successful == 16 * batch
    metrics = bench.metrics
    assert metrics.time_to_first_token_ms.successful.count == 0
    assert metrics.inter_token_latency_ms.successful.count == 0
    assert metrics.request_latency.successful.count == 16
    prompt = metrics.prompt_token_count.successful
    assert prompt.mean is not None
    client = round(prompt.mean * prompt.count)
    assert client > 16 * batch  # llama.cpp sent a usage for every request
    # What llama-server counted, read by the test, and what the report's server view says.
    assert client == _prompt_tokens(server.url) - before
    assert bench.server is not None and bench.server.server == "llamacpp"
    assert bench.server.counters["prompt_tokens"] == client
    assert "Time to first token" not in console and "Pooling inputs" in console
