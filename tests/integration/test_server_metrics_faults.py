"""A metrics endpoint that hangs, fails or answers garbage costs the run nothing: the same
run with and without it sends the same requests and measures the same tokens, and the report
carries one warning naming the endpoint's trouble."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from guidellm.benchmark.report import Report
from guidellm.mock_server import MockServer, MockServerConfig


class _BadMetrics(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, mode: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.mode = mode
        self.released = threading.Event()
        self.hits = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/metrics"


class _Handler(BaseHTTPRequestHandler):
    server: _BadMetrics

    def do_GET(self) -> None:
        self.server.hits += 1
        mode = self.server.mode
        if mode == "hang":
            self.server.released.wait(30)  # bounded: released at the test's end
            return
        if mode == "500":
            body = b"internal error"
            self.send_response(500)
        else:
            body = b"<html><body>\x00\xff not metrics {{{ }}}</body></html>"
            self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture(scope="module")
def mock_url() -> Iterator[str]:
    config = MockServerConfig(ttft_ms=20, itl_ms=2, output_tokens=16, output_tokens_std=0)
    with MockServer(config) as url:
        yield url


def _run(tmp_path: Path, url: str, name: str, metrics: str) -> Report:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUIDELLM_")}
    proc = subprocess.run(
        [sys.executable, "-m", "guidellm", "run", "--target", url, "--profile", "constant",
         "--rate", "25", "--max-requests", "50", "--data", "prompt_tokens=24,output_tokens=16",
         "--data-args", "ignore_eos=true", "--random-seed", "5", "--server-metrics", metrics,
         "--server-metrics-interval", "250ms", "--output", f"{name}.json", "--disable-progress"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return Report.load(tmp_path / f"{name}.json")


@pytest.fixture(scope="module")
def baseline(mock_url: str, tmp_path_factory: pytest.TempPathFactory) -> Report:
    return _run(tmp_path_factory.mktemp("base"), mock_url, "base", "off")


@pytest.mark.parametrize("mode", ["hang", "500", "garbage"])
def test_a_bad_endpoint_changes_nothing_but_one_warning(
    mode: str, mock_url: str, baseline: Report, tmp_path: Path
) -> None:
    bad = _BadMetrics(mode)
    thread = threading.Thread(target=bad.serve_forever, daemon=True)
    thread.start()
    try:
        report = _run(tmp_path, mock_url, mode, bad.url)
    finally:
        bad.released.set()
        bad.shutdown()
        bad.server_close()
    assert bad.hits >= 2  # it was asked, more than once
    plain, scraped = baseline.benchmarks[0], report.benchmarks[0]
    assert plain.server is None
    assert scraped.requests.successful == plain.requests.successful == 50
    assert scraped.requests.errored == scraped.requests.incomplete == 0
    for metric in ("output_token_count", "prompt_token_count"):
        a = getattr(plain.metrics, metric).successful
        b = getattr(scraped.metrics, metric).successful
        assert (a.count, a.mean) == (b.count, b.mean), metric
    # The load kept its schedule: 25/s for 50 requests, whatever the endpoint did.
    assert abs(scraped.duration - plain.duration) < 0.75, (scraped.duration, plain.duration)
    delay = scraped.metrics.scheduling_delay_ms.successful.percentiles.p99
    assert delay is not None and delay < 100, delay  # a hang is 800 ms: it would show
    server = scraped.server
    assert server is not None and server.endpoints[0].failed >= 1
    assert server.counters == {}
    warnings = [w for w in scraped.warnings if w.startswith("server metrics")]
    assert len(warnings) == 1, scraped.warnings
    expected = {"hang": "no answer within", "500": "HTTP 500", "garbage": "not a Prometheus"}
    assert expected[mode] in warnings[0], warnings[0]
    assert bad.url in warnings[0]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--server-metrics", "grpc://127.0.0.1:1/metrics"], ["--server-metrics", "http(s)://"]),
        (["--server-metrics-interval", "10ms"], ["--server-metrics-interval", "100ms"]),
    ],
)
def test_a_bad_setting_is_one_line_before_anything_is_sent(
    args: list[str], words: list[str], mock_url: str, tmp_path: Path
) -> None:
    from clirun import guidellm, mock_requests, one_line

    before = mock_requests(mock_url)
    proc = guidellm(["run", "--target", mock_url, "--max-requests", "2", *args], tmp_path)
    one_line(proc, *words)
    assert mock_requests(mock_url) == before


def test_the_journal_rebuilds_the_server_view(mock_url: str, tmp_path: Path) -> None:
    from guidellm.benchmark.journal import rebuild_report

    report = _run(tmp_path, mock_url, "j", "auto")
    rebuilt = rebuild_report(tmp_path / "j.journal")
    server = report.benchmarks[0].server
    assert server is not None and server.endpoints[0].scrapes >= 1
    assert rebuilt.benchmarks[0].server == server
    assert rebuilt.benchmarks[0].warnings == report.benchmarks[0].warnings
