"""Over-saturation: the test that ends an open-loop benchmark whose server has stopped keeping up.

Past its capacity a server queues what it cannot serve: requests in flight grow without bound,
and so does the time to first token, since each request waits behind the queue. Such a
benchmark's numbers describe the queue (and the benchmark's length), not the server, so running
it to its end only costs time. The :class:`SaturationDetector` takes one sample a second (the
in-flight count, and the TTFTs of the results completed since the last sample) and fires when,
over a sliding window, *both* series rise with statistical confidence *and* in-flight has grown
materially since the benchmark settled. docs/metrics.md ("Over-saturation") gives the test, its
thresholds and its measured false-alarm rate.

Plain floats and a few deques: the Scheduler calls :meth:`SaturationDetector.sample` once a
second from its event loop, and nothing is done per result.
"""

from __future__ import annotations

import asyncio
import math
import statistics
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from guidellm.request import RequestResult, RequestStatus

if TYPE_CHECKING:
    from guidellm.scheduler.strategy import Profile

__all__ = [
    "SATURATION_MODES",
    "SaturationDetector",
    "SaturationThresholds",
    "SaturationWatch",
    "slope_t",
    "stops_on_saturation",
]

#: ``--stop-on-saturation`` values: ``auto`` is on for profiles that ask for it.
SATURATION_MODES = ("auto", "on", "off")

#: t-statistics are capped here: a perfectly straight series has no residual at all.
_T_CAP = 1e6


def stops_on_saturation(mode: str, profile: Profile) -> bool:
    """``--stop-on-saturation``: ``on``, ``off``, or ``auto`` (what the profile asks for)."""
    if mode not in SATURATION_MODES:
        raise ValueError(f"stop_on_saturation must be one of {SATURATION_MODES}, not {mode!r}")
    return mode == "on" or (mode == "auto" and type(profile).stop_on_saturation)


@dataclass(frozen=True)
class SaturationThresholds:
    """The test's parameters (docs/metrics.md says why these values)."""

    #: Seconds between samples.
    sample_s: float = 1.0
    #: Samples in the sliding window (the last ``window`` seconds).
    window: int = 12
    #: Samples needed before the test is judged at all.
    min_samples: int = 6
    #: One-sided t of both slopes (in-flight and TTFT) must exceed this.
    min_t: float = 3.0
    #: In flight at the window's end (fitted) must be this many times the settled baseline...
    min_growth: float = 2.0
    #: ...and exceed it by at least this many requests.
    min_added: float = 20.0
    #: The baseline: the mean in-flight count of this many first samples after settling.
    baseline_samples: int = 3


def slope_t(xs: list[float], ys: list[float]) -> tuple[float, float, float]:
    """Least-squares ``(slope, t, intercept)`` of ``ys`` on ``xs``; ``t`` = slope / its
    standard error (capped; 0 when the slope is 0). Needs at least three points."""
    n = len(xs)
    mx = math.fsum(xs) / n
    my = math.fsum(ys) / n
    sxx = math.fsum((x - mx) ** 2 for x in xs)
    if n < 3 or sxx <= 0:
        return 0.0, 0.0, my
    b = math.fsum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    a = my - b * mx
    sse = math.fsum((y - a - b * x) ** 2 for x, y in zip(xs, ys, strict=True))
    se = math.sqrt(sse / (n - 2) / sxx)
    if se <= 0:  # a straight line: as certain as the slope's sign
        return b, math.copysign(_T_CAP, b) if b else 0.0, a
    return b, max(-_T_CAP, min(_T_CAP, b / se)), a


