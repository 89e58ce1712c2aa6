"""The server view's arithmetic: parsing, catalogs, counter deltas, histogram quantiles,
gauges and the cross-check, on hand-made scrapes with known answers."""

from __future__ import annotations

import math

import pytest

from guidellm.telemetry.catalog import BUILTIN_CATALOGS, VLLM, LlamaCpp, detect
from guidellm.telemetry.endpoints import metrics_url_for, parse_setting
from guidellm.telemetry.exposition import ExpositionError, parse_exposition
from guidellm.telemetry.scraper import ScrapeLog, Telemetry
from guidellm.telemetry.summary import ClientTotals, Span, histogram_quantile, summarize

VLLM_TEXT = """# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{{engine="0"}} {running}
vllm:num_requests_running{{engine="1"}} {running}
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{{engine="0"}} {kv}
vllm:kv_cache_usage_perc{{engine="1"}} {kv2}
# TYPE vllm:generation_tokens counter
vllm:generation_tokens_total{{engine="0"}} {gen}
# TYPE vllm:request_success counter
vllm:request_success_total{{finished_reason="stop"}} {ok}
vllm:request_success_total{{finished_reason="length"}} 1
# TYPE vllm:time_to_first_token_seconds histogram
vllm:time_to_first_token_seconds_bucket{{le="0.1"}} {b1}
vllm:time_to_first_token_seconds_bucket{{le="0.2"}} {b2}
vllm:time_to_first_token_seconds_bucket{{le="+Inf"}} {b2}
vllm:time_to_first_token_seconds_sum {tsum}
vllm:time_to_first_token_seconds_count {b2}
"""


def _text(**kw: float) -> str:
    values = {"running": 0, "kv": 0.0, "kv2": 0.0, "gen": 0, "ok": 0, "b1": 0, "b2": 0, "tsum": 0}
    values.update(kw)
    return VLLM_TEXT.format(**values)


def test_labels_are_summed_buckets_kept_apart_and_counters_named_total() -> None:
    values, types = parse_exposition(_text(running=3, kv=0.5, kv2=0.25, ok=7, b1=2, b2=5))
    assert values["vllm:num_requests_running"] == 6
    assert values["vllm:num_requests_running#n"] == 2
    assert values["vllm:kv_cache_usage_perc"] == 0.75
    assert values["vllm:request_success_total"] == 8
    assert values["vllm:time_to_first_token_seconds_bucket|0.1"] == 2
    assert values["vllm:time_to_first_token_seconds_bucket|+Inf"] == 5
    assert types["vllm:request_success"] == "counter"
    raw, _ = parse_exposition(_text(running=3), raw=True)
    assert raw['vllm:num_requests_running{engine="1"}'] == 3


@pytest.mark.parametrize("text", ["", "<html>oops</html>", "a b c d\n", "x{ 1\n"])
def test_garbage_is_an_exposition_error(text: str) -> None:
    with pytest.raises(ExpositionError):
        parse_exposition(text)


def test_detect_picks_the_catalog_whose_signature_is_there() -> None:
    values, _ = parse_exposition(_text())
    assert detect(BUILTIN_CATALOGS, values) is VLLM
    llama, _ = parse_exposition("# TYPE llamacpp:tokens_predicted counter\n"
                                "llamacpp:tokens_predicted_total 4\n")  # fmt: skip
    assert detect(BUILTIN_CATALOGS, llama) is LlamaCpp
    assert detect(BUILTIN_CATALOGS, {"something_else": 1.0}) is None


def test_histogram_quantile_interpolates_inside_the_bucket() -> None:
    bounds = [0.1, 0.2, math.inf]
    assert histogram_quantile(0.5, bounds, [10, 20, 20]) == pytest.approx(0.1)
    assert histogram_quantile(0.75, bounds, [10, 20, 20]) == pytest.approx(0.15)
    assert histogram_quantile(0.99, bounds, [0, 0, 5]) == pytest.approx(0.2)  # +Inf bucket
    assert math.isnan(histogram_quantile(0.5, bounds, [0, 0, 0]))


