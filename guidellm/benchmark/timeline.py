"""ConcurrencyTimeline: every request's start and end, kept in time order as results arrive.

Time-weighted concurrency (docs/metrics.md) is the time spent at each in-flight level inside
the measured window. Events arrive a block of results at a time, almost in time order (ends
are recent; only long requests start far back), so each block is merged into the part of the
timeline after its earliest event, in place, and the running levels (per status and in total)
are recomputed from there on. Compiling then reads a window as a slice of ready levels: no sort
of the 2 x requests events, no copy of the timeline.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from guidellm.benchmark.sorted_sample import merge_positions, merged
from guidellm.benchmark.spill import SpillArray
from guidellm.benchmark.statistics import STATUS_NAMES, empty_summary, summarize

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = ["ConcurrencyTimeline"]

_TOTAL = 3  # row of the every-status levels in ``_levels``
#: Past this many events in memory, all but the newest :data:`_KEEP` move to disk.
_SETTLE_AT = 1 << 17
_KEEP = 1 << 16


class ConcurrencyTimeline:
    """Start (+1) and end (-1) events of the requests with ``end > start``, sorted by time."""

    __slots__ = (
        "_base",
        "_deltas",
        "_disk",
        "_full",
        "_levels",
        "_moment",
        "_ref",
        "_settled_last",
        "_status",
        "_times",
        "frontier",
        "late",
        "settled",
        "size",
    )

    def __init__(self, capacity: int = 8192) -> None:
        #: Events in memory (after the :attr:`settled` ones, which are on disk).
        self.size = 0
        #: Events moved to disk (see :meth:`_settle_old`), and the last one's time.
        self.settled = 0
        self._settled_last = -math.inf
        #: A block had an event before the settled ones: the timeline cannot take it in
        #: place, and must be made again from the requests' columns (the aggregator does).
        self.late = False
        #: No event at or after this time moves to disk (:meth:`from_columns` sets it: the
        #: blocks to come start no earlier).
        self.frontier = math.inf
        #: The levels and running moment just after the last settled event.
        self._base: tuple[NDArray[np.int32], float] = (np.zeros(4, dtype=np.int32), 0.0)
        self._disk: tuple[SpillArray, ...] | None = None
        self._full: tuple[Any, ...] | None = None
        self._times: NDArray[np.float64] = np.empty(capacity)
        self._deltas: NDArray[np.int8] = np.empty(capacity, dtype=np.int8)
        self._status: NDArray[np.int8] = np.empty(capacity, dtype=np.int8)
        #: In flight just after each event: one row per status, then every status.
        self._levels: NDArray[np.int32] = np.empty((4, capacity), dtype=np.int32)
        #: Running sum of ``delta * (time - _ref)``: with the levels it gives the in-flight
        #: time up to any instant (:meth:`areas`) without a pass over the events.
        self._moment: NDArray[np.float64] = np.empty(capacity)
        self._ref: float | None = None

    def _arrays(self) -> tuple[Any, ...]:
        """Every event's ``(times, deltas, status, levels, moment)`` (``levels[row]``: per
        status, then the total). Once events are on disk, the ones in memory join them
        there (at compile) and these are memory maps of the files: nothing is copied."""
        n = self.size
        if self._disk is None:
            return (
                self._times[:n],
                self._deltas[:n],
                self._status[:n],
                self._levels[:, :n],
                self._moment[:n],
            )
        if n:
            self._settle_old(n)
        if self._full is None:
            times, deltas, status, *levels, moment = (a.view() for a in self._disk)
            self._full = (times, deltas, status, tuple(levels), moment)
        return self._full

    @property
    def times(self) -> NDArray[np.float64]:
        times: NDArray[np.float64] = self._arrays()[0]
        return times

    @property
    def deltas(self) -> NDArray[np.int8]:
        deltas: NDArray[np.int8] = self._arrays()[1]
        return deltas

    @property
    def status(self) -> NDArray[np.int8]:
        status: NDArray[np.int8] = self._arrays()[2]
        return status

    @property
    def levels(self) -> NDArray[np.int32]:
        """In-flight requests (every status) just after each event."""
        levels: NDArray[np.int32] = self._arrays()[3][_TOTAL]
        return levels

    def extend(
        self, starts: NDArray[np.float64], ends: NDArray[np.float64], status: NDArray[Any]
    ) -> None:
        """Merge one block of requests (a request that did not last has no events)."""
        keep = ends > starts
        if not keep.all():
            starts, ends, status = starts[keep], ends[keep], status[keep]
        n = len(starts)
        if not n:
            return
        times = np.concatenate([starts, ends])
        order = np.argsort(times, kind="stable")
        block_times = times[order]
        if block_times[0] < self._settled_last:
            self.late = True  # an event among the settled ones: made again at compile
            return
        self._full = None
        block_deltas = np.where(order < n, 1, -1).astype(np.int8)
        block_status = np.concatenate([status, status]).astype(np.int8)[order]
        size = self.size
        first = int(np.searchsorted(self._times[:size], block_times[0], side="right"))
        new_size = size + 2 * n
        self._reserve(new_size)
        # Only the events after the block's first one move.
        tail = slice(first, size)
        positions, keep_existing = merge_positions(self._times[tail], block_times)
        span = slice(first, new_size)
        self._times[span] = merged(self._times[tail], block_times, positions, keep_existing)
        self._deltas[span] = merged(self._deltas[tail], block_deltas, positions, keep_existing)
        self._status[span] = merged(self._status[tail], block_status, positions, keep_existing)
        self.size = new_size
        deltas = self._deltas[span].astype(np.int32)
        codes = self._status[span]
        base_levels, base_moment = self._base
        for row in range(4):
            mine = deltas if row == _TOTAL else np.where(codes == row, deltas, 0)
            base = self._levels[row, first - 1] if first else base_levels[row]
            np.cumsum(mine, out=self._levels[row, span])
            self._levels[row, span] += base
        if self._ref is None:
            self._ref = float(block_times[0])  # times near zero keep the sums exact
        np.cumsum(deltas * (self._times[span] - self._ref), out=self._moment[span])
        self._moment[span] += self._moment[first - 1] if first else base_moment
        if self.size > _SETTLE_AT:
            cut = self.size - _KEEP
            if self.frontier < math.inf:
                cut = min(cut, int(np.searchsorted(self._times[: self.size], self.frontier)))
            if cut > 0:
                self._settle_old(cut)

    @classmethod
    def from_columns(
        cls,
        starts: NDArray[np.float64],
        ends: NDArray[np.float64],
        status: NDArray[Any],
        block: int,
    ) -> ConcurrencyTimeline:
        """The timeline of these requests, taken ``block`` requests at a time in start order
        (the columns may be memory maps of spilled files).

        For a timeline made again after one went :attr:`late`: in start order no block
        reaches back past what moved to disk, as long as nothing after the latest start fed
        so far moves there (:attr:`frontier`). What stays in memory is then the newest
        events plus the ends of requests still in flight at the frontier, however long the
        run; the order of the requests (8 bytes each) is the one array of their length."""
        line = cls()
        order = np.argsort(starts, kind="stable")
        for first in range(0, len(order), block):
            rows = np.sort(order[first : first + block])  # file order: fewer pages read
            part = starts[rows]
            line.frontier = float(part.max())
            line.extend(part, ends[rows], status[rows])
        line.frontier = math.inf
        return line

    def _settle_old(self, cut: int) -> None:
        """Move the first ``cut`` events in memory to disk. A later block rarely reaches
        back past the newest :data:`_KEEP` events (a request longer than that span); when
        one does, :attr:`late` says so."""
        if self._disk is None:
            dtypes = (np.float64, np.int8, np.int8, *([np.int32] * 4), np.float64)
            self._disk = tuple(SpillArray(dt, spill_at=0) for dt in dtypes)
        parts = (
            self._times[:cut],
            self._deltas[:cut],
            self._status[:cut],
            *self._levels[:, :cut],
            self._moment[:cut],
        )
        for disk, part in zip(self._disk, parts, strict=True):
            disk.append(part)
        self._full = None
        self._base = (self._levels[:, cut - 1].copy(), float(self._moment[cut - 1]))
        self._settled_last = float(self._times[cut - 1])
        rest = slice(cut, self.size)
        n = self.size - cut
        for name in ("_times", "_deltas", "_status", "_moment"):
            arr = getattr(self, name)
            arr[:n] = arr[rest]
        self._levels[:, :n] = self._levels[:, rest]
        self.size = n
        self.settled += cut

    def _reserve(self, size: int) -> None:
        capacity = len(self._times)
        if size <= capacity:
            return
        grown = max(size, 2 * capacity)
        n = self.size
        for name in ("_times", "_deltas", "_status", "_moment"):
            old = getattr(self, name)
            new = np.empty(grown, dtype=old.dtype)
            new[:n] = old[:n]
            setattr(self, name, new)
        levels = np.empty((4, grown), dtype=np.int32)
        levels[:, :n] = self._levels[:, :n]
        self._levels = levels

    def areas(self, at: NDArray[np.float64]) -> NDArray[np.float64]:
        """In-flight request-seconds from the first event up to each time of ``at``.

        Up to ``x`` every started request adds ``x - start`` and every ended one takes back
        ``x - end``: ``(x - ref) * level(x) - moment(x)``, one binary search per time.
        """
        at = np.asarray(at, dtype=np.float64)
        if not (self.size + self.settled) or self._ref is None:
            return np.zeros(len(at))
        times, _, _, levels, moment = self._arrays()
        k = np.searchsorted(times, at, side="right") - 1
        inside = k >= 0
        kk = np.maximum(k, 0)
        level = levels[_TOTAL][kk].astype(np.float64)
        area = (at - self._ref) * level - moment[kk]
        return np.where(inside, area, 0.0)

    def summaries(self, ws: float, we: float, lasting: NDArray[np.int64]) -> dict[str, Any]:
        """Time-weighted in-flight distributions over ``[ws, we]``, per status and in total.

        ``lasting`` counts, per status, the requests with events (``end > start``); each
        summary's ``count`` is those overlapping the window: all but the ones that ended by
        ``ws`` or started at or after ``we``.
        """
        names = (*STATUS_NAMES, "total")
        if we <= ws:
            return {name: empty_summary() for name in names}
        times, deltas, codes, all_levels, _ = self._arrays()
        lo = int(np.searchsorted(times, ws, side="right"))
        hi = int(np.searchsorted(times, we, side="left"))
        ended = np.bincount(codes[:lo][deltas[:lo] < 0], minlength=3)
        later = np.bincount(codes[hi:][deltas[hi:] > 0], minlength=3)
        overlapping = lasting - ended - later
        window = times[lo:hi]
        inner = np.diff(window)
        n = int(overlapping.sum())
        out: dict[str, Any] = {}
        for row, name in enumerate(names):
            if row < 3 and overlapping[row] == 0:
                out[name] = empty_summary()
                continue
            if row < 3 and overlapping[row] == n:
                continue  # every request has this status: the total below is the same
            levels = all_levels[row]
            base = int(levels[lo - 1]) if lo else 0
            count = n if row == _TOTAL else int(overlapping[row])
            out[name] = _window_summary(levels[lo:hi], window, inner, base, (ws, we), count)
        for name in STATUS_NAMES:
            out.setdefault(name, out["total"])
        return out


def _window_summary(  # noqa: PLR0917 - one call site, the window's parts
    levels: NDArray[np.int32],
    times: NDArray[np.float64],
    inner: NDArray[np.float64],
    base: int,
    bounds: tuple[float, float],
    count: int,
) -> dict[str, Any]:
    """The time at each level: ``base`` until the window's first event (``times[0]``),
    ``levels[i]`` from event ``i`` to the next (``inner[i]``), the last one until the end."""
    ws, we = bounds
    top = max(base, int(levels.max())) + 1 if len(levels) else base + 1
    if len(levels):
        seconds = np.bincount(levels[:-1], weights=inner, minlength=top).astype(np.float64)
        seconds[base] += times[0] - ws
        seconds[levels[-1]] += we - times[-1]
    else:
        seconds = np.zeros(top)
        seconds[base] = we - ws
    # Levels are small integers: the time spent at each is a weighted histogram. Weights in
    # microseconds: a weighted percentile repeats each value ``weight`` times, so second-sized
    # weights would put p99 of a 10 s window at 89 % of its time (and every percentile of a
    # sub-second window at the lowest level).
    micros = seconds * 1e6
    summary = summarize(np.arange(top, dtype=np.float64), micros, presorted=True, ci=False)
    summary["count"] = count
    return summary
