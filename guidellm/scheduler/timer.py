"""A precise deadline timer for the event loop: Linux ``timerfd`` on ``CLOCK_MONOTONIC``.

The loop's own timers (libuv's in uvloop) have millisecond resolution, far too coarse for a
constant schedule at 1,000 requests/s. A timerfd armed at an absolute ``perf_counter`` time
(same clock) becomes readable within tens of microseconds of the deadline and wakes the loop's
poller, so no thread spins and nothing polls. Where timerfd is missing, :class:`DeadlineTimer`
falls back to ``loop.call_at`` a little early plus a short spin (a few hundred microseconds).
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import math
import os
import time
from collections.abc import Callable

__all__ = ["DeadlineTimer"]

_CLOCK_MONOTONIC = 1
_TFD_NONBLOCK = 0o4000
_TFD_CLOEXEC = 0o2000000
_TFD_TIMER_ABSTIME = 1
#: Fallback only: how early the loop timer wakes before the deadline, then spins.
_SPIN_S = 0.0015


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


def _libc() -> ctypes.CDLL | None:
    try:
        lib = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        lib.timerfd_create  # noqa: B018 - probe the symbol
        lib.timerfd_settime  # noqa: B018
    except (OSError, AttributeError):
        return None
    return lib


class DeadlineTimer:
    """Calls ``callback()`` once at (just after) each deadline set with :meth:`arm`.

    Re-arming replaces the previous deadline. Deadlines are ``time.perf_counter`` seconds.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
        self._loop = loop
        self._callback = callback
        self._fd = -1
        self._spec = _Itimerspec()
        self._handle: asyncio.TimerHandle | None = None
        self._deadline = math.inf
        lib = (
            _libc()
            if time.get_clock_info("perf_counter").implementation.startswith(
                "clock_gettime(CLOCK_MONOTONIC)"
            )
            else None
        )
        if lib is not None:
            fd = lib.timerfd_create(_CLOCK_MONOTONIC, _TFD_NONBLOCK | _TFD_CLOEXEC)
            if fd >= 0:
                self._fd = fd
                self._settime = lib.timerfd_settime
                loop.add_reader(fd, self._fired)

    @property
    def precise(self) -> bool:
        """Whether the timerfd path is in use (else the call_at + spin fallback)."""
        return self._fd >= 0

    def arm(self, deadline: float) -> None:
        self._deadline = deadline
        if self._fd >= 0:
            spec = self._spec
            if deadline <= 0:
                deadline = 1e-9  # 0 would disarm; any past time fires at once
            sec = int(deadline)
            spec.it_value.tv_sec = sec
            spec.it_value.tv_nsec = max(1, int((deadline - sec) * 1e9))
            self._settime(self._fd, _TFD_TIMER_ABSTIME, ctypes.byref(spec), None)
            return
        if self._handle is not None:
            self._handle.cancel()
        loop = self._loop
        delay = deadline - time.perf_counter() - _SPIN_S
        self._handle = loop.call_at(loop.time() + max(0.0, delay), self._spin)

    def disarm(self) -> None:
        self._deadline = math.inf
        if self._fd >= 0:
            spec = self._spec
            spec.it_value.tv_sec = 0
            spec.it_value.tv_nsec = 0
            self._settime(self._fd, 0, ctypes.byref(spec), None)
        elif self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _fired(self) -> None:
        try:
            os.read(self._fd, 8)
        except BlockingIOError:  # re-armed after it became readable: not due yet
            return
        self._callback()

    def _spin(self) -> None:
        self._handle = None
        deadline = self._deadline
        clock = time.perf_counter
        while clock() < deadline:
            pass
        self._callback()

    def close(self) -> None:
        if self._fd >= 0:
            self._loop.remove_reader(self._fd)
            os.close(self._fd)
            self._fd = -1
        elif self._handle is not None:
            self._handle.cancel()
