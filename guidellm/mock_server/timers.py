"""Run callbacks at absolute monotonic deadlines, with sub-millisecond precision.

The event loop's own timers are too coarse for a mock whose inter-token latency is a few
milliseconds: uvloop keeps time and timers in whole milliseconds, and the stdlib loop rounds
its epoll timeout up to the next millisecond, so a token would arrive up to 1 ms late (or
early). On Linux this module arms one :class:`~guidellm.timerfd.TimerFD` (timer slack lowered
to 1 us) for the earliest deadline of a heap and lets the loop watch its file
descriptor: the kernel wakes the loop on time without any busy-waiting. Elsewhere it falls
back to ``loop.call_at``. Deadlines are ``time.monotonic()`` seconds, the clock the client
measures with (``time.perf_counter`` is the same clock on Linux).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from typing import Any

from guidellm.timerfd import TimerFD, lower_timer_slack

__all__ = ["DeadlineScheduler"]


class DeadlineScheduler:
    """``call_at(deadline, callback, *args)`` on ``time.monotonic()`` deadlines.

    Create it on the loop's thread (it lowers that thread's timer slack); call :meth:`close`
    when the loop stops. Callbacks due within :attr:`EARLY_S` of now run together.
    """

    #: Callbacks due this close to "now" run in the same wake-up (saves a syscall round trip).
    EARLY_S = 20e-6

    def __init__(self, loop: asyncio.AbstractEventLoop, use_timerfd: bool = True) -> None:
        self._loop = loop
        self._heap: list[tuple[float, int, Callable[..., None], tuple[Any, ...]]] = []
        self._seq = itertools.count()
        self._armed: float | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._running = False
        self._tfd = TimerFD.open("monotonic") if use_timerfd else None
        if self._tfd is not None:
            lower_timer_slack(1)
            loop.add_reader(self._tfd.fd, self._on_timerfd)

    @property
    def precise(self) -> bool:
        """True when deadlines are kept by a ``timerfd`` rather than the loop's timers."""
        return self._tfd is not None

    def call_at(self, deadline: float, callback: Callable[..., None], *args: Any) -> None:
        """Run ``callback(*args)`` on the loop at ``deadline`` (``time.monotonic()`` seconds)."""
        heapq.heappush(self._heap, (deadline, next(self._seq), callback, args))
        if not self._running and (self._armed is None or deadline < self._armed):
            self._arm(deadline)

    def close(self) -> None:
        """Stop watching the timer and drop pending callbacks."""
        self._heap.clear()
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if self._tfd is not None:
            self._loop.remove_reader(self._tfd.fd)
            self._tfd.close()
            self._tfd = None

    def _arm(self, deadline: float) -> None:
        self._armed = deadline
        if self._tfd is not None:
            self._tfd.arm(deadline)
        else:
            if self._handle is not None:
                self._handle.cancel()
            delay = deadline - time.monotonic()
            self._handle = self._loop.call_at(self._loop.time() + delay, self._run_due)

    def _on_timerfd(self) -> None:
        if self._tfd is not None:
            self._tfd.consume()  # not due after all (re-armed)? _run_due then just re-arms
        self._run_due()

    def _run_due(self) -> None:
        self._handle = None
        self._armed = None
        heap = self._heap
        self._running = True
        try:
            now = time.monotonic() + self.EARLY_S
            while heap and heap[0][0] <= now:
                _, _, callback, args = heapq.heappop(heap)
                callback(*args)
                if not heap or heap[0][0] > now:
                    now = time.monotonic() + self.EARLY_S
        finally:
            self._running = False
            if heap:
                self._arm(heap[0][0])
