"""SortedSample, GrowableColumns and ConcurrencyTimeline against brute-force numpy, and the
aggregator's window rule and status splits across many flushed blocks."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from reportdata import compile_results, result, stream

from guidellm.benchmark.sorted_sample import GrowableColumns, Moments, SortedRuns, SortedSample
from guidellm.benchmark.statistics import PERCENTILES, summarize, summarize_runs
from guidellm.benchmark.timeline import ConcurrencyTimeline
from guidellm.request import RequestResult


@pytest.mark.parametrize(("size", "block"), [(1000, 137), (60_000, 3000)])
def test_sorted_sample_merges_blocks_in_order_and_keeps_rows(size: int, block: int) -> None:
    """Small: every block stays in the tail. Large: the tail joins the large arrays several
    times (at 4,096 values and 1/16 of theirs); either way both are sorted and complete."""
    rng = np.random.default_rng(3)
    everything = rng.integers(0, 50, size=size).astype(np.float64)  # many ties
    everything[::17] = np.nan
    sample = SortedSample()
    for lo in range(0, size, block):
        part = everything[lo : lo + block]
        sample.extend(part, np.arange(lo, lo + len(part)), defer=lo + block >= size)
    if size > 10_000:
        assert len(sample.values) > len(sample.tail_values) > 0
    for values, rows in ((sample.values, sample.rows), (sample.tail_values, sample.tail_rows)):
        assert np.all(np.diff(values) >= 0)
        # Each value points back at a row holding exactly that value.
        assert np.array_equal(everything[rows], values)
    kept = everything[~np.isnan(everything)]
    assert np.array_equal(sample.runs().at_index(np.arange(len(kept))), np.sort(kept))
    rows = np.concatenate([sample.rows, sample.tail_rows])
    assert sorted(rows.tolist()) == np.nonzero(~np.isnan(everything))[0].tolist()


def test_sorted_sample_weights_follow_their_values_and_zero_weights_drop() -> None:
    values = np.array([5.0, 1.0, 3.0, 2.0, 4.0, 1.0])
    weights = np.array([1.0, 0.0, 3.0, 2.0, 4.0, 6.0])
    sample = SortedSample(weighted=True)
    sample.extend(values[:3], np.arange(3), weights[:3])
    sample.extend(values[3:], np.arange(3, 6), weights[3:])
    assert sample.tail_values.tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert sample.tail_weights is not None
    assert sample.tail_weights.tolist() == [6.0, 2.0, 3.0, 4.0, 1.0]
    assert sample.tail_rows.tolist() == [5, 3, 2, 4, 0]
    with pytest.raises(ValueError, match="weights"):
        sample.extend(values, np.arange(6, 12))


def test_growable_columns_keep_every_block() -> None:
    cols = GrowableColumns({"a": np.float64, "b": np.int64})
    assert cols.append({"a": [1.0, 2.0, 3.0], "b": [1, 2, 3]}) == 0
    assert cols.append({"a": [4.0], "b": [4]}) == 3
    view = cols.view()
    assert view["a"].tolist() == [1.0, 2.0, 3.0, 4.0]
    assert view["b"].tolist() == [1, 2, 3, 4]


def _brute_force_levels(starts: np.ndarray, ends: np.ndarray, t: np.ndarray) -> np.ndarray:
    return ((starts[:, None] <= t) & (ends[:, None] > t)).sum(axis=0)


def test_timeline_levels_match_brute_force_across_blocks() -> None:
    rng = np.random.default_rng(5)
    starts = np.sort(rng.random(600) * 10)
    ends = starts + rng.random(600) * 2
    ends[::50] = starts[::50]  # zero-length requests have no events
    status = rng.integers(0, 3, size=600)
    timeline = ConcurrencyTimeline()
    for lo in range(0, 600, 100):  # blocks arrive out of time order
        sl = slice(lo, lo + 100)
        order = rng.permutation(100)
        timeline.extend(starts[sl][order], ends[sl][order], status[sl][order])
    assert np.all(np.diff(timeline.times) >= 0)
    probe = np.sort(rng.random(200) * 12)
    idx = np.searchsorted(timeline.times, probe, side="right") - 1
    got = np.where(idx >= 0, timeline.levels[np.maximum(idx, 0)], 0)
    assert np.array_equal(got, _brute_force_levels(starts, ends, probe))


def test_timeline_window_summary_is_the_time_weighted_level() -> None:
    # 0-1: 1, 1-2: 2, 2-3: 1, 3-4: 0; window [0.5, 3.5]: 0.5 s at 1, 1 s at 2, 1 s at 1,
    # 0.5 s at 0 -> mean (0.5 + 2 + 1) / 3.
    timeline = ConcurrencyTimeline()
    timeline.extend(np.array([0.0, 1.0]), np.array([2.0, 3.0]), np.array([0, 1]))
    out = timeline.summaries(0.5, 3.5, np.array([1, 1, 0]))
    assert out["total"]["mean"] == pytest.approx(3.5 / 3)
    assert out["total"]["max"] == 2.0 and out["total"]["min"] == 0.0
    assert out["total"]["count"] == 2
    assert out["successful"]["mean"] == pytest.approx(1.5 / 3)  # 0.5-2 s
    assert out["errored"]["mean"] == pytest.approx(2.0 / 3)  # 1-3 s
    assert out["incomplete"]["count"] == 0
    assert timeline.summaries(2.0, 2.0, np.array([1, 1, 0]))["total"]["count"] == 0


def test_window_and_status_split_across_many_blocks_match_numpy() -> None:
    """20,000 results (five flushed blocks), errors mixed in, warmup and cooldown: every
    percentile equals numpy's on exactly the requests the window keeps."""
    results = stream(20_000, rate=1000.0, seed=11, tokens=6, error_every=13)
    b = compile_results(results, start_time=0.0, end_time=20.2, warmup=0.1, cooldown=3)
    lo, hi = 2.02, 17.2
    kept = [r for r in results if lo <= r.request_start <= hi]
    assert b.requests.outside_window == len(results) - len(kept)
    for status in ("successful", "errored"):
        rows = [r for r in kept if r.status == status]
        ttft = np.array([(r.first_token_time - r.request_start) * 1000 for r in rows])
        s = getattr(b.metrics.time_to_first_token_ms, status)
        assert s.count == len(rows)
        for key, q in PERCENTILES.items():
            assert getattr(s.percentiles, key) == pytest.approx(float(np.quantile(ttft, q)))
        assert s.mean == pytest.approx(float(ttft.mean()))
    # Concurrency counts every request overlapping the window, outside-window starts included.
    overlapping = [r for r in results if r.request_end > lo and r.request_start < hi]
    assert b.metrics.request_concurrency.total.count == len(overlapping)
    assert b.metrics.request_concurrency.errored.count == sum(
        r.status == "errored" for r in overlapping
    )
    # Rates and error counts: the window's requests only.
    assert b.metrics.requests_per_second.total == pytest.approx(len(kept) / (hi - lo))
    assert b.errors == {"http_5xx": sum(r.status == "errored" for r in kept)}
    # Token-weighted ITL of the total: each request's ITL repeated (tokens - 1) times.
    itl = np.repeat([(r.last_token_time - r.first_token_time) * 1000 / 5 for r in kept], 5)
    total = b.metrics.inter_token_latency_ms.total
    assert total.count == len(kept)
    assert total.percentiles.p99 == pytest.approx(float(np.quantile(itl, 0.99)))
    assert total.median == pytest.approx(float(np.median(itl)))


