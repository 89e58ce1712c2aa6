"""Built-in profiles beyond the one-strategy ones: ``sweep``.

``sweep`` finds the range a server works in and fills it: a ``synchronous`` benchmark (the
lowest useful rate), a ``throughput`` benchmark (the highest), then open-loop benchmarks at
rates spaced evenly between the two. ``--rate N`` is the number of benchmarks in all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

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
_OPTIONS = {"max_concurrency", "strategy"}


class SweepProfile(Profile):
    """Synchronous, then throughput, then ``N - 2`` rates spaced evenly between the two.

    ``--profile-args strategy=poisson`` makes the in-between benchmarks Poisson instead of
    constant; ``max_concurrency=N`` caps the throughput benchmark and the open-loop ones.
    """

    name = "sweep"
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
        low = completed[0].rate
        high = completed[1].rate
        if high <= low:
            high = low * 2 if low > 0 else 1.0
        low = max(low, 1e-3)
        steps = self.count - 1
        rate = low + (high - low) * (index - 1) / steps
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
