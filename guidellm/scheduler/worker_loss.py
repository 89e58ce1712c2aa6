"""WorkerLoss: what a benchmark does when one of its workers is lost mid-run.

The Ledger says which of the lost worker's requests were on the wire (they end as
``worker_lost``) and which it never sent. With ``on_worker_loss="stop"`` the benchmark stops;
with ``"continue"`` the unsent requests go to the workers still running (open loop: at their
intended send times), a closed loop's streams are dealt over them, and when none is left
running idle workers join the benchmark. It fails only when no worker is left at all.

A mixin of the Scheduler's per-benchmark run (``guidellm.scheduler.scheduler``), which owns
the state it reads: the pool, the ledger, the workers taking part and those finished.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from guidellm.scheduler.protocol import Done, End, Start

if TYPE_CHECKING:
    from guidellm.request import GenerationRequest, RequestResult
    from guidellm.scheduler.executor import WorkerPool
    from guidellm.scheduler.feed import RequestFeed
    from guidellm.scheduler.ledger import Ledger
    from guidellm.scheduler.protocol import Stats

__all__ = ["WorkerLoss", "deal"]


def deal(streams: int, workers: int) -> list[int]:
    """``streams`` dealt over ``workers``: the first ``streams % workers`` get one more."""
    return [streams // workers + (1 if i < streams % workers else 0) for i in range(workers)]


class WorkerLoss:
    """The lost-worker handling of a benchmark run (see the module docstring)."""

    pool: WorkerPool
    index: int
    ledger: Ledger
    feed: RequestFeed
    closed: bool
    carry_on: bool
    streams: int
    share: list[int]
    outstanding: list[int]
    participants: list[int]
    alive: list[int]
    finished: dict[int, Done]
    lost_workers: dict[int, str]
    worker_stats: dict[int, Stats]
    stop_reason: str | None
    failure: str | None
    keep_text: int
    unplaced: int
    incomplete: int
    received: int
    on_result: Callable[[RequestResult], None]
    _ended: bool
    _rr: Iterator[int]
    # The run's own steps this handling calls (methods of the run).
    stop: Callable[[str], None]
    _maybe_done: Callable[[], None]
    _deal_streams: Callable[..., None]
    _refill: Callable[[int], None]
    _ship: Callable[[int, list[float], list[GenerationRequest]], None]

    def _worker_lost(self, worker: int, reason: str) -> None:
        """A worker died or froze: what it had on the wire ends as ``worker_lost``. Then
        either the benchmark stops (the others cancel theirs and report them), or it goes
        on without that worker: what it held unsent goes to the others, as do its streams.
        """
        if worker in self.lost_workers:
            return
        self.lost_workers[worker] = reason
        unsent: list[tuple[float, GenerationRequest]] = []
        if worker not in self.finished:
            launched = self.pool.launched(worker)
            lost, unsent = self.ledger.lost(
                worker,
                launched,
                time.perf_counter(),
                reason,
                uncertain=getattr(self.pool, "loss_is_uncertain", False),
            )
            # Counted like any result, but not timed: they carry no scheduling delay.
            self.incomplete += len(lost)
            self.received += len(lost)
            for result in lost:
                self.on_result(result)
            sent = self.ledger.received[worker] + len(lost)
            self.finished[worker] = Done(self.index, worker, 0.0, [], sent, 0)
        self.worker_stats.pop(worker, None)  # its last in-flight count is no longer true
        took_part = worker in self.participants
        self.participants = [w for w in self.participants if w != worker]
        self.alive = [w for w in self.alive if w != worker]
        carried = True
        if self.carry_on and took_part and self.stop_reason is None:
            if self.closed:
                self.outstanding[worker] = 0
            carried = self._place(unsent, streams=self.closed)
            if self.participants:
                self._rr = itertools.cycle(self.participants)
        if not self.carry_on or not carried:
            self.failure = reason
            self.stop(f"worker failed: {reason}")
        self._maybe_done()

    def _place(self, unsent: list[tuple[float, GenerationRequest]], streams: bool = False) -> bool:
        """Send ``unsent`` (a lost worker's, or what reached a worker after its Done) on the
        workers still running, and with ``streams`` deal the benchmark's streams over them
        (closed loop). None left running: idle workers join when there are some, else the
        requests are counted in :attr:`unplaced` (never sent). False: no worker is left."""
        gone = self.pool.lost_workers
        targets = [w for w in self.participants if w not in self.finished and w not in gone]
        if not targets and (unsent or (self.closed and not self.feed.over())):
            targets = self._recruit()
        if not targets:
            self.unplaced += len(unsent)
            return any(w not in gone for w in self.participants)
        if streams:
            self._deal_streams(self.streams, time.perf_counter(), targets)
        shipped = self.ledger.shipped
        for k, w in enumerate(targets):
            mine = unsent[k :: len(targets)]
            if not mine:
                continue
            for t, request in mine:
                shipped(w, t, request)
            if self.closed:
                self.outstanding[w] += len(mine)
            else:
                self.ledger.reorder(w)  # the worker merges them in by send time too
            self._ship(w, [] if self.closed else [t for t, _ in mine], [r for _, r in mine])
        if self.closed and not self.feed.over():
            for w in targets:
                self._refill(w)
        if self._ended or (self.closed and self.feed.over()):
            for w in targets:  # End again is harmless: the worker only marks it
                self.pool.send(w, End(self.index))
            self._ended = True
        return True

    def _recruit(self) -> list[int]:
        """Idle workers (alive, not taking part yet) join the running benchmark: as many as
        the streams need at the connections each was sized for (closed loop), else one."""
        gone = self.pool.lost_workers
        idle = [
            w
            for w in self.alive
            if w not in self.participants and w not in self.finished and w not in gone
        ]
        per_worker = max(1, int(getattr(self.pool, "concurrency", 0) or 1))
        count = math.ceil(self.streams / per_worker) if self.closed else 1
        joining = idle[: max(1, min(count, self.streams if self.closed else 1))]
        shares = deal(self.streams, len(joining)) if self.closed else [0] * len(joining)
        for w, streams in zip(joining, shares, strict=True):
            self.share[w] = streams or self.share[w]
            self.participants.append(w)
            self.pool.send(
                w,
                Start(
                    index=self.index,
                    start_time=time.perf_counter(),
                    streams=streams,
                    max_concurrency=self.share[w],
                    keep_text=self.keep_text,
                ),
            )
        return joining
