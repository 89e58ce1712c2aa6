"""The ``acme-gateway`` catalog: registered by the plugin, and reading a gateway's real scrapes.

The gateway is a throwaway HTTP server on 127.0.0.1 serving a Prometheus exposition whose
numbers the test changes while guidellm's own scraper runs, as during a benchmark.
"""

from __future__ import annotations

import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import guidellm_echo
import pytest
from guidellm_echo.catalog import AcmeGateway

from guidellm import PluginHost
from guidellm.telemetry.catalog import BUILTIN_CATALOGS, MEANINGS, VLLM, ServerCatalog, detect
from guidellm.telemetry.exposition import parse_exposition
from guidellm.telemetry.models import ServerMetrics
from guidellm.telemetry.scraper import Telemetry
from guidellm.telemetry.summary import ClientTotals, Span, summarize


@dataclass
class Gateway:
    """What the fake gateway has counted so far; ``version`` 1 names its request counter
    ``acme_requests_total``, 2 ``acme_requests_completed_total``."""

    version: int = 2
    completed: int = 100
    inflight: int = 0
    queued: int = 0
    prompt: int = 1000
    cached: int = 200
    completion_a: int = 3000
    completion_b: int = 2000
    ttft: list[float] = field(default_factory=lambda: [0.0, 40.0, 40.0])  # le .1, 1, +Inf
    ttft_sum: float = 6.0
    duration_ms: list[float] = field(default_factory=lambda: [10.0, 40.0])  # le 500, +Inf
    duration_ms_sum: float = 30000.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def exposition(self) -> str:
        requests = "acme_requests_completed_total" if self.version == 2 else "acme_requests_total"
        with self.lock:
            return "\n".join(
                [
                    "# TYPE acme_requests_inflight gauge",
                    f"acme_requests_inflight {self.inflight}",
                    "# TYPE acme_requests_queued gauge",
                    f"acme_requests_queued {self.queued}",
                    f"# TYPE {requests} counter",
                    f"{requests} {self.completed}",
                    "# TYPE acme_requests_failed_total counter",
                    "acme_requests_failed_total 0",
                    "# TYPE acme_prompt_tokens_total counter",
                    f"acme_prompt_tokens_total {self.prompt}",
                    "# TYPE acme_prompt_tokens_cached_total counter",
                    f"acme_prompt_tokens_cached_total {self.cached}",
                    # Two upstream pools: the scraper adds their label sets up.
                    "# TYPE acme_completion_tokens_total counter",
                    f'acme_completion_tokens_total{{pool="a"}} {self.completion_a}',
                    f'acme_completion_tokens_total{{pool="b"}} {self.completion_b}',
                    "# TYPE acme_ttft_seconds histogram",
                    f'acme_ttft_seconds_bucket{{le="0.1"}} {self.ttft[0]}',
                    f'acme_ttft_seconds_bucket{{le="1.0"}} {self.ttft[1]}',
                    f'acme_ttft_seconds_bucket{{le="+Inf"}} {self.ttft[2]}',
                    f"acme_ttft_seconds_sum {self.ttft_sum}",
                    f"acme_ttft_seconds_count {self.ttft[2]}",
                    "# TYPE acme_request_duration_milliseconds histogram",
                    f'acme_request_duration_milliseconds_bucket{{le="500.0"}} '
                    f"{self.duration_ms[0]}",
                    f'acme_request_duration_milliseconds_bucket{{le="+Inf"}} {self.duration_ms[1]}',
                    f"acme_request_duration_milliseconds_sum {self.duration_ms_sum}",
                    f"acme_request_duration_milliseconds_count {self.duration_ms[1]}",
                    "",
                ]
            )

    def serve(self, requests: int) -> None:
        """``requests`` requests go through: 50 ms to the first token, 250 ms in all, each
        with 15 prompt tokens forwarded, 5 answered from the cache and 32 generated."""
        with self.lock:
            self.completed += requests
            self.prompt += 15 * requests
            self.cached += 5 * requests
            self.completion_a += 16 * requests
            self.completion_b += 16 * requests
            self.ttft = [self.ttft[0] + requests, self.ttft[1] + requests, self.ttft[2] + requests]
            self.ttft_sum += 0.05 * requests
            self.duration_ms = [self.duration_ms[0] + requests, self.duration_ms[1] + requests]
            self.duration_ms_sum += 250.0 * requests


@pytest.fixture
def gateway() -> Iterator[tuple[Gateway, str]]:
    state = Gateway()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = state.exposition().encode()
            self.send_response(200 if self.path == "/metrics" else 404)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}/metrics"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_the_plugin_registers_the_catalog_beside_the_builtins() -> None:
    warnings: list[str] = []
    host = PluginHost(entry_points=False, warn=warnings.append)  # the built-in catalogs too
    host.add_plugin(guidellm_echo, "echo-catalog-test")
    try:
        assert warnings == []
        assert host.server_metrics.get("acme-gateway") is AcmeGateway
        assert host.server_metrics.owner("acme-gateway") == "echo-catalog-test"
        assert host.records["echo-catalog-test"].provides["server_metrics"] == ["acme-gateway"]
        assert {"vllm", "acme-gateway"} <= set(host.server_metrics.names())
    finally:
        host.remove_plugin("echo-catalog-test")


