"""Every statistic against hand-computed values (docs/metrics.md, "Summaries")."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guidellm.benchmark.statistics import (
    PERCENTILES,
    LogHistogram,
    summarize,
    summarize_histogram,
)


def test_unweighted_summary_by_hand() -> None:
    s = summarize(np.array([4.0, 1.0, 3.0, 2.0]))
    assert s["count"] == 4
    assert s["mean"] == 2.5
    assert s["median"] == 2.5
    assert s["min"] == 1.0 and s["max"] == 4.0
    assert s["std"] == pytest.approx(math.sqrt(1.25))  # population std
    p = s["percentiles"]
    # rank q*(n-1) = q*3, linear between neighbours
    assert p["p25"] == pytest.approx(1.75)
    assert p["p75"] == pytest.approx(3.25)
    assert p["p90"] == pytest.approx(3.7)
    assert p["p001"] == pytest.approx(1.003)
    assert p["p999"] == pytest.approx(3.997)
    assert list(p) == list(PERCENTILES)


def test_weighted_summary_by_hand() -> None:
    # Values 1 (weight 1) and 3 (weight 3) are the list [1, 3, 3, 3].
    s = summarize(np.array([3.0, 1.0]), np.array([3.0, 1.0]))
    assert s["count"] == 2  # requests, not tokens
    assert s["mean"] == pytest.approx(2.5)
    assert s["median"] == pytest.approx(3.0)
    assert s["percentiles"]["p25"] == pytest.approx(2.5)  # rank 0.75 between 1 and 3
    assert s["std"] == pytest.approx(math.sqrt(0.75))
    assert s["min"] == 1.0 and s["max"] == 3.0


def test_zero_weights_are_dropped() -> None:
    s = summarize(np.array([1.0, 100.0, 3.0]), np.array([1.0, 0.0, 1.0]))
    assert s["count"] == 2
    assert s["max"] == 3.0


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(0, 1e4, allow_nan=False), st.integers(1, 20)), min_size=1, max_size=40
    )
)
def test_weighted_equals_repeated_values(pairs: list[tuple[float, int]]) -> None:
    values = np.array([v for v, _ in pairs])
    weights = np.array([float(w) for _, w in pairs])
    expanded = np.repeat(values, [w for _, w in pairs])
    s = summarize(values, weights)
    expected = np.percentile(expanded, [q * 100 for q in PERCENTILES.values()])
    got = [s["percentiles"][k] for k in PERCENTILES]
    assert got == pytest.approx(list(expected), rel=1e-9, abs=1e-9)
    assert s["mean"] == pytest.approx(float(expanded.mean()), rel=1e-9, abs=1e-9)
    assert s["std"] == pytest.approx(float(expanded.std()), rel=1e-6, abs=1e-6)


def test_empty_and_single() -> None:
    empty = summarize(np.zeros(0))
    assert empty["count"] == 0
    assert empty["mean"] is None and empty["median"] is None and empty["max"] is None
    assert all(v is None for v in empty["percentiles"].values())
    one = summarize(np.array([7.5]))
    assert one["count"] == 1
    assert one["mean"] == one["median"] == one["min"] == one["max"] == 7.5
    assert one["std"] == 0.0
    assert all(v == 7.5 for v in one["percentiles"].values())
    assert one["ci95"] is None
    assert "withheld" in one["ci_note"] and "have 1" in one["ci_note"]


def test_confidence_intervals_and_withholding() -> None:
    values = np.arange(100, dtype=float)
    s = summarize(values)
    half = 1.959963984540054 * float(values.std(ddof=1)) / 10.0
    assert s["ci95"]["mean"] == pytest.approx([49.5 - half, 49.5 + half])
    # p50: percentiles at 0.5 -+ 1.96*sqrt(0.25/100) = 0.402, 0.598 -> ranks 39.8, 59.2
    assert s["ci95"]["p50"] == pytest.approx([39.80, 59.20], abs=0.01)
    assert "p90" in s["ci95"]  # needs 50
    assert "p99" not in s["ci95"]  # needs 500
    assert "p99 (needs 500 samples)" in s["ci_note"]
    small = summarize(np.arange(20, dtype=float))
    assert small["ci95"] is None
    assert "mean (needs 30 samples)" in small["ci_note"]
    big = summarize(np.arange(1000, dtype=float))
    assert set(big["ci95"]) == {"mean", "p50", "p90", "p99"}
    assert big["ci_note"] is None
    lo, hi = big["ci95"]["p99"]
    assert lo < big["percentiles"]["p99"] < hi


def test_weighted_mean_interval_reduces_to_unweighted() -> None:
    values = np.linspace(1, 50, 64)
    a = summarize(values)["ci95"]["mean"]
    b = summarize(values, np.ones(64))["ci95"]["mean"]
    assert a == pytest.approx(b)


def test_log_histogram_percentiles_within_half_a_percent() -> None:
    rng = np.random.default_rng(3)
    values = rng.lognormal(mean=2.0, sigma=1.0, size=50_000)
    counts = np.bincount(LogHistogram.bucket_of(values), minlength=LogHistogram.BUCKETS)
    s = summarize_histogram(
        counts,
        total=float(values.sum()),
        total_sq=float((values**2).sum()),
        vmin=float(values.min()),
        vmax=float(values.max()),
    )
    exact = summarize(values)
    assert s["count"] == 50_000
    assert s["mean"] == pytest.approx(exact["mean"])
    assert s["std"] == pytest.approx(exact["std"], rel=1e-6)
    for key in PERCENTILES:
        assert s["percentiles"][key] == pytest.approx(exact["percentiles"][key], rel=0.005)


def test_log_histogram_zero_gaps() -> None:
    buckets = LogHistogram.bucket_of(np.array([0.0, 0.0005, 1.0]))
    assert list(buckets[:2]) == [0, 0]
    assert buckets[2] > 0
    assert LogHistogram.representatives()[0] == 0.0
