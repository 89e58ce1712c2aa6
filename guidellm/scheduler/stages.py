"""The ``stages`` strategy: one benchmark made of consecutive phases of load.

Each stage has a duration and either a rate (requests/s, held, or a linear ramp to
``ramp_to``) or a concurrency (closed loop: that many requests kept in flight). A benchmark's
stages are all rates or all concurrencies.

Rate stages: the expected number of requests by time ``t`` is the integral ``L(t)`` of the
rate; a base process at one request per unit of ``L`` (evenly spaced, Poisson or gamma:
``arrivals=``) is mapped through the inverse of ``L``, so each stage gets exactly its rate
curve, with no seam at a boundary. Within a linear stage of rate ``a + k t`` the inverse is
``t = 2 s / (a + sqrt(a^2 + 2 k s))``, a form with no cancellation and no special case for a
flat stage (``k = 0``) or a start from zero.

Concurrency stages: the Scheduler tells each worker its share of streams at every stage
boundary (:attr:`stream_stages`); a stage with fewer streams lets the surplus requests finish
and does not replace them. The benchmark ends with the last stage: what is in flight then is
cancelled, as at ``--max-seconds``.
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
from guidellm.options import bad_option, is_number, reject_unknown
from guidellm.scheduler.arrivals import check_cv, gamma_gaps
from guidellm.scheduler.strategies import _check_options
from guidellm.scheduler.strategy import SchedulingStrategy

if TYPE_CHECKING:
    from guidellm.hookspecs import Register
    from guidellm.scheduler.strategy import Profile

__all__ = ["Stage", "StagesStrategy", "parse_stages"]

_FLAG = "--profile-args"
_EXAMPLE = 'stages=[{"rate":10,"seconds":60},{"ramp_to":50,"seconds":60}]'
_KEYS = ("seconds", "rate", "ramp_to", "concurrency")
ARRIVALS = ("constant", "poisson", "gamma")


@dataclass(frozen=True)
class Stage:
    """One phase, ``seconds`` long: a rate moving linearly from ``rate`` to ``end_rate``, or
    ``concurrency`` streams (closed loop)."""

    seconds: float
    rate: float = 0.0
    end_rate: float = 0.0
    ramp: bool = False
    concurrency: int | None = None

    def describe(self, index: int, start: float) -> dict[str, Any]:
        info: dict[str, Any] = {"index": index, "start_s": start, "end_s": start + self.seconds}
        if self.concurrency is not None:
            info["concurrency"] = self.concurrency
            return info
        info["rate"] = self.rate
        if self.ramp:
            info["ramp_to"] = self.end_rate
        return info


def _number(stage: Mapping[str, Any], key: str, where: str, *, positive: bool) -> float:
    value = stage[key]
    if not is_number(value, positive=positive):
        want = "a number > 0" if positive else "a number >= 0"
        raise UserError(f"{_FLAG} {where}: {key}={value!r} must be {want}; e.g. {_EXAMPLE}")
    return float(value)


def _stage(item: Any, where: str, previous: float | None) -> Stage:
    if not isinstance(item, Mapping):
        raise UserError(f"{_FLAG} {where} must be an object like {{'rate': 10, 'seconds': 60}}")
    unknown = sorted(set(item) - {*_KEYS, "duration"})
    if unknown:
        raise UserError(
            f"{_FLAG} {where}: unknown key(s) {', '.join(unknown)}; "
            f"a stage takes {', '.join(_KEYS)}"
        )
    key = "seconds" if "seconds" in item else "duration" if "duration" in item else None
    if key is None:
        raise UserError(f'{_FLAG} {where} has no duration; add "seconds": N (e.g. {_EXAMPLE})')
    seconds = _number(item, key, where, positive=True)
    if "concurrency" in item:
        value = item["concurrency"]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise UserError(f"{_FLAG} {where}: concurrency={value!r} must be a whole number >= 1")
        if "rate" in item or "ramp_to" in item:
            raise UserError(
                f"{_FLAG} {where} has a concurrency and a rate; a stage is one or the other"
            )
        return Stage(seconds, concurrency=value)
    if "ramp_to" in item:
        end = _number(item, "ramp_to", where, positive=False)
        if "rate" in item:
            begin = _number(item, "rate", where, positive=False)
        elif previous is None:
            raise UserError(
                f'{_FLAG} {where}: ramp_to needs a starting "rate" (in this stage or the one '
                "before)"
            )
        else:
            begin = previous
        return Stage(seconds, begin, end, ramp=True)
    if "rate" in item:
        rate = _number(item, "rate", where, positive=False)
        return Stage(seconds, rate, rate)
    raise UserError(
        f'{_FLAG} {where} needs "rate": R, "ramp_to": R or "concurrency": N (e.g. {_EXAMPLE})'
    )


def parse_stages(raw: Any) -> list[Stage]:
    """``stages=[{"rate": R, "seconds": S}, {"ramp_to": R2, "seconds": S}, ...]`` -> stages.

    A stage has ``seconds`` (its duration) and ``rate`` (requests/s, held), ``ramp_to`` (a
    linear ramp from the previous stage's final rate, or from ``rate`` when both are given) or
    ``concurrency``. Every mistake names the stage (counted from 1) and the key.
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
        stage = _stage(item, f"stage {number}", previous)
        stages.append(stage)
        previous = stage.end_rate if stage.concurrency is None else None
    closed = [s.concurrency is not None for s in stages]
    if any(closed) and not all(closed):
        first = closed.index(not closed[0]) + 1
        raise UserError(
            f"{_FLAG} stage {first}: a benchmark's stages are all rates or all concurrencies; "
            "run the two kinds as two benchmarks"
        )
    if not any(closed) and all(s.rate == 0 and s.end_rate == 0 for s in stages):
        raise UserError(f"{_FLAG} stages: every stage has rate 0, so nothing would be sent")
    return stages


def _unit_process(arrivals: str, cv: float, rng: random.Random) -> Iterator[float]:
    """Points of a process at one per unit, starting at 0: evenly spaced, Poisson or gamma."""
    if arrivals == "constant":
        return (float(i) for i in itertools.count())
    return itertools.accumulate(
        gamma_gaps(rng, 1.0, 1.0 if arrivals == "poisson" else cv), initial=0.0
    )


class StagesStrategy(SchedulingStrategy):
    """Consecutive stages of held or ramping rates (open loop) or of concurrencies."""

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
        levels = [s.concurrency for s in self.stages]
        if all(n is not None for n in levels):
            starts = itertools.accumulate((s.seconds for s in self.stages), initial=0.0)
            self.stream_stages = [(t, int(n or 0)) for t, n in zip(starts, levels, strict=False)]
            self.streams = max(n for _, n in self.stream_stages)
            self.max_concurrency = self.streams

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
        cv = check_cv(options, 1.0)
        stages = parse_stages(options.get("stages"))
        for number, stage in enumerate(stages, 1):
            if cap is not None and stage.concurrency is not None and stage.concurrency > cap:
                raise UserError(
                    f"{_FLAG} stage {number} asks for {stage.concurrency} streams, above "
                    f"max_concurrency {cap}; lower the stage or raise the cap"
                )
        return [cls(stages, str(arrivals), cv, cap)]

    def arrival_offsets(self, rng: random.Random) -> Iterator[float]:
        """Send offsets through every stage; the iterator ends where the last stage does."""
        if self.streams is not None:
            raise TypeError("concurrency stages are closed-loop: they have no arrival times")
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
        info: dict[str, Any] = {"type": self.name}
        if self.streams is None:
            info["arrivals"] = self.arrivals
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
    register(StagesStrategy)
