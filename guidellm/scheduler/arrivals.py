"""Arrival processes beyond constant and Poisson: ``gamma`` (bursty) and ``stages``.

``gamma`` draws gaps from a gamma distribution of mean ``1/rate`` and coefficient of
variation ``cv`` (the standard deviation of a gap over its mean): ``cv=1`` is Poisson, above 1
bursts and lulls, below 1 more even than Poisson. (``vllm bench serve``'s ``--burstiness b`` is
the gamma shape, so ``cv = 1/sqrt(b)``.)

``stages`` is one benchmark made of consecutive phases, each a duration and a rate, or a
linear ramp from the previous rate to ``ramp_to``. The expected number of requests by time
``t`` is the integral ``L(t)`` of the rate; a base process at one request per unit of ``L``
(evenly spaced, Poisson or gamma: ``arrivals=``) is mapped through the inverse of ``L``, so
each stage gets exactly its rate curve, with no seam at a boundary. Within a linear stage of
rate ``a + k t`` the inverse is ``t = 2 s / (a + sqrt(a^2 + 2 k s))``, a form with no
cancellation and no special case for a flat stage (``k = 0``) or a start from zero.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from guidellm.errors import UserError
from guidellm.hookspecs import hookimpl
from guidellm.options import bad_option, reject_unknown
from guidellm.scheduler.strategies import _check_options, _OpenLoop, _positive
from guidellm.scheduler.strategy import SchedulingStrategy

if TYPE_CHECKING:
    from guidellm.hookspecs import Register
    from guidellm.scheduler.strategy import Profile

__all__ = ["GammaStrategy", "Stage", "StagesStrategy", "parse_stages"]

_FLAG = "--profile-args"
_EXAMPLE = 'stages=[{"rate":10,"seconds":60},{"ramp_to":50,"seconds":60}]'
ARRIVALS = ("constant", "poisson", "gamma")


def _cv(options: Mapping[str, Any], default: float) -> float:
    value = options.get("cv", default)
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
    ):
        raise bad_option(_FLAG, "cv", "a positive number (1 is Poisson, 2 burstier)", value)
    return float(value)


#: Gaps are drawn and matched to the asked mean and CV this many at a time.
_BLOCK = 1000


def _matched_block(gen: Any, shape: float, mean: float, cv: float) -> list[float]:
    """``_BLOCK`` gamma gaps whose sample mean and CV are exactly ``mean`` and ``cv``.

    Independent gamma gaps wander: over a minute at 100 requests/s and cv 3 the sample rate
    is off by about 4 % and the sample CV by about 0.15, so a benchmark would not get the
    load it asked for. Each block is raised to the power that gives it the asked CV (CV
    grows with the power; bisection), then scaled to the asked mean: a moment-matching step
    that keeps the gamma shape within a few per cent while every block, and so every run
    of blocks, has the asked rate and burstiness.
    """
    import numpy as np

    gaps = gen.gamma(shape, 1.0, _BLOCK)
    gaps = np.maximum(gaps / gaps.max(), 1e-300)  # scale-free; no zero for the power

    def cv_of(power: float) -> float:
        x = gaps**power
        return float(x.std() / x.mean())

    low, high = 0.25, 4.0
    while cv_of(high) < cv and high < 64:
        high *= 2
    while cv_of(low) > cv and low > 1 / 64:
        low /= 2
    for _ in range(40):
        mid = (low + high) / 2
        if cv_of(mid) < cv:
            low = mid
        else:
            high = mid
    matched = gaps ** ((low + high) / 2)
    matched *= mean / matched.mean()
    return [float(g) for g in matched]


def _gamma_gaps(rng: random.Random, mean: float, cv: float) -> Iterator[float]:
    """Endless gamma gaps of the given mean and CV, matched block by block (above)."""
    import numpy as np

    gen = np.random.default_rng(rng.getrandbits(64))
    shape = 1.0 / (cv * cv)
    while True:
        yield from _matched_block(gen, shape, mean, cv)


class GammaStrategy(_OpenLoop):
    """Open loop at ``rate`` requests/s with gamma gaps of coefficient of variation ``cv``."""

    name = "gamma"

    def __init__(self, rate: float, cv: float = 1.0, max_concurrency: int | None = None) -> None:
        super().__init__(rate, max_concurrency)
        self.cv = cv

    @classmethod
    def from_rates(
        cls, rates: Sequence[float] | None, options: Mapping[str, Any]
    ) -> list[SchedulingStrategy]:
        rest = {k: v for k, v in options.items() if k != "cv"}
        reject_unknown(options, {"cv", "max_concurrency"}, _FLAG, f"profile {cls.name!r}")
        cap = _check_options(cls.name, rest)
        cv = _cv(options, 1.0)
        return [cls(r, cv, cap) for r in _positive(cls.name, rates, "requests per second")]

    def arrival_offsets(self, rng: random.Random) -> Iterator[float]:
        t = 0.0
        yield t
        for gap in _gamma_gaps(rng, 1.0 / self.rate, self.cv):
            t += gap
            yield t

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "cv": self.cv}

    def __repr__(self) -> str:
        return f"GammaStrategy({self.rate}, cv={self.cv})"


@dataclass(frozen=True)
class Stage:
    """One phase: ``seconds`` long, the rate moving linearly from ``rate`` to ``end_rate``."""

    seconds: float
    rate: float
    end_rate: float
    ramp: bool

    def describe(self, index: int, start: float) -> dict[str, Any]:
        info: dict[str, Any] = {
            "index": index,
            "start_s": start,
            "end_s": start + self.seconds,
            "rate": self.rate,
        }
        if self.ramp:
            info["ramp_to"] = self.end_rate
        return info


def _number(stage: Mapping[str, Any], key: str, where: str, *, positive: bool) -> float:
    value = stage[key]
    ok = (
        not isinstance(value, bool)
        and isinstance(value, (int, float))
        and math.isfinite(value)
        and (value > 0 if positive else value >= 0)
    )
    if not ok:
        want = "a number > 0" if positive else "a number >= 0"
        raise UserError(f"{_FLAG} {where}: {key}={value!r} must be {want}; e.g. {_EXAMPLE}")
    return float(value)


def parse_stages(raw: Any) -> list[Stage]:
    """``stages=[{"rate": R, "seconds": S}, {"ramp_to": R2, "seconds": S}, ...]`` -> stages.

    A stage has ``seconds`` (its duration) and ``rate`` (requests/s, held) or ``ramp_to`` (a
    linear ramp from the previous stage's final rate, or from ``rate`` when both are given).
    Every mistake names the stage (counted from 1) and the key.
    """
    if raw is None:
        raise UserError(f"profile 'stages' needs {_FLAG} {_EXAMPLE}")
    if isinstance(raw, str):
        raise UserError(
            f"{_FLAG} stages must be a JSON list of objects, got the text {raw!r}; e.g. {_EXAMPLE}"
        )
    if not isinstance(raw, (list, tuple)) or not raw:
        raise UserError(f"{_FLAG} stages must be a non-empty list; e.g. {_EXAMPLE}")
    stages: list[Stage] = []
    previous: float | None = None
    for number, item in enumerate(raw, 1):
        where = f"stage {number}"
        if not isinstance(item, Mapping):
            raise UserError(f"{_FLAG} {where} must be an object like {{'rate': 10, 'seconds': 60}}")
        unknown = sorted(set(item) - {"rate", "ramp_to", "seconds", "duration"})
        if unknown:
            raise UserError(
                f"{_FLAG} {where}: unknown key(s) {', '.join(unknown)}; "
                "a stage takes seconds, rate and ramp_to"
            )
        key = "seconds" if "seconds" in item else "duration" if "duration" in item else None
        if key is None:
            raise UserError(f'{_FLAG} {where} has no duration; add "seconds": N (e.g. {_EXAMPLE})')
        seconds = _number(item, key, where, positive=True)
        if "ramp_to" in item:
            end = _number(item, "ramp_to", where, positive=False)
            if "rate" in item:
                begin = _number(item, "rate", where, positive=False)
            elif previous is None:
                raise UserError(
                    f'{_FLAG} {where}: ramp_to in the first stage needs a starting "rate" too'
                )
            else:
                begin = previous
            stages.append(Stage(seconds, begin, end, ramp=True))
            previous = end
        elif "rate" in item:
            rate = _number(item, "rate", where, positive=False)
            stages.append(Stage(seconds, rate, rate, ramp=False))
            previous = rate
        else:
            raise UserError(f'{_FLAG} {where} needs "rate": R or "ramp_to": R (e.g. {_EXAMPLE})')
    if all(s.rate == 0 and s.end_rate == 0 for s in stages):
        raise UserError(f"{_FLAG} stages: every stage has rate 0, so nothing would be sent")
    return stages


def _unit_process(arrivals: str, cv: float, rng: random.Random) -> Iterator[float]:
    """Points of a process at one per unit, starting at 0: evenly spaced, Poisson or gamma."""
    if arrivals == "constant":
        return (float(i) for i in itertools.count())
    if arrivals == "poisson":
        cv = 1.0
    return itertools.accumulate(_gamma_gaps(rng, 1.0, cv), initial=0.0)


class StagesStrategy(SchedulingStrategy):
    """Open loop through consecutive stages of held or linearly ramping rates."""

    name = "stages"

    def __init__(
        self,
        stages: Sequence[Stage],
        arrivals: str = "constant",
        cv: float = 1.0,
        max_concurrency: int | None = None,
    ) -> None:
        self.stages = list(stages)
        self.arrivals = arrivals
        self.cv = cv
        self.max_concurrency = max_concurrency
        self.duration = sum(s.seconds for s in self.stages)

    @classmethod
    def from_rates(
        cls, rates: Sequence[float] | None, options: Mapping[str, Any]
    ) -> list[SchedulingStrategy]:
        known = {"stages", "arrivals", "cv", "max_concurrency"}
        reject_unknown(options, known, _FLAG, f"profile {cls.name!r}")
        if rates:
            raise UserError(
                "--rate does not apply to the stages profile: each stage has its own rate "
                f"({_FLAG} {_EXAMPLE}); drop --rate"
            )
        cap = _check_options(cls.name, {"max_concurrency": options.get("max_concurrency")})
        arrivals = options.get("arrivals", "constant")
        if arrivals not in ARRIVALS:
            raise bad_option(_FLAG, "arrivals", f"one of {', '.join(ARRIVALS)}", arrivals)
        cv = _cv(options, 1.0)
        return [cls(parse_stages(options.get("stages")), str(arrivals), cv, cap)]

    def arrival_offsets(self, rng: random.Random) -> Iterator[float]:
        """Send offsets through every stage; the iterator ends where the last stage does."""
        points = _unit_process(self.arrivals, self.cv, rng)
        start = 0.0  # this stage's start, in seconds
        done = 0.0  # expected requests before this stage
        s = next(points)
        for stage in self.stages:
            a, length = stage.rate, stage.seconds
            k = (stage.end_rate - a) / length
            total = a * length + 0.5 * k * length * length
            while s - done < total:
                local = s - done
                den = a + math.sqrt(max(a * a + 2.0 * k * local, 0.0))
                yield start + (2.0 * local / den if den > 0.0 else 0.0)
                s = next(points)
            start += length
            done += total

    def describe(self) -> dict[str, Any]:
        info: dict[str, Any] = {"type": self.name, "arrivals": self.arrivals}
        if self.arrivals == "gamma":
            info["cv"] = self.cv
        if self.max_concurrency is not None:
            info["max_concurrency"] = self.max_concurrency
        begin = 0.0
        rows = []
        for index, stage in enumerate(self.stages):
            rows.append(stage.describe(index, begin))
            begin += stage.seconds
        info["stages"] = rows
        info["seconds"] = begin
        return info

    def __repr__(self) -> str:
        return f"StagesStrategy({len(self.stages)} stages, {self.duration:g} s)"


@hookimpl
def register_strategies(register: Register[SchedulingStrategy | Profile]) -> None:
    register(GammaStrategy)
    register(StagesStrategy)
