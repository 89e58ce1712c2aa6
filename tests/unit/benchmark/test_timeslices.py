"""Time slices and stage summaries against small cases computed by hand."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from reportdata import compile_results, result

from guidellm.benchmark.aggregator import BenchmarkAggregator
from guidellm.benchmark.timeline import ConcurrencyTimeline
from guidellm.benchmark.timeslices import parse_duration, slice_size
from guidellm.errors import UserError

HIST = 0.005  # log-histogram percentiles: within 0.5 %


def _approx(value: float | None, expected: float) -> bool:
    return value is not None and abs(value - expected) <= HIST * abs(expected) + 1e-9


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1s", 1.0), ("500ms", 0.5), ("2m", 120.0), ("1h", 3600.0), ("0.25", 0.25), (3, 3.0)],
)
def test_parse_duration(text: Any, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["0", "-1s", "abc", "1 d", "nan", True])
def test_parse_duration_rejects(text: Any) -> None:
    with pytest.raises(ValueError, match="must be"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("duration", "factor"),
    [(10.0, 1), (300.0, 1), (300.5, 2), (600.0, 2), (1000.0, 5), (3000.0, 10), (1e5, 500)],
)
def test_widening_picks_the_smallest_nice_factor(duration: float, factor: int) -> None:
    assert slice_size(1.0, duration) == factor


def _hand_case(**options: Any) -> Any:
    # Slices of 1 s from 0: [0,1) [1,2) [2,3) and the partial [3,3.5].
    results = [
        result(0.1, ttft=0.1, itl=0.1, tokens=4, scheduled=0.05),  # ends 0.401 -> slice 0
        result(0.9, ttft=0.2, itl=0.05, tokens=3),  # ends 1.201 -> slice 1
        result(1.0, ttft=0.3, tokens=0, status="errored", error_category="http_5xx"),
        result(2.5, ttft=0.5, itl=0.1, tokens=3),  # ends 3.201 -> slice 3
    ]
    return compile_results(results, start_time=0.0, end_time=3.5, **options)


def test_counts_rates_boundaries_and_the_last_partial_slice() -> None:
    ts = _hand_case().timeslices
    assert ts.size == 1.0 and ts.asked == 1.0 and not ts.widened
    assert ts.start_s == [0.0, 1.0, 2.0, 3.0]
    assert ts.end_s == [1.0, 2.0, 3.0, 3.5]
    assert ts.started == [2, 1, 1, 0]  # the request starting at exactly 1.0 is in slice 1
    assert ts.successful == [1, 1, 0, 1]
    assert ts.errored == [0, 1, 0, 0]
    assert ts.incomplete == [0, 0, 0, 0]
    assert ts.requests_per_second == [2.0, 1.0, 1.0, 0.0]
    # Output tokens of the successful requests ending in the slice, per second of it.
    assert ts.output_tokens_per_second == [4.0, 3.0, 0.0, 6.0]
    assert ts.phase == ["measured"] * 4
    assert ts.stage is None
    assert all(
        math.isclose(e - s, ts.end_s[i] - ts.start_s[i], abs_tol=1e-5)
        for i, (s, e) in enumerate(zip(ts.start_time, ts.end_time, strict=True))
    )


def test_intended_rate_counts_intended_send_times() -> None:
    """A request due at 0.95 s but sent at 1.05 s counts as intended in slice 0 and
    started in slice 1: the achieved rate lags the schedule's."""
    results = [
        result(0.2, ttft=0.1, tokens=2),
        result(1.05, ttft=0.1, tokens=2, scheduled=0.95),
        result(1.5, ttft=0.1, tokens=2),
    ]
    ts = compile_results(results, start_time=0.0, end_time=2.0).timeslices
    assert ts.started == [1, 2]
    assert ts.intended_per_second == [2.0, 1.0]
    assert ts.requests_per_second == [1.0, 2.0]


