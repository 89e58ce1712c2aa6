"""ConcurrencyTimeline: every request's start and end, kept in time order as results arrive.

Time-weighted concurrency (docs/metrics.md) is the time spent at each in-flight level inside
the measured window. The events are merged block by block during the run, with the running
level after each event, so compiling needs no sort of the 2 x requests events: a window is a
slice of the timeline, its levels are already known.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from guidellm.benchmark.sorted_sample import merge_positions, merged
from guidellm.benchmark.statistics import STATUS_NAMES, empty_summary, summarize

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = ["ConcurrencyTimeline"]


class ConcurrencyTimeline:
    """Start (+1) and end (-1) events of the requests with ``end > start``, sorted by time."""

    __slots__ = ("deltas", "levels", "status", "times")

    def __init__(self) -> None:
        self.times: NDArray[np.float64] = np.zeros(0)
        self.deltas: NDArray[np.int8] = np.zeros(0, dtype=np.int8)
        self.status: NDArray[np.int8] = np.zeros(0, dtype=np.int8)
        #: In-flight requests (every status) just after each event.
        self.levels: NDArray[np.int64] = np.zeros(0, dtype=np.int64)

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
        block_deltas = np.where(order < n, 1, -1).astype(np.int8)
        block_status = np.concatenate([status, status]).astype(np.int8)[order]
        positions, keep_existing = merge_positions(self.times, block_times)
        self.times = merged(self.times, block_times, positions, keep_existing)
        self.deltas = merged(self.deltas, block_deltas, positions, keep_existing)
        self.status = merged(self.status, block_status, positions, keep_existing)
        # Levels change only from the block's first event on (usually near the end).
        first = int(positions[0])
        levels = np.empty(len(self.times), dtype=np.int64)
        levels[:first] = self.levels[:first]
        base = int(levels[first - 1]) if first else 0
        levels[first:] = base + np.cumsum(self.deltas[first:], dtype=np.int64)
        self.levels = levels

    def summaries(self, ws: float, we: float, overlapping: NDArray[np.int64]) -> dict[str, Any]:
        """Time-weighted in-flight distributions over ``[ws, we]``, per status and in total.

        ``overlapping`` counts, per status, the requests that overlap the window (each
        summary's ``count``).
        """
        names = (*STATUS_NAMES, "total")
        if we <= ws:
            return {name: empty_summary() for name in names}
        lo = int(np.searchsorted(self.times, ws, side="right"))
        hi = int(np.searchsorted(self.times, we, side="left"))
        bounds = np.concatenate([[ws], self.times[lo:hi], [we]])
        durations = np.diff(bounds)
        n = int(overlapping.sum())
        out: dict[str, Any] = {}
        for code, name in enumerate(names):
            if code < 3 and overlapping[code] == 0:
                out[name] = empty_summary()
                continue
            if code < 3 and overlapping[code] == n:
                continue  # every request has this status: the total below is the same
            if code < 3:
                mine = np.where(self.status[:hi] == code, self.deltas[:hi], 0)
                cum = np.cumsum(mine, dtype=np.int64)
                base = int(cum[lo - 1]) if lo else 0
                levels = np.concatenate([[base], cum[lo:hi]])
                count = int(overlapping[code])
            else:
                base = int(self.levels[lo - 1]) if lo else 0
                levels = np.concatenate([[base], self.levels[lo:hi]])
                count = n
            out[name] = _level_summary(levels, durations, count)
        for name in STATUS_NAMES:
            out.setdefault(name, out["total"])
        return out


def _level_summary(
    levels: NDArray[np.int64], durations: NDArray[np.float64], count: int
) -> dict[str, Any]:
    # Levels are small integers: the time spent at each is a weighted histogram. Weights in
    # microseconds: a weighted percentile repeats each value ``weight`` times, so second-sized
    # weights would put p99 of a 10 s window at 89 % of its time (and every percentile of a
    # sub-second window at the lowest level).
    micros = np.bincount(levels, weights=durations).astype(np.float64) * 1e6
    summary = summarize(np.arange(len(micros), dtype=np.float64), micros, presorted=True, ci=False)
    summary["count"] = count
    return summary
