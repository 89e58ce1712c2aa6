"""``replay``: send offsets from trace timestamps, time scale, gap cap, start offset."""

from __future__ import annotations

import pytest

from guidellm.errors import UserError
from guidellm.plugins import PluginHost
from guidellm.scheduler.replay import ReplayStrategy

TRACE = [100.0, 100.5, 101.0, 110.0, 110.25]


def _offsets(options: dict[str, object], stamps: list[float | None]) -> list[float | None]:
    (strategy,) = ReplayStrategy.from_rates(None, options)
    return list(strategy.data_offsets(iter(stamps)))


def test_registered_and_timed_by_the_data() -> None:
    host = PluginHost(entry_points=False)
    assert "replay" in host.profiles
    (strategy,) = ReplayStrategy.from_rates(None, {})
    assert strategy.timed_by_data
    assert strategy.streams is None


def test_offsets_are_the_trace_times_from_the_first() -> None:
    assert _offsets({}, TRACE) == [0.0, 0.5, 1.0, 10.0, 10.25]


def test_time_scale_stretches_or_squeezes() -> None:
    assert _offsets({"time_scale": 0.5}, TRACE) == [0.0, 0.25, 0.5, 5.0, 5.125]
    assert _offsets({"time_scale": 2}, TRACE) == [0.0, 1.0, 2.0, 20.0, 20.5]


def test_max_gap_shortens_only_long_gaps() -> None:
    assert _offsets({"max_gap_s": 2}, TRACE) == [0.0, 0.5, 1.0, 3.0, 3.25]
    assert _offsets({"max_gap_s": 2, "time_scale": 0.1}, TRACE) == pytest.approx(
        [0.0, 0.05, 0.1, 1.0, 1.025]
    )


def test_start_offset_skips_the_first_seconds_of_the_trace() -> None:
    assert _offsets({"start_offset_s": 1}, TRACE) == [None, None, 0.0, 9.0, 9.25]


def test_times_going_back_or_missing_are_sent_at_once() -> None:
    assert _offsets({}, [5.0, 6.0, 5.5, None, 7.0]) == [0.0, 1.0, 1.0, 1.0, 2.0]


def test_many_rows_do_not_drift() -> None:
    stamps = [i * 0.001 for i in range(1_000_000)]
    out = _offsets({"time_scale": 1}, stamps)
    assert out[-1] == pytest.approx(999.999, abs=1e-9)


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"time_scale": 0}, ("time_scale must be a number > 0", "0.5 replays twice as fast")),
        ({"time_scale": -1}, ("time_scale", "got -1")),
        ({"max_gap_s": 0}, ("max_gap_s must be a number > 0",)),
        ({"start_offset_s": -2}, ("start_offset_s must be a number >= 0",)),
        ({"speed": 2}, ("unknown option", "speed")),
    ],
)
def test_bad_options_name_the_key(options: dict[str, object], words: tuple[str, ...]) -> None:
    with pytest.raises(UserError) as info:
        ReplayStrategy.from_rates(None, options)
    for word in words:
        assert word in str(info.value)


def test_a_rate_is_refused_with_the_fix() -> None:
    with pytest.raises(UserError, match="time_scale"):
        ReplayStrategy.from_rates([10], {})
