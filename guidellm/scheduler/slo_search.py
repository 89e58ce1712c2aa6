"""The ``slo-search`` profile: the highest load at which enough requests meet the SLOs.

``--profile slo-search --slo ttft_ms=300,itl_ms=50 --profile-args goodput=0.95,precision=0.05``:
a synchronous benchmark (the low end: if it fails, nothing lower is tried), a throughput one
(the high end), a probe at the throughput rate (if it passes, the server meets the SLOs as far
as it goes), then bisection between the highest passing and the lowest failing rate until the
bracket is narrower than ``precision`` (relative to its top). A probe passes when the 95 %
interval of its share of requests meeting every SLO lies above ``goodput``, fails when it lies
below; an unsure probe is run again at the same rate (its counts pooled) up to ``repeats``
times, then judged by its point estimate. ``mode=concurrency`` searches streams (concurrent
benchmarks) instead of rates. The answer is read back from the benchmarks by
:func:`guidellm.benchmark.capacity.slo_capacity`, so the report says the same.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from guidellm.errors import UserError
from guidellm.hookspecs import hookimpl
from guidellm.options import reject_unknown
from guidellm.scheduler.strategies import (
    DEFAULT_THROUGHPUT_CONCURRENCY,
    ConcurrentStrategy,
    ConstantStrategy,
    PoissonStrategy,
    SynchronousStrategy,
    ThroughputStrategy,
)
from guidellm.scheduler.strategy import BenchmarkOutcome, Profile, SchedulingStrategy

if TYPE_CHECKING:
    from guidellm.hookspecs import Register

__all__ = ["SloSearchProfile"]

_OPTIONS = {"goodput", "precision", "mode", "strategy", "max_concurrency", "repeats", "max_probes"}


def _number(
    options: Mapping[str, Any], name: str, default: float, low: float, high: float
) -> float:
    value = options.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low < value <= high:
        raise UserError(
            f"--profile-args {name}={value!r}: slo-search needs a number in ({low:g}, {high:g}]"
        )
    return float(value)


class SloSearchProfile(Profile):
    """Bracket, then bisect, the highest rate (or concurrency) meeting the SLOs."""

    name = "slo-search"
    #: Each probe is judged on its compiled benchmark (its goodput and interval).
    needs_benchmarks: ClassVar[bool] = True
    #: A probe past capacity ends early: its queue says nothing more.
    stop_on_saturation: ClassVar[bool] = True
    #: The run must give ``--slo`` (the runner checks).
    needs_slo: ClassVar[bool] = True

    def __init__(self, rates: Sequence[float] | None, options: Mapping[str, Any]) -> None:
        super().__init__(rates, options)
        reject_unknown(self.options, _OPTIONS, "--profile-args", "profile 'slo-search'")
        if rates:
            raise UserError("--rate does not apply to slo-search: it finds the rate itself")
        self.goodput = _number(self.options, "goodput", 0.95, 0.0, 1.0)
        self.precision = _number(self.options, "precision", 0.05, 0.0, 1.0)
        self.repeats = int(_number(self.options, "repeats", 2, -1, 10))
        self.max_probes = int(_number(self.options, "max_probes", 12, 1, 100))
        self.mode = str(self.options.get("mode", "rate"))
        if self.mode not in ("rate", "concurrency"):
            raise UserError(f"--profile-args mode={self.mode!r}: rate or concurrency")
        kind = self.options.get("strategy", "constant")
        if kind not in ("constant", "poisson"):
            raise UserError(f"--profile-args strategy={kind!r}: constant or poisson")
        self.open_loop = PoissonStrategy if kind == "poisson" else ConstantStrategy
        cap = self.options.get("max_concurrency")
        if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 1):
            raise UserError(f"--profile-args max_concurrency={cap!r}: a positive integer")
        self.max_concurrency: int | None = cap

    def next_strategy(self, completed: Sequence[BenchmarkOutcome]) -> SchedulingStrategy | None:
        index = len(completed)
        if index == 0:
            return SynchronousStrategy() if self.mode == "rate" else ConcurrentStrategy(1)
        if index == 1:
            return ThroughputStrategy(self.max_concurrency or DEFAULT_THROUGHPUT_CONCURRENCY)
        if index - 2 >= self.max_probes:
            return None
        verdicts = self._verdicts(completed)
        low = self._low(completed[0])
        if low is None or verdicts.get(low) is False:
            return None  # even one at a time misses the SLOs: nothing lower to try
        high = self._high(completed[1])
        if high <= low:
            return None
        if high not in verdicts:
            return self._probe(high)
        unsure = [r for r, v in verdicts.items() if v is None and r != low]
        if unsure:
            return self._probe(unsure[0])  # run again: its counts are pooled
        passing = [r for r, v in verdicts.items() if v and r >= low] + [low]
        failing = [r for r, v in verdicts.items() if v is False]
        if not failing:
            return None  # the throughput rate passes: the server meets the SLOs to its limit
        top, bottom = min(failing), max(r for r in passing if r < min(failing))
        if top - bottom <= self.precision * top:
            return None
        middle = (top + bottom) / 2
        if self.mode == "concurrency":
            middle = float(round(middle))
            if middle in (top, bottom):
                return None
        return self._probe(middle)

    # -- helpers -------------------------------------------------------------------------------

    def _probe(self, rate: float) -> SchedulingStrategy:
        if self.mode == "concurrency":
            return ConcurrentStrategy(max(1, round(rate)))
        return self.open_loop(rate, self.max_concurrency)

    def _rate(self, outcome: BenchmarkOutcome) -> float | None:
        from guidellm.benchmark.capacity import probe_rate  # pydantic: not at plugin import

        bench = outcome.benchmark
        return probe_rate(bench, self.mode) if bench is not None else None

    def _low(self, outcome: BenchmarkOutcome) -> float | None:
        if self.mode == "concurrency":
            return 1.0
        rate = self._rate(outcome)  # what synchronous achieved, as the report reads it
        return rate if rate else None

    def _high(self, outcome: BenchmarkOutcome) -> float:
        from guidellm.benchmark.capacity import achieved

        bench = outcome.benchmark
        if self.mode == "concurrency":
            mean = bench.metrics.request_concurrency.successful.mean if bench else None
            return float(max(2, round(mean or 2)))
        return achieved(bench) if bench is not None else outcome.rate

    def _verdicts(self, completed: Sequence[BenchmarkOutcome]) -> dict[float, bool | None]:
        """Each probed rate's verdict on its pooled runs (the synchronous one included, at
        its achieved rate, as the low end); ``None``: unsure, to be run again. After
        ``repeats`` more runs an unsure rate is judged by its point estimate."""
        from guidellm.benchmark.capacity import judge_goodput

        pooled: dict[float, list[int]] = {}
        first = completed[0].benchmark
        low = self._low(completed[0])
        if first is not None and first.metrics.goodput is not None and low is not None:
            pooled[low] = [first.metrics.goodput.met, first.metrics.goodput.counted, 1]
        for outcome in completed[2:]:
            rate = self._rate(outcome)
            good = outcome.benchmark.metrics.goodput if outcome.benchmark is not None else None
            if rate is None or good is None:
                continue
            counts = pooled.setdefault(rate, [0, 0, 0])
            counts[0] += good.met
            counts[1] += good.counted
            counts[2] += 1
        verdicts: dict[float, bool | None] = {}
        for rate, (met, counted, runs) in pooled.items():
            verdict = judge_goodput(met, counted, self.goodput)
            if verdict is None and (runs > self.repeats or rate == low):
                verdict = counted > 0 and met / counted >= self.goodput
            verdicts[rate] = verdict
        return verdicts

    def describe(self) -> dict[str, Any]:
        return {
            "type": self.name,
            "goodput": self.goodput,
            "precision": self.precision,
            "mode": self.mode,
            "strategy": self.open_loop.name,
            "max_concurrency": self.max_concurrency,
        }


@hookimpl
def register_strategies(register: Register[SchedulingStrategy | Profile]) -> None:
    register(SloSearchProfile)