def _telemetry(logs: list[ScrapeLog]) -> Telemetry:
    telemetry = Telemetry([log.url for log in logs], BUILTIN_CATALOGS, interval=1.0)
    telemetry.logs = logs
    return telemetry


def _log(points: list[tuple[float, str]], url: str = "http://s/metrics") -> ScrapeLog:
    log = ScrapeLog(url=url, catalog=VLLM)
    for tick, (t, text) in enumerate(points):
        values, types = parse_exposition(text)
        log.types.update(types)
        log.add(t - 0.01, t, tick, values)
    return log


def test_counters_run_between_the_scrapes_outside_the_load() -> None:
    log = _log([
        (9.0, _text(gen=100, ok=10, b1=3, b2=4, tsum=0.4)),   # before: the baseline
        (10.5, _text(gen=150, running=2, kv=0.5, kv2=0.7, ok=14)),
        (11.5, _text(gen=190, running=4, kv=0.9, kv2=0.9, ok=18)),
        (12.2, _text(gen=200, ok=20, b1=8, b2=14, tsum=1.9)),  # after: the closing scrape
    ])  # fmt: skip
    totals = ClientTotals(successful=10, output_tokens=100.0, ttft_mean_ms=152.0)
    server, warnings = summarize(_telemetry([log]), Span(10.0, 12.0), totals)
    assert server.server == "vllm"
    assert server.endpoints[0].exact
    assert server.counters["generation_tokens"] == 100
    assert server.counters["requests"] == 10
    ttft = server.histograms["ttft"]
    assert ttft.count == 10 and ttft.mean_ms == pytest.approx(150.0)
    # 5 of the 10 new observations under 0.1 s, the rest under 0.2 s
    assert ttft.p50_ms == pytest.approx(100.0)
    assert ttft.p90_ms == pytest.approx(180.0)
    assert server.gauges["requests_running"].max == 8  # two engines add up
    assert server.gauges["kv_cache_usage"].mean == pytest.approx((0.6 + 0.9) / 2)  # averaged
    assert server.series.t_s == [-1.005, 0.495, 1.495, 2.195]
    assert server.series.values["generation_tokens_per_s"][1] == pytest.approx(50 / 1.5)
    rows = {row.name: row for row in server.crosscheck}
    assert rows["output_tokens"].agree and rows["output_tokens"].difference == 0
    assert rows["ttft_mean_ms"].agree
    assert warnings == []


def test_a_disagreement_and_a_reset_are_said() -> None:
    log = _log([(9.0, _text(gen=500, ok=50)), (12.5, _text(gen=120, ok=62))])
    totals = ClientTotals(successful=100, output_tokens=120.0)
    server, warnings = summarize(_telemetry([log]), Span(10.0, 12.0), totals)
    assert "generation_tokens" not in server.counters  # went down: the server restarted
    assert server.counters["requests"] == 12
    assert len(warnings) == 1
    assert "disagree on requests: client 100, server 12 (tolerance 0)" in warnings[0]


def test_no_scrape_before_the_load_is_not_exact() -> None:
    log = _log([(10.5, _text(gen=10)), (12.5, _text(gen=30))])
    server, _ = summarize(_telemetry([log]), Span(10.0, 12.0), ClientTotals())
    assert not server.endpoints[0].exact
    assert server.counters["generation_tokens"] == 20


def test_replicas_add_up_by_tick() -> None:
    a = _log([(9.0, _text(gen=0, running=1)), (11.0, _text(gen=10, running=1)),
              (12.5, _text(gen=20))], url="http://a/metrics")  # fmt: skip
    b = _log([(9.1, _text(gen=5, running=3)), (11.1, _text(gen=8, running=3)),
              (12.6, _text(gen=9))], url="http://b/metrics")  # fmt: skip
    server, _ = summarize(_telemetry([a, b]), Span(10.0, 12.0), ClientTotals())
    assert server.counters["generation_tokens"] == 20 + 4
    assert server.series.values["requests_running"] == [8.0, 8.0, 0.0]
    assert [e.url for e in server.endpoints] == ["http://a/metrics", "http://b/metrics"]


