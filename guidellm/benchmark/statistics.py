"""Summaries of per-request values: the statistics every metric of a report is made of.

One definition everywhere (docs/metrics.md): percentiles interpolate linearly between the
closest ranks (numpy's default); a *weighted* percentile is the plain percentile of the list in
which every value is repeated ``weight`` times, computed without building that list. Standard
deviations are population ones (``ddof=0``), weighted the same way. Confidence intervals are
95 % (normal approximation for the mean, distribution-free order statistics for p50/p90/p99)
and are withheld, with a note saying why, when the sample is too small for them to mean much.

Inter-chunk gaps are far more numerous than requests, so they go into :class:`LogHistogram`,
a fixed log-bucket histogram whose percentiles are within :data:`HISTOGRAM_RELATIVE_ERROR` of
the exact ones (mean, std, min, max and count stay exact).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from guidellm.benchmark.sorted_sample import SortedRuns

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = [
    "CI_MIN_SAMPLES",
    "HISTOGRAM_RELATIVE_ERROR",
    "PERCENTILES",
    "STATUS_NAMES",
    "LogHistogram",
    "empty_summary",
    "goodput",
    "goodput_counts",
    "quantiles",
    "rates_by_status",
    "split_runs",
    "summarize",
    "summarize_histogram",
    "summarize_runs",
]

#: Status codes 0, 1, 2 of the aggregator's arrays, by name.
STATUS_NAMES = ("successful", "errored", "incomplete")

#: Report key -> quantile (0..1), in report order.
PERCENTILES: dict[str, float] = {
    "p001": 0.001,
    "p01": 0.01,
    "p05": 0.05,
    "p10": 0.10,
    "p25": 0.25,
    "p50": 0.50,
    "p75": 0.75,
    "p90": 0.90,
    "p95": 0.95,
    "p99": 0.99,
    "p999": 0.999,
}
_Q = np.array(list(PERCENTILES.values()))

#: Fewer samples than this: no confidence interval for the mean.
CI_MIN_SAMPLES = 30
#: A percentile's interval needs at least this many samples on each side of it.
_CI_TAIL = 5
_Z95 = 1.959963984540054
_CI_QUANTILES = {"p50": 0.5, "p90": 0.9, "p99": 0.99}

#: Largest relative error of a :class:`LogHistogram` percentile (0.5 %).
HISTOGRAM_RELATIVE_ERROR = 0.005


def empty_summary() -> dict[str, Any]:
    """The summary of no values: count 0, every statistic ``None``."""
    return {
        "mean": None,
        "median": None,
        "std": None,
        "min": None,
        "max": None,
        "count": 0,
        "percentiles": dict.fromkeys(PERCENTILES),
        "ci95": None,
        "ci_note": None,
    }


def quantiles(
    sorted_values: NDArray[np.float64] | SortedRuns,
    qs: NDArray[np.float64],
    cum_weights: NDArray[np.float64] | None = None,
) -> NDArray[np.float64]:
    """Quantiles ``qs`` of already sorted values (an array, or :class:`SortedRuns`).

    Weighted (``cum_weights``, the cumulative sum of the weights in sorted order, or weighted
    runs), the result equals the unweighted quantile of the values each repeated ``weight``
    times. This reads many quantiles at once off a sorted, possibly weighted sample held in
    runs, which is what a report needs; a percentile of a few unsorted numbers (the client's
    judgement of itself, live progress) is :func:`guidellm.percentile.percentile`, with the
    same interpolation.
    """
    if isinstance(sorted_values, SortedRuns):
        runs = sorted_values
    elif cum_weights is None:
        runs = SortedRuns(sorted_values)
    else:
        runs = SortedRuns(sorted_values, a_cum=cum_weights)
    if not runs.weighted:
        n = len(runs)
        h = qs * (n - 1)
        lo = np.floor(h).astype(np.int64)
        hi = np.minimum(lo + 1, n - 1)
        frac = h - lo
        both = runs.at_index(np.concatenate([lo, hi]))
    else:
        top = max(runs.total_weight - 1.0, 0.0)
        h = qs * top
        lo_rank = np.floor(h)
        hi_rank = np.minimum(lo_rank + 1.0, top)
        frac = h - lo_rank
        # Expanded position j belongs to the first value whose cumulative weight exceeds j.
        both = runs.at_weight(np.concatenate([lo_rank, hi_rank]))
    k = len(qs)
    lo_v = both[:k]
    result: NDArray[np.float64] = lo_v + frac * (both[k:] - lo_v)
    return result


def summarize(
    values: NDArray[np.float64],
    weights: NDArray[np.float64] | None = None,
    *,
    presorted: bool = False,
    ci: bool = True,
) -> dict[str, Any]:
    """``{mean, median, std, min, max, count, percentiles, ci95, ci_note}`` of ``values``.

    ``count`` is the number of values (requests), whatever the weights. Zero-weight values are
    dropped. ``presorted`` skips the sort when the caller already sorted values (and weights).
    """
    values = np.asarray(values, dtype=np.float64)
    if weights is not None:
        weights = np.asarray(weights, dtype=np.float64)
        keep = weights > 0
        if not keep.all():
            values, weights = values[keep], weights[keep]
    if not presorted and len(values):
        order = np.argsort(values, kind="stable")
        values = values[order]
        if weights is not None:
            weights = weights[order]
    return summarize_runs(SortedRuns(values, weights), ci=ci)


def summarize_runs(runs: SortedRuns, *, ci: bool = True) -> dict[str, Any]:
    """:func:`summarize` of a sample held as sorted runs (no zero weights)."""
    n = len(runs)
    if n == 0:
        return empty_summary()
    ci_keys: list[str] = []
    ci_qs: list[float] = []
    withheld: list[str] = []
    if ci:
        if n < CI_MIN_SAMPLES:
            withheld.append(f"mean (needs {CI_MIN_SAMPLES} samples)")
        for key, q in _CI_QUANTILES.items():
            need = max(math.ceil(_CI_TAIL / min(q, 1 - q)), CI_MIN_SAMPLES)
            if n < need:
                withheld.append(f"{key} (needs {need} samples)")
                continue
            half = _Z95 * math.sqrt(q * (1 - q) / n)
            ci_keys.append(key)
            ci_qs += [max(q - half, 0.0), min(q + half, 1.0)]
    # Every percentile and interval bound in one lookup.
    pct = quantiles(runs, np.concatenate([_Q, ci_qs]) if ci_qs else _Q)
    moments = runs.moments()
    mean = moments.mean
    std = math.sqrt(max(moments.m2 / moments.w, 0.0))
    if not runs.weighted:
        se = math.sqrt(moments.m2 / (n - 1) / n) if n > 1 else math.nan
    else:
        # Standard error of a ratio (weighted) mean, with the n/(n-1) correction.
        se = math.sqrt(moments.q2 * n / (n - 1)) / moments.w if n > 1 else math.nan
    summary: dict[str, Any] = {
        "mean": mean,
        "median": float(pct[5]),
        "std": std,
        "min": runs.smallest(),
        "max": runs.largest(),
        "count": n,
        "percentiles": {k: float(v) for k, v in zip(PERCENTILES, pct[: len(_Q)], strict=True)},
        "ci95": None,
        "ci_note": None,
    }
    if ci:
        # 95 % intervals for the mean and p50/p90/p99; those the sample cannot support are
        # left out and the note says what was withheld and why.
        out: dict[str, list[float]] = {}
        if n >= CI_MIN_SAMPLES:
            out["mean"] = [mean - _Z95 * se, mean + _Z95 * se]
        bounds = pct[len(_Q) :]
        for k, key in enumerate(ci_keys):
            out[key] = [float(bounds[2 * k]), float(bounds[2 * k + 1])]
        summary["ci95"] = out or None
        if withheld:
            summary["ci_note"] = f"confidence interval withheld for {', '.join(withheld)}; have {n}"
    return summary


class LogHistogram:
    """Counts of positive values (milliseconds) in log-spaced buckets, for huge samples.

    Bucket 0 holds values below 1 us (0.001 ms), bucket ``k`` holds
    ``(0.001*g**(k-1), 0.001*g**k]`` with ``g = (1+a)/(1-a)``; a bucket's representative value
    is within ``a`` (:data:`HISTOGRAM_RELATIVE_ERROR`) of everything in it.
    """

    FLOOR_MS = 0.001
    GAMMA = (1 + HISTOGRAM_RELATIVE_ERROR) / (1 - HISTOGRAM_RELATIVE_ERROR)
    #: Enough buckets to reach ~1e6 ms (17 minutes) from the floor.
    BUCKETS = 2200

    @classmethod
    def bucket_of(cls, values_ms: NDArray[np.float64]) -> NDArray[np.int16]:
        """Bucket index of every value (vectorised; cheap enough to run per request)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            k = np.ceil(np.log(values_ms / cls.FLOOR_MS) / math.log(cls.GAMMA))
        k = np.nan_to_num(k, nan=0.0, neginf=0.0, posinf=cls.BUCKETS - 1)
        return np.clip(k, 0, cls.BUCKETS - 1).astype(np.int16)

    @classmethod
    def representatives(cls) -> NDArray[np.float64]:
        """The value reported for each bucket (bucket 0: zero)."""
        k = np.arange(cls.BUCKETS, dtype=np.float64)
        reps = cls.FLOOR_MS * cls.GAMMA**k * 2.0 / (1.0 + cls.GAMMA)
        reps[0] = 0.0
        return reps


