"""Exact samples kept sorted while a benchmark runs, so compiling it needs no sort.

A report's percentiles are exact (docs/metrics.md), which needs every value in order. Sorting
100,000 values per metric after the last response was most of the time a run spent between its
last response and its report; instead each block of results (the aggregator flushes every few
thousand) is sorted on its own, which is cheap, and merged into the running sorted arrays: a
binary search for the block's positions plus one copy of the array, off the hot per-result path.

:class:`SortedSample` holds one metric's values (optionally weighted) with the row each value
came from, so that a window rule decided only at the end can drop rows without re-sorting.
:class:`GrowableColumns` holds the per-row columns in arrays that grow by doubling, so the end
of a run does not concatenate thousands of blocks either.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = ["GrowableColumns", "SortedSample", "merge_positions", "merged"]

_ROW = np.int64


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


class SortedSample:
    """One metric's values in ascending order, with their weights (if any) and rows.

    NaN values (a metric a request does not have, such as the TTFT of a request that never got
    a token) and zero weights are dropped as they arrive: they never enter a statistic.
    """

    __slots__ = ("rows", "values", "weighted", "weights")

    def __init__(self, *, weighted: bool = False) -> None:
        self.weighted = weighted
        self.values: NDArray[np.float64] = np.zeros(0)
        self.weights: NDArray[np.float64] | None = np.zeros(0) if weighted else None
        self.rows: NDArray[np.int64] = np.zeros(0, dtype=_ROW)

    def __len__(self) -> int:
        return len(self.values)

    def extend(
        self,
        values: NDArray[np.float64],
        first_row: int,
        weights: NDArray[np.float64] | None = None,
    ) -> None:
        """Merge one block of values; ``values[i]`` belongs to row ``first_row + i``."""
        keep = ~np.isnan(values)
        if self.weighted:
            if weights is None:
                raise ValueError("a weighted sample needs weights")
            keep &= weights > 0
        rows = np.nonzero(keep)[0].astype(_ROW)
        if not len(rows):
            return
        block = values[rows]
        order = np.argsort(block, kind="stable")
        block = block[order]
        rows = rows[order]
        positions, keep_existing = merge_positions(self.values, block)
        self.values = merged(self.values, block, positions, keep_existing)
        self.rows = merged(self.rows, rows + first_row, positions, keep_existing)
        if self.weights is not None and weights is not None:
            block_weights = np.asarray(weights, dtype=np.float64)[rows]
            self.weights = merged(self.weights, block_weights, positions, keep_existing)


class GrowableColumns:
    """Per-row columns (name -> dtype) appended a block at a time, read as array views."""

    def __init__(self, dtypes: dict[str, Any], capacity: int = 4096) -> None:
        self._dtypes = dict(dtypes)
        self._data = {name: np.empty(capacity, dtype=dt) for name, dt in self._dtypes.items()}
        self.rows = 0

    def append(self, block: dict[str, Any]) -> int:
        """Append one block (every column, same length); returns the block's first row."""
        first = self.rows
        m = len(next(iter(block.values()))) if block else 0
        need = first + m
        for name, dtype in self._dtypes.items():
            data = self._data[name]
            if need > len(data):
                grown = np.empty(max(need, 2 * len(data)), dtype=dtype)
                grown[:first] = data[:first]
                self._data[name] = data = grown
            data[first:need] = block[name]
        self.rows = need
        return first

    def view(self) -> dict[str, NDArray[Any]]:
        """Every column's filled part (views: valid until the next append)."""
        return {name: data[: self.rows] for name, data in self._data.items()}