def test_settings_and_target_urls() -> None:
    assert parse_setting(" AUTO ") == "auto"
    assert parse_setting("off") == "off"
    assert parse_setting("http://a:1/metrics, https://b/m") == ["http://a:1/metrics", "https://b/m"]
    for bad in ("grpc://a:1", "a:1/metrics", "http://a:port/metrics"):
        with pytest.raises(ValueError, match="metrics"):
            parse_setting(bad)
    assert metrics_url_for("http://h:8000/v1") == "http://h:8000/metrics"
    assert metrics_url_for("grpc://h:8001") is None


ODD_TEXT = """# HELP odd_requests A counter declared without _total
# TYPE odd_requests counter
odd_requests{path="/v1/chat",code="200"} 12 1700000000000
odd_requests{path="/v1/chat",code="500"} 3
# TYPE odd_latency_seconds histogram
odd_latency_seconds_bucket{le="0.5",path="a\\"b,c}"} 4
odd_latency_seconds_bucket{path="x", le="+Inf"} 9
odd_latency_seconds_sum 3.25
odd_latency_seconds_count 9
# TYPE odd_temperature gauge
odd_temperature{gpu="0"} -1.5e1
odd_temperature{gpu="1"} NaN
odd_untyped 7
"""


@pytest.mark.parametrize("raw", [False, True])
@pytest.mark.parametrize("text", [_text(running=2, kv=0.3, gen=11, ok=4, b1=1, b2=2), ODD_TEXT])
def test_the_fast_path_reads_what_the_reference_parser_reads(text: str, raw: bool) -> None:
    from guidellm.telemetry.exposition import fast_values

    reference, types = parse_exposition(text, raw=raw)
    fast = fast_values(text, types, raw=raw)
    assert fast.keys() == reference.keys()
    for key, value in reference.items():
        assert (math.isnan(value) and math.isnan(fast[key])) or fast[key] == value, key


def test_an_edge_scrape_that_overlaps_a_neighbour_is_not_exact() -> None:
    # Benchmark 0 ran 10-12 (last answer 12.1), benchmark 1 starts at 12.3. A closing scrape
    # answered at 12.6 was still running when benchmark 1 started: not exact.
    log = _log([(9.0, _text(gen=0)), (12.6, _text(gen=40)), (14.5, _text(gen=90))])
    first, _ = summarize(_telemetry([log]), Span(10.0, 12.0, 12.1, next_start=12.3), ClientTotals())
    assert not first.endpoints[0].exact
    second, _ = summarize(
        _telemetry([log]), Span(12.3, 14.0, 14.1, previous_end=12.1), ClientTotals()
    )
    assert not second.endpoints[0].exact  # its baseline (9.0) was asked before 12.1
    clean, _ = summarize(_telemetry([log]), Span(10.0, 12.0, 12.1, next_start=12.7), ClientTotals())
    assert clean.endpoints[0].exact


def test_replica_histograms_add_up() -> None:
    a = _log([(9.0, _text(b1=0, b2=0, tsum=0)), (12.5, _text(b1=4, b2=4, tsum=0.2))], "http://a")
    b = _log([(9.1, _text(b1=0, b2=0, tsum=0)), (12.6, _text(b1=0, b2=4, tsum=0.6))], "http://b")
    server, _ = summarize(_telemetry([a, b]), Span(10.0, 12.0), ClientTotals())
    ttft = server.histograms["ttft"]
    assert ttft.count == 8 and ttft.mean_ms == pytest.approx(100.0)
    assert ttft.p50_ms == pytest.approx(100.0)  # 4 of 8 at or under 0.1 s


