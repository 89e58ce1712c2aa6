"""Inter-chunk gaps: far more numerous than requests, so kept as counts, not as values.

Each block of results the aggregator prepares turns its requests' chunk arrival times into
gaps (milliseconds). Per request it keeps their sum, sum of squares, min and max (exact
moments and range, as row columns); per status it counts the gaps themselves in a
:class:`~guidellm.benchmark.statistics.LogHistogram`. When a measured window may leave some
requests out, it also keeps every gap's bucket (2 bytes, spilled to disk with the rest of a
long benchmark) and each block's own histogram (spilled too), so that compile subtracts
exactly their gaps: a block left out whole by its histogram, others by reading the buckets
of the requests left out. The running histograms are of fixed size: memory does not grow
with the run.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Mapping
from itertools import chain
from typing import TYPE_CHECKING, Any

import numpy as np

from guidellm.benchmark.spill import SpillArray
from guidellm.benchmark.statistics import LogHistogram

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = ["GAP_COLUMNS", "GapHistograms"]

#: The row columns :meth:`GapHistograms.add_block` derives for every request.
GAP_COLUMNS = ("gap_sum", "gap_sumsq", "gap_min", "gap_max")
_NAN = math.nan


class GapHistograms:
    """Per-status gap histograms of every prepared block, and per-status smallest and largest
    gap; :meth:`histograms` gives those of the requests a window keeps."""

    def __init__(self, *, keep_buckets: bool = True) -> None:
        #: Every gap's bucket, block after block (kept only when a window may need them:
        #: they are the only per-chunk memory, 2 bytes a gap, so they spill to disk too).
        self._buckets: SpillArray | None = SpillArray(np.int16) if keep_buckets else None
        self._batch_rows = array("q")  # rows of each block, to find its gaps' buckets
        #: Each block's own histogram over the buckets it touches, flattened, and where:
        #: (first bucket, width, offset) per block. A window that leaves a whole block out
        #: subtracts it without reading its gaps.
        self._block_hists = SpillArray(np.int64) if keep_buckets else None
        self._block_index = array("q")
        self._hist = np.zeros((3, LogHistogram.BUCKETS), dtype=np.int64)
        self._min = np.full(3, math.inf)
        self._max = np.full(3, -math.inf)

    def add_block(
        self, lists: list[list[float]], status: NDArray[np.int64], ngaps: NDArray[np.int64]
    ) -> dict[str, NDArray[np.float64]]:
        """Count one block's gaps (``lists``: each request's chunk times; ``ngaps``: each
        request's number of gaps) and return its :data:`GAP_COLUMNS`."""
        m = len(lists)
        counts = np.fromiter(map(len, lists), dtype=np.int64, count=m)
        gap_sum = np.zeros(m)
        gap_sumsq = np.zeros(m)
        gap_min = np.full(m, _NAN)
        gap_max = np.full(m, _NAN)
        total = int(counts.sum())
        if total > 1:
            flat = np.fromiter(chain.from_iterable(lists), dtype=np.float64, count=total)
            diffs = np.diff(flat) * 1000.0
            keep = np.ones(total - 1, dtype=bool)
            ends = np.cumsum(counts) - 1
            ends = ends[(ends >= 0) & (ends < total - 1)]
            keep[ends] = False
            gaps = diffs[keep]
            owner = np.repeat(np.arange(m), ngaps)
            gap_sum = np.bincount(owner, weights=gaps, minlength=m).astype(np.float64)
            gap_sumsq = np.bincount(owner, weights=gaps * gaps, minlength=m).astype(np.float64)
            has = ngaps > 0
            if has.any():
                first_idx = (np.cumsum(ngaps) - ngaps)[has]
                gap_min[has] = np.minimum.reduceat(gaps, first_idx)
                gap_max[has] = np.maximum.reduceat(gaps, first_idx)
            buckets = LogHistogram.bucket_of(gaps)
            gap_status = status[owner]
            low = int(buckets.min()) if len(buckets) else 0
            # The block's own histogram over the buckets it touches (kept with a window).
            width = int(buckets.max()) - low + 1 if len(buckets) else 0
            block_hist = np.zeros((3, width), dtype=np.int64)
            for code in range(3):
                sel = buckets[gap_status == code]
                if len(sel):
                    block_hist[code] = np.bincount(sel - low, minlength=block_hist.shape[1])
            self._hist[:, low : low + block_hist.shape[1]] += block_hist
        else:
            buckets = np.zeros(0, dtype=np.int16)
            low, block_hist = 0, np.zeros((3, 0), dtype=np.int64)
        if self._buckets is not None and self._block_hists is not None:
            self._buckets.append(buckets)
            self._batch_rows.append(m)
            offset = self._block_hists.append(block_hist.ravel())
            self._block_index.extend((low, block_hist.shape[1], offset))
        present = np.bincount(status, minlength=3)
        for code in range(3):
            if present[code]:
                chosen = ngaps > 0 if present[code] == m else (ngaps > 0) & (status == code)
                if chosen.any():
                    self._min[code] = min(self._min[code], float(gap_min[chosen].min()))
                    self._max[code] = max(self._max[code], float(gap_max[chosen].max()))
        return {"gap_sum": gap_sum, "gap_sumsq": gap_sumsq, "gap_min": gap_min, "gap_max": gap_max}

    @property
    def range(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Smallest and largest gap per status (inf / -inf: none)."""
        return self._min, self._max

    def histograms(self, excluded: NDArray[np.bool_] | None, cols: Mapping[str, Any]) -> Any:
        """Per-status gap histograms of the requests not ``excluded`` by the window.

        Works on the smaller side: subtracts the excluded requests' gaps from the running
        histograms, or rebuilds from the included ones when most requests are excluded. Only
        those requests' gaps are touched (no array of every gap's status is built).
        """
        n_excluded = 0 if excluded is None else int(excluded.sum())
        if excluded is None or n_excluded == 0:
            return self._hist.copy()
        if self._buckets is None or self._block_hists is None:
            raise RuntimeError("gap buckets were not kept: make GapHistograms(keep_buckets=True)")
        ngaps = cols["ngaps"]
        status_all = cols["status"]
        subtract = n_excluded * 2 <= len(excluded)
        chosen = excluded if subtract else ~excluded
        part = np.zeros_like(self._hist)
        row0 = 0
        gap0 = 0
        # Batch by batch (the flushes' blocks): a block chosen whole adds its own histogram;
        # otherwise only the chosen requests' gaps are read.
        for block, n_rows in enumerate(self._batch_rows):
            batch_ngaps = ngaps[row0 : row0 + n_rows]
            n_gaps = int(batch_ngaps.sum())
            gap_start, gap0 = gap0, gap0 + n_gaps
            rows = np.nonzero(chosen[row0 : row0 + n_rows])[0]
            if len(rows) == n_rows:
                low, width, offset = self._block_index[3 * block : 3 * block + 3]
                flat = self._block_hists.read(offset, offset + 3 * width)
                part[:, low : low + width] += flat.reshape(3, width)
            elif len(rows):
                buckets = self._buckets.read(gap_start, gap_start + n_gaps)
                offsets = np.cumsum(batch_ngaps) - batch_ngaps
                counts = batch_ngaps[rows]
                # Concatenated ranges offsets[r] .. offsets[r] + counts[r].
                starts = np.repeat(offsets[rows] - (np.cumsum(counts) - counts), counts)
                picked = buckets[np.arange(int(counts.sum())) + starts]
                status = np.repeat(status_all[row0 + rows].astype(np.int8), counts)
                for code in range(3):
                    sel = picked[status == code]
                    if len(sel):
                        part[code] += np.bincount(sel, minlength=LogHistogram.BUCKETS)
            row0 += n_rows
        return self._hist - part if subtract else part
