"""Spill: a benchmark's per-request arrays move from memory to disk once they are large.

A soak run of an hour at 1,000 requests/s has 3.6 million rows: kept in memory, the
aggregator's columns and sorted samples alone would take gigabytes. Each per-request array is
a :class:`SpillArray`: in memory while it is small (fast, and what a short benchmark ever
uses), then in an unlinked temporary file, appended to block by block and read back through a
memory map, so the parent's memory stays flat however long the run is. The files have no name
on disk: they are gone when the process ends, however it ends. They are made in
``$GUIDELLM_SPILL_DIR`` if set, else the system's temporary folder (``$TMPDIR``): point either
at a disk, not a RAM-backed ``tmpfs``, for long runs.

:func:`merge_sorted` merges a sorted block into a large sorted run on disk a slice at a time,
so keeping a sample exactly sorted on disk needs only a slice's worth of memory.
"""

from __future__ import annotations

import os
import tempfile
from typing import IO, TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = ["SPILL_ROWS", "SpillArray", "merge_sorted"]

#: An array moves to disk once it would hold more than this many values.
SPILL_ROWS = 1 << 15
#: Values merged per slice by :func:`merge_sorted` (its memory: this many of each array).
_MERGE_SLICE = 1 << 16


def _temporary() -> IO[bytes]:
    return tempfile.TemporaryFile(dir=os.environ.get("GUIDELLM_SPILL_DIR") or None)


class SpillArray:
    """A one-dimensional array appended to a block at a time; see the module docstring.

    ``spill_at`` (default :data:`SPILL_ROWS`, read when the array is made) is the size past
    which it lives on disk; ``0`` puts it there from the start.
    """

    __slots__ = ("_file", "_mem", "dtype", "size", "spill_at")

    def __init__(self, dtype: Any, spill_at: int | None = None) -> None:
        self.dtype = np.dtype(dtype)
        self.size = 0
        self.spill_at = SPILL_ROWS if spill_at is None else spill_at
        self._mem: NDArray[Any] | None = np.empty(0, dtype=self.dtype)
        self._file: IO[bytes] | None = None

    @property
    def spilled(self) -> bool:
        return self._file is not None

    def append(self, values: NDArray[Any]) -> int:
        """Append ``values``; returns the position of the first."""
        first, n = self.size, len(values)
        need = first + n
        if self._mem is not None and need <= self.spill_at:
            if need > len(self._mem):
                grown = np.empty(max(need, 2 * len(self._mem), 1024), dtype=self.dtype)
                grown[:first] = self._mem[:first]
                self._mem = grown
            self._mem[first:need] = values
            self.size = need
            return first
        if self._file is None:
            self._file = _temporary()
            if self._mem is not None and first:
                self._file.write(self._mem[:first].tobytes())
            self._mem = None
        self._file.write(np.ascontiguousarray(values, dtype=self.dtype).tobytes())
        self.size = need
        return first

    def view(self) -> NDArray[Any]:
        """Every value: the array itself, or a read-only memory map of the file (its pages
        are read as they are touched and belong to the page cache, not the process)."""
        mem = self._mem  # once: another thread may be appending (ScrapeRows)
        if mem is not None:
            return mem[: self.size]
        assert self._file is not None
        self._file.flush()
        if not self.size:
            return np.zeros(0, dtype=self.dtype)
        return np.memmap(self._file, dtype=self.dtype, mode="r", shape=(self.size,))

    def read(self, start: int, stop: int) -> NDArray[Any]:
        """Values ``[start, stop)`` in memory (a copy when spilled); ``stop`` past the end
        reads to the end (never the unfilled room of the array in memory)."""
        stop = min(stop, self.size)
        mem = self._mem
        if mem is not None:
            return mem[start:stop]
        assert self._file is not None
        self._file.flush()
        if stop <= start:
            return np.zeros(0, dtype=self.dtype)
        width = self.dtype.itemsize
        data = os.pread(self._file.fileno(), (stop - start) * width, start * width)
        values: NDArray[Any] = np.frombuffer(data, dtype=self.dtype).copy()
        return values

    def close(self) -> None:
        """Free the file now (else when the array is collected)."""
        if self._file is not None:
            self._file.close()
            self._file = None
            self._mem = np.empty(0, dtype=self.dtype)
            self.size = 0


def merge_sorted(
    run: tuple[SpillArray, ...], block: tuple[NDArray[Any], ...], *, cum: bool = False
) -> tuple[SpillArray, ...]:
    """``run`` (arrays sorted by the first one, e.g. values, rows, weights) and ``block``
    (sorted the same way) merged into new spilled arrays, a slice of the run at a time.

    Equal values keep the run's first. With ``cum``, one more array follows: the running sum
    of the last one (the weights), continued across slices.
    """
    from guidellm.benchmark.sorted_sample import merge_positions, merged

    keys = block[0]
    out = tuple(SpillArray(a.dtype, spill_at=0) for a in run)
    total = SpillArray(np.float64, spill_at=0) if cum else None
    carried = 0.0
    taken = 0
    size = run[0].size
    for start in range(0, max(size, 1), _MERGE_SLICE):
        stop = min(start + _MERGE_SLICE, size)
        part = [a.read(start, stop) for a in run]
        # The block's values below this slice's last one join it (equal ones wait: the
        # run's equal values, maybe in the next slice, come first).
        upto = len(keys) if stop >= size else int(np.searchsorted(keys, part[0][-1], "left"))
        pieces = [b[taken:upto] for b in block]
        taken = upto
        if len(pieces[0]):
            positions, keep = merge_positions(part[0], pieces[0])
            part = [merged(a, b, positions, keep) for a, b in zip(part, pieces, strict=True)]
        for dest, values in zip(out, part, strict=True):
            dest.append(values)
        if total is not None:
            sums = np.cumsum(part[-1]) + carried
            if len(sums):
                carried = float(sums[-1])
            total.append(sums)
    for a in run:
        a.close()
    return (*out, total) if total is not None else out