def test_every_name_maps_a_known_meaning() -> None:
    assert set(AcmeGateway.metrics) <= set(MEANINGS)
    assert set(AcmeGateway.scale) <= set(AcmeGateway.metrics)
    names = {part for alts in AcmeGateway.metrics.values() for a in alts for part in a.split("+")}
    assert set(AcmeGateway.signature) <= names


def test_a_served_exposition_is_detected_as_the_gateway(gateway: tuple[Gateway, str]) -> None:
    _, url = gateway
    with urllib.request.urlopen(url, timeout=5) as response:
        values, types = parse_exposition(response.read().decode())
    assert types["acme_ttft_seconds"] == "histogram"
    assert values["acme_completion_tokens_total"] == 5000  # both pools
    # Whatever the order of the catalogs, the gateway is itself and no built-in claims it.
    assert detect([*BUILTIN_CATALOGS, AcmeGateway], values) is AcmeGateway
    assert detect(BUILTIN_CATALOGS, values) is None
    # And the gateway's signature does not claim another server's scrape.
    vllm, _ = parse_exposition("vllm:num_requests_running 1\nvllm:generation_tokens_total 5\n")
    assert detect([AcmeGateway, *BUILTIN_CATALOGS], vllm) is VLLM


def scrape_a_benchmark(
    state: Gateway, url: str, catalogs: list[type[ServerCatalog]]
) -> tuple[ServerMetrics, list[str]]:
    """guidellm's scraper (ticking every 0.2 s) around a 20-request "benchmark". Like the
    Benchmarker, it waits for a scrape before the first request and after the last, and one
    inside after each step, so a slow machine cannot make the numbers miss a step."""
    telemetry = Telemetry([url], catalogs, interval=0.2)
    telemetry.start()

    def scraped() -> None:
        now = time.perf_counter()
        telemetry.scrape_now()
        assert telemetry.wait_scraped_after(now, timeout=5.0)

    try:
        scraped()
        start = time.perf_counter()
        with state.lock:
            state.inflight, state.queued = 4, 2
        for _ in range(4):
            state.serve(5)
            time.sleep(0.1)
            scraped()
        with state.lock:
            state.inflight, state.queued = 0, 0
        end = time.perf_counter()
        scraped()
    finally:
        telemetry.close()
    totals = ClientTotals(successful=20, prompt_tokens=400, output_tokens=640, ttft_mean_ms=55.0)
    return summarize(telemetry, Span(start, end), totals)


@pytest.mark.parametrize("version", [2, 1])
def test_the_scraper_reads_the_gateway_through_the_catalog(
    gateway: tuple[Gateway, str], version: int
) -> None:
    state, url = gateway
    state.version = version
    metrics, warnings = scrape_a_benchmark(state, url, [*BUILTIN_CATALOGS, AcmeGateway])
    assert warnings == []
    assert metrics.server == "acme-gateway"
    (endpoint,) = metrics.endpoints
    assert endpoint.server == "acme-gateway"
    assert endpoint.exact  # scraped before the first request and after the last
    assert endpoint.scrapes >= 2
    assert metrics.counters["requests"] == 20  # either version's counter name
    assert metrics.counters["prompt_tokens"] == 400  # forwarded + answered from the cache
    assert metrics.counters["prefix_cache_hits"] == 100
    assert metrics.counters["generation_tokens"] == 640
    assert metrics.histograms["ttft"].mean_ms == pytest.approx(50.0)
    assert metrics.histograms["ttft"].p50_ms == pytest.approx(50.0)  # inside le=0.1
    assert metrics.histograms["e2e_latency"].mean_ms == pytest.approx(250.0)  # scaled ms
    assert metrics.gauges["requests_running"].max == 4
    assert metrics.gauges["requests_waiting"].max == 2
    assert {row.name: row.agree for row in metrics.crosscheck} == {
        "requests": True,
        "output_tokens": True,
        "prompt_tokens": True,
        "ttft_mean_ms": True,
    }
    assert metrics.notes == list(AcmeGateway.notes)
    assert metrics.raw is None


def test_without_the_catalog_the_gateway_is_kept_raw(gateway: tuple[Gateway, str]) -> None:
    state, url = gateway
    metrics, _ = scrape_a_benchmark(state, url, list(BUILTIN_CATALOGS))
    assert metrics.server is None
    assert metrics.counters == {}
    assert metrics.raw is not None
    series = metrics.raw["acme_requests_completed_total"]
    assert series.type == "counter"
    assert series.last is not None and series.first is not None
    assert series.last - series.first == 20
    assert 'acme_completion_tokens_total{pool="a"}' in metrics.raw
