"""DelaySeries: each result's scheduling delay, kept for the client's verdict on itself.

The live verdict reads the newest 1,000 delays a few times a second, the final one every
delay once. Kept in one ``array`` they would grow by 8 bytes a request for as long as the run
goes, so past a few thousand the older ones move to a
:class:`~guidellm.benchmark.spill.SpillArray` (on disk once large). Standard library only
until then: the scheduler is imported before numpy is, so that the first request leaves early.
"""

from __future__ import annotations

from array import array
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = ["DelaySeries"]


class DelaySeries:
    """Floats appended to :attr:`recent` (the newest, cheap to append to and to read the
    last ones of); :meth:`settle`, after each batch of appends, moves all but the newest
    ``keep`` out once it holds ``keep`` + ``chunk``."""

    __slots__ = ("_chunk", "_keep", "_old", "recent")

    def __init__(self, keep: int = 1000, chunk: int = 1 << 14) -> None:
        self.recent: array[float] = array("d")
        self._old: Any = None
        self._keep = keep
        self._chunk = chunk

    def __len__(self) -> int:
        return (self._old.size if self._old is not None else 0) + len(self.recent)

    def settle(self) -> None:
        recent = self.recent
        if len(recent) < self._keep + self._chunk:
            return
        import numpy as np

        from guidellm.benchmark.spill import SpillArray

        if self._old is None:
            self._old = SpillArray(np.float64)
        cut = len(recent) - self._keep
        self._old.append(np.frombuffer(recent, dtype=np.float64, count=cut).copy())
        del recent[:cut]

    def values(self) -> NDArray[Any] | array[float]:
        """Every value, oldest first (in memory: read it once, at the end)."""
        if self._old is None:
            return self.recent
        import numpy as np

        newest = np.frombuffer(self.recent, dtype=np.float64)
        return np.concatenate([self._old.view(), newest])