def summarize_histogram(
    counts: NDArray[np.int64],
    *,
    total: float,
    total_sq: float,
    vmin: float,
    vmax: float,
) -> dict[str, Any]:
    """Summary of values known through a :class:`LogHistogram` plus exact moments and range.

    Percentiles use the same linear-interpolation rule as :func:`summarize`, on bucket
    representatives (clamped to the exact min/max); no confidence intervals (chunk gaps within
    one request are not independent samples).
    """
    n = int(counts.sum())
    if n == 0:
        return empty_summary()
    reps = np.clip(LogHistogram.representatives(), vmin, vmax)
    nz = np.nonzero(counts)[0]
    pct = quantiles(reps[nz], _Q, np.cumsum(counts[nz]).astype(np.float64))
    mean = total / n
    std = math.sqrt(max(total_sq / n - mean * mean, 0.0))
    return {
        "mean": mean,
        "median": float(pct[5]),
        "std": std,
        "min": vmin,
        "max": vmax,
        "count": n,
        "percentiles": {k: float(v) for k, v in zip(PERCENTILES, pct, strict=True)},
        "ci95": None,
        "ci_note": "percentiles from a log histogram, within 0.5 %; no confidence intervals",
    }


# -- per-status helpers used by the aggregator's compile step ------------------------------


