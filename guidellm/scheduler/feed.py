"""RequestFeed: what a benchmark reads from its data, within its limits.

It counts requests (a session's turns one each) and items (sessions or requests) as they are
taken, so the Scheduler knows when ``max_requests``, ``max_sessions`` or the data's end closes
the feed and why; in an open loop it pairs each request with its send time, from the
strategy's arrivals or from the data's own timestamps (a replay).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import TYPE_CHECKING

from guidellm.scheduler.sessions import fit_turns

if TYPE_CHECKING:
    import random

    from guidellm.request import GenerationRequest
    from guidellm.scheduler.limits import Limits
    from guidellm.scheduler.strategy import SchedulingStrategy

__all__ = ["RequestFeed"]


class RequestFeed:
    """Requests taken from ``requests`` for one benchmark, counted against ``limits``."""

    def __init__(self, requests: Iterator[GenerationRequest], limits: Limits) -> None:
        self.requests = requests
        self.limits = limits
        #: Requests shipped (a session's turns count one each), and items (sessions or requests).
        self.shipped = 0
        self.items = 0
        self.exhausted = False
        self.end_reason = "completed"

    def take(self, count: int) -> list[GenerationRequest]:
        """Up to ``count`` items (requests or sessions), respecting ``max_requests``,
        ``max_sessions`` and the data's end. A session that would pass ``max_requests`` is
        shipped with the turns that fit (its planned length stays on it)."""
        limits = self.limits
        budget = None
        if limits.max_requests is not None:
            budget = limits.max_requests - self.shipped
            count = min(count, budget)
        if limits.max_sessions is not None:
            count = min(count, limits.max_sessions - self.items)
        if count <= 0 or self.exhausted:
            return []
        batch = list(itertools.islice(self.requests, count))
        if len(batch) < count:
            self.end("data_exhausted")
        units = len(batch)
        for r in batch:
            if r.turns:
                units += len(r.turns) - 1
        if budget is not None and units > budget:
            batch, units = fit_turns(batch, budget)
        self.shipped += units
        self.items += len(batch)
        return batch

    def unship(self, request: GenerationRequest) -> None:
        """``request`` was read but will not be sent."""
        self.shipped -= request.units
        self.items -= 1

    def end(self, reason: str) -> None:
        if not self.exhausted:
            self.exhausted = True
            self.end_reason = reason

    def over(self) -> bool:
        limits = self.limits
        return (
            self.exhausted
            or (limits.max_requests is not None and self.shipped >= limits.max_requests)
            or (limits.max_sessions is not None and self.items >= limits.max_sessions)
        )

    def timed_by_strategy(
        self, strategy: SchedulingStrategy, rng: random.Random
    ) -> Iterator[tuple[float, GenerationRequest]]:
        """Send times from the strategy, each taking the next request when it is due; the
        offsets ending is the schedule's end (a finite strategy: stages, a ramp)."""
        for offset in strategy.arrival_offsets(rng):
            got = self.take(1)
            if not got:
                return
            yield offset, got[0]
        self.end("schedule_complete")

    def timed_by_data(
        self, strategy: SchedulingStrategy
    ) -> Iterator[tuple[float, GenerationRequest]]:
        """Send times from the requests' own trace timestamps (``replay``), read one request
        at a time so that a trace is streamed, never held."""
        taken: list[GenerationRequest] = []

        def stamps() -> Iterator[float | None]:
            while got := self.take(1):
                taken.append(got[0])
                yield got[0].timestamp

        for offset in strategy.data_offsets(stamps()):
            request = taken.pop()
            if offset is None:  # before the replayed window: never sent
                self.unship(request)
                continue
            yield offset, request
