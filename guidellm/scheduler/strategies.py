"""The built-in scheduling strategies, registered like any plugin's.

Closed loop (``streams`` set): ``synchronous`` (one stream), ``concurrent`` (N streams) and
``throughput`` (as many streams as the concurrency cap). Open loop (``arrival_offsets``):
``constant`` (fixed gaps) and ``poisson`` (seeded exponential gaps). Every strategy is a
small picklable object: the parent resolves it and ships only its offsets to workers.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from guidellm.errors import UserError
from guidellm.hookspecs import hookimpl
from guidellm.options import bad_option, reject_unknown
from guidellm.scheduler.strategy import SchedulingStrategy

if TYPE_CHECKING:
    from guidellm.hookspecs import Register
    from guidellm.scheduler.strategy import Profile

__all__ = [
    "DEFAULT_THROUGHPUT_CONCURRENCY",
    "ConcurrentStrategy",
    "ConstantStrategy",
    "PoissonStrategy",
    "SynchronousStrategy",
    "ThroughputStrategy",
]

#: Streams of ``throughput`` when neither ``--rate`` nor ``max_concurrency`` caps it.
DEFAULT_THROUGHPUT_CONCURRENCY = 256

_KNOWN_OPTIONS = {"max_concurrency", "strategy", "rate_type"}


def _check_options(name: str, options: Mapping[str, Any]) -> int | None:
    reject_unknown(options, _KNOWN_OPTIONS, "--profile-args", f"profile {name!r}")
    cap = options.get("max_concurrency")
    if cap is None:
        return None
    if not isinstance(cap, int) or isinstance(cap, bool) or cap < 1:
        raise bad_option("--profile-args", "max_concurrency", "a positive integer", cap)
    return cap


def _positive(name: str, rates: Sequence[float] | None, what: str) -> list[float]:
    if not rates:
        raise UserError(f"profile {name!r} needs --rate ({what}), e.g. --rate 10 or --rate 5,10,20")
    for rate in rates:
        if not (isinstance(rate, (int, float)) and math.isfinite(rate) and rate > 0):
            raise UserError(f"--rate: {rate!r} is not a positive number ({what}) for {name!r}")
    return [float(r) for r in rates]


def _streams(name: str, rates: Sequence[float] | None) -> list[int]:
    values = _positive(name, rates, "the number of concurrent streams")
    for v in values:
        if v != int(v):
            raise UserError(f"--rate: {v!r} streams for {name!r} must be a whole number")
    return [int(v) for v in values]


class SynchronousStrategy(SchedulingStrategy):
    """One request at a time: the next is sent as soon as the previous one ends."""

    name = "synchronous"
    streams = 1

    @classmethod
    def from_rates(
        cls, rates: Sequence[float] | None, options: Mapping[str, Any]
    ) -> list[SchedulingStrategy]:
        _check_options(cls.name, options)
        if rates:
            raise UserError("--rate does not apply to the synchronous profile; drop it")
        return [cls()]

    def describe(self) -> dict[str, Any]:
        return {"type": self.name, "streams": 1}

    def __repr__(self) -> str:
        return "SynchronousStrategy()"


class ConcurrentStrategy(SchedulingStrategy):
    """``streams`` closed-loop streams, each sending its next request when one ends."""

    name = "concurrent"

    def __init__(self, streams: int) -> None:
        self.streams = streams
        self.max_concurrency = streams

    @classmethod
    def from_rates(
        cls, rates: Sequence[float] | None, options: Mapping[str, Any]
    ) -> list[SchedulingStrategy]:
        _check_options(cls.name, options)
        return [cls(n) for n in _streams(cls.name, rates)]

    def describe(self) -> dict[str, Any]:
        return {"type": self.name, "streams": self.streams}

    def __repr__(self) -> str:
        return f"ConcurrentStrategy({self.streams})"


class ThroughputStrategy(SchedulingStrategy):
    """As fast as the concurrency cap allows: ``max_concurrency`` streams always busy.

    ``--rate`` (or ``--profile-args max_concurrency=N``) sets the cap.
    """

    name = "throughput"

    def __init__(self, max_concurrency: int = DEFAULT_THROUGHPUT_CONCURRENCY) -> None:
        self.streams = max_concurrency
        self.max_concurrency = max_concurrency

    @classmethod
    def from_rates(
        cls, rates: Sequence[float] | None, options: Mapping[str, Any]
    ) -> list[SchedulingStrategy]:
        cap = _check_options(cls.name, options)
        if rates:
            return [cls(n) for n in _streams(cls.name, rates)]
        return [cls(cap or DEFAULT_THROUGHPUT_CONCURRENCY)]

    def describe(self) -> dict[str, Any]:
        return {"type": self.name, "max_concurrency": self.max_concurrency}

    def __repr__(self) -> str:
        return f"ThroughputStrategy({self.max_concurrency})"


class _OpenLoop(SchedulingStrategy):
    """An open-loop strategy at ``rate`` requests/s, optionally capped in concurrency."""

    def __init__(self, rate: float, max_concurrency: int | None = None) -> None:
        self.rate = float(rate)
        self.max_concurrency = max_concurrency

    @classmethod
    def from_rates(
        cls, rates: Sequence[float] | None, options: Mapping[str, Any]
    ) -> list[SchedulingStrategy]:
        cap = _check_options(cls.name, options)
        return [cls(r, cap) for r in _positive(cls.name, rates, "requests per second")]

    def describe(self) -> dict[str, Any]:
        info: dict[str, Any] = {"type": self.name, "rate": self.rate}
        if self.max_concurrency is not None:
            info["max_concurrency"] = self.max_concurrency
        return info

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.rate})"


class ConstantStrategy(_OpenLoop):
    """A request every ``1/rate`` seconds, whatever the server does."""

    name = "constant"

    def arrival_offsets(self, rng: random.Random) -> Iterator[float]:
        gap = 1.0 / self.rate
        # Multiply rather than accumulate: no drift after millions of requests.
        return (i * gap for i in itertools.count())


class PoissonStrategy(_OpenLoop):
    """Exponential gaps of mean ``1/rate`` from the seeded ``rng`` (a Poisson process)."""

    name = "poisson"

    def arrival_offsets(self, rng: random.Random) -> Iterator[float]:
        rate = self.rate
        t = 0.0
        while True:
            yield t
            t += rng.expovariate(rate)


BUILTIN_STRATEGIES: tuple[type[SchedulingStrategy], ...] = (
    SynchronousStrategy,
    ConcurrentStrategy,
    ThroughputStrategy,
    ConstantStrategy,
    PoissonStrategy,
)


@hookimpl
def register_strategies(register: Register[SchedulingStrategy | Profile]) -> None:
    for strategy in BUILTIN_STRATEGIES:
        register(strategy)