def split_runs(runs: list[SortedRuns]) -> dict[str, Any]:
    """Summaries per status (``runs[code]``, already sorted) and in total.

    A status holding every value shares its summary with the total; otherwise the total reads
    the statuses' runs together (:meth:`SortedRuns.union`), nothing re-sorted but the smaller
    statuses.
    """
    out: dict[str, Any] = {}
    present = [r for r in runs if len(r)]
    for name, r in zip(STATUS_NAMES, runs, strict=True):
        if not len(r):
            out[name] = empty_summary()
        elif len(present) == 1:
            out[name] = out["total"] = summarize_runs(r)
        else:
            out[name] = summarize_runs(r)
    if "total" not in out:
        out["total"] = summarize_runs(SortedRuns.union(present))
    return out


def rates_by_status(sums: NDArray[np.float64], length: float) -> dict[str, float]:
    """Per-second rates from per-status sums (``sums[code]``) over a window of ``length`` s."""
    if length <= 0:
        return {"successful": 0.0, "errored": 0.0, "incomplete": 0.0, "total": 0.0}
    out = {name: float(sums[code]) / length for code, name in enumerate(STATUS_NAMES)}
    out["total"] = float(sums.sum()) / length
    return out


def goodput_counts(  # noqa: PLR0917 - one call site, every argument an array of the same rows
    slo: Mapping[str, float],
    status: NDArray[np.int64],
    ttft: NDArray[np.float64],
    itl: NDArray[np.float64],
    tpot: NDArray[np.float64],
    latency_ms: NDArray[np.float64],
) -> NDArray[np.int64]:
    """``[counted, met, ok per SLO...]`` of some rows: additive, so blocks can be summed and
    rows outside the window subtracted. A 1-token answer has no ITL and cannot miss that
    SLO; cancelled requests say nothing about the server (not counted)."""
    values = {"ttft_ms": ttft, "itl_ms": itl, "tpot_ms": tpot, "latency_ms": latency_ms}
    successful = status == 0
    meets_all = successful.copy()
    per_slo = []
    for key, limit in slo.items():
        v = values[key]
        ok = successful & ((v <= limit) | (np.isnan(v) & (key == "itl_ms")))
        per_slo.append(int(ok.sum()))
        meets_all &= ok
    return np.array([int((status != 2).sum()), int(meets_all.sum()), *per_slo], dtype=np.int64)


def goodput(slo: Mapping[str, float], counts: NDArray[np.int64], length: float) -> dict[str, Any]:
    """The report's goodput block from :func:`goodput_counts` of the measured rows."""
    n, met = int(counts[0]), int(counts[1])
    per_slo = {key: int(ok) / n if n else None for key, ok in zip(slo, counts[2:], strict=True)}
    return {
        "slo": dict(slo),
        "requests_per_second": met / length if length > 0 else 0.0,
        "attainment": met / n if n else None,
        "met": met,
        "counted": n,
        "per_slo": per_slo,
    }
