"""Clock offsets between the driver and a worker on another host.

A worker reads its host's monotonic clock; another host's starts elsewhere. The driver measures
each worker's offset (its clock minus the driver's, the tightest of several round trips: the
true offset is within half that round trip of the estimate) and, when it is larger than that
bound, shifts the times crossing to the worker (send times, a benchmark's start, a stage's
start) by the offset and the times coming back (every timestamp of a result) by its negative.
Latencies, differences on one host, do not change; the merged results share the driver's time
base. Actors on the driver's host share its clock: their offset is within the bound and nothing
is shifted.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import msgspec

from guidellm.request import RequestResult, now
from guidellm.scheduler.protocol import Items, Results, Start, Streams

__all__ = ["ClockOffset", "from_worker", "measure", "to_worker"]

#: Round trips measured per estimate (the tightest is kept).
SAMPLES = 7


@dataclass(frozen=True)
class ClockOffset:
    """A worker's clock minus the driver's (seconds), and how far off it may be."""

    offset: float = 0.0
    bound: float = 0.0

    @property
    def shifted(self) -> bool:
        """Whether times must be shifted: the clocks measurably differ."""
        return abs(self.offset) > self.bound


async def measure(clock: Callable[[], Awaitable[float]], samples: int = SAMPLES) -> ClockOffset:
    """The offset of the clock ``clock()`` reads remotely, from the tightest round trip."""
    best: ClockOffset | None = None
    for _ in range(samples):
        t0 = now()
        remote = await clock()
        t1 = now()
        half = (t1 - t0) / 2
        if best is None or half < best.bound:
            best = ClockOffset(remote - (t0 + half), half)
    assert best is not None
    return best


def to_worker(message: object, offset: float) -> object:
    """``message`` (driver to worker) with its times on the worker's clock."""
    if isinstance(message, Items):
        return Items(message.index, [t + offset for t in message.times], message.requests)
    if isinstance(message, Start):
        return msgspec.structs.replace(message, start_time=message.start_time + offset)
    if isinstance(message, Streams):
        return msgspec.structs.replace(message, at=message.at + offset)
    return message


def _result(r: RequestResult, back: float) -> RequestResult:
    first, last = r.first_token_time, r.last_token_time
    return msgspec.structs.replace(
        r,
        scheduled_time=r.scheduled_time - back,
        request_start=r.request_start - back,
        request_end=r.request_end - back,
        first_token_time=None if first is None else first - back,
        last_token_time=None if last is None else last - back,
        chunk_times=[t - back for t in r.chunk_times],
    )


def from_worker(message: object, offset: float) -> object:
    """``message`` (worker to driver) with its results' times on the driver's clock."""
    if isinstance(message, Results):
        return Results(message.index, [_result(r, offset) for r in message.results])
    return message
