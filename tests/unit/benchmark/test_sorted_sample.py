"""SortedSample, GrowableColumns and ConcurrencyTimeline against brute-force numpy, and the
aggregator's window rule and status splits across many flushed blocks."""

from __future__ import annotations

import numpy as np
import pytest
from reportdata import compile_results, stream

from guidellm.benchmark.sorted_sample import GrowableColumns, SortedSample
from guidellm.benchmark.statistics import PERCENTILES
from guidellm.benchmark.timeline import ConcurrencyTimeline


def test_sorted_sample_merges_blocks_in_order_and_keeps_rows() -> None:
    rng = np.random.default_rng(3)
    everything = rng.integers(0, 50, size=1000).astype(np.float64)  # many ties
    everything[::17] = np.nan
    sample = SortedSample()
    for lo in range(0, 1000, 137):
        sample.extend(everything[lo : lo + 137], lo)
    kept = everything[~np.isnan(everything)]
    assert np.array_equal(sample.values, np.sort(kept))
    # Each value points back at a row holding exactly that value; every kept row once.
    assert np.array_equal(everything[sample.rows], sample.values)
    assert sorted(sample.rows.tolist()) == np.nonzero(~np.isnan(everything))[0].tolist()


def test_sorted_sample_weights_follow_their_values_and_zero_weights_drop() -> None:
    values = np.array([5.0, 1.0, 3.0, 2.0, 4.0, 1.0])
    weights = np.array([1.0, 0.0, 3.0, 2.0, 4.0, 6.0])
    sample = SortedSample(weighted=True)
    sample.extend(values[:3], 0, weights[:3])
    sample.extend(values[3:], 3, weights[3:])
    assert sample.values.tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert sample.weights is not None
    assert sample.weights.tolist() == [6.0, 2.0, 3.0, 4.0, 1.0]
    assert sample.rows.tolist() == [5, 3, 2, 4, 0]
    with pytest.raises(ValueError, match="weights"):
        sample.extend(values, 6)


def test_growable_columns_keep_every_block() -> None:
    cols = GrowableColumns({"a": np.float64, "b": np.int64}, capacity=2)
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
    # Token-weighted ITL of the total: each request's ITL repeated (tokens - 1) times.
    itl = np.repeat([(r.last_token_time - r.first_token_time) * 1000 / 5 for r in kept], 5)
    total = b.metrics.inter_token_latency_ms.total
    assert total.count == len(kept)
    assert total.percentiles.p99 == pytest.approx(float(np.quantile(itl, 0.99)))
    assert total.median == pytest.approx(float(np.median(itl)))
