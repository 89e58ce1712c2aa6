"""The first-token and stall deadlines of one request, shared by every built-in backend.

A task or timer per network read would cost more than the read itself, so a request gets one
loop timer that does nothing per chunk: when it fires it reads the recorder's
``last_token_time`` and, if the deadline moved on meanwhile, re-arms itself for the new one.
Only a deadline that really passed ends the request, through the ``expire`` callable the
backend gives (cancel its task, or abort its call); the backend then sees the cancellation,
finds :attr:`Watchdog.fired` set and raises its own error for that deadline.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

from guidellm.request import now

if TYPE_CHECKING:
    from guidellm.request import ResponseRecorder

__all__ = ["FIRST_TOKEN", "STALL", "Watchdog"]

#: :attr:`Watchdog.fired` when no content came within ``first`` seconds of the start.
FIRST_TOKEN = "first_token"
#: :attr:`Watchdog.fired` when content stopped for ``stall`` seconds mid-stream.
STALL = "stall"


class Watchdog:
    """One lazily re-armed timer enforcing ``first`` (seconds from ``start`` to the first
    content) and ``stall`` (longest gap between contents); ``None`` disables either.

    Before the first content only the first-token deadline applies: a long prefill is not a
    stall. ``start`` defaults to the recorder's ``request_start``. Call :meth:`close` when the
    response is complete so that no deadline can fail it afterwards.
    """

    __slots__ = ("expire", "fired", "first", "handle", "loop", "recorder", "stall", "start")

    def __init__(
        self,
        recorder: ResponseRecorder,
        first: float | None,
        stall: float | None,
        expire: Callable[[], object],
        *,
        start: float | None = None,
    ) -> None:
        self.recorder = recorder
        self.first = first
        self.stall = stall
        self.expire = expire
        self.start = recorder.request_start if start is None else start
        #: Which deadline passed (:data:`FIRST_TOKEN` or :data:`STALL`), else ``None``.
        self.fired: str | None = None
        self.handle: asyncio.TimerHandle | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        if first is None and stall is None:
            return
        self.loop = asyncio.get_running_loop()
        self._arm()

    def _arm(self) -> None:
        loop = self.loop
        if loop is None:
            return
        last = self.recorder.last_token_time
        if last is None:
            if self.first is not None:
                deadline = self.start + self.first
                kind = FIRST_TOKEN
            elif self.stall is not None:
                self.handle = loop.call_later(self.stall, self._arm)  # look again later
                return
            else:
                return
        elif self.stall is not None:
            deadline = last + self.stall
            kind = STALL
        else:
            return
        remaining = deadline - now()
        if remaining > 0:
            self.handle = loop.call_later(remaining, self._arm)
            return
        self.fired = kind
        self.expire()

    def close(self) -> None:
        """Stop the timer (the response is complete, or the request ended)."""
        if self.handle is not None:
            self.handle.cancel()