@pytest.mark.parametrize("sizes", [(500, 40), (0, 30), (30, 0), (1, 1), (200, 200)])
def test_sorted_runs_read_like_the_merged_array(sizes: tuple[int, int]) -> None:
    rng = np.random.default_rng(sum(sizes))
    a = np.sort(rng.integers(0, 20, size=sizes[0]).astype(np.float64))  # ties across runs
    b = np.sort(rng.integers(0, 20, size=sizes[1]).astype(np.float64))
    wa = rng.integers(1, 5, size=len(a)).astype(np.float64)
    wb = rng.integers(1, 5, size=len(b)).astype(np.float64)
    merged = np.concatenate([a, b])
    order = np.argsort(merged, kind="stable")
    values, weights = merged[order], np.concatenate([wa, wb])[order]
    runs = SortedRuns(a, b=b)
    positions = np.arange(len(values))
    assert np.array_equal(runs.at_index(positions), values)
    assert runs.smallest() == values[0] and runs.largest() == values[-1]
    # Weighted: the value at each expanded position is that of the values repeated.
    expanded = np.repeat(values, weights.astype(np.int64))
    weighted = SortedRuns(a, wa, None, b, wb)
    assert weighted.total_weight == len(expanded)
    ranks = np.arange(len(expanded) + 3, dtype=np.float64)  # 3 past the end: the largest
    want = np.concatenate([expanded, [values[-1]] * 3])
    assert np.array_equal(weighted.at_weight(ranks), want)


