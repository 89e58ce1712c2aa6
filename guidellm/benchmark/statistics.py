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

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = [
    "CI_MIN_SAMPLES",
    "HISTOGRAM_RELATIVE_ERROR",
    "PERCENTILES",
    "STATUS_NAMES",
    "LogHistogram",
    "concurrency_by_status",
    "empty_summary",
    "goodput",
    "quantiles",
    "rates_by_status",
    "split_by_status",
    "summarize",
    "summarize_histogram",
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
    sorted_values: NDArray[np.float64],
    qs: NDArray[np.float64],
    cum_weights: NDArray[np.float64] | None = None,
) -> NDArray[np.float64]:
    """Quantiles ``qs`` of already sorted values, optionally weighted.

    With ``cum_weights`` (the cumulative sum of the weights in sorted order) the result equals
    the unweighted quantile of the values each repeated ``weight`` times.
    """
    n = len(sorted_values)
    if cum_weights is None:
        h = qs * (n - 1)
        lo = np.floor(h).astype(np.int64)
        hi = np.minimum(lo + 1, n - 1)
        frac = h - lo
        return sorted_values[lo] + frac * (sorted_values[hi] - sorted_values[lo])
    total = cum_weights[-1]
    h = qs * max(total - 1.0, 0.0)
    lo_rank = np.floor(h)
    hi_rank = np.minimum(lo_rank + 1.0, max(total - 1.0, 0.0))
    # Expanded position j belongs to the first value whose cumulative weight exceeds j.
    lo_idx = np.minimum(np.searchsorted(cum_weights, lo_rank, side="right"), n - 1)
    hi_idx = np.minimum(np.searchsorted(cum_weights, hi_rank, side="right"), n - 1)
    frac = h - lo_rank
    lo_v = sorted_values[lo_idx]
    result: NDArray[np.float64] = lo_v + frac * (sorted_values[hi_idx] - lo_v)
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
    n = len(values)
    if n == 0:
        return empty_summary()
    if not presorted:
        order = np.argsort(values, kind="stable")
        values = values[order]
        if weights is not None:
            weights = weights[order]
    cum = np.cumsum(weights) if weights is not None else None
    pct = quantiles(values, _Q, cum)
    # One pass over the deviations serves the std and the mean's confidence interval. No
    # np.dot: it goes to a multi-threaded BLAS that is 100x slower on a busy machine.
    if weights is None:
        mean = float(values.mean())
        dev = values - mean
        sq = float((dev * dev).sum())
        std = math.sqrt(sq / n)
        se = math.sqrt(sq / (n - 1) / n) if n > 1 else math.nan
    else:
        total = float(cum[-1]) if cum is not None else 0.0
        mean = float((values * weights).sum() / total)
        dev = values - mean
        wdev = weights * dev
        std = math.sqrt(max(float((wdev * dev).sum()) / total, 0.0))
        # Standard error of a ratio (weighted) mean, with the n/(n-1) correction.
        sq = float((wdev * wdev).sum())
        se = math.sqrt(sq * n / (n - 1)) / total if n > 1 else math.nan
    summary: dict[str, Any] = {
        "mean": mean,
        "median": float(pct[5]),
        "std": std,
        "min": float(values[0]),
        "max": float(values[-1]),
        "count": n,
        "percentiles": {k: float(v) for k, v in zip(PERCENTILES, pct, strict=True)},
        "ci95": None,
        "ci_note": None,
    }
    if ci:
        summary["ci95"], summary["ci_note"] = _confidence(values, cum, mean, se)
    return summary


def _confidence(
    values: NDArray[np.float64],
    cum: NDArray[np.float64] | None,
    mean: float,
    se: float,
) -> tuple[dict[str, list[float]] | None, str | None]:
    """95 % intervals for the mean and p50/p90/p99; those the sample cannot support are left
    out and the note says what was withheld and why."""
    n = len(values)
    out: dict[str, list[float]] = {}
    withheld: list[str] = []
    if n >= CI_MIN_SAMPLES:
        out["mean"] = [mean - _Z95 * se, mean + _Z95 * se]
    else:
        withheld.append(f"mean (needs {CI_MIN_SAMPLES} samples)")
    for key, q in _CI_QUANTILES.items():
        need = math.ceil(_CI_TAIL / min(q, 1 - q))
        if n < max(need, CI_MIN_SAMPLES):
            withheld.append(f"{key} (needs {max(need, CI_MIN_SAMPLES)} samples)")
            continue
        half = _Z95 * math.sqrt(q * (1 - q) / n)
        lo_hi = quantiles(values, np.array([max(q - half, 0.0), min(q + half, 1.0)]), cum)
        out[key] = [float(lo_hi[0]), float(lo_hi[1])]
    note = None
    if withheld:
        note = f"confidence interval withheld for {', '.join(withheld)}; have {n}"
    return (out or None), note


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


def split_by_status(
    values: NDArray[np.float64],
    status: NDArray[np.int64],
    mask: NDArray[np.bool_],
    weights: NDArray[np.float64] | None = None,
) -> dict[str, Any]:
    """Summaries per status and in total from one sort: selecting a status from the sorted
    values keeps them sorted.

    Runs after the last request (compile), so the common cases skip work: unweighted values
    are sorted directly (no argsort and gathers), and a mask that keeps every row needs no
    index array. Same sorted values either way, so the same summaries.
    """
    keep = mask & ~np.isnan(values)
    every = bool(keep.all())
    kept_status = status if every else status[keep]
    present = np.bincount(kept_status, minlength=3) if len(kept_status) else np.zeros(3, np.int64)
    if weights is None:
        return _split_unweighted(values if every else values[keep], kept_status, present)
    if every:
        order = np.argsort(values)
    else:
        idx = np.nonzero(keep)[0]
        order = idx[np.argsort(values[idx])]
    v = values[order]
    w = np.asarray(weights[order], dtype=np.float64)
    out: dict[str, Any] = {}
    st: NDArray[np.int64] | None = None  # statuses in sorted order: only when mixed
    for code, name in enumerate(STATUS_NAMES):
        n = int(present[code])
        if n == len(v):
            out[name] = out["total"] = summarize(v, w, presorted=True)
        elif n == 0:
            out[name] = summarize(v[:0])
        else:
            if st is None:
                st = status[order]
            sel = st == code
            out[name] = summarize(v[sel], w[sel], presorted=True)
    if "total" not in out:
        out["total"] = summarize(v, w, presorted=True)
    return out


