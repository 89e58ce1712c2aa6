"""The ``ramp`` strategy: open loop, rate r(t) = a + (b - a) t / T for t in [0, T).

The expected number of requests sent by time t is the integral of the rate,

    L(t) = a t + k t^2 / 2,   with k = (b - a) / T,

so the n-th request is due when L(t) = n. Solving the quadratic for t gives

    t = 2 s / (a + sqrt(a^2 + 2 k s))   for L(t) = s,

a form with no cancellation and no special case for a flat ramp (k = 0 gives t = s / a) or a
ramp from zero (a = 0 gives t = sqrt(2 s / k)). ``arrivals=uniform`` sends request n at
L(t) = n (evenly spaced in "expected requests", like ``constant``); ``arrivals=poisson`` puts
unit-mean exponential gaps between the s values (time rescaling turns that into an exact
inhomogeneous Poisson process of rate r(t)). Either way the first request goes at t = 0 and
the offsets stop at T, so the benchmark ends when the ramp does.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from guidellm import SchedulingStrategy, UserError

__all__ = ["RampStrategy"]

OPTIONS = ("start_rate", "end_rate", "duration", "arrivals", "max_concurrency")
ARRIVALS = ("uniform", "poisson")


def _rate(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise UserError(f"{what}={value!r}: the ramp needs a number of requests/s >= 0")
    if value < 0:
        raise UserError(f"{what}={value!r}: the ramp needs a number of requests/s >= 0")
    return float(value)


class RampStrategy(SchedulingStrategy):
    """Open loop: the arrival rate moves linearly from ``start_rate`` to ``end_rate``
    requests/s over ``duration`` seconds."""

    name = "ramp"

    def __init__(
        self,
        start_rate: float,
        end_rate: float,
        duration: float,
        arrivals: str = "uniform",
        max_concurrency: int | None = None,
    ) -> None:
        self.start_rate = start_rate
        self.end_rate = end_rate
        self.duration = duration
        self.arrivals = arrivals
        self.max_concurrency = max_concurrency

    @classmethod
    def from_rates(
        cls, rates: Sequence[float] | None, options: Mapping[str, Any]
    ) -> list[SchedulingStrategy]:
        """``--rate A,B`` ramps from A to B; ``--rate B`` from ``start_rate`` (default 0) to B;
        no ``--rate``: ``--profile-args start_rate=A,end_rate=B``. ``duration=S`` is required
        (a strategy does not see ``--max-seconds``). One benchmark."""
        unknown = sorted(set(options) - set(OPTIONS))
        if unknown:
            raise UserError(
                f"--profile-args: unknown option(s) {', '.join(unknown)} for profile 'ramp'; "
                f"known: {', '.join(OPTIONS)}"
            )
        rates = list(rates or [])
        if len(rates) > 2:
            raise UserError(
                f"--rate: the ramp takes START,END (two rates), got {len(rates)}; "
                "e.g. --profile ramp --rate 1,50"
            )
        if rates and ("end_rate" in options or (len(rates) == 2 and "start_rate" in options)):
            raise UserError(
                "--rate and --profile-args start_rate/end_rate both set the ramp; keep one"
            )
        if len(rates) == 2:
            start, end = rates
        elif len(rates) == 1:
            start, end = options.get("start_rate", 0.0), rates[0]
        else:
            if "end_rate" not in options:
                raise UserError(
                    "profile 'ramp' needs its end rate: --rate START,END or "
                    "--profile-args start_rate=1,end_rate=50,duration=60"
                )
            start, end = options.get("start_rate", 0.0), options["end_rate"]
        a = _rate(start, "start_rate")
        b = _rate(end, "end_rate")
        if a == 0 and b == 0:
            raise UserError("the ramp needs start_rate or end_rate above 0, e.g. --rate 1,50")
        duration = options.get("duration")
        if (
            isinstance(duration, bool)
            or not isinstance(duration, (int, float))
            or not math.isfinite(duration)
            or duration <= 0
        ):
            raise UserError(
                f"profile 'ramp' needs duration=SECONDS > 0 (got {duration!r}), e.g. "
                "--profile-args duration=60"
            )
        arrivals = options.get("arrivals", "uniform")
        if arrivals not in ARRIVALS:
            raise UserError(
                f"--profile-args arrivals={arrivals!r}: use one of {', '.join(ARRIVALS)}"
            )
        cap = options.get("max_concurrency")
        if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 1):
            raise UserError(f"--profile-args max_concurrency={cap!r}: needs a whole number >= 1")
        return [cls(a, b, float(duration), arrivals, cap)]

    # -- the math --------------------------------------------------------------------------

    @property
    def slope(self) -> float:
        """k, in requests/s per second."""
        return (self.end_rate - self.start_rate) / self.duration

    @property
    def expected_requests(self) -> float:
        """L(T) = (a + b) T / 2: the requests the whole ramp should send."""
        return (self.start_rate + self.end_rate) * self.duration / 2.0

    def cumulative(self, t: float) -> float:
        """L(t) = a t + k t^2 / 2: expected requests sent by ``t``."""
        return self.start_rate * t + self.slope * t * t / 2.0

    def time_of(self, s: float) -> float:
        """The inverse of :meth:`cumulative`: when L(t) = ``s`` (0 <= s <= L(T))."""
        if s <= 0:
            return 0.0
        a = self.start_rate
        # max(): rounding may push a^2 + 2ks a hair below 0 at the very end of a ramp down.
        return 2.0 * s / (a + math.sqrt(max(0.0, a * a + 2.0 * self.slope * s)))

    def arrival_offsets(self, rng: random.Random) -> Iterator[float]:
        total = self.expected_requests
        if self.arrivals == "poisson":
            marks: Iterator[float] = itertools.accumulate(
                itertools.chain([0.0], iter(lambda: rng.expovariate(1.0), None))
            )
        else:
            marks = (float(n) for n in itertools.count())
        for s in marks:
            if s >= total:
                return
            t = self.time_of(s)
            if t >= self.duration:
                return
            yield t

    def describe(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "type": self.name,
            "start_rate": self.start_rate,
            "end_rate": self.end_rate,
            "duration": self.duration,
            "arrivals": self.arrivals,
        }
        if self.max_concurrency is not None:
            info["max_concurrency"] = self.max_concurrency
        return info

    def __repr__(self) -> str:
        return (
            f"RampStrategy({self.start_rate}, {self.end_rate}, {self.duration}, {self.arrivals!r})"
        )
