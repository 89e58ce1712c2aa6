"""``guidellm compare`` logic: metric keys, units, gates and significance."""

from __future__ import annotations

import pytest
from reportdata import compile_results, result, stream

from guidellm.cli.compare import change_text, metric_value, parse_gate, significant
from guidellm.cli.compare import pair as pair_benchmarks
from guidellm.errors import UserError


@pytest.fixture(scope="module")
def pair() -> tuple[object, object]:
    a = compile_results(stream(600, rate=10.0, seed=1, ttft=0.05), start_time=0.0, end_time=60.5)
    b = compile_results(stream(600, rate=10.0, seed=2, ttft=0.08), start_time=0.0, end_time=60.5)
    return a, b


def test_metric_keys_and_units() -> None:
    b = compile_results([result(0.0, ttft=0.05, itl=0.01, tokens=4)], start_time=0.0,
                        end_time=2.0)  # fmt: skip
    assert metric_value(b, "ttft_p50_ms") == pytest.approx(50.0)
    assert metric_value(b, "ttft_median_s") == pytest.approx(0.05)
    assert metric_value(b, "latency_p50_ms") == pytest.approx(81.0)
    assert metric_value(b, "latency_mean_s") == pytest.approx(0.081)
    assert metric_value(b, "itl_max") == pytest.approx(10.0)
    assert metric_value(b, "output_tokens_p50") == 4
    assert metric_value(b, "rps") == pytest.approx(0.5)
    assert metric_value(b, "error_rate") == 0.0
    assert metric_value(b, "goodput_rps") is None
    with pytest.raises(UserError, match="unknown metric 'ttft_p50_tokens'"):
        metric_value(b, "ttft_p50_tokens")
    with pytest.raises(UserError, match="unknown metric 'speed'"):
        metric_value(b, "speed")


def test_throughput_keys_count_successful_requests_only() -> None:
    # An errored request's prompt (10 tokens, maybe never processed) is not throughput.
    ok = result(0.0, tokens=4)
    failed = result(1.0, status="errored", ttft=None, tokens=0, error_category="http_5xx")
    b = compile_results([ok, failed], start_time=0.0, end_time=2.0)
    assert metric_value(b, "tps") == pytest.approx((10 + 4) / 2)
    assert metric_value(b, "output_tps") == pytest.approx(4 / 2)
    assert b.metrics.tokens_per_second.total == pytest.approx((10 + 4 + 10) / 2)

    from guidellm.benchmark.report import Report
    from guidellm.outputs.tables import report_tables

    throughput = report_tables(Report.create({}, [b]))[-1]
    assert throughput.title == "Throughput"
    row = dict(zip(throughput.headers, throughput.rows[0], strict=True))
    assert (row["Out tok/s"], row["Tot tok/s"]) == ("2.0", "7.0")


def test_gate_kinds(pair: tuple[object, object]) -> None:
    a, b = pair
    rel = parse_gate("ttft_p50_ms>+10%")
    assert (rel.kind, rel.op, rel.value) == ("relative", ">", pytest.approx(0.10))
    failed, shown = rel.check(a, b)
    assert failed and "%" in shown
    assert not rel.check(a, a)[0]
    assert parse_gate("rps<-5%").check(a, a)[0] is False
    delta = parse_gate("ttft_p50_ms > +20")
    assert delta.kind == "delta"
    assert delta.check(a, b)[0]  # +30 ms
    assert not parse_gate("ttft_p50_ms>+40").check(a, b)[0]
    threshold = parse_gate("ttft_p99_ms>=1000")
    assert threshold.kind == "threshold" and not threshold.check(a, b)[0]
    assert parse_gate("error_rate>0.01").check(a, b)[0] is False
    for bad in ("ttft_p99_ms", "ttft_p99_ms>>1", "ttft_p99_ms>x%", "nope>1"):
        with pytest.raises(UserError):
            parse_gate(bad)


def test_significance_from_interval_overlap(pair: tuple[object, object]) -> None:
    a, b = pair
    assert significant(a, b, "ttft_p50_ms") is True
    assert significant(a, a, "ttft_p50_ms") is False
    assert significant(a, b, "rps") is None  # rates carry no interval
    assert significant(a, b, "ttft_p999_ms") is None


def _bench(strategy: dict[str, object], index: int = 0) -> object:
    return compile_results([result(0.0, ttft=0.05, tokens=4)], index=index, strategy=strategy,
                           start_time=0.0, end_time=2.0)  # fmt: skip


def test_benchmarks_pair_by_strategy_not_by_position() -> None:
    sync, c2, c4 = (_bench({"type": "synchronous", "streams": 1}),
                    _bench({"type": "constant", "rate": 2.0}),
                    _bench({"type": "constant", "rate": 4.0}))  # fmt: skip
    conc = _bench({"type": "concurrent", "streams": 8})
    got = pair_benchmarks(
        [sync, c2, c4, conc], [c4, _bench({"type": "concurrent", "streams": 16}), c2, sync]
    )
    assert [(a.label, b.label, how) for a, b, how in got.pairs] == [
        ("synchronous", "synchronous", "strategy"),
        ("constant 2/s", "constant 2/s", "strategy"),
        ("constant 4/s", "constant 4/s", "strategy"),
        ("concurrent 8", "concurrent 16", "order"),  # one left of its type on each side
    ]
    assert got.only_a == [] and got.only_b == []


def test_unmatched_benchmarks_are_only_in_a_or_only_in_b() -> None:
    a = [
        _bench({"type": "constant", "rate": 2.0}),
        _bench({"type": "throughput", "max_concurrency": 256}),
    ]
    b = [
        _bench({"type": "constant", "rate": 2.0}),
        _bench({"type": "poisson", "rate": 2.0}),
        _bench({"type": "constant", "rate": 3.0}),
        _bench({"type": "constant", "rate": 5.0}),
    ]
    got = pair_benchmarks(a, b)
    assert [(x.label, y.label) for x, y, _ in got.pairs] == [("constant 2/s", "constant 2/s")]
    assert [x.label for x in got.only_a] == ["throughput"]
    # Two constants left in B, none in A; the poisson has no partner either.
    assert [x.label for x in got.only_b] == ["poisson 2/s", "constant 3/s", "constant 5/s"]
    # Sweeps: each derives its constant rates from its own run, so they pair in order.
    sweep_a = [_bench({"type": "constant", "rate": r}) for r in (3.1, 5.5)]
    sweep_b = [_bench({"type": "constant", "rate": r}) for r in (3.2, 5.9)]
    got = pair_benchmarks(sweep_a, sweep_b)
    assert [(x.label, y.label, how) for x, y, how in got.pairs] == [
        ("constant 3.1/s", "constant 3.2/s", "order"),
        ("constant 5.5/s", "constant 5.9/s", "order"),
    ]


def test_a_change_from_zero_is_new_not_infinite() -> None:
    assert change_text(0.0, 3.0) == "new"
    assert change_text(0.0, -3.0) == "new"
    assert change_text(0.0, 0.0) == "+0.0%"
    assert change_text(2.0, 3.0) == "+50.0%"
    assert change_text(None, 3.0) == "-" and change_text(2.0, None) == "-"
    errors = parse_gate("errors>+10%")
    clean = compile_results([result(0.0, tokens=4)], start_time=0.0, end_time=2.0)
    broken = compile_results(
        [result(0.0, tokens=4), result(1.0, status="errored", ttft=None, tokens=0,
                                       error_category="http_5xx")],
        start_time=0.0, end_time=2.0,
    )  # fmt: skip
    failed, shown = errors.check(clean, broken)
    assert failed and shown == "0 -> 1 (new)"
