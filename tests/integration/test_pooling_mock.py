"""Embeddings and rerank benchmarks as a user runs them: ``guidellm run`` (a subprocess, real
workers) against the mock server in its own process, whose ``/metrics`` says what it served."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from guidellm.mock_server import MockServer
from guidellm.mock_server.behavior import MockServerConfig
from tests.clirun import guidellm, one_line

_LATENCY_TITLES = ("Time to first token", "Inter-token latency", "Time per output token")


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    mock = MockServer(MockServerConfig(ttft_ms=20.0, embedding_dim=8))
    url = mock.start_process()
    try:
        yield url
    finally:
        mock.stop()


def _counter(url: str, name: str) -> int:
    """The sum of a counter's series on the mock's ``/metrics``."""
    total = 0
    with urllib.request.urlopen(url + "/metrics", timeout=5) as resp:
        for line in resp.read().decode().splitlines():
            series, _, value = line.rpartition(" ")
            if series.split("{")[0] == name:
                total += int(float(value))
    return total


@pytest.mark.parametrize(("kind", "batch"), [("embeddings", 4), ("rerank", 4)])
def test_a_pooling_benchmark_counts_inputs_and_has_no_token_latencies(
    server: str, tmp_path: Path, kind: str, batch: int
) -> None:
    prompt_before = _counter(server, "vllm:prompt_tokens_total")
    success_before = _counter(server, "vllm:request_success_total")
    proc = guidellm(
        [
            "run", "--target", server,
            "--backend-args", f"request_format={kind},batch_size={batch}",
            "--profile", "concurrent", "--rate", "4", "--max-requests", "20",
            "--data", "prompt_tokens=60,output_tokens=8",
            "--outputs", "json,csv", "--output-dir", str(tmp_path),
        ],
        tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    console = proc.stdout + proc.stderr
    report = json.loads((tmp_path / "benchmarks.json").read_text())
    (bench,) = report["benchmarks"]
    assert bench["requests"]["successful"] == 20, bench["errors"]
    assert bench["requests"]["errored"] == bench["requests"]["incomplete"] == 0
    assert bench["inputs"]["successful"] == 20 * batch
    metrics = bench["metrics"]
    window = bench["measured_window"][1] - bench["measured_window"][0]
    rate = metrics["inputs_per_second"]["successful"]
    assert rate == pytest.approx(20 * batch / window, rel=1e-4)
    assert rate == pytest.approx(metrics["requests_per_second"]["successful"] * batch)
    assert metrics["request_latency"]["successful"]["count"] == 20
    assert metrics["request_latency"]["successful"]["min"] >= 0.019  # the mock's prefill
    for name in ("time_to_first_token_ms", "inter_token_latency_ms", "time_per_output_token_ms"):
        assert metrics[name]["successful"]["count"] == 0, name
    # The client's prompt tokens (the server's usage) are what the server counted.
    prompt = metrics["prompt_token_count"]["successful"]
    client_prompt = round(prompt["mean"] * prompt["count"])
    assert client_prompt == _counter(server, "vllm:prompt_tokens_total") - prompt_before
    assert _counter(server, "vllm:request_success_total") - success_before == 20
    assert bench["server"]["counters"]["prompt_tokens"] == client_prompt
    assert metrics["output_token_count"]["successful"]["mean"] == 0
    # The console: request latency and the inputs, no token latency table.
    assert "Request latency s" in console and "Pooling inputs" in console
    for title in _LATENCY_TITLES:
        assert title not in console, title
    assert "TTFT ms: the server's histogram" not in console
    header = (tmp_path / "benchmarks.csv").read_text().splitlines()[0]
    assert "inputs.successful" in header and "inputs_per_second.successful" in header


def test_a_generation_benchmark_keeps_its_token_latency_tables(server: str, tmp_path: Path) -> None:
    proc = guidellm(
        [
            "run", "--target", server, "--profile", "synchronous", "--max-requests", "3",
            "--data", "prompt_tokens=16,output_tokens=4", "--outputs", "json",
            "--output-dir", str(tmp_path),
        ],
        tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    console = proc.stdout + proc.stderr
    for title in _LATENCY_TITLES:
        assert title in console, title
    assert "Pooling inputs" not in console
    (bench,) = json.loads((tmp_path / "benchmarks.json").read_text())["benchmarks"]
    assert bench["inputs"] is None and bench["metrics"]["inputs_per_second"] is None


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ("request_format=nonsense", ("request_format", "nonsense", "embeddings")),
        ("request_format=embeddings,batch_size=0", ("batch_size", "positive integer")),
    ],
)
def test_bad_pooling_options_are_one_line(
    server: str, tmp_path: Path, args: str, words: tuple[str, ...]
) -> None:
    before = _counter(server, "guidellm_mock_requests_total")
    command = ["run", "--target", server, "--backend-args", args, "--max-requests", "5"]
    proc = guidellm(command, tmp_path)
    one_line(proc, *words)
    assert _counter(server, "guidellm_mock_requests_total") == before


def test_the_mock_answers_pooling_routes(server: str) -> None:
    with httpx.Client(base_url=server, timeout=10) as client:
        emb = client.post("/v1/embeddings", json={"input": ["a b c", "d e"]}).json()
        assert [len(item["embedding"]) for item in emb["data"]] == [8, 8]
        again = client.post("/v1/embeddings", json={"input": "a b c"}).json()
        assert again["data"][0]["embedding"] == emb["data"][0]["embedding"]  # deterministic
        assert emb["usage"]["prompt_tokens"] == 5
        docs = ["cats sleep", "dogs bark", "cats and dogs"]
        rr = client.post("/v1/rerank", json={"query": "cats", "documents": docs, "top_n": 2})
        results = rr.json()["results"]
        assert len(results) == 2 and {r["index"] for r in results} <= {0, 2}
        assert results[0]["relevance_score"] >= results[1]["relevance_score"]
        assert rr.json()["usage"]["prompt_tokens"] == 3 * 1 + 2 + 2 + 3
        bad = client.post("/v1/rerank", json={"query": "x"})
        assert bad.status_code == 400 and "documents" in bad.text
        assert client.get("/v1/embeddings").status_code == 405
