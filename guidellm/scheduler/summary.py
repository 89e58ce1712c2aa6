"""ScheduleSummary: what the Scheduler knows about a finished benchmark, for its report."""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from guidellm.scheduler.judgement import judge

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = ["ScheduleSummary"]


@dataclass
class ScheduleSummary:
    """What the Scheduler knows about a finished benchmark, including its self-judgement."""

    start_time: float
    end_time: float
    stop_reason: str
    sent: int = 0
    completed: int = 0
    successful: int = 0
    errored: int = 0
    incomplete: int = 0
    #: Items done whole: successful requests outside sessions, and sessions whose last
    #: planned turn succeeded (the unit a strategy's rate counts).
    completed_items: int = 0
    workers: int = 0
    cpu_seconds: float = 0.0
    #: The wall time ``cpu_seconds`` was measured over (0: :attr:`duration`): it starts before
    #: the clock does and ends after a time limit cuts ``end_time``.
    cpu_wall_seconds: float = 0.0
    loop_lags_ms: Sequence[float] = field(default_factory=lambda: array("d"))
    #: Where the chunk arrival times came from: ``kernel``, ``loop`` or ``mixed`` (workers
    #: differed), ``None`` when no worker said.
    timing_source: str | None = None
    #: Every result's scheduling delay (an ``array`` or, past a few thousand, numpy).
    scheduling_delays_ms: Sequence[float] | NDArray[Any] = field(default_factory=lambda: array("d"))
    waited_for_slot: int = 0
    open_loop: bool = True
    #: How a worker was lost when that stopped the benchmark (``None``: it did not).
    failure: str | None = None
    #: Requests each worker that took part sent (a lost one: what it launched).
    sent_by_worker: dict[int, int] = field(default_factory=dict)
    #: Workers lost during the benchmark, with how (whether or not it went on without them).
    lost_workers: dict[int, str] = field(default_factory=dict)
    #: Requests moved from a lost worker that no worker was left to send (never sent).
    unplaced: int = 0
    #: Cores the client's processes could use at most (``None``: this machine's).
    cores: int | None = None
    #: The over-saturation test's evidence when it stopped the benchmark, else ``None``.
    over_saturation: dict[str, Any] | None = None
    _client: dict[str, Any] | None = field(default=None, repr=False, compare=False)

    @property
    def duration(self) -> float:
        return max(self.end_time - self.start_time, 1e-9)

    def client(self) -> dict[str, Any]:
        """The ``client`` mapping of the aggregator contract (docs/architecture.md).

        Judged once. The per-request scheduling delays and the loop-lag samples are let go
        then: a run keeps every benchmark's summary to its end, and a sweep of long
        benchmarks would otherwise hold 8 bytes per request of each."""
        if self._client is None:
            self._client = judge(self)
            self.scheduling_delays_ms = array("d")
            self.loop_lags_ms = array("d")
        return dict(self._client)
