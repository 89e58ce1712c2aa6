"""The over-saturation test on synthetic series and on a simulated queueing server: flat
series (a server below capacity) do not fire, growing ones (past capacity) do, and soon."""

from __future__ import annotations

import bisect
import heapq
import math
import random
from typing import Any

import pytest

from guidellm.scheduler.saturation import SaturationDetector, SaturationThresholds, slope_t

# The mock server of the integration tests: 32 slots, TTFT 50 ms, 128 tokens at 10 ms.
SLOTS, TTFT_S, SERVICE_S = 32, 0.05, 0.05 + 127 * 0.01
CAPACITY = SLOTS / SERVICE_S  # ~24 requests/s


def test_slope_t_recovers_a_line_and_its_certainty() -> None:
    xs = [float(i) for i in range(10)]
    slope, t, intercept = slope_t(xs, [3.0 + 2.0 * x for x in xs])
    assert slope == pytest.approx(2.0)
    assert intercept == pytest.approx(3.0)
    assert t >= 1e5  # no residual: certain
    rng = random.Random(1)
    noisy = [3.0 + 2.0 * x + rng.gauss(0, 1) for x in xs]
    slope, t, _ = slope_t(xs, noisy)
    assert 1.5 < slope < 2.5
    assert 10 < t < 1e3
    assert slope_t(xs, [5.0] * 10)[:2] == (0.0, 0.0)


def test_the_slope_t_test_has_its_nominal_false_alarm_rate_on_noise() -> None:
    """i.i.d. noise, 12 points (10 degrees of freedom): P(t > 3) is 0.67 %."""
    rng = random.Random(7)
    xs = [float(i) for i in range(12)]
    trials = 20_000
    hits = sum(slope_t(xs, [rng.gauss(0, 1) for _ in xs])[1] > 3.0 for _ in range(trials))
    assert 0.003 < hits / trials < 0.011


def _run_series(series: list[tuple[int, float]]) -> dict[str, Any] | None:
    detector = SaturationDetector()
    for i, (in_flight, ttft) in enumerate(series):
        evidence = detector.sample(float(i + 1), in_flight, [ttft], None)
        if evidence is not None:
            return evidence
    return None


def test_a_flat_noisy_series_never_fires() -> None:
    """1,000 series of 60 s at a steady level: neither the slopes' noise nor in flight's
    wander (Poisson around 22, as at 0.7x the mock's capacity) doubles the baseline."""
    rng = random.Random(3)
    fired = 0
    for _ in range(1000):
        level = 22.0
        series = []
        for _ in range(60):
            level += 0.5 * (22.0 - level) + rng.gauss(0, 3.0)  # mean-reverting, correlated
            series.append((max(0, round(level)), TTFT_S + abs(rng.gauss(0, 0.01))))
        fired += _run_series(series) is not None
    assert fired == 0


def test_a_growing_series_fires_with_its_evidence() -> None:
    rng = random.Random(5)
    series = [
        (round(32 + 24 * i + rng.gauss(0, 4)), TTFT_S + 1.0 * i + rng.gauss(0, 0.1))
        for i in range(30)
    ]
    evidence = _run_series(series)
    assert evidence is not None
    assert evidence["at_s"] <= 8.0
    assert evidence["in_flight_slope_per_s"] == pytest.approx(24, rel=0.2)
    assert evidence["ttft_slope_ms_per_s"] == pytest.approx(1000, rel=0.2)
    assert evidence["in_flight_t"] > 3 and evidence["ttft_t"] > 3
    assert evidence["in_flight_end"] >= 2 * evidence["in_flight_start"]
    assert evidence["thresholds"]["min_t"] == 3.0


def test_growing_in_flight_with_flat_ttft_does_not_fire() -> None:
    """A rising load the server absorbs (TTFT flat) is not over-saturation."""
    rng = random.Random(6)
    series = [(20 + 10 * i, TTFT_S + abs(rng.gauss(0, 0.01))) for i in range(30)]
    assert _run_series(series) is None


