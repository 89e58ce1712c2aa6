"""``stages``: each stage's rate or concurrency, ramps, the boundaries, bad stages."""

from __future__ import annotations

import pickle
import random

import pytest

from guidellm.errors import UserError
from guidellm.plugins import PluginHost
from guidellm.scheduler.stages import StagesStrategy, parse_stages

THREE_STAGES = [
    {"rate": 10, "seconds": 10},
    {"ramp_to": 40, "seconds": 10},
    {"rate": 40, "seconds": 10},
]


def test_registered_as_a_strategy_and_a_profile() -> None:
    host = PluginHost(entry_points=False)
    assert "stages" in host.strategies
    assert "stages" in host.profiles


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
        ({"stages": [{"ramp_to": 5, "seconds": 5}]}, ("stage 1", 'starting "rate"')),
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


def test_parse_stages_accepts_duration_as_a_synonym() -> None:
    (stage,) = parse_stages([{"rate": 3, "duration": 2}])
    assert (stage.seconds, stage.rate, stage.end_rate, stage.ramp) == (2.0, 3.0, 3.0, False)


def test_concurrency_stages_are_closed_loop_with_a_stream_schedule() -> None:
    stages = [
        {"concurrency": 2, "seconds": 5},
        {"concurrency": 8, "seconds": 5},
        {"concurrency": 1, "seconds": 2},
    ]
    (strategy,) = StagesStrategy.from_rates(None, {"stages": stages})
    strategy = pickle.loads(pickle.dumps(strategy))
    assert strategy.streams == strategy.max_concurrency == 8
    assert strategy.stream_stages == [(0.0, 2), (5.0, 8), (10.0, 1)]
    assert strategy.duration == 12.0
    assert strategy.describe()["stages"][1] == {
        "index": 1,
        "start_s": 5.0,
        "end_s": 10.0,
        "concurrency": 8,
    }
    with pytest.raises(TypeError):
        next(strategy.arrival_offsets(random.Random(1)))


@pytest.mark.parametrize(
    ("stages", "words"),
    [
        ([{"concurrency": 0, "seconds": 1}], ("stage 1", "concurrency=0", "whole number")),
        ([{"concurrency": 2.5, "seconds": 1}], ("stage 1", "concurrency=2.5")),
        ([{"concurrency": 2, "rate": 3, "seconds": 1}], ("stage 1", "one or the other")),
        (
            [{"rate": 5, "seconds": 1}, {"concurrency": 2, "seconds": 1}],
            ("stage 2", "all rates or all concurrencies"),
        ),
    ],
)
def test_bad_concurrency_stages(stages: list[dict[str, object]], words: tuple[str, ...]) -> None:
    with pytest.raises(UserError) as info:
        StagesStrategy.from_rates(None, {"stages": stages})
    for word in words:
        assert word in str(info.value)


def test_a_concurrency_stage_above_the_cap_is_refused() -> None:
    stages = [{"concurrency": 2, "seconds": 1}, {"concurrency": 9, "seconds": 1}]
    with pytest.raises(UserError, match="stage 2 asks for 9 streams, above max_concurrency 4"):
        StagesStrategy.from_rates(None, {"stages": stages, "max_concurrency": 4})
