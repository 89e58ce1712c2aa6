"""The scheduling contract: strategies decide when requests go out; profiles chain them.

A :class:`SchedulingStrategy` is either *closed-loop* (``streams`` is set: that many
request streams, each sending its next request as soon as the previous one ends) or
*open-loop* (``streams`` is ``None``: :meth:`arrival_offsets` gives every intended send time,
independent of how fast the server answers). Strategies are plain picklable objects: the
parent computes send times from them and ships them to workers.

A :class:`Profile` yields the strategies of one invocation, one benchmark each, and may look
at earlier benchmarks' outcomes to choose the next (``sweep`` does).
"""

from __future__ import annotations

import abc
import random
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

__all__ = ["BenchmarkOutcome", "Profile", "SchedulingStrategy", "StrategyProfile"]


class SchedulingStrategy(abc.ABC):
    """When requests are sent during one benchmark."""

    #: The name users pass to ``--profile``.
    name: ClassVar[str]

    #: Closed loop: the number of concurrent request streams. ``None``: open loop.
    streams: int | None = None
    #: The most requests in flight at once (``None``: no cap beyond the workers' own).
    max_concurrency: int | None = None
    #: Open loop timed by the data: each request's ``timestamp`` (a trace's send time) sets
    #: its send time through :meth:`data_offsets` instead of :meth:`arrival_offsets`.
    timed_by_data: ClassVar[bool] = False
    #: Seconds the schedule lasts when it ends by itself (``stages``), else ``None``.
    duration: float | None = None
    #: Closed loop with a stream count that changes during the benchmark: ``(offset, streams)``
    #: from offset 0 on, ``streams`` being their maximum; the benchmark ends at ``duration``.
    stream_stages: list[tuple[float, int]] | None = None

    @classmethod
    @abc.abstractmethod
    def from_rates(
        cls, rates: Sequence[float] | None, options: Mapping[str, Any]
    ) -> list[SchedulingStrategy]:
        """One strategy per benchmark from ``--rate`` and ``--profile-args``.

        Raise :class:`~guidellm.errors.UserError` for rates or options that make no sense.
        """

    def arrival_offsets(self, rng: random.Random) -> Iterator[float]:
        """Seconds from the benchmark start at which each request is intended to be sent.

        Open-loop strategies must override this; the iterator may be endless (a stop condition
        ends the benchmark). ``rng`` is seeded from ``--random-seed``.
        """
        raise TypeError(f"{type(self).__name__} is closed-loop: it has no arrival times")

    def data_offsets(self, timestamps: Iterator[float | None]) -> Iterator[float | None]:
        """For ``timed_by_data`` strategies: each request's send offset from the benchmark
        start, given the requests' trace timestamps in order; ``None`` skips that request
        (before the replayed window); the iterator ends where the replay ends."""
        raise TypeError(f"{type(self).__name__} is not timed by the data")

    @abc.abstractmethod
    def describe(self) -> dict[str, Any]:
        """For the report: ``{"type": name, "rate": ...}`` or ``{"type": name, "streams": ...}``."""


@dataclass(frozen=True)
class BenchmarkOutcome:
    """What a profile may learn from a finished benchmark to choose the next one."""

    strategy: SchedulingStrategy
    requests_per_second: float
    successful: int
    errored: int
    duration: float
    #: What the strategy's rate counts, done per second: successful requests, or sessions
    #: whose every turn succeeded when the data is conversations (``None``: not measured).
    items_per_second: float | None = None
    #: The compiled benchmark (a ``guidellm.benchmark.report.Benchmark``), for profiles that
    #: set ``needs_benchmarks``; ``None`` otherwise.
    benchmark: Any = None

    @property
    def rate(self) -> float:
        """The achieved rate in the unit a strategy's rate is given in."""
        return self.requests_per_second if self.items_per_second is None else self.items_per_second


class Profile(abc.ABC):
    """A sequence of strategies, one benchmark each, in one invocation."""

    #: The name users pass to ``--profile``.
    name: ClassVar[str]
    #: ``--stop-on-saturation auto`` stops this profile's over-saturated open-loop benchmarks:
    #: for profiles that push past capacity on purpose and learn nothing from what follows.
    stop_on_saturation: ClassVar[bool] = False

    def __init__(self, rates: Sequence[float] | None, options: Mapping[str, Any]) -> None:
        self.rates = list(rates) if rates is not None else None
        self.options = dict(options)

    @abc.abstractmethod
    def next_strategy(self, completed: Sequence[BenchmarkOutcome]) -> SchedulingStrategy | None:
        """The next benchmark's strategy given those completed so far; ``None`` ends the run."""

    def describe(self) -> dict[str, Any]:
        return {"type": self.name, "rates": self.rates, **self.options}

    def planned(self) -> list[SchedulingStrategy] | None:
        """Every strategy this profile will run, when known up front (the Benchmarker sizes
        the worker pool from it); ``None`` for a profile that decides as it goes."""
        return None


class StrategyProfile(Profile):
    """The profile every strategy gets for free: its ``from_rates`` list, in order."""

    strategy_class: ClassVar[type[SchedulingStrategy]]

    def __init__(self, rates: Sequence[float] | None, options: Mapping[str, Any]) -> None:
        super().__init__(rates, options)
        self._planned = self.strategy_class.from_rates(rates, options)

    def next_strategy(self, completed: Sequence[BenchmarkOutcome]) -> SchedulingStrategy | None:
        index = len(completed)
        return self._planned[index] if index < len(self._planned) else None

    def planned(self) -> list[SchedulingStrategy] | None:
        return list(self._planned)

    @classmethod
    def for_strategy(cls, strategy: type[SchedulingStrategy]) -> type[StrategyProfile]:
        """A profile class named after ``strategy`` that runs it once per rate."""
        return type(
            f"{strategy.__name__}Profile",
            (cls,),
            {"name": strategy.name, "strategy_class": strategy, "__module__": cls.__module__},
        )
