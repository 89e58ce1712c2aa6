"""Built-in profiles beyond the one-strategy ones: ``sweep``.

``sweep`` finds the range a server works in and fills it: a ``synchronous`` benchmark (the
lowest useful rate), a ``throughput`` benchmark (the highest), then open-loop benchmarks at
rates between the two, closer together toward the top, where the knee is, and the last just
above the throughput rate (5 %), so the knee is bracketed from above too. ``--rate N`` is the
number of benchmarks in all. The report names the saturation point
(:mod:`guidellm.benchmark.capacity`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from guidellm.errors import UserError
from guidellm.hookspecs import hookimpl
from guidellm.scheduler.strategies import (
    DEFAULT_THROUGHPUT_CONCURRENCY,
    ConstantStrategy,
    PoissonStrategy,
    SynchronousStrategy,
    ThroughputStrategy,
)
from guidellm.scheduler.strategy import BenchmarkOutcome, Profile, SchedulingStrategy

if TYPE_CHECKING:
    from guidellm.hookspecs import Register

__all__ = ["DEFAULT_SWEEP_BENCHMARKS", "SweepProfile"]

DEFAULT_SWEEP_BENCHMARKS = 10
#: The sweep's last rate, as a multiple of the throughput benchmark's rate.
_ABOVE = 1.05
_OPTIONS = {"max_concurrency", "strategy"}


def _achieved(outcome: BenchmarkOutcome) -> float:
    """The rate a benchmark achieved in its steady part (the report's own reading), else the
    schedule's count over its length."""
    if outcome.benchmark is None:
        return outcome.rate
    from guidellm.benchmark.capacity import achieved  # pydantic: not at plugin import

    return achieved(outcome.benchmark)


def knee_fractions(count: int) -> list[float]:
    """Where ``count`` rates sit between the low (0) and the high (1) rate: spaced by
    ``1 - (1 - i/count)^2``, so they narrow toward the top and the last is the high rate
    itself (for 8: 0.23, 0.44, 0.61, 0.75, 0.86, 0.94, 0.98, 1)."""
    return [1 - (1 - i / count) ** 2 for i in range(1, count + 1)]


class SweepProfile(Profile):
    """Synchronous, then throughput, then ``N - 2`` rates between the two, narrowing toward
    the throughput rate (:func:`knee_fractions`).

    ``--profile-args strategy=poisson`` makes the in-between benchmarks Poisson instead of
    constant; ``max_concurrency=N`` caps the throughput benchmark and the open-loop ones.
    """

    name = "sweep"
    #: Compiled benchmarks give the steady-state rates the in-between rates are placed by.
    needs_benchmarks: ClassVar[bool] = True
    #: A rate past capacity ends early (its queue says nothing more about the server).
    stop_on_saturation = True

    def __init__(self, rates: Sequence[float] | None, options: Mapping[str, Any]) -> None:
        super().__init__(rates, options)
        unknown = sorted(set(self.options) - _OPTIONS)
        if unknown:
            raise UserError(
                f"--profile-args: unknown option(s) {', '.join(unknown)} for profile 'sweep'; "
                f"known: {', '.join(sorted(_OPTIONS))}"
            )
        if rates is not None and len(rates) > 1:
            raise UserError("--rate for sweep is one number: how many benchmarks to run")
        count = rates[0] if rates else DEFAULT_SWEEP_BENCHMARKS
        if count != int(count) or count < 2:
            raise UserError(
                f"--rate {count!r}: sweep needs a whole number of benchmarks >= 2 "
                "(synchronous, throughput, then rates between them)"
            )
        self.count = int(count)
        kind = self.options.get("strategy", "constant")
        if kind not in ("constant", "poisson"):
            raise UserError(
                f"--profile-args strategy={kind!r}: sweep rates can be constant or poisson"
            )
        self.open_loop: type[ConstantStrategy | PoissonStrategy] = (
            PoissonStrategy if kind == "poisson" else ConstantStrategy
        )
        cap = self.options.get("max_concurrency")
        if cap is not None and (not isinstance(cap, int) or cap < 1):
            raise UserError(f"--profile-args: max_concurrency must be a positive integer: {cap!r}")
        self.max_concurrency: int | None = cap

    def next_strategy(self, completed: Sequence[BenchmarkOutcome]) -> SchedulingStrategy | None:
        index = len(completed)
        if index >= self.count:
            return None
        if index == 0:
            return SynchronousStrategy()
        if index == 1:
            return ThroughputStrategy(self.max_concurrency or DEFAULT_THROUGHPUT_CONCURRENCY)
        # In the unit the rates are given in: requests/s, or sessions/s for conversations.
        low, high = _achieved(completed[0]), _achieved(completed[1])
        if high <= low:
            high = low * 2 if low > 0 else 1.0
        low = max(low, 1e-3)
        rate = low + (high - low) * knee_fractions(self.count - 2)[index - 2]
        if index == self.count - 1:
            rate = high * _ABOVE  # just past the most the server did: the knee's far side
        return self.open_loop(rate, self.max_concurrency)

    def describe(self) -> dict[str, Any]:
        return {
            "type": self.name,
            "benchmarks": self.count,
            "strategy": self.open_loop.name,
            "max_concurrency": self.max_concurrency,
        }


@hookimpl
def register_strategies(register: Register[SchedulingStrategy | Profile]) -> None:
    register(SweepProfile)
