"""The Scheduler (parent process): runs one benchmark's strategy on the worker pool.

It computes intended send times ahead (open loop) or keeps every stream fed (closed loop),
ships requests to workers in batches, receives results in batches, enforces the stop
conditions, and measures the client itself: scheduling delay, CPU of every process, loop lag
(judged in :mod:`guidellm.scheduler.judgement`).
"""

from __future__ import annotations

import asyncio
import itertools
import math
import random
import time
from array import array
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from guidellm.request import GenerationRequest, RequestResult, RequestStatus
from guidellm.scheduler.delays import DelaySeries
from guidellm.scheduler.feed import RequestFeed
from guidellm.scheduler.judgement import live_limited
from guidellm.scheduler.ledger import Ledger
from guidellm.scheduler.limits import Limits
from guidellm.scheduler.protocol import (
    Done,
    End,
    Failed,
    Items,
    Results,
    Start,
    Stats,
    Stop,
    Streams,
)
from guidellm.scheduler.saturation import SaturationWatch
from guidellm.scheduler.summary import ScheduleSummary
from guidellm.scheduler.worker_loss import WorkerLoss, deal

if TYPE_CHECKING:
    from guidellm.scheduler.executor import WorkerPool
    from guidellm.scheduler.strategy import SchedulingStrategy

__all__ = ["Limits", "ScheduleSummary", "Scheduler"]

#: How far ahead of their send time open-loop requests are shipped to workers.
_LOOKAHEAD_S = 1.0
_TOPUP_S = 0.2
#: Delay from "go" to the first intended send, so the first batch is in the workers first.
_LEAD_S = 0.03
_FRAME_ITEMS = 128
#: Extra requests queued in each worker at a closed-loop benchmark's start.
_FIRST_FILL = 512

#: Results seen before max_error_rate is judged: one early error is not a rate.
_ERROR_RATE_MIN = 20
_ERRORED = RequestStatus.ERRORED
_SUCCESSFUL = RequestStatus.SUCCESSFUL


class Scheduler:
    """Runs benchmarks on a connected :class:`WorkerPool`, one :meth:`run` at a time."""

    def __init__(self, pool: WorkerPool) -> None:
        self.pool = pool
        self._run: _Run | None = None
        self.in_flight = 0

    def on_message(self, message: Any) -> None:
        """Route a worker's message to the running benchmark (the pool's callback)."""
        run = self._run
        if run is not None:
            run.on_message(message)

    async def run(
        self,
        index: int,
        strategy: SchedulingStrategy,
        requests: Iterator[GenerationRequest],
        *,
        on_result: Callable[[RequestResult], None],
        limits: Limits | None = None,
        rng: random.Random | None = None,
        keep_text: int = 0,
    ) -> ScheduleSummary:
        """Run ``strategy`` until the data ends, a stop condition fires or :meth:`stop`."""
        run = _Run(
            self.pool,
            index=index,
            strategy=strategy,
            requests=requests,
            on_result=on_result,
            limits=limits or Limits(),
            rng=rng,
            keep_text=keep_text,
        )
        self._run = run
        try:
            return await run.execute()
        finally:
            self._run = None

    def stop(self, reason: str) -> None:
        """Stop the running benchmark now: in-flight requests end as incomplete."""
        if self._run is not None:
            self._run.stop(reason)

    def live_limited(self) -> bool:
        """Whether the running benchmark is falling behind now
        (:func:`~guidellm.scheduler.judgement.live_limited` of its recent sends)."""
        run = self._run
        return run is not None and live_limited(run.delays.recent, open_loop=not run.closed)

    def started_at(self) -> float | None:
        """The running benchmark's start time (``time.perf_counter``), once it has begun."""
        run = self._run
        return getattr(run, "start_time", None) if run is not None else None

    def progress_counts(self) -> tuple[int, int]:
        """``(in_flight, sent)`` of the running benchmark, for live progress."""
        run = self._run
        if run is None:
            return (0, 0)
        return (run.in_flight(), run.feed.shipped)


