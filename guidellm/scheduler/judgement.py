"""The client's judgement of itself: could it keep the schedule, or do the numbers describe it?

A load generator that falls behind its own schedule measures itself, not the server. Two
verdicts come from the same measurements and the same rules: :func:`judge`, once per
benchmark, for the report's ``client`` mapping (and its ``client-limited`` warning), and
:func:`live_limited`, a few times a second, for the progress display while the run goes on.

The rules (docs/metrics.md, "The client's verdict"): scheduling delay is lateness only against
an open loop's intended send times (a closed loop has no schedule: its "delay" is the gap
between one request's end and its stream's next start, and its start burst is not lateness);
each signal needs enough samples before it is judged, and CPU busy fractions need enough
requests and wall time, so that start-up costs over a sub-second benchmark read as what they are.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from guidellm.percentile import percentile

if TYPE_CHECKING:
    from guidellm.scheduler.summary import ScheduleSummary

__all__ = [
    "LIMIT_CPU_BUSY",
    "LIMIT_LOOP_LAG_MS",
    "LIMIT_SCHEDULING_DELAY_MS",
    "LIVE_MIN_SENDS",
    "LIVE_SENDS",
    "MIN_CPU_REQUESTS",
    "MIN_CPU_SECONDS",
    "MIN_LATE_LAGS",
    "MIN_LATE_SENDS",
    "MIN_SENDS",
    "judge",
    "live_limited",
]

#: The client judges itself limited past these: then the client, not the server, sets the
#: pace (sends leave late, so the load offered is not the one asked for, or answers are read
#: late).
LIMIT_SCHEDULING_DELAY_MS = 10.0
LIMIT_LOOP_LAG_MS = 10.0
LIMIT_CPU_BUSY = 0.9
#: Scheduling delays judged only from this many sends on (p99 of a handful is their maximum).
MIN_SENDS = 20
#: A p99 past its limit fires only with at least this many values past the limit too: on a
#: shared machine a stall of the operating system now and then makes a send or a probe a few
#: tens of ms late, and over 150 sends two strays are the p99. A client behind its schedule is
#: late again and again. (Loop lag is probed four times a second per worker while the loop
#: keeps up, less often when it does not: no minimum count of probes.)
MIN_LATE_SENDS = 10
MIN_LATE_LAGS = 3
#: CPU busy judged only from this many requests and this much wall time on: below, the fixed
#: costs of a benchmark's start and end (the first request built, connections opened, results
#: flushed) outweigh the work of sending and reading.
MIN_CPU_REQUESTS = 100
MIN_CPU_SECONDS = 5.0
#: Past this many values, :func:`_past` counts with numpy.
_COUNT_IN_PYTHON = 10_000
#: The live verdict reads the last this many sends: the present, not an early backlog.
LIVE_SENDS = 1000
#: ... and says nothing before this many.
LIVE_MIN_SENDS = MIN_SENDS

_CLOSED_LOOP = (
    "closed loop: no send schedule to be late against (this is the gap between a request's "
    "end and its stream's next start)"
)


def live_limited(delays_ms: Sequence[float], *, open_loop: bool) -> bool:
    """Whether the client is falling behind now: in an open loop, p99 of the last
    :data:`LIVE_SENDS` scheduling delays past :data:`LIMIT_SCHEDULING_DELAY_MS` (the same
    rule as :func:`judge`'s delay signal). Cheap enough for the event loop (a sort of at most
    1,000 floats, no numpy)."""
    if not open_loop or len(delays_ms) < LIVE_MIN_SENDS:
        return False
    recent = delays_ms[-LIVE_SENDS:]
    p99 = percentile(recent, 99)
    return _past(recent, p99, LIMIT_SCHEDULING_DELAY_MS) >= MIN_LATE_SENDS


def _past(values: Any, p99: float | None, limit: float) -> int:
    """How many values are past ``limit``, counted only when their p99 is (else 0)."""
    if p99 is None or p99 <= limit:
        return 0
    if len(values) > _COUNT_IN_PYTHON:  # numpy is imported by the time a run is this long
        import numpy as np

        return int((np.asarray(values, dtype=np.float64) > limit).sum())
    return sum(1 for v in values if v > limit)


def _signal(
    name: str, value: float | None, limit: float, skip: str | None = None
) -> dict[str, Any]:
    """One measurement against its limit: fired when judged and past it; when it was not
    judged, ``limit`` is ``None`` and ``note`` says why."""
    judged = skip is None and value is not None
    return {
        "name": name,
        "value": None if value is None else round(value, 4),
        "limit": limit if judged else None,
        "fired": bool(judged and value is not None and value > limit),
        "note": skip if value is not None else "not measured",
    }


def _strays(late: int, least: int, what: str) -> str:
    return f"only {late} {what} past the limit, fewer than {least}: strays, not a trend"


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def judge(summary: ScheduleSummary) -> dict[str, Any]:
    """The ``client`` mapping of the aggregator contract (docs/architecture.md) for a
    finished benchmark: every signal with its value against its limit, ``limited`` when one
    fired, and a ``reason`` naming those that did."""
    delays = summary.scheduling_delays_ms
    delay_p99 = percentile(delays, 99)
    lags = summary.loop_lags_ms
    lag_p99 = percentile(lags, 99)
    lag_max = max(lags) if lags else 0.0
    per_request = summary.cpu_seconds * 1000 / summary.completed if summary.completed else None
    # CPU over the wall time it was measured in; the parent and each worker can use at most
    # one core, and no more than exist.
    wall = summary.cpu_wall_seconds or summary.duration
    cores = summary.cores or _cores()
    busy = summary.cpu_seconds / (max(wall, 1e-9) * min(summary.workers + 1, cores))

    if not summary.open_loop:
        delay_skip: str | None = _CLOSED_LOOP
    elif len(delays) < MIN_SENDS:
        delay_skip = f"{len(delays)} sends, fewer than {MIN_SENDS}"
    elif 0 < (late := _past(delays, delay_p99, LIMIT_SCHEDULING_DELAY_MS)) < MIN_LATE_SENDS:
        delay_skip = _strays(late, MIN_LATE_SENDS, "sends")
    else:
        delay_skip = None
    # No minimum count of samples: a lagging loop probes itself less often (four a second
    # when it keeps up), so the stray rule alone says whether the lag is a trend.
    lag_skip: str | None = None
    if 0 < (slow := _past(lags, lag_p99, LIMIT_LOOP_LAG_MS)) < MIN_LATE_LAGS:
        lag_skip = _strays(slow, MIN_LATE_LAGS, "samples")
    cpu_skip = None
    if summary.sent < MIN_CPU_REQUESTS or wall < MIN_CPU_SECONDS:
        cpu_skip = (
            f"{summary.sent} requests over {wall:.2f} s: too little to judge (needs "
            f"{MIN_CPU_REQUESTS} requests and {MIN_CPU_SECONDS:g} s)"
        )
    signals = [
        _signal("scheduling_delay_ms_p99", delay_p99, LIMIT_SCHEDULING_DELAY_MS, delay_skip),
        _signal("loop_lag_ms_p99", lag_p99, LIMIT_LOOP_LAG_MS, lag_skip),
        _signal("cpu_busy", busy, LIMIT_CPU_BUSY, cpu_skip),
    ]
    reasons = []
    for s in signals:
        if not s["fired"]:
            continue
        text = f"{s['name']} {s['value']:.4g} > {s['limit']:g}"
        if s["name"] == "scheduling_delay_ms_p99":
            if summary.waited_for_slot > summary.sent * 0.01:
                text += (
                    f": {summary.waited_for_slot} requests waited for a concurrency slot "
                    "(raise max_concurrency or lower the rate)"
                )
            else:
                text += ": the client could not keep the schedule"
        elif s["name"] == "loop_lag_ms_p99":
            text += ": worker event-loop lag"
        else:
            text += f": client processes {busy:.0%} busy"
        reasons.append(text)
    return {
        "workers": summary.workers,
        "sent_by_worker": {str(w): n for w, n in summary.sent_by_worker.items()},
        "lost_workers": {str(w): why for w, why in summary.lost_workers.items()},
        "cpu_seconds": round(summary.cpu_seconds, 4),
        "cpu_ms_per_request": round(per_request, 4) if per_request is not None else None,
        "cpu_busy": round(busy, 4),
        "loop_lag_ms_p99": round(lag_p99, 4) if lag_p99 is not None else None,
        "loop_lag_ms_max": round(lag_max, 4),
        "scheduling_delay_ms_p99": round(delay_p99, 4) if delay_p99 is not None else None,
        "timing_source": summary.timing_source,
        "signals": signals,
        "limited": bool(reasons),
        "reason": "; ".join(reasons) if reasons else None,
    }
