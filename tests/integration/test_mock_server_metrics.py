"""The mock server's ``/metrics`` over real sockets: vLLM's names, values equal to what the
client received (tokens, successes by finish reason), latency histograms, the running/waiting
gauges and the KV-cache model under ``max_concurrency``, faults not counted as successes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from guidellm.mock_server import MockServer, MockServerConfig
from guidellm.mock_server.metrics import DEFAULT_KV_CACHE_TOKENS

USAGE = {"stream_options": {"include_usage": True}}


@pytest.fixture
def serve() -> Iterator[Any]:
    """Start mock servers on threads (``process=True``: in a child process, for timing
    checks, since a thread shares the GIL with the test's client); stop them afterwards."""
    started: list[MockServer] = []

    def start(process: bool = False, **settings: Any) -> str:
        server = MockServer(MockServerConfig(**settings))
        started.append(server)
        return server.start_process() if process else server.start_thread()

    yield start
    for server in started:
        server.stop()


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of ``/metrics``: (name, labels without model_name) -> value."""
    response = httpx.get(url + "/metrics", timeout=5)
    assert response.status_code == 200
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for s in family.samples:
            labels = tuple(sorted((k, v) for k, v in s.labels.items() if k != "model_name"))
            samples[(s.name, labels)] = s.value
    return samples


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def stream_usage(url: str, path: str, body: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """A streaming request's usage event and finish_reason."""
    usage: dict[str, Any] | None = None
    finish = None
    with httpx.stream("POST", url + path, json={**body, "stream": True, **USAGE}) as r:
        assert r.status_code == 200
        for line in r.iter_lines():
            if not line.startswith("data: {"):
                continue
            event = orjson.loads(line[6:])
            if event.get("usage"):
                usage = event["usage"]
            for choice in event["choices"]:
                finish = choice.get("finish_reason") or finish
    assert usage is not None and finish is not None
    return usage, finish


def test_counters_equal_what_the_client_received(serve: Any) -> None:
    url = serve(process=True, ttft_ms=50, itl_ms=10, output_tokens=6, seed=3)
    chat = {"messages": [{"role": "user", "content": "tell me a short story"}]}
    text = {"prompt": "one two three four five six seven eight nine ten"}
    cases = [
        ("/v1/completions", {**text, "max_tokens": 9}, True),  # length
        ("/v1/completions", {**text, "max_tokens": 9}, False),
        ("/v1/chat/completions", {**chat, "max_tokens": 4}, True),
        ("/v1/chat/completions", {**chat, "max_tokens": 50, "ignore_eos": False}, True),  # stop
        ("/v1/chat/completions", {**chat}, False),  # stop: no max_tokens
        ("/v1/completions", {**text, "max_tokens": 1}, True),  # one token: no gap
    ]
    prompt = completion = gaps = 0
    reasons = {"stop": 0, "length": 0}
    for path, body, stream in cases:
        if stream:
            usage, finish = stream_usage(url, path, body)
        else:
            answer = httpx.post(url + path, json=body, timeout=5).json()
            usage, finish = answer["usage"], answer["choices"][0]["finish_reason"]
        prompt += usage["prompt_tokens"]
        completion += usage["completion_tokens"]
        gaps += usage["completion_tokens"] - 1
        reasons[finish] += 1
    assert reasons["stop"] >= 2 and reasons["length"] >= 3  # both labels are exercised
    n = len(cases)
    m = scrape(url)
    assert value(m, "vllm:prompt_tokens_total") == prompt
    assert value(m, "vllm:generation_tokens_total") == completion
    assert value(m, "vllm:request_success_total", finished_reason="stop") == reasons["stop"]
    assert value(m, "vllm:request_success_total", finished_reason="length") == reasons["length"]
    assert value(m, "guidellm_mock_requests_total") == n
    assert value(m, "vllm:num_preemptions_total") == 0
    # every prompt is looked up; none fills a 16-token block, so none hits
    assert value(m, "vllm:prefix_cache_queries_total") == prompt
    assert value(m, "vllm:prefix_cache_hits_total") == 0
    for name in ("time_to_first_token", "e2e_request_latency", "request_queue_time"):
        assert value(m, f"vllm:{name}_seconds_count") == n
        assert value(m, f"vllm:{name}_seconds_bucket", le="+Inf") == n
    assert value(m, "vllm:request_queue_time_seconds_sum") == 0.0  # no max_concurrency
    ttft = value(m, "vllm:time_to_first_token_seconds_sum") / n
    assert 0.0499 <= ttft < 0.065, ttft
    assert value(m, "vllm:time_to_first_token_seconds_bucket", le="0.04") == 0  # all >= 50 ms
    assert value(m, "vllm:e2e_request_latency_seconds_sum") > value(
        m, "vllm:time_to_first_token_seconds_sum"
    )
    assert value(m, "vllm:inter_token_latency_seconds_count") == gaps
    itl = value(m, "vllm:inter_token_latency_seconds_sum") / gaps
    # the mean write gap: (last - first write) per stream, so a late first token shortens it
    assert 0.007 <= itl < 0.013, itl
    assert value(m, "vllm:kv_cache_usage_perc") == 0.0


def test_prefix_cache_hits_are_counted_in_tokens(serve: Any) -> None:
    url = serve(ttft_ms=1, itl_ms=0, prefix_block_tokens=4)
    body = {"prompt": "a b c d e f g h i j", "max_tokens": 2}  # 10 tokens: 2 blocks can hit
    cached = []
    for _ in range(2):
        answer = httpx.post(url + "/v1/completions", json=body, timeout=5).json()
        cached.append(answer["usage"]["prompt_tokens_details"]["cached_tokens"])
    assert cached == [0, 8]
    m = scrape(url)
    assert value(m, "vllm:prefix_cache_queries_total") == 20
    assert value(m, "vllm:prefix_cache_hits_total") == 8


def test_gauges_under_max_concurrency_and_after(serve: Any) -> None:
    url = serve(ttft_ms=20, itl_ms=15, max_concurrency=2)
    body = {"prompt": "x", "max_tokens": 30, "stream": True, **USAGE}  # ~0.5 s per pair

    def one(_: int) -> int:
        with httpx.stream("POST", url + "/v1/completions", json=body, timeout=10) as r:
            return sum(1 for line in r.iter_lines() if line.startswith('data: {"id"'))

    with ThreadPoolExecutor(6) as pool:
        futures = [pool.submit(one, i) for i in range(6)]
        full = None
        deadline = time.monotonic() + 5
        while full is None and time.monotonic() < deadline:
            m = scrape(url)
            if value(m, "vllm:num_requests_waiting") == 4:
                full = m
        assert full is not None, "never saw 4 requests waiting"
        assert value(full, "vllm:num_requests_running") == 2
        first_kv = value(full, "vllm:kv_cache_usage_perc")
        assert first_kv > 0
        # two slots of (1 prompt + 30 output) tokens each: usage climbs as they generate
        highest = first_kv
        while highest < 0.5 and time.monotonic() < deadline:
            m = scrape(url)
            if value(m, "vllm:num_requests_running") == 2:
                highest = max(highest, value(m, "vllm:kv_cache_usage_perc"))
        assert highest >= 0.5
        assert all(f.result(timeout=10) == 31 for f in futures)  # 30 tokens + the usage event
    m = scrape(url)
    assert value(m, "vllm:num_requests_running") == 0
    assert value(m, "vllm:num_requests_waiting") == 0
    assert value(m, "vllm:kv_cache_usage_perc") == 0.0
    assert value(m, "vllm:request_success_total", finished_reason="length") == 6
    assert value(m, "vllm:generation_tokens_total") == 6 * 30
    assert value(m, "vllm:request_queue_time_seconds_count") == 6
    # four waited for a slot (two about one stream, two about two streams); two did not
    assert value(m, "vllm:request_queue_time_seconds_sum") > 4 * 0.3
    assert value(m, "vllm:request_queue_time_seconds_bucket", le="0.3") == 2


@pytest.mark.parametrize(
    ("settings", "capacity"),
    [({"kv_cache_tokens": 1000}, 1000), ({}, DEFAULT_KV_CACHE_TOKENS)],
)
def test_kv_usage_is_held_tokens_over_capacity(
    serve: Any, settings: dict[str, int], capacity: int
) -> None:
    url = serve(ttft_ms=5, itl_ms=20, **settings)
    body = {"prompt": "word " * 100, "max_tokens": 20, "stream": True}  # 100 prompt tokens
    with httpx.stream("POST", url + "/v1/completions", json=body, timeout=10) as r:
        lines = r.iter_lines()
        next(line for line in lines if line.startswith("data: {"))  # generating now
        usage = value(scrape(url), "vllm:kv_cache_usage_perc")
        assert 101 / capacity <= usage <= 120 / capacity, usage * capacity
        assert sum(1 for _ in lines) > 0
    deadline = time.monotonic() + 5
    while value(scrape(url), "vllm:num_requests_running") and time.monotonic() < deadline:
        time.sleep(0.01)
    assert value(scrape(url), "vllm:kv_cache_usage_perc") == 0.0


def test_faults_are_not_successes(serve: Any) -> None:
    url = serve(ttft_ms=1, itl_ms=1, error_500_rate=1.0)
    for _ in range(3):
        assert httpx.post(url + "/v1/completions", json={"prompt": "x"}).status_code == 500
    m = scrape(url)
    assert value(m, "guidellm_mock_requests_total") == 3
    assert value(m, "vllm:request_success_total", finished_reason="stop") == 0
    assert value(m, "vllm:request_success_total", finished_reason="length") == 0
    assert value(m, "vllm:time_to_first_token_seconds_count") == 0
    assert value(m, "vllm:prompt_tokens_total") == 0  # a 500 never starts

    # a reset mid-stream: the tokens sent before it count, the request is no success
    url = serve(ttft_ms=1, itl_ms=1, reset_rate=1.0)
    received = 0
    with (
        pytest.raises(httpx.HTTPError),
        httpx.stream(
            "POST", url + "/v1/completions", json={"prompt": "x", "max_tokens": 10, "stream": True}
        ) as r,
    ):
        for line in r.iter_lines():
            received += line.startswith('data: {"id"')
    assert received == 5  # cut after half of the tokens
    deadline = time.monotonic() + 5
    while value(scrape(url), "vllm:num_requests_running") and time.monotonic() < deadline:
        time.sleep(0.01)
    m = scrape(url)
    assert value(m, "vllm:num_requests_running") == 0
    assert value(m, "vllm:generation_tokens_total") == received
    assert value(m, "vllm:prompt_tokens_total") == 1
    assert value(m, "vllm:request_success_total", finished_reason="length") == 0
    assert value(m, "vllm:e2e_request_latency_seconds_count") == 0
    assert value(m, "vllm:inter_token_latency_seconds_count") == 0


def test_a_stream_without_done_is_no_success_a_whole_answer_is(serve: Any) -> None:
    url = serve(ttft_ms=1, itl_ms=0, no_done_rate=1.0)  # streams only: an answer is whole
    body = {"prompt": "x", "max_tokens": 4}
    with httpx.stream("POST", url + "/v1/completions", json={**body, "stream": True}) as r:
        text = r.read()
    assert text.count(b'data: {"id"') == 4
    assert b"[DONE]" not in text
    assert httpx.post(url + "/v1/completions", json=body).json()["usage"]["completion_tokens"] == 4
    m = scrape(url)
    assert value(m, "vllm:generation_tokens_total") == 8  # both were sent their tokens
    assert value(m, "vllm:request_success_total", finished_reason="length") == 1
    assert value(m, "vllm:inter_token_latency_seconds_count") == 3


def test_the_exposition_parses_with_types_and_the_model_label(serve: Any) -> None:
    url = serve(ttft_ms=1, itl_ms=0, model='odd "name"\\x')
    body = {"prompt": "x", "max_tokens": 3, "model": 'odd "name"\\x'}
    assert httpx.post(url + "/v1/completions", json=body).status_code == 200
    response = httpx.get(url + "/metrics")
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    families = list(text_string_to_metric_families(response.text))
    kinds = {f.name: f.type for f in families}
    assert kinds == {
        "vllm:num_requests_running": "gauge",
        "vllm:num_requests_waiting": "gauge",
        "vllm:kv_cache_usage_perc": "gauge",
        "vllm:prompt_tokens": "counter",
        "vllm:generation_tokens": "counter",
        "vllm:request_success": "counter",
        "vllm:prefix_cache_queries": "counter",
        "vllm:prefix_cache_hits": "counter",
        "vllm:num_preemptions": "counter",
        "guidellm_mock_requests": "counter",
        "vllm:time_to_first_token_seconds": "histogram",
        "vllm:e2e_request_latency_seconds": "histogram",
        "vllm:request_queue_time_seconds": "histogram",
        "vllm:inter_token_latency_seconds": "histogram",
    }
    for family in families:
        assert family.documentation, family.name
        assert family.samples, family.name
        for sample in family.samples:
            assert sample.labels["model_name"] == 'odd "name"\\x', sample
    for line in response.text.splitlines():  # no line escaped the family structure
        assert line.startswith(("# HELP ", "# TYPE ", "vllm:", "guidellm_mock_"))