def test_concurrency_is_time_weighted_within_each_slice() -> None:
    ts = _hand_case().timeslices
    # In flight: [0.1,0.401] [0.9,1.201] [1.0,1.301] [2.5,3.201].
    expected = [0.401 + 0.1, 0.201 + 0.301, 0.5, 0.201 / 0.5]
    for got, want in zip(ts.concurrency_mean, expected, strict=True):
        assert got == pytest.approx(want, abs=1e-5)


def test_percentiles_of_requests_ending_in_the_slice() -> None:
    ts = _hand_case().timeslices
    assert _approx(ts.ttft_ms_p50[0], 100.0) and _approx(ts.ttft_ms_p99[1], 200.0)
    assert ts.ttft_ms_p50[2] is None and ts.itl_ms_p99[2] is None  # empty slice
    assert _approx(ts.itl_ms_p50[1], 50.0)
    assert _approx(ts.latency_s_p50[3], 0.701)
    # Scheduling delay by start slice: 50 ms for the first request, 0 for the second.
    assert _approx(ts.scheduling_delay_ms_p99[0], 0.99 * 50.0)
    assert ts.scheduling_delay_ms_p99[3] is None


def test_percentiles_interpolate_like_the_benchmark() -> None:
    ttfts = [0.010, 0.020, 0.030, 0.040, 0.100]
    results = [result(0.1 * i, ttft=t, tokens=2) for i, t in enumerate(ttfts)]
    b = compile_results(results, start_time=0.0, end_time=1.0)
    ts = b.timeslices
    for q, key in ((50, "ttft_ms_p50"), (90, "ttft_ms_p90"), (99, "ttft_ms_p99")):
        exact = float(np.percentile(np.array(ttfts) * 1000, q))
        assert _approx(getattr(ts, key)[0], exact), key
        summary = b.metrics.time_to_first_token_ms.successful
        assert _approx(summary.stat(f"p{q}"), exact)


def test_long_benchmarks_are_widened() -> None:
    results = [result(0.7 * i, tokens=2) for i in range(1000)]  # 700 s
    b = compile_results(results, start_time=0.0, end_time=700.0)
    ts = b.timeslices
    assert ts.size == 5.0 and ts.asked == 1.0 and ts.widened
    assert len(ts) == 140 and sum(ts.started) == 1000 and sum(ts.successful) == 1000
    assert ts.end_s[-1] == 700.0


def test_time_slice_option_and_bad_values() -> None:
    results = [result(0.1 * i, tokens=2) for i in range(20)]
    ts = compile_results(results, start_time=0.0, end_time=2.0, time_slice="500ms").timeslices
    assert ts.size == 0.5 and len(ts) == 4 and ts.started == [5, 5, 5, 5]
    with pytest.raises(UserError, match="--time-slice"):
        compile_results(results, time_slice="soon")


def test_slices_tallied_during_the_run_equal_those_from_compile() -> None:
    results = [result(0.003 * i, ttft=0.01 + 0.001 * (i % 7), tokens=5) for i in range(9000)]
    kwargs: dict[str, Any] = {
        "index": 0,
        "strategy": {"type": "constant", "rate": 333.0},
        "warmup": None,
        "cooldown": None,
        "max_seconds": None,
        "max_requests": None,
        "slo": None,
    }
    early = BenchmarkAggregator(origin=0.0, **kwargs)  # known from the start, as a run
    late = BenchmarkAggregator(**kwargs)  # known only at compile (journal rebuild)
    wrong = BenchmarkAggregator(origin=-5.0, **kwargs)  # re-sliced from the real start
    for agg in (early, late, wrong):
        for r in results:
            agg.add(r)
    # (Epoch times differ: each aggregator reads the clock offset when it is made.)
    out = [
        agg.compile(start_time=0.0, end_time=27.5, client={}).timeslices.model_dump(
            exclude={"start_time", "end_time"}
        )
        for agg in (early, late, wrong)
    ]
    assert out[0] == out[1] == out[2]
    assert sum(out[0]["started"]) == 9000