def test_growth_below_the_floor_does_not_fire() -> None:
    """Doubling from 3 to 6 in flight is not material, however certain the slopes."""
    series = [(3 + i // 4, TTFT_S + 0.01 * i) for i in range(30)]
    assert _run_series(series) is None


def test_the_oldest_age_stands_in_when_nothing_completes() -> None:
    """A server that stops answering: no TTFTs, but the oldest request's age keeps rising."""
    detector = SaturationDetector()
    fired = None
    for i in range(30):
        fired = detector.sample(float(i + 1), 30 + 24 * i, [], 1.0 + i)
        if fired is not None:
            break
    assert fired is not None and fired["ttft_slope_ms_per_s"] == pytest.approx(1000)


def simulate(rate: float, seed: int, seconds: int) -> dict[str, Any] | None:
    """Poisson arrivals at ``rate`` on a FIFO server of ``SLOTS`` slots (the mock's model),
    sampled once a second like the Scheduler samples a run; the evidence if the test fired."""
    rng = random.Random(seed)
    arrivals, t = [], 0.0
    while t < seconds:
        t += rng.expovariate(rate)
        arrivals.append(t)
    free = [0.0] * SLOTS
    ends, firsts = [], []
    for a in arrivals:
        start = max(a, heapq.heappop(free))
        heapq.heappush(free, start + SERVICE_S)
        ends.append(start + SERVICE_S)
        firsts.append(start + TTFT_S - a)
    order = sorted(range(len(ends)), key=ends.__getitem__)
    sorted_ends = [ends[i] for i in order]
    detector = SaturationDetector()
    settled = False
    for second in range(1, seconds + 1):
        now = float(second)
        lo = bisect.bisect_right(sorted_ends, now - 1.0)
        hi = bisect.bisect_right(sorted_ends, now)
        settled = settled or hi > 0
        if not settled:
            continue
        in_flight = bisect.bisect_right(arrivals, now) - hi
        ttfts = [firsts[i] for i in order[lo:hi]]
        evidence = detector.sample(now, in_flight, ttfts, None)
        if evidence is not None:
            return evidence
    return None


@pytest.mark.parametrize("seed", range(1, 21))
def test_below_capacity_a_simulated_server_never_stops(seed: int) -> None:
    """0.7x and 0.8x capacity, Poisson, 120 s: the false-alarm test, in simulated time so
    that 20 seeds cost milliseconds (at 0.9x, 9 % of runs fire: docs/metrics.md)."""
    assert simulate(0.7 * CAPACITY, seed, 120) is None
    assert simulate(0.8 * CAPACITY, seed, 120) is None


@pytest.mark.parametrize("load", [2.0, 1.25])
def test_past_capacity_a_simulated_server_stops(load: float) -> None:
    for seed in range(1, 6):
        evidence = simulate(load * CAPACITY, seed, 120)
        assert evidence is not None
        limit = 15 if load >= 2 else 40
        assert evidence["at_s"] <= limit, evidence


def test_thresholds_are_reported_as_configured() -> None:
    th = SaturationThresholds(min_t=4.0, window=8)
    detector = SaturationDetector(th)
    assert detector.thresholds.window == 8
    assert math.isclose(detector.thresholds.min_t, 4.0)


def test_auto_stops_the_profiles_that_ask_for_it() -> None:
    from guidellm.scheduler.profiles import SweepProfile
    from guidellm.scheduler.saturation import stops_on_saturation
    from guidellm.scheduler.strategy import Profile, StrategyProfile

    assert Profile.stop_on_saturation is False
    assert SweepProfile.stop_on_saturation is True
    sweep = SweepProfile(None, {})
    constant = StrategyProfile.__new__(StrategyProfile)
    assert stops_on_saturation("auto", sweep) is True
    assert stops_on_saturation("auto", constant) is False
    assert stops_on_saturation("on", constant) is True
    assert stops_on_saturation("off", sweep) is False
    with pytest.raises(ValueError, match="stop_on_saturation"):
        stops_on_saturation("yes", sweep)


def test_a_report_with_or_without_the_evidence_loads() -> None:
    from guidellm.benchmark.report import Benchmark

    base = {
        "id": 0, "strategy": {"type": "constant", "rate": 48.0}, "start_time": 0.0,
        "end_time": 8.0, "duration": 8.0, "measured_window": [0.0, 8.0],
    }  # fmt: skip
    assert Benchmark.model_validate(base).over_saturation is None  # an older report
    evidence = _run_series([(32 + 24 * i, TTFT_S + 1.0 * i) for i in range(30)])
    assert evidence is not None
    bench = Benchmark.model_validate({**base, "over_saturation": evidence})
    assert bench.over_saturation is not None and bench.over_saturation.detected
    again = Benchmark.model_validate_json(bench.model_dump_json())
    assert again.over_saturation == bench.over_saturation
