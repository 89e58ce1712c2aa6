"""ScrapeRows: every scrape's values of one endpoint, on disk once there are many.

A large server's exposition flattens to several hundred values (a column per sample name and
histogram bucket). Scraped every second for an hour, kept as one float array per scrape, that
is about 4 KB a second of the parent's memory for as long as the run goes. The rows are
appended to one :class:`~guidellm.benchmark.spill.SpillArray` instead (in memory while small,
then an unlinked file), with each row's start and length: 16 bytes a scrape stay in memory.
"""

from __future__ import annotations

import math
from array import array
from typing import TYPE_CHECKING, Any

import numpy as np

from guidellm.benchmark.spill import SpillArray

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = ["ScrapeRows"]


class ScrapeRows:
    """Rows of floats of growing length (a later scrape may have more columns); one writer
    thread appends while another reads: a row, once appended, never changes."""

    __slots__ = ("_lengths", "_starts", "_values", "_view")

    def __init__(self) -> None:
        self._values = SpillArray(np.float64)
        self._starts: array[int] = array("q")
        self._lengths: array[int] = array("q")
        #: The values as last read: valid for every row appended before it was taken.
        self._view: NDArray[np.float64] | None = None

    def __len__(self) -> int:
        return len(self._lengths)

    def append(self, row: array[float]) -> None:
        first = self._values.append(np.frombuffer(row, dtype=np.float64))
        self._starts.append(first)
        self._lengths.append(len(row))

    def value(self, row: int, column: int) -> float:
        """Column ``column`` of scrape ``row``; NaN past the row's length."""
        if column >= self._lengths[row]:
            return math.nan
        at = self._starts[row] + column
        view = self._view
        if view is None or at >= len(view):
            view = self._view = self._values.view()
        return float(view[at])

    def __getitem__(self, row: int) -> NDArray[Any]:
        start = self._starts[row]
        return self._values.read(start, start + self._lengths[row])
