"""The scraper's threads against a real (loopback) endpoint: a benchmark edge asked for while
a slow scrape runs is taken right after it, and each endpoint's edge scrapes share a round."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from guidellm.telemetry.catalog import BUILTIN_CATALOGS
from guidellm.telemetry.scraper import Telemetry

BODY = b"# TYPE vllm:num_requests_running gauge\nvllm:num_requests_running 3\n"


class _Slow(ThreadingHTTPServer):
    daemon_threads = True
    delay = 0.8


class _Handler(BaseHTTPRequestHandler):
    server: _Slow

    def do_GET(self) -> None:
        time.sleep(self.server.delay)
        self.send_response(200)
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def slow_url() -> Iterator[str]:
    server = _Slow(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/metrics"
    server.shutdown()
    server.server_close()


def test_an_edge_asked_during_a_slow_scrape_is_taken_next(slow_url: str) -> None:
    telemetry = Telemetry([slow_url], BUILTIN_CATALOGS, interval=5.0, timeout=2.0)
    telemetry.start()
    try:
        time.sleep(0.5)  # the first grid scrape is waiting on the slow endpoint
        edge = time.perf_counter()
        telemetry.scrape_now()
        assert telemetry.wait_scraped_after(edge, 3.0)
        log = telemetry.logs[0]
        # two scrapes within the 5 s interval: the edge did not wait for the next tick
        assert len(log.rows) == 2, list(log.t0)
        assert log.t0[1] >= edge
        assert log.ticks[0] != log.ticks[1]  # the edge has a round of its own
    finally:
        telemetry.close()
    assert not telemetry.logs[0].failed_at


def test_replicas_edge_scrapes_share_one_round(slow_url: str) -> None:
    telemetry = Telemetry([slow_url, slow_url], BUILTIN_CATALOGS, interval=5.0, timeout=2.0)
    telemetry.start()
    try:
        assert telemetry.wait_scraped_after(0.0, 3.0)
        edge = time.perf_counter()
        telemetry.scrape_now()
        assert telemetry.wait_scraped_after(edge, 3.0)
    finally:
        telemetry.close()
    a, b = (log.ticks[-1] for log in telemetry.logs)
    rounds = [list(log.ticks) for log in telemetry.logs]
    assert a == b, rounds
    assert all(len(set(r)) == len(r) for r in rounds), rounds  # one scrape per round each
