"""The plain (unweighted) percentile of a handful to a few hundred thousand numbers.

It follows the report's one definition (docs/metrics.md: linear interpolation between the
closest ranks, numpy's default) and is for values nobody sorted: the client's judgement of
itself, live progress, a plugin's figures. The report's metrics read the same definition off
already sorted, possibly weighted samples instead
(:func:`guidellm.benchmark.statistics.quantiles`). Standard library only until an input is
large (numpy, imported inside), so the scheduler can call it on its event loop.
"""

from __future__ import annotations

import math
from array import array
from typing import Any

__all__ = ["percentile"]

#: Up to this many values (the live check's last 1,000 sends) :func:`percentile` sorts in
#: Python: no numpy import on the event loop while the run goes on.
_SORT_MAX = 1000


def percentile(values: Any, q: float) -> float | None:
    """Percentile ``q`` (0..100) of a sequence of floats, interpolated between the closest
    ranks; ``None`` when empty."""
    n = len(values)
    if n == 0:
        return None
    pos = (n - 1) * q / 100
    lo = math.floor(pos)
    hi = min(lo + 1, n - 1)
    if n <= _SORT_MAX:
        data = sorted(values)
        a, b = data[lo], data[hi]
    else:
        # The run's summary: sorting 100,000 Python floats takes ~20 ms after the last
        # response; a partial sort in numpy (imported by then) finds the same two values.
        import numpy as np

        if isinstance(values, array) and values.typecode == "d":
            arr = np.frombuffer(values, dtype=np.float64)
        else:
            arr = np.asarray(values, dtype=np.float64)
        part = np.partition(arr, (lo, hi))
        a, b = float(part[lo]), float(part[hi])
    return float(a + (b - a) * (pos - lo))
