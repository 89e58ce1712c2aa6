"""Linux ``timerfd`` on ``CLOCK_MONOTONIC`` through ctypes: a deadline an event loop can poll.

Event loops keep time in milliseconds (uvloop) or round their poll timeout up to the next one
(asyncio); a timerfd armed at an absolute monotonic time becomes readable within tens of
microseconds of it and wakes the loop's poller, with no thread and no busy wait. The workers'
send timer (:mod:`guidellm.scheduler.timer`) and the mock server's token clock
(:mod:`guidellm.mock_server.timers`) are both built on :class:`TimerFD`. Standard library
only: nothing in guidellm is imported.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import sys
import time
from typing import Any, Literal

__all__ = ["TimerFD", "lower_timer_slack"]

_CLOCK_MONOTONIC = 1
_TFD_TIMER_ABSTIME = 1
_PR_SET_TIMERSLACK = 29


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


@functools.cache
def _libc() -> ctypes.CDLL | None:
    """The C library when it has timerfd (Linux), else ``None``; looked up once a process."""
    if not sys.platform.startswith("linux"):
        return None
    for name in (None, ctypes.util.find_library("c") or "libc.so.6"):
        try:
            lib = ctypes.CDLL(name, use_errno=True)
            lib.timerfd_create  # noqa: B018 - probe the symbols
            lib.timerfd_settime  # noqa: B018
        except (OSError, AttributeError):
            continue
        return lib
    return None


def lower_timer_slack(nanoseconds: int = 1) -> None:
    """Let the kernel wake this thread within ``nanoseconds`` of a timer (default slack: 50 us)."""
    lib = _libc()
    if lib is not None:
        lib.prctl(_PR_SET_TIMERSLACK, nanoseconds, 0, 0, 0)


class TimerFD:
    """One non-blocking, close-on-exec timerfd armed at absolute ``CLOCK_MONOTONIC`` times.

    :meth:`open` returns ``None`` where there is none (not Linux, or ``clock`` is not
    ``CLOCK_MONOTONIC`` here); callers fall back to the loop's timers. Watch :attr:`fd` for
    readability (``loop.add_reader``) and call :meth:`consume` when it is readable.
    """

    __slots__ = ("_settime", "_spec", "fd")

    def __init__(self, fd: int, settime: Any) -> None:
        self.fd = fd
        self._settime = settime
        self._spec = _Itimerspec()

    @classmethod
    def open(cls, clock: Literal["perf_counter", "monotonic"] = "perf_counter") -> TimerFD | None:
        """A timerfd for deadlines read from ``time.<clock>()``, or ``None`` when impossible."""
        lib = _libc()
        info = time.get_clock_info(clock).implementation
        if lib is None or not info.startswith("clock_gettime(CLOCK_MONOTONIC)"):
            return None
        fd = lib.timerfd_create(_CLOCK_MONOTONIC, os.O_NONBLOCK | os.O_CLOEXEC)
        return cls(fd, lib.timerfd_settime) if fd >= 0 else None

    def arm(self, deadline: float) -> None:
        """Fire at ``deadline`` (seconds); re-arming replaces the previous deadline."""
        spec = self._spec
        if deadline <= 0:
            deadline = 1e-9  # 0 would disarm; any past time fires at once
        sec = int(deadline)
        spec.it_value.tv_sec = sec
        spec.it_value.tv_nsec = max(1, int((deadline - sec) * 1e9))  # all zeros would disarm
        self._settime(self.fd, _TFD_TIMER_ABSTIME, ctypes.byref(spec), None)

    def disarm(self) -> None:
        """Cancel the pending deadline."""
        spec = self._spec
        spec.it_value.tv_sec = 0
        spec.it_value.tv_nsec = 0
        self._settime(self.fd, 0, ctypes.byref(spec), None)

    def consume(self) -> bool:
        """Read the expiry count; ``False`` when it was re-armed after becoming readable (the
        new deadline has not passed yet)."""
        try:
            os.read(self.fd, 8)
        except BlockingIOError:
            return False
        return True

    def close(self) -> None:
        """Close the descriptor (stop watching it first)."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
