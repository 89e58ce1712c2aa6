"""The client's judgement of itself: could it keep the schedule, or do the numbers describe it?

A load generator that falls behind its own schedule measures itself, not the server. Two
verdicts come from the same measurements and the same thresholds: :func:`judge`, once per
benchmark, for the report's ``client`` mapping (and its ``client-limited`` warning), and
:func:`live_limited`, a few times a second, for the progress display while the run goes on.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from guidellm.percentile import percentile

if TYPE_CHECKING:
    from guidellm.scheduler.scheduler import ScheduleSummary

__all__ = [
    "LIMIT_CPU_BUSY",
    "LIMIT_LOOP_LAG_MS",
    "LIMIT_SCHEDULING_DELAY_MS",
    "LIVE_MIN_SENDS",
    "LIVE_SENDS",
    "judge",
    "live_limited",
]

#: The client judges itself limited past these: then the client, not the server, sets the
#: pace (sends leave late, so the load offered is not the one asked for, or answers are read
#: late).
LIMIT_SCHEDULING_DELAY_MS = 10.0
LIMIT_LOOP_LAG_MS = 10.0
LIMIT_CPU_BUSY = 0.9
#: The live verdict reads the last this many sends: the present, not an early backlog.
LIVE_SENDS = 1000
#: ... and says nothing before this many (p99 of a handful is their maximum).
LIVE_MIN_SENDS = 20


def live_limited(delays_ms: Sequence[float]) -> bool:
    """Whether the client is falling behind now: p99 of the last :data:`LIVE_SENDS`
    scheduling delays past :data:`LIMIT_SCHEDULING_DELAY_MS`. Cheap enough for the event
    loop (a sort of at most 1,000 floats, no numpy)."""
    if len(delays_ms) < LIVE_MIN_SENDS:
        return False
    recent = percentile(delays_ms[-LIVE_SENDS:], 99)
    return recent is not None and recent > LIMIT_SCHEDULING_DELAY_MS


def judge(summary: ScheduleSummary) -> dict[str, Any]:
    """The ``client`` mapping of the aggregator contract (docs/architecture.md) for a
    finished benchmark: scheduling delay, loop lag and CPU, with ``limited`` and why."""
    delay_p99 = percentile(summary.scheduling_delays_ms, 99)
    lag_p99 = percentile(summary.loop_lags_ms, 99)
    lag_max = max(summary.loop_lags_ms) if summary.loop_lags_ms else 0.0
    per_request = summary.cpu_seconds * 1000 / summary.completed if summary.completed else None
    # The parent and the workers can use at most one core each, and no more than exist.
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    busy = summary.cpu_seconds / (summary.duration * min(summary.workers + 1, cores))
    reasons = []
    # Closed loop too: there the delay is a free stream waiting for the parent's refill.
    if delay_p99 is not None and delay_p99 > LIMIT_SCHEDULING_DELAY_MS:
        if summary.waited_for_slot > summary.sent * 0.01:
            reasons.append(
                f"scheduling delay p99 {delay_p99:.1f} ms: {summary.waited_for_slot} requests "
                "waited for a concurrency slot (raise max_concurrency or lower the rate)"
            )
        else:
            reasons.append(
                f"scheduling delay p99 {delay_p99:.1f} ms: the client could not keep the schedule"
            )
    if lag_p99 is not None and lag_p99 > LIMIT_LOOP_LAG_MS:
        reasons.append(f"worker event-loop lag p99 {lag_p99:.1f} ms")
    if busy > LIMIT_CPU_BUSY:
        reasons.append(f"client processes {busy:.0%} busy")
    return {
        "workers": summary.workers,
        "cpu_seconds": round(summary.cpu_seconds, 4),
        "cpu_ms_per_request": round(per_request, 4) if per_request is not None else None,
        "loop_lag_ms_p99": round(lag_p99, 4) if lag_p99 is not None else None,
        "loop_lag_ms_max": round(lag_max, 4),
        "scheduling_delay_ms_p99": round(delay_p99, 4) if delay_p99 is not None else None,
        "limited": bool(reasons),
        "reason": "; ".join(reasons) if reasons else None,
    }
