"""The ``gamma`` arrival process: bursty open-loop traffic at a mean rate.

``gamma`` draws gaps from a gamma distribution of mean ``1/rate`` and coefficient of
variation ``cv`` (the standard deviation of a gap over its mean): ``cv=1`` is Poisson, above 1
bursts and lulls, below 1 more even than Poisson. (``vllm bench serve``'s ``--burstiness b`` is
the gamma shape, so ``cv = 1/sqrt(b)``.) :func:`gamma_gaps` is shared with ``stages``.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from guidellm.hookspecs import hookimpl
from guidellm.options import bad_option, is_number, reject_unknown
from guidellm.scheduler.strategies import _check_options, _OpenLoop, _positive
from guidellm.scheduler.strategy import SchedulingStrategy

if TYPE_CHECKING:
    from guidellm.hookspecs import Register
    from guidellm.scheduler.strategy import Profile

__all__ = ["GammaStrategy", "check_cv", "gamma_gaps"]

_FLAG = "--profile-args"


#: The burstiest ``cv`` accepted: beyond it nearly every gap is zero, a block of requests
#: sent at one instant after one long silence (and a block of 1,000 gaps cannot reach 32).
MAX_CV = 10.0


def check_cv(options: Mapping[str, Any], default: float) -> float:
    value = options.get("cv", default)
    if not is_number(value, positive=True, at_most=MAX_CV):
        raise bad_option(
            _FLAG, "cv", f"a number in (0, {MAX_CV:g}] (1 is Poisson, 2 burstier)", value
        )
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


def gamma_gaps(rng: random.Random, mean: float, cv: float) -> Iterator[float]:
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
        cv = check_cv(options, 1.0)
        return [cls(r, cv, cap) for r in _positive(cls.name, rates, "requests per second")]

    def arrival_offsets(self, rng: random.Random) -> Iterator[float]:
        t = 0.0
        yield t
        for gap in gamma_gaps(rng, 1.0 / self.rate, self.cv):
            t += gap
            yield t

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "cv": self.cv}

    def __repr__(self) -> str:
        return f"GammaStrategy({self.rate}, cv={self.cv})"


@hookimpl
def register_strategies(register: Register[SchedulingStrategy | Profile]) -> None:
    register(GammaStrategy)