def test_summaries_of_two_runs_equal_those_of_one_sorted_array() -> None:
    rng = np.random.default_rng(8)
    a, b = np.sort(rng.random(3000)), np.sort(rng.random(700))
    wa, wb = rng.integers(1, 9, 3000).astype(np.float64), rng.integers(1, 9, 700).astype(float)
    for runs, args in (
        (SortedRuns(a, b=b), (np.concatenate([a, b]), None)),
        (SortedRuns(a, wa, None, b, wb), (np.concatenate([a, b]), np.concatenate([wa, wb]))),
    ):
        got, want = summarize_runs(runs), summarize(*args)
        assert got["percentiles"] == want["percentiles"]  # exact: the same order statistics
        assert got["ci95"]["p99"] == want["ci95"]["p99"]
        assert (got["min"], got["max"], got["count"]) == (want["min"], want["max"], want["count"])
        assert got["mean"] == pytest.approx(want["mean"], rel=1e-12)
        assert got["std"] == pytest.approx(want["std"], rel=1e-9)
    # The total of several statuses: the largest run kept, the others merged into the small one.
    union = SortedRuns.union([SortedRuns(a[::2], b=b[::2]), SortedRuns(a[1::2], b=b[1::2])])
    assert np.array_equal(union.at_index(np.arange(3700)), np.sort(np.concatenate([a, b])))


def test_last_block_stays_in_the_tail_and_counts() -> None:
    sample = SortedSample()
    sample.extend(np.arange(5000.0)[::-1] + 1, np.arange(5000))  # joins the large arrays
    assert len(sample.values) == 5000 and len(sample.tail_values) == 0
    sample.extend(np.array([2.5, 0.5]), np.array([5000, 5001]), defer=True)
    assert len(sample.values) == 5000  # the large arrays were not copied
    assert sample.tail_values.tolist() == [0.5, 2.5]
    assert len(sample) == 5002
    assert sample.runs().at_index(np.arange(5)).tolist() == [0.5, 1.0, 2.0, 2.5, 3.0]
    excluded = np.zeros(5002, dtype=bool)
    excluded[[4999, 5001]] = True  # rows holding 1.0 and 0.5
    assert sample.runs(excluded).at_index(np.arange(3)).tolist() == [2.0, 2.5, 3.0]


@pytest.mark.parametrize("weighted", [False, True])
def test_moments_combine_block_by_block_like_one_pass(weighted: bool) -> None:
    rng = np.random.default_rng(2)
    values = 50 + rng.random(10_000) * 10
    weights = rng.integers(1, 100, 10_000).astype(np.float64) if weighted else None
    running = Moments()
    for lo in range(0, 10_000, 999):
        w = None if weights is None else weights[lo : lo + 999]
        running = running + Moments.of(values[lo : lo + 999], w)
    w_all = np.ones_like(values) if weights is None else weights
    mean = float((values * w_all).sum() / w_all.sum())
    dev = values - mean
    assert running.n == 10_000
    assert running.w == pytest.approx(float(w_all.sum()))
    assert running.mean == pytest.approx(mean, rel=1e-13)
    assert running.m2 == pytest.approx(float((w_all * dev * dev).sum()), rel=1e-10)
    assert running.q2 == pytest.approx(float(((w_all * dev) ** 2).sum()), rel=1e-10)


