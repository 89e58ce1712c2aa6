"""Progress: the live snapshot of a running benchmark.

The aggregator produces it and the report writers consume it, so it lives here, with its
producer, where the aggregator can import it without reaching up into ``guidellm.outputs``;
``guidellm.outputs.base`` re-exports it for writers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Progress"]


@dataclass(frozen=True)
class Progress:
    """A live snapshot of the running benchmark, sent a few times a second (parent process)."""

    benchmark_index: int
    strategy: Mapping[str, Any]
    elapsed: float
    #: Fraction of the benchmark done by its stop conditions (0..1), ``None`` when unbounded.
    fraction_done: float | None
    successful: int
    errored: int
    incomplete: int
    in_flight: int
    requests_per_second: float
    ttft_median_ms: float | None
    itl_median_ms: float | None
    client_limited: bool = False