class SaturationDetector:
    """Samples once a second; :meth:`sample` returns the evidence when the test fires."""

    def __init__(self, thresholds: SaturationThresholds | None = None) -> None:
        self.thresholds = th = thresholds or SaturationThresholds()
        self.times: deque[float] = deque(maxlen=th.window)
        self.in_flight: deque[float] = deque(maxlen=th.window)
        self.ttft: deque[float] = deque(maxlen=th.window)
        self._first: list[float] = []
        self.baseline: float | None = None

    def sample(
        self, at_s: float, in_flight: int, ttfts: list[float], oldest_age_s: float | None
    ) -> dict[str, Any] | None:
        """One sample ``at_s`` seconds into the benchmark, taken once it has settled (its
        first results are back). ``ttfts``: seconds, of the results completed since the last
        sample; when there are none, ``oldest_age_s`` (the oldest request in flight has waited
        that long for its first token at least) stands in; with neither, TTFT is not sampled.
        """
        th = self.thresholds
        if ttfts:
            latency: float | None = statistics.median(ttfts)
        else:
            latency = oldest_age_s
        if latency is None:
            return None
        if self.baseline is None:
            self._first.append(float(in_flight))
            if len(self._first) >= th.baseline_samples:
                self.baseline = math.fsum(self._first) / len(self._first)
        self.times.append(at_s)
        self.in_flight.append(float(in_flight))
        self.ttft.append(latency)
        if self.baseline is None or len(self.times) < th.min_samples:
            return None
        xs = list(self.times)
        q_slope, q_t, q_a = slope_t(xs, list(self.in_flight))
        if q_slope <= 0 or q_t < th.min_t:
            return None
        end = q_a + q_slope * xs[-1]
        base = self.baseline
        if end < th.min_growth * base or end - base < th.min_added:
            return None
        l_slope, l_t, _ = slope_t(xs, list(self.ttft))
        if l_slope <= 0 or l_t < th.min_t:
            return None
        return {
            "detected": True,
            "at_s": round(at_s, 3),
            "window_s": round(xs[-1] - xs[0], 3),
            "samples": len(xs),
            "in_flight_slope_per_s": round(q_slope, 3),
            "in_flight_t": round(q_t, 2),
            "ttft_slope_ms_per_s": round(l_slope * 1000.0, 3),
            "ttft_t": round(l_t, 2),
            "in_flight_start": round(base, 1),
            "in_flight_end": round(end, 1),
            "thresholds": {
                "min_t": th.min_t,
                "min_growth": th.min_growth,
                "min_added": th.min_added,
                "window_s": th.window * th.sample_s,
                "min_samples": th.min_samples,
            },
        }


class SaturationWatch:
    """The test on a running benchmark: samples it once a second on its event loop and calls
    ``stop`` with the evidence when the test fires. The Scheduler appends each batch of
    results to :attr:`batches` (one append per batch, nothing per result)."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        start_time: float,
        in_flight: Callable[[], int],
        oldest_due: Callable[[float], float | None],
        stop: Callable[[dict[str, Any]], None],
    ) -> None:
        self.detector = SaturationDetector()
        self.batches: list[list[RequestResult]] = []
        self._loop = loop
        self._start = start_time
        self._in_flight = in_flight
        self._oldest_due = oldest_due
        self._stop = stop
        self._settled = False
        self._handle: asyncio.TimerHandle | None = None
        self._schedule(max(0.0, start_time - time.perf_counter()))

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _schedule(self, lead: float) -> None:
        self._handle = self._loop.call_later(lead + self.detector.thresholds.sample_s, self._sample)

    def _sample(self) -> None:
        self._handle = None
        batches, self.batches = self.batches, []
        now = time.perf_counter()
        self._settled = self._settled or bool(batches)
        if self._settled:  # the first results are back: in flight has reached its level
            ttfts = [
                r.first_token_time - r.request_start
                for batch in batches
                for r in batch
                if r.first_token_time is not None and r.status == RequestStatus.SUCCESSFUL
            ]
            oldest = self._oldest_due(now)
            age = None if oldest is None else now - oldest
            evidence = self.detector.sample(now - self._start, self._in_flight(), ttfts, age)
            if evidence is not None:
                self._stop(evidence)
                return
        self._schedule(0.0)
