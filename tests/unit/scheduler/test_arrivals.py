"""``gamma``: the asked rate and burstiness over a minute, seeds, bad options."""

from __future__ import annotations

import itertools
import pickle
import random
import statistics

import pytest

from guidellm.errors import UserError
from guidellm.plugins import PluginHost
from guidellm.scheduler.arrivals import GammaStrategy


def _until(offsets: itertools.count[float] | object, end: float) -> list[float]:
    return list(itertools.takewhile(lambda t: t < end, offsets))  # type: ignore[arg-type]


def test_registered_as_strategies_and_profiles() -> None:
    host = PluginHost(entry_points=False)
    assert "gamma" in host.strategies
    assert "gamma" in host.profiles


@pytest.mark.parametrize("cv", [0.5, 1.0, 2.0, 3.0])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_gamma_gives_the_asked_cv_and_rate_over_a_minute(cv: float, seed: int) -> None:
    (strategy,) = GammaStrategy.from_rates([100], {"cv": cv})
    offsets = _until(strategy.arrival_offsets(random.Random(seed)), 60.0)
    gaps = [b - a for a, b in itertools.pairwise(offsets)]
    mean = statistics.fmean(gaps)
    assert statistics.pstdev(gaps) / mean == pytest.approx(cv, abs=0.1)
    assert 1.0 / mean == pytest.approx(100.0, rel=0.01)
    assert len(offsets) / 60.0 == pytest.approx(100.0, rel=0.01)


def test_gamma_is_bursty_where_poisson_is_not() -> None:
    """At cv 3 most gaps are far shorter than the mean and a few far longer."""
    (strategy,) = GammaStrategy.from_rates([100], {"cv": 3})
    offsets = _until(strategy.arrival_offsets(random.Random(5)), 60.0)
    gaps = sorted(b - a for a, b in itertools.pairwise(offsets))
    assert gaps[len(gaps) // 2] < 0.001  # median gap under a tenth of the 10 ms mean
    assert gaps[-1] > 0.2


def test_gamma_is_seeded_and_picklable() -> None:
    (strategy,) = GammaStrategy.from_rates([50], {"cv": 2})
    strategy = pickle.loads(pickle.dumps(strategy))
    a = list(itertools.islice(strategy.arrival_offsets(random.Random(7)), 3000))
    b = list(itertools.islice(strategy.arrival_offsets(random.Random(7)), 3000))
    c = list(itertools.islice(strategy.arrival_offsets(random.Random(8)), 3000))
    assert a == b != c
    assert a[0] == 0.0 and all(y >= x for x, y in itertools.pairwise(a))
    assert strategy.describe() == {"type": "gamma", "rate": 50.0, "cv": 2.0}


@pytest.mark.parametrize("cv", [0, -1, "x", True, float("nan"), 10.5, 50])
def test_bad_cv_is_refused(cv: object) -> None:
    with pytest.raises(UserError, match="cv must be a number in"):
        GammaStrategy.from_rates([10], {"cv": cv})
