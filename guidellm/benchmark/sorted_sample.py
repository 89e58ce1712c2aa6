"""Exact samples kept sorted while a benchmark runs, so compiling it needs no sort.

A report's percentiles are exact (docs/metrics.md), which needs every value in order. Sorting
100,000 values per metric after the last response was most of the time a run spent between its
last response and its report; instead each block of results (the aggregator flushes every few
thousand) is sorted on its own, which is cheap, and merged into a small sorted tail, which is
merged into the large sorted arrays once it is 1/16 of their size (a binary search for its
positions plus one copy), off the hot per-result path.

:class:`SortedSample` holds one metric's values (optionally weighted) with the row each value
came from, so that a window rule decided only at the end can drop rows without re-sorting.
:class:`GrowableColumns` holds the per-row columns in arrays that grow by doubling, so the end
of a run does not concatenate thousands of blocks either.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from guidellm.benchmark import spill
from guidellm.benchmark.spill import SpillArray, merge_sorted

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = ["GrowableColumns", "Moments", "SortedRuns", "SortedSample", "merge_positions", "merged"]

#: The tail is merged into the large arrays when it holds this many values and at least
#: 1/_TAIL_FRACTION of theirs (amortized: every value is copied O(log n) times in all).
_MIN_TAIL = 4096
_TAIL_FRACTION = 16
#: Row numbers: a benchmark holds fewer than 2**31 requests.
_ROW = np.int32


@dataclass(frozen=True, slots=True)
class Moments:
    """Count, weight, mean and spread of a sample, combinable block by block.

    ``m2`` is the sum of ``w * (v - mean)**2`` (the variance's numerator), ``q2`` the sum of
    ``(w * (v - mean))**2`` (the weighted mean's standard error), with ``r1`` and ``s2`` (sums
    of ``w**2 * (v - mean)`` and ``w**2``) to move ``q2`` to another mean. Unweighted: every
    ``w`` is 1. Two blocks combine exactly in arithmetic (Chan et al.'s pairwise update), so a
    running sample needs no pass over its values to report its mean and std.
    """

    n: int = 0
    w: float = 0.0
    mean: float = 0.0
    m2: float = 0.0
    q2: float = 0.0
    r1: float = 0.0
    s2: float = 0.0

    @classmethod
    def of(cls, values: NDArray[np.float64], weights: NDArray[np.float64] | None) -> Moments:
        n = len(values)
        if not n:
            return cls()
        # No np.dot: it goes to a multi-threaded BLAS that is 100x slower on a busy machine.
        if weights is None:
            mean = float(values.sum()) / n
            dev = values - mean
            m2 = float((dev * dev).sum())
            return cls(n, float(n), mean, m2, m2, 0.0, float(n))
        total = float(weights.sum())
        mean = float((values * weights).sum()) / total
        dev = values - mean
        wdev = weights * dev
        return cls(
            n,
            total,
            mean,
            float((wdev * dev).sum()),
            float((wdev * wdev).sum()),
            float((wdev * weights).sum()),
            float((weights * weights).sum()),
        )

    def __add__(self, other: Moments) -> Moments:
        if not other.n:
            return self
        if not self.n:
            return other
        w = self.w + other.w
        delta = other.mean - self.mean
        mean = self.mean + delta * (other.w / w)
        da, db = self.mean - mean, other.mean - mean
        return Moments(
            self.n + other.n,
            w,
            mean,
            self.m2 + other.m2 + delta * delta * self.w * other.w / w,
            self.q2 + 2 * da * self.r1 + da * da * self.s2
            + other.q2 + 2 * db * other.r1 + db * db * other.s2,
            self.r1 + da * self.s2 + other.r1 + db * other.s2,
            self.s2 + other.s2,
        )  # fmt: skip


def merge_positions(
    existing: NDArray[Any], block: NDArray[Any]
) -> tuple[NDArray[np.intp], NDArray[np.bool_]]:
    """Where a sorted ``block`` lands when merged into the sorted ``existing`` array.

    Returns the block's positions in the merged array and a mask of the positions that the
    existing values take (in order). Equal values keep the existing ones first.
    """
    m = len(block)
    positions = np.searchsorted(existing, block, side="right") + np.arange(m)
    keep_existing = np.ones(len(existing) + m, dtype=bool)
    keep_existing[positions] = False
    return positions, keep_existing


def merged(
    existing: NDArray[Any],
    block: NDArray[Any],
    positions: NDArray[np.intp],
    keep_existing: NDArray[np.bool_],
) -> NDArray[Any]:
    """``existing`` and ``block`` merged at the places :func:`merge_positions` found."""
    out = np.empty(len(existing) + len(block), dtype=existing.dtype)
    out[positions] = block
    out[keep_existing] = existing
    return out


_Run = tuple["NDArray[np.float64]", "NDArray[np.float64] | None", "NDArray[np.int32]"]


def _merge_into(existing: _Run, block: _Run) -> _Run:
    """``(values, weights, rows)`` of a sorted run and a sorted block, merged (by value)."""
    values, weights, rows = existing
    block_values, block_weights, block_rows = block
    positions, keep = merge_positions(values, block_values)
    merged_weights = None
    if weights is not None and block_weights is not None:
        merged_weights = merged(weights, block_weights, positions, keep)
    return (
        merged(values, block_values, positions, keep),
        merged_weights,
        merged(rows, block_rows, positions, keep),
    )


class SortedSample:
    """One metric's values in ascending order, with their weights (if any) and rows.

    NaN values (a metric a request does not have, such as the TTFT of a request that never got
    a token) and zero weights are dropped as they arrive: they never enter a statistic. Recent
    blocks wait in a small sorted *tail* before they are merged into the large arrays;
    :meth:`runs` reads both as one sample.
    """

    __slots__ = (
        "_disk",
        "cum",
        "moments",
        "rows",
        "tail_rows",
        "tail_values",
        "tail_weights",
        "values",
        "weights",
    )

    def __init__(self, *, weighted: bool = False) -> None:
        self.values: NDArray[np.float64] = np.zeros(0)
        self.weights: NDArray[np.float64] | None = np.zeros(0) if weighted else None
        #: Running sum of ``weights`` (weighted samples), for weighted percentiles.
        self.cum: NDArray[np.float64] | None = np.zeros(0) if weighted else None
        self.rows: NDArray[np.int32] = np.zeros(0, dtype=_ROW)
        self.tail_values: NDArray[np.float64] = np.zeros(0)
        self.tail_weights: NDArray[np.float64] | None = np.zeros(0) if weighted else None
        self.tail_rows: NDArray[np.int32] = np.zeros(0, dtype=_ROW)
        #: Of every value, tail included.
        self.moments = Moments()
        #: The large arrays' files once they are spilled (values, rows[, weights, cum]).
        self._disk: tuple[SpillArray, ...] | None = None

    @property
    def weighted(self) -> bool:
        return self.weights is not None

    def __len__(self) -> int:
        return len(self.values) + len(self.tail_values)

    def extend(
        self,
        values: NDArray[np.float64],
        rows: NDArray[Any],
        weights: NDArray[np.float64] | None = None,
        *,
        defer: bool = False,
        turn: bool | None = None,
    ) -> None:
        """Merge one block: ``values[i]`` (weight ``weights[i]``) belongs to row ``rows[i]``.

        The block joins the small sorted tail; the tail is merged into the large arrays once
        it holds :data:`_MIN_TAIL` values and 1/:data:`_TAIL_FRACTION` of theirs, unless
        ``defer`` (the last block, at compile: the tail is read in place by :meth:`runs`).
        A merge into arrays on disk rewrites the whole sample (about 0.05-0.09 s at 3.6
        million values), so the aggregator gives its samples turns (``turn``) rather than
        merging them all on one block: on disk, a sample merges on its turn (a tail of at
        least :data:`_MIN_TAIL`), and off its turn only past the limit.
        """
        keep = ~np.isnan(values)
        if self.weights is not None:
            if weights is None:
                raise ValueError("a weighted sample needs weights")
            keep &= weights > 0
        if not keep.all():
            values, rows = values[keep], rows[keep]
            weights = None if weights is None else weights[keep]
        order = np.argsort(values, kind="stable")
        block = values[order]
        block_rows = np.asarray(rows, dtype=_ROW)[order]
        block_weights = None if self.weights is None or weights is None else weights[order]
        self.moments = self.moments + Moments.of(block, block_weights)
        tail = _merge_into(
            (self.tail_values, self.tail_weights, self.tail_rows),
            (block, block_weights, block_rows),
        )
        # The tail joins the large arrays once it is a sizeable part of them: each merge copies
        # them all, so merging every block would cost O(n) per block, O(n**2) per run. Large
        # arrays on disk take a tail of at most SPILL_ROWS values (the memory it holds).
        limit = max(_MIN_TAIL, len(self.values) // _TAIL_FRACTION)
        on_disk = self._disk is not None or len(self.values) + len(tail[0]) > spill.SPILL_ROWS
        if on_disk:
            limit = min(limit, spill.SPILL_ROWS)
        if on_disk and turn:
            limit = min(limit, _MIN_TAIL)
        if defer or len(tail[0]) < limit:
            self.tail_values, self.tail_weights, self.tail_rows = tail
            return
        if on_disk:
            self._merge_on_disk(tail)
        else:
            self.values, self.weights, self.rows = _merge_into(
                (self.values, self.weights, self.rows), tail
            )
            if self.weights is not None:
                self.cum = np.cumsum(self.weights)
        self.tail_values, self.tail_rows = self.tail_values[:0], self.tail_rows[:0]
        if self.tail_weights is not None:
            self.tail_weights = self.tail_weights[:0]

    def _merge_on_disk(self, tail: _Run) -> None:
        """Merge the tail into the large arrays on disk (spilling them first if in memory)."""
        weighted = self.weights is not None
        disk = self._disk
        if disk is None:
            disk = tuple(SpillArray(a.dtype, spill_at=0) for a in (self.values, self.rows))
            disk[0].append(self.values)
            disk[1].append(self.rows)
            if self.weights is not None:
                disk = (*disk, SpillArray(np.float64, spill_at=0))
                disk[2].append(self.weights)
        elif weighted:
            disk[3].close()  # the running sums are made anew
            disk = disk[:3]
        values, weights, rows = tail
        block = (values, rows) if weights is None else (values, rows, weights)
        disk = merge_sorted(disk, block, cum=weighted)
        self._disk = disk
        self.values, self.rows = disk[0].view(), disk[1].view()
        if weighted:
            self.weights, self.cum = disk[2].view(), disk[3].view()

    def runs(self, excluded: NDArray[np.bool_] | None = None) -> SortedRuns:
        """The sample as two sorted runs (large arrays, tail), without the ``excluded`` rows."""
        values, weights, cum, rows = self.values, self.weights, self.cum, self.rows
        tail, tail_w = self.tail_values, self.tail_weights
        moments: Moments | None = self.moments
        if excluded is not None:
            keep = ~excluded[rows]
            if not keep.all():
                values = values[keep]
                moments = None
                if weights is not None:
                    weights = weights[keep]
                    cum = np.cumsum(weights)
            keep_tail = ~excluded[self.tail_rows]
            if not keep_tail.all():
                tail = tail[keep_tail]
                tail_w = None if tail_w is None else tail_w[keep_tail]
                moments = None
        return SortedRuns(values, weights, cum, tail, tail_w, moments=moments)


class SortedRuns:
    """Two sorted runs, ``a`` (large) and ``b`` (small), read as one sorted sample.

    Nothing is merged: a value at a position of the merged order is found from where ``b``'s
    values fall among ``a``'s (one binary search per ``b`` value), so reading percentiles off a
    large sample plus a recent block costs ``O(len(b) log len(a))``, not a copy of ``a``.
    Weighted runs (``a_weights`` or only ``a_cum`` given) answer by cumulative weight instead
    of by index, as :func:`guidellm.benchmark.statistics.quantiles` does for one array.
    """

    __slots__ = (
        "_a_before",
        "_cum_at_b",
        "_moments",
        "a",
        "a_cum",
        "a_weights",
        "b",
        "b_cum",
        "b_weights",
    )

    def __init__(
        self,
        a: NDArray[np.float64],
        a_weights: NDArray[np.float64] | None = None,
        a_cum: NDArray[np.float64] | None = None,
        b: NDArray[np.float64] | None = None,
        b_weights: NDArray[np.float64] | None = None,
        *,
        moments: Moments | None = None,
    ) -> None:
        self.a = a
        self._moments = moments
        self.b = np.zeros(0) if b is None else b
        self.a_weights = a_weights
        self.b_weights = b_weights
        if a_weights is not None and a_cum is None:
            a_cum = np.cumsum(a_weights)
        self.a_cum = a_cum
        self.b_cum = None if b_weights is None else np.cumsum(b_weights)
        #: How many ``a`` values precede each ``b`` value in the merged order (ties: ``a``'s).
        self._a_before = np.searchsorted(a, self.b, side="right")
        self._cum_at_b: NDArray[np.float64] | None = None
        if self.a_cum is not None and self.b_cum is not None and len(self.b):
            before = self._a_before
            a_part = (
                np.where(before > 0, self.a_cum[np.maximum(before - 1, 0)], 0.0)
                if len(a)
                else np.zeros(len(self.b))
            )
            self._cum_at_b = a_part + self.b_cum

    @classmethod
    def union(cls, parts: list[SortedRuns]) -> SortedRuns:
        """Every part as one sample: the largest ``a`` stays, all the rest merges into ``b``
        (small when one status holds most requests)."""
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls(np.zeros(0))
        if len(parts) == 1:
            return parts[0]
        moments: Moments | None = Moments()
        for part in parts:
            moments = None if moments is None or part._moments is None else moments + part._moments
        big = max(range(len(parts)), key=lambda i: len(parts[i].a))
        a = parts[big]
        rest_v = [a.b] + [x for i, p in enumerate(parts) if i != big for x in (p.a, p.b)]
        values = np.concatenate(rest_v)
        if a.a_weights is None:
            return cls(a.a, b=np.sort(values, kind="stable"), moments=moments)
        rest_w = [a.b_weights] + [
            x for i, p in enumerate(parts) if i != big for x in (p.a_weights, p.b_weights)
        ]
        weights = np.concatenate([w for w in rest_w if w is not None])
        order = np.argsort(values, kind="stable")
        return cls(a.a, a.a_weights, a.a_cum, values[order], weights[order], moments=moments)

    def __len__(self) -> int:
        return len(self.a) + len(self.b)

    @property
    def weighted(self) -> bool:
        return self.a_cum is not None

    @property
    def total_weight(self) -> float:
        total = 0.0
        if self.a_cum is not None and len(self.a_cum):
            total += float(self.a_cum[-1])
        if self.b_cum is not None and len(self.b_cum):
            total += float(self.b_cum[-1])
        return total

    def smallest(self) -> float:
        if not len(self.b):
            return float(self.a[0])
        return float(self.b[0]) if not len(self.a) else float(min(self.a[0], self.b[0]))

    def largest(self) -> float:
        if not len(self.b):
            return float(self.a[-1])
        return float(self.b[-1]) if not len(self.a) else float(max(self.a[-1], self.b[-1]))

    def at_index(self, p: NDArray[np.int64]) -> NDArray[np.float64]:
        """Values at positions ``p`` (0-based) of the merged order."""
        a, b = self.a, self.b
        n, m = len(a), len(b)
        if not m:
            return a[p]
        if not n:
            return b[p]
        pos_b = self._a_before + np.arange(m)
        c = np.searchsorted(pos_b, p, side="left")  # b values before position p
        c_b = np.minimum(c, m - 1)
        is_b = (c < m) & (pos_b[c_b] == p)
        result: NDArray[np.float64] = np.where(is_b, b[c_b], a[np.clip(p - c, 0, n - 1)])
        return result

    def at_weight(self, j: NDArray[np.float64]) -> NDArray[np.float64]:
        """Weighted: the value at expanded position ``j`` (the first whose cumulative weight in
        the merged order exceeds ``j``; past the end, the largest value)."""
        a, b = self.a, self.b
        n, m = len(a), len(b)
        a_cum, b_cum = self.a_cum, self.b_cum
        if not m:
            assert a_cum is not None
            return a[np.minimum(np.searchsorted(a_cum, j, side="right"), n - 1)]
        assert b_cum is not None and self._cum_at_b is not None
        if not n:
            return b[np.minimum(np.searchsorted(b_cum, j, side="right"), m - 1)]
        assert a_cum is not None
        # c: b values whose merged cumulative weight is <= j (all before the answer). The a
        # values between b[c-1] and b[c] carry b_cum[c-1] on top of their own running sum.
        c = np.searchsorted(self._cum_at_b, j, side="right")
        base = np.where(c > 0, b_cum[np.maximum(c - 1, 0)], 0.0)
        i_a = np.searchsorted(a_cum, j - base, side="right")
        c_b = np.minimum(c, m - 1)
        limit = np.where(c < m, self._a_before[c_b], n)
        from_a = i_a < limit
        past_end = ~from_a & (c >= m)
        result: NDArray[np.float64] = np.where(
            from_a, a[np.minimum(i_a, n - 1)], np.where(past_end, self.largest(), b[c_b])
        )
        return result

    def moments(self) -> Moments:
        """Mean and spread: the ones given (a running sample's), else from the values."""
        if self._moments is None:
            self._moments = Moments.of(self.a, self.a_weights) + Moments.of(self.b, self.b_weights)
        return self._moments


class GrowableColumns:
    """Per-row columns (name -> dtype) appended a block at a time, read as array views; each
    a :class:`~guidellm.benchmark.spill.SpillArray` (on disk once the benchmark is long)."""

    def __init__(self, dtypes: dict[str, Any]) -> None:
        self._data = {name: SpillArray(dt) for name, dt in dtypes.items()}
        self.rows = 0

    def append(self, block: dict[str, Any]) -> int:
        """Append one block (every column, same length); returns the block's first row."""
        first = self.rows
        for name, data in self._data.items():
            data.append(block[name])
        self.rows = first + (len(next(iter(block.values()))) if block else 0)
        return first

    def view(self) -> dict[str, NDArray[Any]]:
        """Every column's filled part (views: valid until the next append)."""
        return {name: data.view() for name, data in self._data.items()}

    def read(self, start: int, stop: int, names: tuple[str, ...] | None = None) -> dict[str, Any]:
        """Rows ``[start, stop)`` of the columns ``names`` (default: all), in memory."""
        chosen = self._data if names is None else {n: self._data[n] for n in names}
        return {name: data.read(start, stop) for name, data in chosen.items()}