def test_chunky_results_prepared_in_small_blocks_match_numpy() -> None:
    """300 chunks per result: results are prepared every ~218 (the chunk threshold) but merged
    every 4,096 rows; percentiles and gap counts are those of every kept request."""
    results = stream(6000, rate=500.0, seed=4, tokens=300, error_every=7)
    b = compile_results(results, start_time=0.0, end_time=12.5, warmup=1)
    kept = [r for r in results if r.request_start >= 1.0 and r.status == "successful"]
    ttft = np.array([(r.first_token_time - r.request_start) * 1000 for r in kept])
    s = b.metrics.time_to_first_token_ms.successful
    assert s.count == len(kept)
    assert s.percentiles.p90 == pytest.approx(float(np.quantile(ttft, 0.9)))
    assert b.metrics.inter_chunk_latency_ms.successful.count == 299 * len(kept)
    gaps = np.concatenate([np.diff(r.chunk_times) * 1000 for r in kept])
    ic = b.metrics.inter_chunk_latency_ms.successful
    assert ic.min == pytest.approx(float(gaps.min())) and ic.max == pytest.approx(float(gaps.max()))
    assert ic.mean == pytest.approx(float(gaps.mean()))


def test_blocks_of_single_chunk_answers_have_no_gaps() -> None:
    results = [result(float(i), tokens=1) for i in range(5)]
    b = compile_results(results, start_time=0.0, end_time=5.0, warmup=1)
    assert b.metrics.inter_chunk_latency_ms.total.count == 0
    assert b.metrics.time_to_first_token_ms.successful.count == 4


def test_gap_spread_of_a_window_after_a_slow_warmup_is_exact() -> None:
    """Warmup requests with 2 s gaps, then ten with 1 ms +- 10 us: subtracting the warmup's
    sums of squares would leave rounding error; the window's own gaps give the true spread."""
    rng = np.random.default_rng(0)
    results = [result(i * 0.001, ttft=0.01, itl=2.0, tokens=200) for i in range(4000)]
    for i in range(10):
        start = 1000.0 + i
        times = [float(t) for t in start + 0.01 + np.cumsum(0.001 + rng.normal(0, 1e-5, 5))]
        results.append(
            RequestResult(f"m{i}", "successful", start, start, times[-1], times[0], times[-1],
                          chunk_times=times, content_chunks=5, prompt_tokens=1, output_tokens=5)
        )  # fmt: skip
    b = compile_results(results, start_time=0.0, end_time=1011.0, warmup=999)
    gaps = np.concatenate([np.diff(r.chunk_times) * 1000 for r in results[4000:]])
    ic = b.metrics.inter_chunk_latency_ms.successful
    assert ic.count == 40
    assert ic.mean == pytest.approx(float(gaps.mean()), rel=1e-9)
    assert ic.std == pytest.approx(float(gaps.std()), rel=1e-6)


def test_samples_taking_turns_merge_on_different_blocks_to_the_same_values(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Samples fed the same rows merge their on-disk tails on their own turns (one merge
    rewrites a whole sample), and hold the same values as one merging whenever it likes;
    no tail grows past the limit it had without turns. As in the aggregator: blocks of
    4,096, a turn every few blocks, the tail's limit on disk that many blocks."""
    from guidellm.benchmark import spill

    monkeypatch.setattr(spill, "SPILL_ROWS", 4 * 4096)
    samples = [SortedSample(), SortedSample(), SortedSample()]
    merges: dict[int, list[int]] = {id(sample): [] for sample in samples}
    original = SortedSample._merge_on_disk

    def counted(self: SortedSample, tail: Any) -> None:
        merges[id(self)].append(block)
        original(self, tail)

    monkeypatch.setattr(SortedSample, "_merge_on_disk", counted)
    rng = np.random.default_rng(5)
    everything = rng.random(200 * 4096)
    for block, lo in enumerate(range(0, len(everything), 4096)):
        part = everything[lo : lo + 4096]
        for k, sample in enumerate(samples):
            turn = None if k == 0 else block % 4 == k - 1  # the first: no turns
            sample.extend(part, np.arange(lo, lo + len(part)), turn=turn)
            assert len(sample.tail_values) < 4 * 4096
    free, first, second = (merges[id(sample)] for sample in samples)
    # Once the tail's limit is the spill's (a sample of 16 times that), turns are kept.
    steady = 16 * 4
    assert {b % 4 for b in first if b >= steady} == {0}
    assert {b % 4 for b in second if b >= steady} == {1}
    assert len([b for b in second if b >= steady]) > 30
    assert len({b % 4 for b in free if b >= steady}) == 1  # without turns: all on one block
    expected = np.sort(everything)
    for sample in samples:
        assert np.array_equal(sample.runs().at_index(np.arange(len(everything))), expected)
