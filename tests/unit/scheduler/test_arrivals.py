"""``gamma`` and ``stages``: the asked rate and burstiness, stage shapes, seeds, bad options."""

from __future__ import annotations

import itertools
import pickle
import random
import statistics

import pytest

from guidellm.errors import UserError
from guidellm.plugins import PluginHost
from guidellm.scheduler.arrivals import GammaStrategy, StagesStrategy, parse_stages

THREE_STAGES = [
    {"rate": 10, "seconds": 10},
    {"ramp_to": 40, "seconds": 10},
    {"rate": 40, "seconds": 10},
]


def _until(offsets: itertools.count[float] | object, end: float) -> list[float]:
    return list(itertools.takewhile(lambda t: t < end, offsets))  # type: ignore[arg-type]


def test_registered_as_strategies_and_profiles() -> None:
    host = PluginHost(entry_points=False)
    for name in ("gamma", "stages"):
        assert name in host.strategies
        assert name in host.profiles


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


def test_stages_send_each_stage_at_its_rate_and_end_with_the_last() -> None:
    (strategy,) = StagesStrategy.from_rates(None, {"stages": THREE_STAGES})
    offsets = list(strategy.arrival_offsets(random.Random(1)))
    per_second = [sum(1 for t in offsets if s <= t < s + 1) for s in range(30)]
    assert per_second[:10] == [10] * 10
    assert per_second[20:] == [40] * 10
    for second in range(10, 20):  # the ramp: 10 + 3 t requests/s, integrated over the second
        expected = 10 + 3 * (second - 10) + 1.5
        assert abs(per_second[second] - expected) <= 1
    assert len(offsets) == 100 + 250 + 400
    assert max(offsets) < 30.0
    assert strategy.duration == 30.0


def test_stages_describe_gives_the_boundaries() -> None:
    (strategy,) = StagesStrategy.from_rates(None, {"stages": THREE_STAGES})
    info = strategy.describe()
    assert info["stages"] == [
        {"index": 0, "start_s": 0.0, "end_s": 10.0, "rate": 10.0},
        {"index": 1, "start_s": 10.0, "end_s": 20.0, "rate": 10.0, "ramp_to": 40.0},
        {"index": 2, "start_s": 20.0, "end_s": 30.0, "rate": 40.0},
    ]
    assert info["seconds"] == 30.0


@pytest.mark.parametrize("arrivals", ["poisson", "gamma"])
def test_random_stages_keep_the_stage_totals(arrivals: str) -> None:
    stages = [{"rate": 50, "seconds": 20}, {"rate": 0, "seconds": 5}, {"rate": 200, "seconds": 20}]
    (strategy,) = StagesStrategy.from_rates(None, {"stages": stages, "arrivals": arrivals, "cv": 2})
    offsets = list(strategy.arrival_offsets(random.Random(3)))
    first = sum(1 for t in offsets if t < 20)
    pause = sum(1 for t in offsets if 20 <= t < 25)
    last = sum(1 for t in offsets if t >= 25)
    assert first == pytest.approx(1000, rel=0.05)
    assert pause == 0
    assert last == pytest.approx(4000, rel=0.05)


def test_a_ramp_from_zero_starts_at_zero() -> None:
    (strategy,) = StagesStrategy.from_rates(
        None, {"stages": [{"rate": 0, "ramp_to": 20, "seconds": 10}]}
    )
    offsets = list(strategy.arrival_offsets(random.Random(1)))
    assert offsets[0] == 0.0
    assert len(offsets) == 100  # the integral of the ramp


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({}, ("needs --profile-args",)),
        ({"stages": []}, ("non-empty list",)),
        ({"stages": "rate=1"}, ("JSON list",)),
        ({"stages": [{"rate": 10}]}, ("stage 1", "no duration", '"seconds"')),
        ({"stages": [{"rate": 10, "seconds": 5}, {"seconds": 5}]}, ("stage 2", "ramp_to")),
        ({"stages": [{"rate": 10, "seconds": 0}]}, ("stage 1", "seconds=0", "> 0")),
        ({"stages": [{"rate": -1, "seconds": 5}]}, ("stage 1", "rate=-1")),
        ({"stages": [{"ramp_to": 5, "seconds": 5}]}, ("stage 1", "starting")),
        ({"stages": [{"rate": 1, "seconds": 5, "sec": 1}]}, ("stage 1", "unknown key", "sec")),
        ({"stages": [{"rate": 0, "seconds": 5}]}, ("nothing would be sent",)),
        ({"stages": THREE_STAGES, "arrivals": "bursty"}, ("arrivals", "constant, poisson")),
        ({"stages": THREE_STAGES, "speed": 1}, ("unknown option", "speed")),
    ],
)
def test_bad_stages_name_the_stage_and_key(
    options: dict[str, object], words: tuple[str, ...]
) -> None:
    with pytest.raises(UserError) as info:
        StagesStrategy.from_rates(None, options)
    message = str(info.value)
    assert "\n" not in message
    for word in words:
        assert word in message


def test_stages_refuse_a_rate() -> None:
    with pytest.raises(UserError, match="drop --rate"):
        StagesStrategy.from_rates([5], {"stages": THREE_STAGES})


@pytest.mark.parametrize("cv", [0, -1, "x", True, float("nan")])
def test_bad_cv_is_refused(cv: object) -> None:
    with pytest.raises(UserError, match="cv must be a positive number"):
        GammaStrategy.from_rates([10], {"cv": cv})


def test_parse_stages_accepts_duration_as_a_synonym() -> None:
    (stage,) = parse_stages([{"rate": 3, "duration": 2}])
    assert (stage.seconds, stage.rate, stage.end_rate, stage.ramp) == (2.0, 3.0, 3.0, False)