def test_failures_and_skips_count_in_their_own_benchmark() -> None:
    log = _log([(9.0, _text()), (20.5, _text())])
    log.fail(11.0, "HTTP 500")
    log.fail(30.0, "no answer within 0.8 s")
    log.skipped_at.append(11.5)
    telemetry = _telemetry([log])
    first, warnings = summarize(telemetry, Span(10.0, 12.0), ClientTotals())
    assert first.endpoints[0].errors == {"HTTP 500": 1} and first.endpoints[0].skipped == 1
    assert "HTTP 500" in warnings[0] and "no answer" not in warnings[0]
    later, _ = summarize(telemetry, Span(29.0, 31.0), ClientTotals())
    assert later.endpoints[0].errors == {"no answer within 0.8 s": 1}
    assert later.endpoints[0].skipped == 0


def test_the_fast_path_hands_new_families_and_exemplars_to_the_reference_parser() -> None:
    from guidellm.telemetry.exposition import fast_values

    _, types = parse_exposition("# TYPE a gauge\na 1\n")
    with pytest.raises(ExpositionError):  # a counter registered after the first scrape
        fast_values("# TYPE a gauge\na 1\n# TYPE late counter\nlate 3\n", types)
    exemplar = '# TYPE a gauge\na 1\n# TYPE h histogram\nh_bucket{le="1"} 1 # {trace_id="x"} 0.5\n'
    _, types = parse_exposition("# TYPE a gauge\n# TYPE h histogram\na 1\n")
    with pytest.raises(ExpositionError):
        fast_values(exemplar, types)


def test_shown_urls_hide_credentials() -> None:
    from guidellm.telemetry.endpoints import shown_url

    assert shown_url("http://u:pw@h:1/metrics") == "http://***@h:1/metrics"
    assert "TOKEN123" not in shown_url("http://TOKEN123@h/metrics")
    assert "abcd1234" not in shown_url("http://h/metrics?token=abcd1234")
    assert shown_url("http://h:9/metrics") == "http://h:9/metrics"


TWO_MODELS = """# TYPE nv_inference_request_success counter
nv_inference_request_success{{model="toy_llm",version="1"}} {a}
nv_inference_request_success{{model="other",version="1"}} {b}
# TYPE nv_inference_first_response_histogram_ms histogram
nv_inference_first_response_histogram_ms_bucket{{model="toy_llm",le="10"}} {a}
nv_inference_first_response_histogram_ms_bucket{{model="toy_llm",le="+Inf"}} {a}
nv_inference_first_response_histogram_ms_sum{{model="toy_llm"}} {a}
nv_inference_first_response_histogram_ms_count{{model="toy_llm"}} {a}
nv_inference_first_response_histogram_ms_bucket{{model="other",le="10"}} 0
nv_inference_first_response_histogram_ms_bucket{{model="other",le="+Inf"}} {b}
nv_inference_first_response_histogram_ms_sum{{model="other"}} {bsum}
nv_inference_first_response_histogram_ms_count{{model="other"}} {b}
"""


@pytest.mark.parametrize("fast", [False, True])
def test_a_multi_model_server_is_read_for_the_benchmarks_model(fast: bool) -> None:
    from guidellm.telemetry.catalog import Triton
    from guidellm.telemetry.exposition import fast_values

    log = ScrapeLog(url="http://t/metrics", catalog=Triton)
    for tick, (t, a, b) in enumerate([(9.0, 0, 0), (12.5, 7, 30)]):
        text = TWO_MODELS.format(a=a, b=b, bsum=b * 50)
        values, types = parse_exposition(text, model_label="model")
        if fast:
            values = fast_values(text, types, model_label="model")
        log.types.update(types)
        log.add(t - 0.01, t, tick, values)
    telemetry = _telemetry([log])
    telemetry.model = "toy_llm"
    server, _ = summarize(telemetry, Span(10.0, 12.0), ClientTotals(successful=7))
    assert server.counters["requests"] == 7  # not 37: the other model's requests are not ours
    assert server.endpoints[0].model == "toy_llm"
    ttft = server.histograms["ttft"]
    assert ttft.count == 7 and ttft.mean_ms == pytest.approx(1.0)  # 1 ms each, Triton's ms
    telemetry.model = None  # a model the server does not label: every model counts
    server, _ = summarize(telemetry, Span(10.0, 12.0), ClientTotals())
    assert server.counters["requests"] == 37 and server.endpoints[0].model is None