def test_warmup_and_cooldown_slices_are_marked() -> None:
    results = [result(0.5 * i, tokens=2) for i in range(10)]
    b = compile_results(results, start_time=0.0, end_time=5.0, warmup=1.0, cooldown=1.0)
    ts = b.timeslices
    assert ts.phase == ["warmup", "measured", "measured", "measured", "cooldown"]
    assert sum(ts.started) == 10  # slices cover the whole benchmark
    assert b.requests.outside_window > 0


def test_timeline_areas_match_a_brute_force_sum() -> None:
    rng = np.random.default_rng(1)
    starts = rng.random(500) * 10
    ends = starts + rng.random(500)
    tl = ConcurrencyTimeline(capacity=16)
    for i in range(0, 500, 100):
        tl.extend(starts[i : i + 100], ends[i : i + 100], np.zeros(100, dtype=np.int64))
    at = np.array([0.0, 2.5, 5.0, 10.0, 12.0])
    brute = [float(np.sum(np.clip(np.minimum(ends, x) - starts, 0, None))) for x in at]
    assert np.allclose(tl.areas(at), brute, atol=1e-9)


STAGES = [
    {"index": 0, "start_s": 0.0, "end_s": 2.0, "rate": 5.0},
    {"index": 1, "start_s": 2.0, "end_s": 4.0, "rate": 5.0, "ramp_to": 15.0},
    {"index": 2, "start_s": 4.0, "end_s": 5.0, "concurrency": 3},
]


def test_stage_summaries_group_requests_by_intended_send_time() -> None:
    results = []
    for i in range(40):
        sched = i * 0.125  # 8/s for 5 s
        ok = i % 10 != 9
        results.append(
            result(
                sched + 0.01,
                scheduled=sched,
                ttft=0.02 + 0.001 * i,
                tokens=3 if ok else 0,
                status="successful" if ok else "errored",
                error_category=None if ok else "http_5xx",
            )
        )
    b = compile_results(
        results, start_time=0.0, end_time=5.2, strategy={"type": "stages", "stages": STAGES}
    )
    assert b.stages is not None and [s.index for s in b.stages] == [0, 1, 2]
    s0, s1, s2 = b.stages
    assert (s0.successful, s0.errored, s0.incomplete) == (15, 1, 0)  # i 0..15, 9 errored
    assert (s1.successful, s1.errored) == (14, 2)  # i 16..31: 19 and 29 errored
    assert (s2.successful, s2.errored) == (7, 1)  # i 32..39: 39 errored
    assert s0.requests_per_second == 8.0 and s2.requests_per_second == 8.0
    assert s0.intended_rate == 5.0 and s1.intended_rate == 10.0 and s2.intended_rate is None
    assert s2.concurrency == 3
    assert s0.output_tokens_per_second == 15 * 3 / 2.0
    ttft0 = [(0.02 + 0.001 * i) * 1000 for i in range(16) if i % 10 != 9]
    assert s0.ttft_ms_p50 == pytest.approx(float(np.percentile(ttft0, 50)))
    assert s0.ttft_ms_p99 == pytest.approx(float(np.percentile(ttft0, 99)))
    assert b.timeslices.stage == [0, 0, 1, 1, 2, None]  # the last slice is past every stage


def test_malformed_stages_warn_and_are_left_out() -> None:
    b = compile_results(
        [result(0.1)], strategy={"type": "stages", "stages": [{"index": 0, "start_s": 1}]}
    )
    assert b.stages is None
    assert any("stages are malformed" in w for w in b.warnings)


@pytest.mark.parametrize("seconds", [3500, 40_000])
def test_a_long_run_keeps_few_base_slices_and_reports_the_same(
    monkeypatch: pytest.MonkeyPatch, seconds: int
) -> None:
    """Past 1,500 base slices ten merge into one (a report then widens by 10 or more):
    the slices it shows are the ones it showed when every base slice was kept."""
    from guidellm.benchmark import aggregator, timeslices

    monkeypatch.setattr(aggregator, "epoch_offset", lambda: 1.7e9)  # the same wall clock
    rng = np.random.default_rng(seconds)
    results = [
        result(float(t), ttft=0.01 + 0.05 * rng.random(), tokens=3)
        for t in np.sort(rng.random(6000) * seconds)
    ]
    merged = compile_results(results, start_time=0.0, end_time=float(seconds))
    monkeypatch.setattr(timeslices, "_MAX_BASE", 10**9)
    kept = compile_results(results, start_time=0.0, end_time=float(seconds))
    assert merged.timeslices == kept.timeslices
    assert merged.timeslices.size == slice_size(1.0, seconds)  # 3,500 s: 20 s; 40,000 s: 200 s


