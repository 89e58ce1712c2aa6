"""Time slices: how a benchmark moved over time, one row per slice (docs/metrics.md).

A benchmark's summary hides a ramp or a burst; its slices show them. Slices start at the
benchmark's start and cover all of it, warmup and cooldown included (marked by ``phase``).
The aggregator feeds each block of rows to a :class:`SliceAccumulator` as it prepares it
(once the benchmark's start is known), so compiling only folds small per-slice arrays:

- counts, output tokens and scheduling-delay / latency histograms are kept per *base* slice
  (the size asked for) and are additive, so a long benchmark is widened at compile by summing
  neighbours (:func:`slice_size` picks the factor);
- latency percentiles come from :class:`~guidellm.benchmark.statistics.LogHistogram` buckets
  (within 0.5 % of the exact ones); each block's (slice, bucket) pairs are kept sparse, and
  those of all but the newest few slices move to a
  :class:`~guidellm.benchmark.spill.SpillArray` (at 1,000 requests/s they would otherwise
  grow by about 0.7 MB a minute until the slices widen);
- mean concurrency is read off the :class:`ConcurrencyTimeline` (exact, any boundaries).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from itertools import chain
from typing import TYPE_CHECKING, Any

import numpy as np

from guidellm.benchmark.spill import SpillArray
from guidellm.benchmark.statistics import LogHistogram

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from guidellm.benchmark.timeline import ConcurrencyTimeline

__all__ = [
    "MAX_SLICES",
    "SLICE_METRICS",
    "SliceAccumulator",
    "parse_duration",
    "slice_size",
]

#: A benchmark has at most this many slices; longer ones get wider slices.
MAX_SLICES = 300
#: Widening factors tried in order: 1, 2, 5, 10, 20, 50 ... times the size asked for.
_NICE = (1, 2, 5)
_B = LogHistogram.BUCKETS
_REPS = LogHistogram.representatives()
#: Histogrammed metrics: (name, by which time a row is sliced, unit scale from ms).
SLICE_METRICS = {
    "ttft_ms": ("end", 1.0),
    "itl_ms": ("end", 1.0),
    "latency_s": ("end", 0.001),
    "scheduling_delay_ms": ("start", 1.0),
}
#: Percentiles reported per slice for each histogrammed metric.
SLICE_PERCENTILES = {
    "ttft_ms": (50, 90, 99),
    "itl_ms": (50, 90, 99),
    "latency_s": (50, 90, 99),
    "scheduling_delay_ms": (99,),
}
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:e[-+]?[0-9]+)?)\s*(ms|s|m|h)?\s*$", re.I)
#: Pairs kept before the sparse histograms are re-reduced ...
_COMPACT_AT = 1 << 16
#: ... and those of base slices more than this many before the newest (by end) moved out.
_KEEP_SLICES = 4
#: Pairs read back from the spill at a time.
_READ_PAIRS = 1 << 20
#: Base slices kept before ten merge into one: past five times the most a report shows, its
#: widening factor is 10 or more (5 would show too many), a multiple of 10 from there on.
_MAX_BASE = 5 * MAX_SLICES


def parse_duration(value: Any) -> float:
    """``1s``, ``500ms``, ``2m``, ``1h`` or a number of seconds, as seconds (> 0).

    Raises ``ValueError`` with the reason; callers turn it into a ``UserError``.
    """
    if isinstance(value, bool):
        raise ValueError("must be a duration such as 1s, 500ms or 2m")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if match is None:
            raise ValueError("must be a duration such as 1s, 500ms or 2m")
        seconds = float(match.group(1)) * _UNITS[(match.group(2) or "s").lower()]
    if not (seconds > 0 and math.isfinite(seconds)):
        raise ValueError("must be more than 0 seconds")
    return seconds


def slice_size(asked: float, duration: float, max_slices: int = MAX_SLICES) -> int:
    """The widening factor ``k`` (1, 2, 5, 10, 20, 50 ...): the smallest with at most
    ``max_slices`` slices of ``asked * k`` seconds over ``duration``."""
    k, decade = 1, 1
    while True:
        for nice in _NICE:
            k = nice * decade
            if _count(duration, asked * k) <= max_slices:
                return k
        decade *= 10


def _count(duration: float, size: float) -> int:
    """Slices of ``size`` covering ``duration`` (the last may be partial; at least one)."""
    return max(1, math.ceil(duration / size - 1e-9))


def _grow(arr: NDArray[Any], more: NDArray[Any]) -> NDArray[Any]:
    """``arr + more``, padding the shorter with zeros."""
    if len(more) > len(arr):
        arr, more = more, arr
    out: NDArray[Any] = arr.copy()
    out[: len(more)] += more
    return out


class SliceAccumulator:
    """Per base slice (``size`` seconds from ``origin``): additive counts and sparse
    histograms of blocks of rows (the aggregator's columns)."""

    def __init__(self, origin: float, size: float) -> None:
        self.origin = origin
        self.size = size
        #: Base slices are ``size * merged`` wide: past :data:`_MAX_BASE` of them, ten at a
        #: time merge into one, so a run of any length keeps a bounded number.
        self.merged = 1
        self.rows = 0
        self.started: NDArray[np.int64] = np.zeros(0, dtype=np.int64)
        #: Requests by intended send time (the schedule's rate, to set the achieved against).
        self.due: NDArray[np.int64] = np.zeros(0, dtype=np.int64)
        #: Ended requests, ``3 * slice + status``.
        self.ended: NDArray[np.int64] = np.zeros(0, dtype=np.int64)
        #: Output tokens of the successful requests, by end slice.
        self.tokens: NDArray[np.float64] = np.zeros(0)
        self._pairs: dict[str, list[tuple[NDArray[np.int64], NDArray[np.float64]]]] = {
            name: [] for name in SLICE_METRICS
        }
        self._pair_count = 0
        #: Per metric, the moved-out pairs ``(keys, weights)``: reduced, in no overall order
        #: (a key may repeat: compile sums them).
        self._spilled: dict[str, tuple[SpillArray, SpillArray]] = {}
        #: The newest base slice a row ended in.
        self._newest = 0

    def _index(self, times: NDArray[np.float64]) -> NDArray[np.int64]:
        # Rows before the origin count in the first slice.
        idx = np.floor((times - self.origin) * (1.0 / (self.size * self.merged)))
        return np.maximum(idx, 0).astype(np.int64)

    def add(self, block: Mapping[str, NDArray[Any]]) -> None:
        """Add rows: ``start``, ``end``, ``scheduled``, ``status``, ``output_tokens`` and
        the ``ttft``/``itl`` (ms) columns of :func:`guidellm.benchmark.rows.latencies`."""
        status = block["status"]
        n = len(status)
        if not n:
            return
        self.rows += n
        start, end = block["start"], block["end"]
        by = {"start": self._index(start), "end": self._index(end)}
        self._newest = max(self._newest, int(by["end"].max()))
        self.started = _grow(self.started, np.bincount(by["start"]))
        self.due = _grow(self.due, np.bincount(self._index(block["scheduled"])))
        self.ended = _grow(self.ended, np.bincount(by["end"] * 3 + status))
        ok = status == 0
        out_tok = block["output_tokens"]
        self.tokens = _grow(self.tokens, np.bincount(by["end"][ok], weights=out_tok[ok]))
        values = {
            "ttft_ms": (block["ttft"], None),
            "itl_ms": (block["itl"], np.maximum(out_tok - 1, 0)),
            "latency_s": ((end - start) * 1000.0, None),
            "scheduling_delay_ms": ((start - block["scheduled"]) * 1000.0, None),
        }
        for name, (when, _) in SLICE_METRICS.items():
            v, w = values[name]
            keep = ~np.isnan(v)
            if when == "end":
                keep &= ok
            if w is not None:
                keep &= w > 0
            if not keep.any():
                continue
            key = by[when][keep] * _B + LogHistogram.bucket_of(v[keep])
            weights = np.ones(int(keep.sum())) if w is None else w[keep].astype(np.float64)
            self._pairs[name].append(_reduce(key, weights))
            self._pair_count += len(self._pairs[name][-1][0])
        # By the slices requests start and are due in only: nothing is sent after the
        # benchmark's end, but requests drained after it end there (they fold into the last
        # slice), so an end past 1,500 base slices says nothing of the report's width.
        if len(self.started) > _MAX_BASE or len(self.due) > _MAX_BASE:
            self._merge_ten()
        if self._pair_count > _COMPACT_AT:
            self._compact()

    def _merge_ten(self) -> None:
        """Make base slices ten times wider. The report's widening factors from 10 on (10, 20,
        50, 100 ...) are multiples of 10, and more than :data:`_MAX_BASE` base slices means
        the report's factor is at least 10 times the current width: nothing it shows is lost."""

        def fold(arr: NDArray[Any], width: int = 1) -> NDArray[Any]:
            i = np.arange(len(arr))
            merged: NDArray[Any] = np.bincount(
                i // width // 10 * width + i % width, weights=arr
            ).astype(arr.dtype)
            return merged

        self.started = fold(self.started)
        self.due = fold(self.due)
        self.ended = fold(self.ended, 3)
        self.tokens = fold(self.tokens)
        for name, pairs in self._pairs.items():
            if pairs:
                keys, weights = _concat(pairs)
                pairs[:] = [_reduce(_ten(keys), weights)]
            spilled = self._spilled.get(name)
            if spilled is not None:
                folded = (SpillArray(np.int64), SpillArray(np.float64))
                for part_keys, part_weights in _read_pairs(spilled):
                    wider = _reduce(_ten(part_keys), part_weights)
                    folded[0].append(wider[0])
                    folded[1].append(wider[1])
                for arr in spilled:
                    arr.close()
                self._spilled[name] = folded
        self._pair_count = sum(len(k) for pairs in self._pairs.values() for k, _ in pairs)
        self._newest //= 10
        self.merged *= 10

    def _compact(self) -> None:
        """Reduce each metric's pairs to one sorted set, and move out those of base slices
        more than :data:`_KEEP_SLICES` before the newest: few rows reach them any more (a late one
        only adds a pair that compile sums with its spilled twin)."""
        count = 0
        cut = (self._newest - _KEEP_SLICES) * _B
        for name, pairs in self._pairs.items():
            if not pairs:
                continue
            keys, weights = _reduce(*_concat(pairs)) if len(pairs) > 1 else pairs[0]
            old = int(np.searchsorted(keys, cut))
            if old:
                spilled = self._spilled.setdefault(
                    name, (SpillArray(np.int64), SpillArray(np.float64))
                )
                spilled[0].append(keys[:old])
                spilled[1].append(weights[:old])
                keys, weights = keys[old:], weights[old:]
            pairs[:] = [(keys, weights)] if len(keys) else []
            count += len(keys)
        self._pair_count = count

    def compile(
        self,
        *,
        end_time: float,
        factor: int,
        epoch: float,
        window: tuple[float, float],
        timeline: ConcurrencyTimeline,
        stages: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """The report's ``timeslices`` columns, slices ``factor`` times the asked size wide
        (a multiple of the base slices' width, :attr:`merged`, when it is 10 or more)."""
        factor = max(1, -(-factor // self.merged))  # in base slices
        size = self.size * (self.merged * factor)
        duration = max(end_time - self.origin, 0.0)
        n = _count(duration, size)
        starts = np.arange(n) * size
        ends = np.minimum(starts + size, duration)
        ends[-1] = duration
        length = ends - starts

        def fold(arr: NDArray[Any], width: int = 1) -> NDArray[np.float64]:
            # Element ``base_slice * width + column`` goes to ``final_slice * width + column``;
            # base slices past the end (rows after it) fold into the last slice.
            i = np.arange(len(arr))
            final = np.minimum(i // width // factor, n - 1) * width + i % width
            return np.bincount(final, weights=arr, minlength=n * width).astype(np.float64)

        started = fold(self.started)
        due = fold(self.due)
        ended = fold(self.ended, 3).reshape(n, 3)
        tokens = fold(self.tokens)
        with np.errstate(divide="ignore", invalid="ignore"):
            rate = np.where(length > 0, started / length, np.nan)
            intended = np.where(length > 0, due / length, np.nan)
            tok_rate = np.where(length > 0, tokens / length, np.nan)
            area = np.diff(timeline.areas(self.origin + np.append(starts, duration)))
            concurrency = np.where(length > 0, area / length, np.nan)
        ws, we = window[0] - self.origin, window[1] - self.origin
        mid = (starts + ends) / 2
        phase = np.where(mid < ws, "warmup", np.where(mid > we, "cooldown", "measured"))
        out: dict[str, Any] = {
            "size": size,
            "asked": self.size,
            "widened": size > self.size,
            "start_s": _round(starts),
            "end_s": _round(ends),
            "start_time": _round(starts + (self.origin + epoch)),
            "end_time": _round(ends + (self.origin + epoch)),
            "phase": phase.tolist(),
            "stage": None if not stages else _stage_of(starts, stages),
            "started": started.astype(np.int64).tolist(),
            "successful": ended[:, 0].astype(np.int64).tolist(),
            "errored": ended[:, 1].astype(np.int64).tolist(),
            "incomplete": ended[:, 2].astype(np.int64).tolist(),
            "requests_per_second": _round(rate),
            "intended_per_second": _round(intended),
            "concurrency_mean": _round(concurrency),
            "output_tokens_per_second": _round(tok_rate),
        }
        for name, (_, scale) in SLICE_METRICS.items():
            qs = SLICE_PERCENTILES[name]
            pct = self._percentiles(name, n, factor, [q / 100 for q in qs]) * scale
            for i, q in enumerate(qs):
                out[f"{name}_p{q}"] = _round(pct[:, i])
        return out

    def _percentiles(self, name: str, n: int, factor: int, qs: list[float]) -> NDArray[Any]:
        """``[slice, q]`` percentiles (ms) of one metric's histograms; NaN: no values.

        The (slice, bucket) pairs stay sparse: sorted by key, their running weight is
        monotone across slices, so one binary search finds every slice's ranks.
        """
        result = np.full((n, len(qs)), np.nan)
        spilled = self._spilled.get(name)
        if spilled is None and not self._pairs[name]:
            return result
        parts = chain(_read_pairs(spilled) if spilled is not None else (), self._pairs[name])
        # Folded to the report's slices part by part: at most n * buckets pairs held.
        keys = np.zeros(0, dtype=np.int64)
        weights = np.zeros(0)
        for part_keys, part_weights in parts:
            slices = np.minimum(part_keys // _B // factor, n - 1)
            keys, weights = _reduce(
                np.concatenate([keys, slices * _B + part_keys % _B]),
                np.concatenate([weights, part_weights]),
            )
        slices = keys // _B
        total = np.bincount(slices, weights=weights, minlength=n)
        cum = np.cumsum(weights)
        before = np.concatenate([[0.0], np.cumsum(total)[:-1]])
        have = total > 0
        q = np.asarray(qs)
        top = np.maximum(total[have] - 1.0, 0.0)[:, None]
        h = q[None, :] * top
        lo = np.floor(h)
        hi = np.minimum(lo + 1.0, top)
        frac = h - lo
        base = before[have][:, None]
        last = len(keys) - 1

        def at(rank: NDArray[np.float64]) -> NDArray[np.float64]:
            # The first pair whose running weight exceeds the rank (as ``quantiles``).
            pos = np.minimum(np.searchsorted(cum, base + rank, side="right"), last)
            return _REPS[keys[pos] % _B]

        lo_v = at(lo)
        result[have] = lo_v + frac * (at(hi) - lo_v)
        return result


def _reduce(
    key: NDArray[np.int64], weights: NDArray[np.float64]
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Sum ``weights`` per distinct ``key``."""
    order = np.argsort(key, kind="stable")
    key, weights = key[order], weights[order]
    firsts = np.flatnonzero(np.concatenate([[True], key[1:] != key[:-1]]))
    return key[firsts], np.add.reduceat(weights, firsts)


def _ten(keys: NDArray[np.int64]) -> NDArray[np.int64]:
    """``slice * B + bucket`` keys of base slices ten times wider."""
    folded: NDArray[np.int64] = keys // _B // 10 * _B + keys % _B
    return folded


def _read_pairs(
    spilled: tuple[SpillArray, SpillArray],
) -> Iterator[tuple[NDArray[np.int64], NDArray[np.float64]]]:
    keys, weights = spilled
    for first in range(0, keys.size, _READ_PAIRS):
        yield keys.read(first, first + _READ_PAIRS), weights.read(first, first + _READ_PAIRS)


def _concat(
    pairs: list[tuple[NDArray[np.int64], NDArray[np.float64]]],
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    return np.concatenate([k for k, _ in pairs]), np.concatenate([w for _, w in pairs])


def _round(values: NDArray[Any]) -> list[float | None]:
    """JSON-ready: 6 decimals (a microsecond; keeps the report small); NaN (nothing in the
    slice) is ``None``."""
    return [None if math.isnan(v) else v for v in np.round(values, 6).tolist()]


def _stage_of(starts: NDArray[Any], stages: list[dict[str, Any]]) -> list[int | None]:
    """The stage each slice starts in (``None`` outside every stage)."""
    out: list[int | None] = []
    for s in starts.tolist():
        found = None
        for stage in stages:
            if float(stage["start_s"]) <= s + 1e-9 < float(stage["end_s"]):
                found = int(stage.get("index", 0))
                break
        out.append(found)
    return out
