"""Built-in strategies and the sweep profile: offsets, rates, options, registration."""

from __future__ import annotations

import itertools
import pickle
import random
import statistics

import pytest

from guidellm.errors import UserError
from guidellm.plugins import PluginHost
from guidellm.scheduler.profiles import SweepProfile, knee_fractions
from guidellm.scheduler.strategies import (
    ConcurrentStrategy,
    ConstantStrategy,
    PoissonStrategy,
    SynchronousStrategy,
    ThroughputStrategy,
)
from guidellm.scheduler.strategy import BenchmarkOutcome


def test_builtins_registered_as_strategies_and_profiles() -> None:
    host = PluginHost(entry_points=False)
    for name in ("synchronous", "concurrent", "throughput", "constant", "poisson"):
        assert name in host.strategies
        assert name in host.profiles
    assert "sweep" in host.profiles
    assert "sweep" not in host.strategies


def test_constant_offsets_exact_without_drift() -> None:
    (strategy,) = ConstantStrategy.from_rates([1000], {})
    offsets = list(itertools.islice(strategy.arrival_offsets(random.Random(1)), 1_000_001))
    assert offsets[0] == 0.0
    assert offsets[1] == pytest.approx(0.001)
    assert offsets[1_000_000] == pytest.approx(1000.0, abs=1e-9)


def test_poisson_is_seeded_and_has_the_right_mean() -> None:
    (strategy,) = PoissonStrategy.from_rates([50], {})
    a = list(itertools.islice(strategy.arrival_offsets(random.Random(7)), 20000))
    b = list(itertools.islice(strategy.arrival_offsets(random.Random(7)), 20000))
    c = list(itertools.islice(strategy.arrival_offsets(random.Random(8)), 20000))
    assert a == b
    assert a != c
    gaps = [y - x for x, y in itertools.pairwise(a)]
    assert statistics.mean(gaps) == pytest.approx(0.02, rel=0.03)
    # Exponential gaps: the standard deviation equals the mean (CV 1).
    assert statistics.pstdev(gaps) / statistics.mean(gaps) == pytest.approx(1.0, rel=0.05)


def test_rate_lists_give_one_strategy_each() -> None:
    strategies = ConcurrentStrategy.from_rates([1, 4, 16], {})
    assert [s.streams for s in strategies] == [1, 4, 16]
    assert [s.describe() for s in ConstantStrategy.from_rates([5, 10], {})] == [
        {"type": "constant", "rate": 5.0},
        {"type": "constant", "rate": 10.0},
    ]
    (tp,) = ThroughputStrategy.from_rates(None, {"max_concurrency": 32})
    assert tp.streams == 32
    assert SynchronousStrategy.from_rates(None, {})[0].streams == 1


@pytest.mark.parametrize(
    ("cls", "rates", "options", "message"),
    [
        (ConstantStrategy, None, {}, "needs --rate"),
        (ConstantStrategy, [0], {}, "not a positive number"),
        (PoissonStrategy, [float("nan")], {}, "not a positive number"),
        (ConcurrentStrategy, [2.5], {}, "whole number"),
        (SynchronousStrategy, [3], {}, "does not apply"),
        (ConstantStrategy, [3], {"bogus": 1}, "unknown option"),
        (ThroughputStrategy, None, {"max_concurrency": 0}, "positive integer"),
    ],
)
def test_bad_rates_are_user_errors(cls, rates, options, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UserError, match=message):
        cls.from_rates(rates, options)


def test_strategies_pickle() -> None:
    for strategy in (
        SynchronousStrategy(),
        ConcurrentStrategy(3),
        ThroughputStrategy(8),
        ConstantStrategy(5.0, 4),
        PoissonStrategy(2.0),
    ):
        clone = pickle.loads(pickle.dumps(strategy))
        assert clone.describe() == strategy.describe()


def _outcome(strategy: object, rps: float) -> BenchmarkOutcome:
    return BenchmarkOutcome(strategy, rps, 10, 0, 1.0)  # type: ignore[arg-type]


def test_sweep_spaces_rates_between_synchronous_and_throughput() -> None:
    profile = SweepProfile([5], {})
    done: list[BenchmarkOutcome] = []
    first = profile.next_strategy(done)
    assert isinstance(first, SynchronousStrategy)
    done.append(_outcome(first, 10.0))
    second = profile.next_strategy(done)
    assert isinstance(second, ThroughputStrategy)
    done.append(_outcome(second, 50.0))
    rates = []
    while (nxt := profile.next_strategy(done)) is not None:
        assert isinstance(nxt, ConstantStrategy)
        rates.append(nxt.rate)
        done.append(_outcome(nxt, nxt.rate))
    # Narrowing toward the throughput rate, the last just above it: 10 + 40 x (5/9, 8/9),
    # then 1.05 x 50.
    assert rates == pytest.approx([10 + 40 * 5 / 9, 10 + 40 * 8 / 9, 52.5])
    assert len(done) == 5


def test_knee_fractions_narrow_toward_the_top() -> None:
    fractions = knee_fractions(8)
    gaps = [b - a for a, b in zip([0.0, *fractions], fractions, strict=False)]
    assert fractions[-1] == 1.0 and fractions[0] == pytest.approx(0.234375)
    assert all(b < a for a, b in itertools.pairwise(gaps))


def test_sweep_of_conversations_spaces_session_rates() -> None:
    """With sessions a rate is new sessions/s: the sweep spaces the sessions done per second
    of synchronous and throughput, not their turns per second."""
    profile = SweepProfile([3], {})
    sync = BenchmarkOutcome(SynchronousStrategy(), 2.8, 28, 0, 10.0, items_per_second=0.7)
    most = BenchmarkOutcome(ThroughputStrategy(4), 28.4, 284, 0, 10.0, items_per_second=7.1)
    third = profile.next_strategy([sync, most])
    assert isinstance(third, ConstantStrategy)
    assert third.rate == pytest.approx(7.1 * 1.05)  # the one rate between: just above


def test_sweep_options() -> None:
    profile = SweepProfile([3], {"strategy": "poisson", "max_concurrency": 4})
    done = [_outcome(SynchronousStrategy(), 1.0), _outcome(ThroughputStrategy(4), 3.0)]
    third = profile.next_strategy(done)
    assert isinstance(third, PoissonStrategy)
    assert third.rate == pytest.approx(3.15)
    assert third.max_concurrency == 4
    with pytest.raises(UserError, match="whole number"):
        SweepProfile([1], {})
    with pytest.raises(UserError, match="constant or poisson"):
        SweepProfile(None, {"strategy": "ramp"})
    with pytest.raises(UserError, match="unknown option"):
        SweepProfile(None, {"rate": 3})
