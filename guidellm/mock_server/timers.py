"""Run callbacks at absolute monotonic deadlines, with sub-millisecond precision.

The event loop's own timers are too coarse for a mock whose inter-token latency is a few
milliseconds: uvloop keeps time and timers in whole milliseconds, and the stdlib loop rounds
its epoll timeout up to the next millisecond, so a token would arrive up to 1 ms late (or
early). On Linux this module arms one ``timerfd`` (CLOCK_MONOTONIC, absolute nanoseconds, timer
slack lowered to 1 us) for the earliest deadline of a heap and lets the loop watch its file
descriptor: the kernel wakes the loop on time without any busy-waiting. Elsewhere it falls
back to ``loop.call_at``. Deadlines are ``time.monotonic()`` seconds, the clock the client
measures with (``time.perf_counter`` is the same clock on Linux).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import heapq
import itertools
import os
import sys
import time
from collections.abc import Callable
from typing import Any

__all__ = ["DeadlineScheduler"]

_CLOCK_MONOTONIC = 1
_TFD_NONBLOCK = os.O_NONBLOCK
_TFD_CLOEXEC = 0o2000000
_TFD_TIMER_ABSTIME = 1
_PR_SET_TIMERSLACK = 29


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


def _libc() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.timerfd_create  # noqa: B018 - probe the symbol
    except (OSError, AttributeError):
        return None
    return libc


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
        self._fd = -1
        self._libc = _libc() if use_timerfd else None
        self._handle: asyncio.TimerHandle | None = None
        self._running = False
        if self._libc is not None:
            fd = self._libc.timerfd_create(_CLOCK_MONOTONIC, _TFD_NONBLOCK | _TFD_CLOEXEC)
            if fd >= 0:
                self._fd = fd
                self._libc.prctl(_PR_SET_TIMERSLACK, 1, 0, 0, 0)
                self._spec = _Itimerspec()
                loop.add_reader(fd, self._on_timerfd)

    @property
    def precise(self) -> bool:
        """True when deadlines are kept by a ``timerfd`` rather than the loop's timers."""
        return self._fd >= 0

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
        if self._fd >= 0:
            self._loop.remove_reader(self._fd)
            os.close(self._fd)
            self._fd = -1

    def _arm(self, deadline: float) -> None:
        self._armed = deadline
        if self._fd >= 0 and self._libc is not None:
            ns = int(deadline * 1e9)
            spec = self._spec
            spec.it_value.tv_sec = ns // 1_000_000_000
            spec.it_value.tv_nsec = ns % 1_000_000_000 or 1  # all zeros would disarm
            self._libc.timerfd_settime(self._fd, _TFD_TIMER_ABSTIME, ctypes.byref(spec), None)
        else:
            if self._handle is not None:
                self._handle.cancel()
            delay = deadline - time.monotonic()
            self._handle = self._loop.call_at(self._loop.time() + delay, self._run_due)

    def _on_timerfd(self) -> None:
        with contextlib.suppress(BlockingIOError):
            os.read(self._fd, 8)
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
