"""``request_format=anthropic_messages`` against the mock's ``/v1/messages``: the API's
headers and body on the wire (seen through a recording proxy), tokens timed per delta, the
usage the server sent, thinking blocks, whole answers and a stream cut before its end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from guidellm.benchmark.report import Report
from guidellm.mock_server import MockServer, MockServerConfig
from guidellm.testing.recording_proxy import RecordingProxy

KEY = "sk-ant-test-key-0123456789"


def _run(
    tmp_path: Path, url: str, *args: str, data: str = "prompt_tokens=24,output_tokens=10"
) -> tuple[Report, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUIDELLM_")}
    env["GUIDELLM_API_KEY"] = KEY
    proc = subprocess.run(
        [sys.executable, "-m", "guidellm", "run", "--target", url, "--profile", "concurrent",
         "--rate", "2", "--max-requests", "6", "--data", data,
         "--data-args", "ignore_eos=true", "--output", "r.json", "--disable-progress", *args],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return Report.load(tmp_path / "r.json"), proc.stdout + proc.stderr


@pytest.mark.parametrize("stream", [True, False])
def test_messages_requests_carry_the_apis_headers_and_usage(stream: bool, tmp_path: Path) -> None:
    config = MockServerConfig(ttft_ms=20, itl_ms=3, output_tokens=10, reasoning_tokens=3)
    with MockServer(config) as url:
        proxy = RecordingProxy(url)
        with proxy as proxy_url:
            report, output = _run(
                tmp_path, proxy_url, "--backend-args",
                f"request_format=anthropic_messages,stream={str(stream).lower()}",
            )  # fmt: skip
    bench = report.benchmarks[0]
    assert bench.requests.successful == 6 and bench.errors == {}
    assert bench.tokens.source == "usage" and bench.tokens.disagreements == 0
    assert bench.metrics.output_token_count.successful.mean == 10
    assert bench.metrics.prompt_token_count.successful.mean == 24
    sent = [r for r in proxy.requests if r.path == "/v1/messages"]
    assert len(sent) == 6
    for request in sent:
        assert request.headers["x-api-key"] == KEY
        assert request.headers["anthropic-version"] == "2023-06-01"
        assert "authorization" not in request.headers
        body: dict[str, Any] = json.loads(request.body)
        assert body["max_tokens"] == 10 and body["stream"] is stream
        assert "stream_options" not in body and body["messages"][0]["role"] == "user"
    itl = bench.metrics.inter_token_latency_ms.successful
    if stream:  # one delta per token: ITL measured; the thinking deltas are timed too
        assert itl.median is not None and 0 < itl.median < 30, itl
    assert KEY not in output and KEY not in (tmp_path / "r.json").read_text()


def test_a_stream_without_message_stop_is_a_protocol_error(tmp_path: Path) -> None:
    config = MockServerConfig(ttft_ms=5, itl_ms=1, output_tokens=4, no_done_rate=1.0)
    with MockServer(config) as url:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GUIDELLM_")}
        proc = subprocess.run(
            [sys.executable, "-m", "guidellm", "run", "--target", url, "--max-requests", "3",
             "--backend-args", "request_format=anthropic_messages", "--output", "r.json",
             "--disable-progress", "--data", "prompt_tokens=8,output_tokens=4"],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    assert proc.returncode == 1, proc.stderr  # no request succeeded
    bench = Report.load(tmp_path / "r.json").benchmarks[0]
    assert bench.errors == {"protocol": 3}
    assert "message_stop" in bench.error_examples["protocol"]


def test_whole_answers_raise_no_token_or_ttft_disagreement(tmp_path: Path) -> None:
    """A non-streamed answer is one chunk: no count to set against the server's usage, and
    its client TTFT is its whole latency, not the server's first token."""
    config = MockServerConfig(ttft_ms=20, itl_ms=10, output_tokens=10)
    with MockServer(config) as url:
        report, _ = _run(tmp_path, url, "--backend-args", "stream=false")
    bench = report.benchmarks[0]
    assert bench.requests.successful == 6
    assert bench.tokens.compared == 0 and bench.tokens.disagreements == 0
    assert bench.warnings == []
    server = bench.server
    assert server is not None
    rows = {row.name: row for row in server.crosscheck}
    assert "ttft_mean_ms" not in rows and rows["output_tokens"].agree


def test_images_go_as_image_blocks_and_count_in_the_prompt(tmp_path: Path) -> None:
    config = MockServerConfig(ttft_ms=5, itl_ms=1, output_tokens=10, image_tokens=100)
    with MockServer(config) as url:
        proxy = RecordingProxy(url)
        with proxy as proxy_url:
            report, _ = _run(
                tmp_path, proxy_url, "--backend-args", "request_format=anthropic_messages",
                data="prompt_tokens=24,output_tokens=10,images=1,image_width=32,image_height=32",
            )  # fmt: skip
    bench = report.benchmarks[0]
    assert bench.requests.successful == 6
    assert bench.metrics.prompt_token_count.successful.mean == 24 + 100
    sent = [r for r in proxy.requests if r.path == "/v1/messages"]
    parts = json.loads(sent[-1].body)["messages"][0]["content"]
    assert [p["type"] for p in parts] == ["text", "image"]
    assert parts[1]["source"]["media_type"] == "image/jpeg"