def test_requests_drained_after_the_end_do_not_widen_the_slices() -> None:
    """A 1,500 s benchmark shows 300 slices of 5 s; requests cancelled after its end end
    past base slice 1,500, which must not merge the base slices into 10 s ones."""
    results = [result(float(t), tokens=2) for t in range(0, 1500, 3)]
    results += [result(1499.5, ttft=None, tail=30.0 + k, status="incomplete") for k in range(5)]
    bench = compile_results(results, start_time=0.0, end_time=1500.0)
    assert bench.timeslices.size == 5.0
    assert len(bench.timeslices.start_s) == 300


@pytest.mark.parametrize("seconds", [900, 3500])
def test_pairs_moved_to_disk_report_the_slices_kept_in_memory(
    monkeypatch: pytest.MonkeyPatch, seconds: int
) -> None:
    """The histograms of all but the newest slices move out as the run goes (and are folded
    there when ten base slices merge, past 1,500 s): the same slices, to the last bit. Some
    rows end out of order, so a spilled slice gets a late pair too."""
    from guidellm.benchmark import aggregator, spill, timeslices

    monkeypatch.setattr(aggregator, "epoch_offset", lambda: 1.7e9)
    rng = np.random.default_rng(seconds)
    results = [
        result(float(t), ttft=0.01 + 0.05 * rng.random(), tokens=3, tail=rng.random() * 40)
        for t in np.sort(rng.random(8000) * seconds)
    ]
    kept = compile_results(results, start_time=0.0, end_time=float(seconds))
    moved: list[int] = []

    class Counted(spill.SpillArray):
        def append(self, values: Any) -> int:
            moved.append(len(values))
            return super().append(values)

    monkeypatch.setattr(timeslices, "SpillArray", Counted)
    monkeypatch.setattr(spill, "SPILL_ROWS", 64)  # on disk past 64 pairs
    monkeypatch.setattr(timeslices, "_COMPACT_AT", 200)
    monkeypatch.setattr(timeslices, "_READ_PAIRS", 300)
    spilled = compile_results(results, start_time=0.0, end_time=float(seconds))
    assert sum(moved) > 2000  # pairs did move out
    assert spilled.timeslices == kept.timeslices
    assert kept.timeslices.ttft_ms_p99[0] is not None


def test_a_long_run_keeps_only_the_newest_histograms_in_memory() -> None:
    """25 minutes at 1,000 rows/s with spread latencies: about a million (slice, bucket)
    pairs in all, at most a compaction's worth in memory."""
    from guidellm.benchmark import timeslices

    rng = np.random.default_rng(1)
    acc = timeslices.SliceAccumulator(0.0, 1.0)
    rate, block = 1000, 4096
    for first in range(0, 1490 * rate, block):
        start = (first + np.sort(rng.random(block)) * block) / rate
        latency = rng.lognormal(np.log(0.15), 0.3, block)
        acc.add(
            {
                "status": np.zeros(block, dtype=np.int64),
                "start": start,
                "end": start + latency,
                "scheduled": start - rng.random(block) * 1e-3,
                "output_tokens": np.full(block, 128.0),
                "ttft": rng.lognormal(np.log(20), 0.4, block),
                "itl": rng.lognormal(np.log(1), 0.3, block),
            }
        )
    in_memory = sum(len(keys) for pairs in acc._pairs.values() for keys, _ in pairs)
    spilled = sum(keys.size for keys, _ in acc._spilled.values())
    assert spilled > 500_000
    assert in_memory <= timeslices._COMPACT_AT
