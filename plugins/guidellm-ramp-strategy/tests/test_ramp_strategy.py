"""The ramp's math (offsets from the exact integral of a linear rate) and its option mapping."""

from __future__ import annotations

import itertools
import math
import pickle
import random
from typing import Any

import guidellm_ramp
import pytest
from guidellm_ramp.strategy import RampStrategy

from guidellm import UserError
from guidellm.plugins import PluginHost
from guidellm.scheduler import BenchmarkOutcome


def ramp(rates: list[float] | None = None, **options: Any) -> RampStrategy:
    (strategy,) = RampStrategy.from_rates(rates, options)
    assert isinstance(strategy, RampStrategy)
    return strategy


def offsets(strategy: RampStrategy, seed: int = 1) -> list[float]:
    return list(strategy.arrival_offsets(random.Random(seed)))


RAMPS = [
    (1.0, 50.0, 20.0),
    (50.0, 1.0, 20.0),
    (10.0, 10.0, 7.0),
    (0.0, 30.0, 10.0),
    (30.0, 0.0, 10.0),
]


@pytest.mark.parametrize(("a", "b", "duration"), RAMPS)
def test_time_of_inverts_the_integral(a: float, b: float, duration: float) -> None:
    strategy = RampStrategy(a, b, duration)
    total = strategy.expected_requests
    assert total == pytest.approx((a + b) * duration / 2)
    assert strategy.cumulative(duration) == pytest.approx(total)
    for i in range(101):
        s = total * i / 100
        t = strategy.time_of(s)
        assert 0 <= t <= duration * (1 + 1e-12)
        assert strategy.cumulative(t) == pytest.approx(s, abs=1e-9)


@pytest.mark.parametrize(("a", "b", "duration"), RAMPS)
def test_uniform_offsets_follow_the_rate_exactly(a: float, b: float, duration: float) -> None:
    strategy = RampStrategy(a, b, duration)
    times = offsets(strategy)
    # Request n is due when L(t) = n, for every n < L(T): ceil(L(T)) requests in [0, T).
    assert len(times) == math.ceil(strategy.expected_requests)
    assert times[0] == 0.0
    assert all(0 <= t < duration for t in times)
    assert all(t1 > t0 for t0, t1 in itertools.pairwise(times))
    for n, t in enumerate(times):
        assert strategy.cumulative(t) == pytest.approx(n, abs=1e-9)
    # The rate is linear, so the integral over a gap is exactly rate(midpoint) * gap = 1.
    for t0, t1 in itertools.pairwise(times):
        mid = (t0 + t1) / 2
        rate = a + (b - a) * mid / duration
        assert rate * (t1 - t0) == pytest.approx(1.0, rel=1e-9)


def test_closed_forms_of_special_ramps() -> None:
    flat = offsets(RampStrategy(4.0, 4.0, 5.0))
    assert flat == pytest.approx([n / 4.0 for n in range(20)])
    from_zero = offsets(RampStrategy(0.0, 10.0, 8.0))  # L(t) = 10 t^2 / 16
    assert from_zero == pytest.approx([math.sqrt(1.6 * n) for n in range(40)])


def test_poisson_arrivals_are_seeded_and_follow_the_integral() -> None:
    strategy = ramp([5, 195], duration=10, arrivals="poisson")  # L(T) = 1000
    first = offsets(strategy, seed=7)
    assert first == offsets(strategy, seed=7)
    assert first != offsets(strategy, seed=8)
    assert first[0] == 0.0
    assert all(t1 > t0 for t0, t1 in itertools.pairwise(first))
    counts, early, gaps = [], 0, []
    for seed in range(20):
        times = offsets(strategy, seed=seed)
        counts.append(len(times))
        early += sum(t < 5.0 for t in times)
        marks = [strategy.cumulative(t) for t in times]
        gaps.extend(m1 - m0 for m0, m1 in itertools.pairwise(marks))
    mean = sum(counts) / len(counts)
    # 20 runs of a Poisson count with mean 1000: the average is within 1000 +- 5 sigma (35).
    assert abs(mean - 1000) < 5 * math.sqrt(1000 / 20)
    # Share of arrivals in the first half: L(T/2) / L(T) = 0.2625 for this ramp.
    assert early / sum(counts) == pytest.approx(strategy.cumulative(5.0) / 1000, abs=0.02)
    # Time rescaling: the gaps in L-space are unit exponentials.
    assert sum(gaps) / len(gaps) == pytest.approx(1.0, abs=0.03)


def test_rate_and_profile_args_mapping() -> None:
    both = ramp([2, 20], duration=30)
    assert (both.start_rate, both.end_rate, both.duration) == (2.0, 20.0, 30.0)
    one = ramp([20], duration=30)
    assert (one.start_rate, one.end_rate) == (0.0, 20.0)
    one_with_start = ramp([20], duration=30, start_rate=5)
    assert (one_with_start.start_rate, one_with_start.end_rate) == (5.0, 20.0)
    args = ramp(None, start_rate=3, end_rate=1, duration=4, arrivals="poisson", max_concurrency=8)
    assert args.describe() == {
        "type": "ramp",
        "start_rate": 3.0,
        "end_rate": 1.0,
        "duration": 4.0,
        "arrivals": "poisson",
        "max_concurrency": 8,
    }
    assert args.streams is None  # open loop
    clone = pickle.loads(pickle.dumps(args))
    assert offsets(clone, 3) == offsets(args, 3)


@pytest.mark.parametrize(
    ("rates", "options", "fragment"),
    [
        ([1, 2], {}, "duration=SECONDS"),
        ([1, 2], {"duration": 0}, "duration=SECONDS"),
        ([1, 2, 3], {"duration": 5}, "START,END"),
        (None, {"duration": 5}, "needs its end rate"),
        ([1, 2], {"duration": 5, "end_rate": 3}, "keep one"),
        ([-1, 2], {"duration": 5}, "start_rate=-1"),
        ([0, 0], {"duration": 5}, "above 0"),
        ([1, 2], {"duration": 5, "arrivals": "burst"}, "uniform, poisson"),
        ([1, 2], {"duration": 5, "speed": 1}, "unknown option(s) speed"),
        ([1, 2], {"duration": 5, "max_concurrency": 0}, "max_concurrency=0"),
    ],
)
def test_bad_input_is_one_line_user_error(
    rates: list[float] | None, options: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(UserError) as info:
        RampStrategy.from_rates(rates, options)
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)


def test_registers_a_strategy_and_a_profile_through_a_fresh_host() -> None:
    warnings: list[str] = []
    host = PluginHost(builtins=(), entry_points=False, warn=warnings.append)
    host.add_plugin(guidellm_ramp, "ramp-under-test")
    try:
        assert warnings == []
        assert host.strategies.get("ramp") is RampStrategy
        profile = host.profiles.get("ramp")([1, 9], {"duration": 2})
        first = profile.next_strategy([])
        assert isinstance(first, RampStrategy)
        assert first.expected_requests == 10.0
        done = BenchmarkOutcome(first, 5.0, 10, 0, 2.0)
        assert profile.next_strategy([done]) is None
    finally:
        host.remove_plugin("ramp-under-test")
