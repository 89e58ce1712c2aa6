"""The aggregator's metrics against hand-computed values (docs/metrics.md)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from reportdata import compile_results, result, stream

from guidellm.benchmark.aggregator import BenchmarkAggregator
from guidellm.benchmark.compile import window_bounds
from guidellm.benchmark.report import Report
from guidellm.errors import UserError
from guidellm.request import RequestResult


def test_single_request_every_metric_by_hand() -> None:
    r = result(10.001, scheduled=10.0, ttft=0.05, itl=0.01, tokens=4, tail=0.001)
    b = compile_results([r], start_time=10.0, end_time=11.0)
    m = b.metrics
    assert b.requests.successful == 1 and b.requests.errored == 0
    assert m.time_to_first_token_ms.successful.median == pytest.approx(50.0)
    assert m.inter_token_latency_ms.successful.mean == pytest.approx(10.0)  # 30 ms / 3
    assert m.time_per_output_token_ms.successful.mean == pytest.approx(20.0)  # 80 ms / 4
    assert m.request_latency.successful.mean == pytest.approx(0.081)
    assert m.scheduled_latency.successful.mean == pytest.approx(0.082)
    assert m.scheduling_delay_ms.successful.mean == pytest.approx(1.0)
    assert m.prompt_token_count.successful.mean == 10
    assert m.output_token_count.successful.mean == 4
    ic = m.inter_chunk_latency_ms.successful
    assert ic.count == 3
    assert ic.mean == pytest.approx(10.0)
    assert ic.min == pytest.approx(10.0) and ic.max == pytest.approx(10.0)
    assert ic.median == pytest.approx(10.0, rel=0.005)
    # window = the whole second
    assert m.requests_per_second.successful == pytest.approx(1.0)
    assert m.output_tokens_per_second.successful == pytest.approx(4.0)
    assert m.tokens_per_second.total == pytest.approx(14.0)
    assert m.time_to_first_token_ms.total.median == pytest.approx(50.0)
    assert m.time_to_first_token_ms.errored.count == 0
    assert b.tokens.source == "usage"


def test_itl_and_tpot_are_token_weighted() -> None:
    short = result(0.0, ttft=0.05, itl=0.010, tokens=3)  # ITL 10 ms, weight 2
    long = result(1.0, ttft=0.05, itl=0.020, tokens=11)  # ITL 20 ms, weight 10
    m = compile_results([short, long]).metrics
    itl = m.inter_token_latency_ms.successful
    assert itl.count == 2
    assert itl.mean == pytest.approx((10 * 2 + 20 * 10) / 12)
    assert itl.median == pytest.approx(20.0)  # 12 copies: most are 20
    tpot = m.time_per_output_token_ms.successful
    # TPOT: (50 + 2*10)/3 = 23.33 ms (weight 3) and (50 + 10*20)/11 = 22.73 ms (weight 11)
    assert tpot.mean == pytest.approx((70 + 250) / 14)


def test_single_token_has_no_itl() -> None:
    m = compile_results([result(0.0, tokens=1)]).metrics
    assert m.inter_token_latency_ms.successful.count == 0
    assert m.time_per_output_token_ms.successful.count == 1
    assert m.inter_chunk_latency_ms.successful.count == 0


def test_gaps_with_single_chunk_and_chunkless_requests_mixed() -> None:
    results = [
        result(0.0, tokens=1),
        result(1.0, itl=0.01, tokens=4),
        result(2.0, ttft=None, tokens=0, status="errored", error_category="timeout"),
        result(3.0, tokens=1),
        result(4.0, itl=0.02, tokens=3),
    ]
    ic = compile_results(results).metrics.inter_chunk_latency_ms.successful
    assert ic.count == 3 + 2
    assert ic.mean == pytest.approx((3 * 10 + 2 * 20) / 5)
    assert ic.min == pytest.approx(10.0) and ic.max == pytest.approx(20.0)


def test_window_rule_seconds_and_fractions() -> None:
    assert window_bounds(0.0, 10.0, 2, 0.2) == (2.0, 8.0)
    assert window_bounds(0.0, 10.0, 0.1, None) == (1.0, 10.0)
    assert window_bounds(5.0, 10.0, None, 1) == (5.0, 9.0)
    results = [result(float(i), ttft=0.05, tokens=2) for i in range(10)]
    b = compile_results(results, start_time=0.0, end_time=10.0, warmup=2, cooldown=0.2)
    # Requests starting at 2, 3, ..., 8 count (bounds included).
    assert b.requests.successful == 7
    assert b.requests.outside_window == 3
    assert b.metrics.requests_per_second.successful == pytest.approx(7 / 6)
    assert b.measured_window[1] - b.measured_window[0] == pytest.approx(6.0)
    assert b.metrics.time_to_first_token_ms.successful.count == 7


def test_window_that_covers_the_run_warns_and_measures_everything() -> None:
    results = [result(float(i)) for i in range(3)]
    b = compile_results(results, start_time=0.0, end_time=3.0, warmup=2, cooldown=2)
    assert b.requests.successful == 3
    assert any("cover the whole run" in w for w in b.warnings)


def test_empty_benchmark() -> None:
    b = compile_results([], start_time=0.0, end_time=5.0)
    assert b.requests.successful == b.requests.errored == b.requests.incomplete == 0
    assert b.metrics.requests_per_second.total == 0.0
    assert b.metrics.time_to_first_token_ms.successful.count == 0
    assert b.metrics.time_to_first_token_ms.successful.median is None
    assert b.metrics.request_concurrency.total.mean == 0.0
    assert b.tokens.source == "none"
    assert any("no successful requests" in w for w in b.warnings)
    Report.model_validate(json.loads(json.dumps(Report.create({}, [b]).to_dict())))


def test_status_split_and_error_categories() -> None:
    results = [
        result(0.0),
        result(
            1.0,
            status="errored",
            ttft=None,
            tokens=0,
            error_category="http_5xx",
            error="HTTP 503: overloaded",
        ),
        result(
            2.0,
            status="errored",
            ttft=None,
            tokens=0,
            error_category="http_5xx",
            error="HTTP 502: bad gateway",
        ),
        result(
            3.0,
            status="errored",
            ttft=0.05,
            tokens=2,
            error_category="stall",
            error="no data for 5 s",
        ),
        result(4.0, status="incomplete", ttft=0.05, tokens=2, error_category="cancelled"),
    ]
    b = compile_results(results, start_time=0.0, end_time=5.0)
    assert (b.requests.successful, b.requests.errored, b.requests.incomplete) == (1, 3, 1)
    assert b.errors == {"http_5xx": 2, "stall": 1, "cancelled": 1}
    assert b.error_examples["http_5xx"] == "HTTP 503: overloaded"  # the first seen
    m = b.metrics
    assert m.requests_per_second.errored == pytest.approx(3 / 5)
    assert m.requests_per_second.total == pytest.approx(1.0)
    assert m.time_to_first_token_ms.errored.count == 1  # the stalled one had a first token
    assert m.time_to_first_token_ms.incomplete.count == 1
    assert m.time_to_first_token_ms.total.count == 3
    assert m.request_latency.errored.count == 3
    assert any("3 of 4 requests errored" in w for w in b.warnings)


def test_time_weighted_concurrency() -> None:
    a = RequestResult("a", "successful", 0.0, 0.0, 2.0)
    b = RequestResult("b", "successful", 1.0, 1.0, 3.0)
    bm = compile_results([a, b], start_time=0.0, end_time=4.0)
    c = bm.metrics.request_concurrency.total
    # 0-1: 1, 1-2: 2, 2-3: 1, 3-4: 0
    assert c.mean == pytest.approx(1.0)
    assert c.max == 2.0 and c.min == 0.0
    assert c.median == pytest.approx(1.0)
    assert c.count == 2
    assert bm.metrics.request_concurrency.successful.mean == pytest.approx(1.0)
    assert bm.metrics.request_concurrency.errored.count == 0
    # Split by status: an errored request in flight 1-3 s counts for errored and total only.
    e = RequestResult("e", "errored", 1.0, 1.0, 3.0)
    split = compile_results([a, b, e], start_time=0.0, end_time=4.0).metrics.request_concurrency
    assert split.errored.mean == pytest.approx(0.5)
    assert split.successful.mean == pytest.approx(1.0)
    assert split.total.mean == pytest.approx(1.5)
    # Clipped to a window [1, 4] (warmup 1 s): 1-2: 2, 2-3: 1, 3-4: 0 -> mean 1
    w = compile_results([a, b], start_time=0.0, end_time=4.0, warmup=1).metrics
    assert w.request_concurrency.total.mean == pytest.approx(1.0)


def test_goodput_and_attainment() -> None:
    results = [
        result(0.0, ttft=0.05, itl=0.01, tokens=5),  # meets
        result(1.0, ttft=0.07, itl=0.01, tokens=5),  # TTFT too slow
        result(2.0, ttft=0.05, itl=0.03, tokens=5),  # ITL too slow
        result(3.0, ttft=0.05, tokens=1),  # no ITL: cannot miss it
        result(4.0, status="errored", ttft=None, tokens=0, error_category="timeout"),
        result(4.5, status="incomplete", ttft=None, tokens=0),
    ]
    b = compile_results(results, start_time=0.0, end_time=5.0, slo={"ttft_ms": 60, "itl_ms": 20})
    g = b.metrics.goodput
    assert g is not None
    assert g.met == 2
    assert g.counted == 5  # incomplete left out
    assert g.attainment == pytest.approx(2 / 5)
    assert g.requests_per_second == pytest.approx(2 / 5)
    assert g.per_slo == {"ttft_ms": pytest.approx(3 / 5), "itl_ms": pytest.approx(3 / 5)}
    assert compile_results(results).metrics.goodput is None


def test_bad_slo_and_warmup_are_user_errors() -> None:
    with pytest.raises(UserError, match=r"unknown SLO 'ttft'.*ttft_ms"):
        BenchmarkAggregator(
            index=0,
            strategy={},
            warmup=None,
            cooldown=None,
            max_seconds=None,
            max_requests=None,
            slo={"ttft": 5},
        )
    with pytest.raises(UserError, match="--warmup"):
        BenchmarkAggregator(
            index=0,
            strategy={},
            warmup=-1,
            cooldown=None,
            max_seconds=None,
            max_requests=None,
            slo=None,
        )


class WordTokenizer:
    name = "words"
    exact = True

    def count(self, text: str) -> int:
        return len(text.split())


def test_token_sources_and_disagreements() -> None:
    with_usage = result(0.0, tokens=4)
    chunks_only = result(1.0, tokens=3, usage=False)
    text_only = result(2.0, tokens=2, usage=False, output_text="one two three four five")
    b = compile_results([with_usage, chunks_only, text_only], tokenizer=WordTokenizer())
    assert b.tokens.source == "mixed"
    assert b.tokens.sources == {"usage": 1, "tokenizer": 1, "chunks": 1}
    assert b.metrics.output_token_count.successful.percentiles.p50 == 4
    assert b.metrics.output_token_count.successful.max == 5  # the tokenizer's count
    # A server count compared with the tokenizer: 4 (usage) vs 2 words -> one disagreement.
    disagree = result(3.0, tokens=4, output_text="two words")
    b2 = compile_results([disagree], tokenizer=WordTokenizer())
    assert (b2.tokens.compared, b2.tokens.disagreements) == (1, 1)
    assert b2.tokens.compared_with == "tokenizer"
    assert any("disagree on 1 of 1" in w for w in b2.warnings)
    # A cancelled request never gets a usage chunk: the source is what the successful used.
    cut = compile_results([result(0.0), result(1.0, status="incomplete", usage=False)])
    assert cut.tokens.source == "usage"
    assert cut.tokens.sources == {"usage": 1, "chunks": 1}
    agree = compile_results([result(0.0, tokens=4)])
    assert (agree.tokens.compared, agree.tokens.disagreements) == (1, 0)
    assert agree.tokens.compared_with == "chunks"


def test_many_results_match_exact_numpy() -> None:
    results = stream(10_000, rate=100.0, seed=7, tokens=8, error_every=97)
    b = compile_results(results, start_time=0.0, end_time=100.5)
    ok = [r for r in results if r.status == "successful"]
    ttft = np.array([(r.first_token_time - r.request_start) * 1000 for r in ok])
    s = b.metrics.time_to_first_token_ms.successful
    assert s.count == len(ok)
    assert s.median == pytest.approx(float(np.median(ttft)))
    assert s.percentiles.p99 == pytest.approx(float(np.percentile(ttft, 99)))
    gaps = np.concatenate([np.diff(r.chunk_times) * 1000 for r in ok])
    ic = b.metrics.inter_chunk_latency_ms.successful
    assert ic.count == len(gaps)
    assert ic.mean == pytest.approx(float(gaps.mean()))
    assert ic.min == pytest.approx(float(gaps.min())) and ic.max == pytest.approx(float(gaps.max()))
    assert ic.percentiles.p90 == pytest.approx(float(np.percentile(gaps, 90)), rel=0.005)
    assert b.requests.errored == 10_000 // 97
    # Warmup excludes the first 10 s: histogram of gaps shrinks exactly by those requests.
    w = compile_results(results, start_time=0.0, end_time=100.5, warmup=10)
    kept = [r for r in ok if r.request_start >= 10]
    assert w.metrics.inter_chunk_latency_ms.successful.count == 7 * len(kept)


def test_progress_snapshot() -> None:
    agg = BenchmarkAggregator(
        index=3,
        strategy={"type": "concurrent", "streams": 4},
        warmup=None,
        cooldown=None,
        max_seconds=None,
        max_requests=20,
        slo=None,
    )
    for i in range(5):
        agg.add(result(float(i), ttft=0.05, itl=0.01, tokens=3))
    agg.add(result(5.0, status="errored", ttft=None, tokens=0, error_category="timeout"))
    p = agg.progress(agg.created + 2.0, in_flight=4)
    assert p.benchmark_index == 3
    assert (p.successful, p.errored, p.in_flight) == (5, 1, 4)
    assert p.fraction_done == pytest.approx(6 / 20)
    assert p.requests_per_second == pytest.approx(3.0)
    assert p.ttft_median_ms == pytest.approx(50.0)
    assert p.itl_median_ms == pytest.approx(10.0)
    assert p.client_limited is False  # the scheduler's to judge (test_self_judgement.py)


def test_client_limited_warning_and_client_kept() -> None:
    client = {"workers": 2, "limited": True, "reason": "scheduling delay p99 40 ms > 10 ms"}
    b = compile_results([result(0.0)], client=client)
    assert b.client == client
    assert any(w.startswith("client-limited: scheduling delay p99 40 ms") for w in b.warnings)


def test_output_sampling_keeps_only_n_texts() -> None:
    results = [result(float(i), output_text=f"text {i}") for i in range(5)]
    b = compile_results(results, output_sampling=2)
    assert [s["output_text"] for s in b.samples] == ["text 0", "text 1"]
    assert compile_results(results).samples == []


def test_hundred_thousand_requests_report_is_small() -> None:
    agg = BenchmarkAggregator(
        index=0,
        strategy={"type": "throughput"},
        warmup=None,
        cooldown=None,
        max_seconds=None,
        max_requests=None,
        slo=None,
    )
    template = result(0.0, tokens=16)
    for _ in range(100_000):
        agg.add(template)
    b = agg.compile(start_time=0.0, end_time=1.0, client={})
    size = len(json.dumps(Report.create({}, [b]).to_dict()))
    assert b.requests.successful == 100_000
    assert size < 200_000


def test_concurrency_percentiles_are_fractions_of_the_window_time() -> None:
    # A 0.5 s window: 1 in flight for 0.25 s, then 3 for 0.25 s.
    runs = [
        RequestResult("a", "successful", 0.0, 0.0, 0.5),
        RequestResult("b", "successful", 0.25, 0.25, 0.5),
        RequestResult("c", "successful", 0.25, 0.25, 0.5),
    ]
    c = compile_results(runs, start_time=0.0, end_time=0.5).metrics.request_concurrency.total
    assert c.mean == pytest.approx(2.0)
    assert c.percentiles.p10 == 1.0 and c.percentiles.p25 == 1.0
    assert c.percentiles.p75 == 3.0 and c.percentiles.p99 == 3.0
    # A 10 s window at 1 for 9.5 s and 2 for the last 0.5 s: p90 is 1, p99 is 2.
    long = [
        RequestResult("a", "successful", 0.0, 0.0, 10.0),
        RequestResult("b", "successful", 9.5, 9.5, 10.0),
    ]
    c = compile_results(long, start_time=0.0, end_time=10.0).metrics.request_concurrency.total
    assert c.percentiles.p90 == 1.0 and c.percentiles.p99 == 2.0


def test_error_examples_are_taken_from_the_first_message() -> None:
    # A first error without a message must not leave the category without an example. (Secrets
    # are removed once, where a result leaves its worker: tests/unit/scheduler and the chaos
    # suite check that boundary.)
    results = [
        result(0.0, status="errored", ttft=None, tokens=0, error_category="http_4xx"),
        result(
            1.0,
            status="errored",
            ttft=None,
            tokens=0,
            error_category="http_4xx",
            error="HTTP 401: bad header",
        ),
    ]
    b = compile_results(results, start_time=0.0, end_time=2.0, output_sampling=5)
    assert b.error_examples["http_4xx"] == "HTTP 401: bad header"