def _split_unweighted(
    values: NDArray[np.float64], status: NDArray[np.int64], present: NDArray[np.int64]
) -> dict[str, Any]:
    """:func:`split_by_status` without weights: each status's values sorted on their own."""
    out: dict[str, Any] = {}
    for code, name in enumerate(STATUS_NAMES):
        n = int(present[code])
        if n == 0:
            out[name] = summarize(values[:0])
        elif n == len(values):
            out[name] = out["total"] = summarize(np.sort(values), presorted=True)
        else:
            out[name] = summarize(np.sort(values[status == code]), presorted=True)
    if "total" not in out:
        out["total"] = summarize(np.sort(values), presorted=True)
    return out


def concurrency_by_status(
    starts: NDArray[np.float64],
    ends: NDArray[np.float64],
    status: NDArray[np.int64],
    ws: float,
    we: float,
) -> dict[str, Any]:
    """Time-weighted in-flight distributions over [ws, we], per status and in total, from one
    sort of the start/end events (each request clipped to the window)."""
    if we <= ws:
        empty = summarize(np.zeros(0))
        return {name: empty for name in (*STATUS_NAMES, "total")}
    s = np.clip(starts, ws, we)
    e = np.clip(ends, ws, we)
    keep = e > s
    n = int(keep.sum())
    every = bool(keep.all())
    kept_status = status if every else status[keep]
    times = np.concatenate([s if every else s[keep], e if every else e[keep], [ws, we]])
    order = np.argsort(times)
    t = times[order]
    # Each event's +1 (a start: the first n) / -1 (an end) / 0 (the two window bounds), read
    # from the sort order instead of gathered from an array of deltas (compile runs after the
    # last request: every pass over the events counts).
    d = np.where(order < n, 1, -1)
    d[order >= 2 * n] = 0
    durations = np.diff(t)
    out: dict[str, Any] = {}
    present = np.bincount(kept_status, minlength=3) if n else np.zeros(3, np.int64)
    c: NDArray[np.int64] | None = None
    for code, name in enumerate([*STATUS_NAMES, "total"]):
        if code < 3 and present[code] == 0:
            out[name] = summarize(np.zeros(0))
            continue
        if code < 3 and present[code] == n:
            continue  # every request has this status: the total below is the same
        if code < 3:
            if c is None:  # only with mixed statuses: each event's status, in time order
                c = np.concatenate([kept_status, kept_status, [-1, -1]])[order]
            level = np.cumsum(np.where(c == code, d, 0))
            count = int(present[code])
        else:
            level = np.cumsum(d)
            count = n
        # Levels are small integers: the time spent at each level is a weighted histogram.
        # Weights in microseconds: a weighted percentile repeats each value ``weight`` times,
        # so second-sized weights would put p99 of a 10 s window at 89 % of its time (and
        # every percentile of a sub-second window at the lowest level).
        micros = np.bincount(level[:-1], weights=durations).astype(np.float64) * 1e6
        summary = summarize(
            np.arange(len(micros), dtype=np.float64), micros, presorted=True, ci=False
        )
        summary["count"] = count
        out[name] = summary
    for name in STATUS_NAMES:
        out.setdefault(name, out["total"])
    return out


def rates_by_status(
    values: NDArray[np.float64], status: NDArray[np.int64], length: float
) -> dict[str, float]:
    if length <= 0:
        return {"successful": 0.0, "errored": 0.0, "incomplete": 0.0, "total": 0.0}
    out = {
        name: float(values[status == code].sum()) / length for code, name in enumerate(STATUS_NAMES)
    }
    out["total"] = float(values.sum()) / length
    return out


def goodput(  # noqa: PLR0917 - one call site, every argument an array of the same rows
    slo: Mapping[str, float],
    status: NDArray[np.int64],
    ttft: NDArray[np.float64],
    itl: NDArray[np.float64],
    tpot: NDArray[np.float64],
    latency_ms: NDArray[np.float64],
    length: float,
) -> dict[str, Any]:
    """Requests meeting every SLO; a 1-token answer has no ITL and cannot miss that SLO."""
    values = {"ttft_ms": ttft, "itl_ms": itl, "tpot_ms": tpot, "latency_ms": latency_ms}
    counted = status != 2  # cancelled requests say nothing about the server
    n = int(counted.sum())
    meets_all = counted & (status == 0)
    per_slo: dict[str, float | None] = {}
    for key, limit in slo.items():
        v = values[key]
        ok = (status == 0) & ((v <= limit) | (np.isnan(v) & (key == "itl_ms")))
        per_slo[key] = float(ok[counted].sum()) / n if n else None
        meets_all &= ok
    met = int(meets_all.sum())
    return {
        "slo": dict(slo),
        "requests_per_second": met / length if length > 0 else 0.0,
        "attainment": met / n if n else None,
        "met": met,
        "counted": n,
        "per_slo": per_slo,
    }