class _Run(WorkerLoss):
    """One benchmark on the pool: feeding, stop conditions, collection."""

    def __init__(
        self,
        pool: WorkerPool,
        *,
        index: int,
        strategy: SchedulingStrategy,
        requests: Iterator[GenerationRequest],
        on_result: Callable[[RequestResult], None],
        limits: Limits,
        rng: random.Random | None,
        keep_text: int,
    ) -> None:
        self.pool = pool
        self.index = index
        self.strategy = strategy
        self.on_result = on_result
        self.limits = limits
        self.rng = rng or random.Random(42)
        self.keep_text = keep_text
        self.loop = asyncio.get_running_loop()
        self.done: asyncio.Future[None] = self.loop.create_future()
        self.stop_reason: str | None = None
        self.feed = RequestFeed(requests, limits)
        self.received = 0
        self.successful = self.errored = self.incomplete = 0
        self.completed_items = 0
        self.delays = DelaySeries()
        self.worker_stats: dict[int, Stats] = {}
        self.finished: dict[int, Done] = {}
        self.failure: str | None = None
        self._feed_handle: asyncio.TimerHandle | None = None
        self._stop_handle: asyncio.TimerHandle | None = None
        self._stage_handles: list[asyncio.TimerHandle] = []
        self._sat: SaturationWatch | None = None
        self.over_saturation: dict[str, Any] | None = None
        size = pool.size
        self.carry_on = limits.on_worker_loss == "continue"
        # Workers lost in an earlier benchmark: left out when the run carries on without them
        # (else the first thing this benchmark does is stop for them).
        alive = [w for w in range(size) if not (self.carry_on and w in pool.lost_workers)]
        alive = alive or list(range(size))
        self.closed = strategy.streams is not None
        self.share = [0] * size
        if self.closed:
            self.streams = int(strategy.streams or 1)
            # Concurrency stages: only as many workers as the smallest stage has streams, so
            # that every worker keeps at least one stream in every stage and never sits on a
            # queue of requests it may not send.
            stages = (n for _, n in strategy.stream_stages or [(0, size)])
            spread = max(1, min(len(alive), self.streams, *stages))
            self.participants = alive[:spread]
            for w, n in zip(self.participants, deal(self.streams, spread), strict=True):
                self.share[w] = n
        else:
            self.participants = list(alive)
            cap = strategy.max_concurrency
            for w in alive:
                self.share[w] = math.ceil(cap / len(alive)) if cap else 0
        #: Workers this benchmark may use: a lost one leaves; an idle one may join.
        self.alive = alive
        self._ended = False
        #: Requests moved from a lost worker that no worker was left to send.
        self.unplaced = 0
        self.outstanding = [0] * size
        self.ledger = Ledger(size, [pool.launched(w) for w in range(size)])
        #: Workers lost during this benchmark, with how.
        self.lost_workers: dict[int, str] = {}

    def in_flight(self) -> int:
        if self.worker_stats:
            return sum(s.in_flight for s in self.worker_stats.values())
        return max(0, self.feed.shipped - self.received)

    # -- main --------------------------------------------------------------------------------

    async def execute(self) -> ScheduleSummary:
        cpu0, wall0 = time.process_time(), time.perf_counter()
        if not self.closed:
            # The first request is read before the clock starts: a replay skipping the first
            # hours of a trace reads (and builds) every skipped row here, not late.
            if self.strategy.timed_by_data:
                self._pairs: Iterator[tuple[float, GenerationRequest]] = self.feed.timed_by_data(
                    self.strategy
                )
            else:
                self._pairs = self.feed.timed_by_strategy(self.strategy, self.rng)
            self._pending = next(self._pairs, None)
            self._rr = itertools.cycle(self.participants)
        self.start_time = start = time.perf_counter() + _LEAD_S
        for w in self.participants:
            self.pool.send(
                w,
                Start(
                    index=self.index,
                    start_time=start,
                    streams=self.share[w] if self.closed else 0,
                    max_concurrency=self.share[w],
                    keep_text=self.keep_text,
                ),
            )
        if self.limits.max_seconds is not None:
            self._stop_handle = self.loop.call_at(
                self.loop.time() + _LEAD_S + self.limits.max_seconds,
                self.stop,
                "max_seconds",
            )
        if self.strategy.stream_stages:
            self._schedule_stages(start)
        if self.limits.stop_on_saturation and not self.closed:  # a closed loop caps in flight
            self._sat = SaturationWatch(
                self.loop, start, self.in_flight, self.ledger.oldest_due, self._over_saturated
            )
        for w, why in self.pool.lost_workers.items():  # lost between benchmarks
            if w in self.participants:
                self._worker_lost(w, why)
        if self.closed:
            if self.stop_reason is None:
                self._refill_all()
        else:
            self._top_up()
        try:
            await self.done
        finally:
            for handle in (self._feed_handle, self._stop_handle, *self._stage_handles):
                if handle is not None:
                    handle.cancel()
            if self._sat is not None:
                self._sat.cancel()
        end = time.perf_counter()
        if self.stop_reason == "max_seconds" and self.limits.max_seconds is not None:
            end = min(end, start + self.limits.max_seconds)
        elif self.stop_reason == "schedule_complete" and self.strategy.duration is not None:
            end = min(end, start + self.strategy.duration)
        lags = array("d")
        worker_cpu = 0.0
        waited = 0
        sources = {d.timing_source for d in self.finished.values() if d.timing_source}
        for d in self.finished.values():
            lags.extend(d.loop_lags_ms)
            worker_cpu += d.cpu_seconds
            waited += d.waited_for_slot
        return ScheduleSummary(
            start_time=start,
            end_time=end,
            stop_reason=self.stop_reason or self.feed.end_reason,
            sent=sum(d.sent for d in self.finished.values()),
            completed=self.received,
            successful=self.successful,
            errored=self.errored,
            incomplete=self.incomplete,
            completed_items=self.completed_items,
            workers=len(self.finished),
            sent_by_worker={w: d.sent for w, d in sorted(self.finished.items())},
            lost_workers=dict(self.lost_workers),
            cores=getattr(self.pool, "cores", None),
            unplaced=self.unplaced,
            cpu_seconds=worker_cpu + time.process_time() - cpu0,
            cpu_wall_seconds=time.perf_counter() - wall0,
            loop_lags_ms=lags,
            timing_source=sources.pop() if len(sources) == 1 else ("mixed" if sources else None),
            scheduling_delays_ms=self.delays.values(),
            waited_for_slot=waited,
            open_loop=not self.closed,
            failure=self.failure,
            over_saturation=self.over_saturation,
        )

    # -- feeding -----------------------------------------------------------------------------

    def _schedule_stages(self, start: float) -> None:
        """Closed-loop stages: each worker's share of streams at each stage's start, and the
        benchmark's end with the last stage (what is in flight then is cancelled)."""
        lead = self.loop.time() - time.perf_counter()  # perf_counter -> loop clock
        for offset, streams in self.strategy.stream_stages or []:
            if offset <= 0:
                self._deal_streams(streams, start + offset)
            else:
                self._stage_handles.append(
                    self.loop.call_at(
                        start + offset + lead, self._deal_streams, streams, start + offset
                    )
                )
        if self.strategy.duration is not None:
            self._stage_handles.append(
                self.loop.call_at(
                    start + self.strategy.duration + lead, self.stop, "schedule_complete"
                )
            )

    def _deal_streams(self, streams: int, at: float, workers: list[int] | None = None) -> None:
        """Closed loop: ``streams`` dealt over ``workers`` (those taking part), free from
        ``at``."""
        self.streams = streams
        workers = self.participants if workers is None else workers
        for w, share in zip(workers, deal(streams, len(workers)), strict=True):
            self.share[w] = share
            self.pool.send(w, Streams(self.index, share, at))

    def _end_all(self) -> None:
        self._ended = True
        for w in self.participants:
            self.pool.send(w, End(self.index))

    def _refill_all(self) -> None:
        """The first fill: deep (the parent may be busy for a moment right after the start,
        and streams must not starve meanwhile) and dealt round-robin, so that a short run or
        a small dataset still spreads over every worker."""
        size = self.pool.size
        batches: list[list[GenerationRequest]] = [[] for _ in range(size)]
        # Not on a pool whose lost worker loses all it held (Ray): there, depth costs.
        extra = 0 if getattr(self.pool, "loss_is_uncertain", False) else _FIRST_FILL
        targets = {w: 4 * self.share[w] + 64 + extra for w in self.participants}
        while targets and not self.feed.over():
            for w in list(targets):
                got = self.feed.take(min(self.share[w], targets[w] - len(batches[w])))
                batches[w].extend(got)
                if len(batches[w]) >= targets[w] or not got:
                    del targets[w]
        shipped = self.ledger.shipped
        for w in self.participants:
            batch = batches[w]
            self.outstanding[w] += len(batch)
            for request in batch:
                shipped(w, 0.0, request)
            self._ship(w, [], batch)
        if self.feed.over():
            self._end_all()

    def _refill(self, w: int) -> None:
        """Closed loop: keep each worker's queue a little longer than its streams."""
        want = 4 * self.share[w] + 64 - self.outstanding[w]
        if want <= 0:
            return
        batch = self.feed.take(want)
        if batch:
            self.outstanding[w] += len(batch)
            shipped = self.ledger.shipped
            for request in batch:
                shipped(w, 0.0, request)
            self.pool.send(w, Items(self.index, [], batch))

    def _top_up(self) -> None:
        """Open loop: ship every request due before now + lookahead, round-robin."""
        self._feed_handle = None
        if self.stop_reason is not None:
            return
        start = self.start_time
        horizon = time.perf_counter() + _LOOKAHEAD_S - start  # as an offset, like ``pending``
        limit = self.limits.max_seconds
        deadline = limit if limit is not None else math.inf
        size = self.pool.size
        times: list[list[float]] = [[] for _ in range(size)]
        batches: list[list[GenerationRequest]] = [[] for _ in range(size)]
        pending = self._pending
        shipped = self.ledger.shipped
        while pending is not None and pending[0] <= horizon:
            offset, request = pending
            if offset >= deadline:
                # Nothing more is due inside the time limit; the request read is not sent.
                self.feed.unship(request)
                pending = None
                self.feed.end("max_seconds")
                break
            t = start + offset
            w = next(self._rr)
            times[w].append(t)
            batches[w].append(request)
            shipped(w, t, request)
            pending = next(self._pairs, None)
        self._pending = pending
        for w in range(size):
            if batches[w]:
                self._ship(w, times[w], batches[w])
        if pending is not None:  # read but not due yet (counted in ``shipped`` already)
            self._feed_handle = self.loop.call_later(_TOPUP_S, self._top_up)
            return
        if not self.feed.over():
            self.feed.end("data_exhausted")
        duration = self.strategy.duration
        if self.feed.end_reason == "schedule_complete" and duration is not None:
            # A schedule that ends in a pause (a last stage at rate 0) lasts to its end.
            wait = start + min(duration, deadline) - time.perf_counter()
            if wait > 0:
                self._feed_handle = self.loop.call_later(wait, self._end_all)
                return
        self._end_all()

    # -- collection --------------------------------------------------------------------------

    def on_message(self, message: Any) -> None:
        if isinstance(message, Results):
            if message.index != self.index:
                return
            self._collect(message.results)
        elif isinstance(message, Stats):
            if message.worker not in self.lost_workers:
                self.worker_stats[message.worker] = message
        elif isinstance(message, Done):
            if message.index == self.index:
                self.finished[message.worker] = message
                if self.carry_on and self.stop_reason is None:
                    # Moved to it while its Done was on the way: never sent, sent elsewhere.
                    self._place(self.ledger.take_back(message.worker))
                self._maybe_done()
        elif isinstance(message, Failed):
            self._worker_lost(message.worker, message.error)

    def _ship(self, w: int, times: list[float], requests: list[GenerationRequest]) -> None:
        """Frames of a few hundred requests: a worker starts on the first while the rest are
        still in the pipe."""
        for i in range(0, len(requests), _FRAME_ITEMS):
            part = times[i : i + _FRAME_ITEMS] if times else []
            self.pool.send(w, Items(self.index, part, requests[i : i + _FRAME_ITEMS]))

    def _maybe_done(self) -> None:
        if all(w in self.finished for w in self.participants) and not self.done.done():
            self.done.set_result(None)

    def _collect(self, results: list[RequestResult]) -> None:
        on_result = self.on_result
        delays = self.delays.recent
        max_errors = self.limits.max_errors
        worker = results[0].worker if results else 0
        self.ledger.settled(worker, results)
        continuing = 0  # a session's turns that leave it running: its stream stays busy
        done = 0
        for r in results:
            if r.turn and not r.session_end:
                continuing += 1
            status = r.status
            if status == _SUCCESSFUL:
                self.successful += 1
                if not r.turn or (r.session_end and r.turn >= r.session_turns):
                    done += 1
            elif status == _ERRORED:
                self.errored += 1
            else:
                self.incomplete += 1
            delays.append((r.request_start - r.scheduled_time) * 1000.0)
            on_result(r)
        self.delays.settle()
        self.received += len(results)
        self.completed_items += done
        if self._sat is not None:  # one append per batch: read once a second
            self._sat.batches.append(results)
        if max_errors is not None and self.errored >= max_errors:
            self.stop("max_errors")
        rate = self.limits.max_error_rate
        received = self.received
        if rate is not None and received >= _ERROR_RATE_MIN and self.errored > rate * received:
            self.stop("max_error_rate")
        if self.closed and self.stop_reason is None:
            self.outstanding[worker] -= len(results) - continuing
            if not self.feed.over():
                self._refill(worker)
                if self.feed.over():
                    self._end_all()

    def _over_saturated(self, evidence: dict[str, Any]) -> None:
        self.over_saturation = evidence
        self.stop("over_saturated")

    def stop(self, reason: str) -> None:
        if self.stop_reason is not None or self.done.done():
            return
        self.stop_reason = reason
        if self._feed_handle is not None:
            self._feed_handle.cancel()
            self._feed_handle = None
        for w in self.participants:
            self.pool.send(w, Stop(self.index))
