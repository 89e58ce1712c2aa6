"""A precise deadline timer for the event loop: Linux ``timerfd`` on ``CLOCK_MONOTONIC``.

The loop's own timers (libuv's in uvloop) have millisecond resolution, far too coarse for a
constant schedule at 1,000 requests/s. A timerfd armed at an absolute ``perf_counter`` time
(same clock) becomes readable within tens of microseconds of the deadline and wakes the loop's
poller, so no thread spins and nothing polls. Where timerfd is missing, :class:`DeadlineTimer`
falls back to ``loop.call_at`` a little early plus a short spin (a few hundred microseconds).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable

from guidellm.timerfd import TimerFD

__all__ = ["DeadlineTimer"]

#: Fallback only: how early the loop timer wakes before the deadline, then spins.
_SPIN_S = 0.0015


class DeadlineTimer:
    """Calls ``callback()`` once at (just after) each deadline set with :meth:`arm`.

    Re-arming replaces the previous deadline. Deadlines are ``time.perf_counter`` seconds.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
        self._loop = loop
        self._callback = callback
        self._handle: asyncio.TimerHandle | None = None
        self._deadline = math.inf
        self._tfd = TimerFD.open("perf_counter")
        if self._tfd is not None:
            loop.add_reader(self._tfd.fd, self._fired)

    @property
    def precise(self) -> bool:
        """Whether the timerfd path is in use (else the call_at + spin fallback)."""
        return self._tfd is not None

    def arm(self, deadline: float) -> None:
        self._deadline = deadline
        if self._tfd is not None:
            self._tfd.arm(deadline)
            return
        if self._handle is not None:
            self._handle.cancel()
        loop = self._loop
        delay = deadline - time.perf_counter() - _SPIN_S
        self._handle = loop.call_at(loop.time() + max(0.0, delay), self._spin)

    def disarm(self) -> None:
        self._deadline = math.inf
        if self._tfd is not None:
            self._tfd.disarm()
        elif self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _fired(self) -> None:
        if self._tfd is not None and self._tfd.consume():  # else re-armed: not due yet
            self._callback()

    def _spin(self) -> None:
        self._handle = None
        deadline = self._deadline
        clock = time.perf_counter
        while clock() < deadline:
            pass
        self._callback()

    def close(self) -> None:
        if self._tfd is not None:
            self._loop.remove_reader(self._tfd.fd)
            self._tfd.close()
            self._tfd = None
        elif self._handle is not None:
            self._handle.cancel()
