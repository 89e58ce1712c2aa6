"""One keep-alive HTTP/1.1 client connection: its response parsed by ``httptools`` as bytes
arrive, each read's body bytes kept with their arrival time, and the read timeout of whoever
waits on it (:class:`ClientConnection`). The pool and the httpx interface are
:mod:`guidellm.backends.http_transport`'s.
"""

from __future__ import annotations

import asyncio
from collections import deque
from time import perf_counter

import httptools
import httpx

__all__ = ["HIGH_WATER", "ClientConnection", "fire_timeout", "request_timeout"]

#: Pause reading from a socket when this many body bytes wait for the reader.
HIGH_WATER = 1 << 20


def request_timeout(request: httpx.Request, key: str) -> float | None:
    value = request.extensions.get("timeout", {}).get(key)
    return None if value is None else float(value)


def fire_timeout(waiter: asyncio.Future[None], exc: Exception) -> None:
    if not waiter.done():
        waiter.set_exception(exc)


class ClientConnection(asyncio.Protocol):
    """One keep-alive connection; parses responses with httptools as bytes arrive."""

    def __init__(self, key: tuple[str, str, int]) -> None:
        self.key = key
        self.loop = asyncio.get_running_loop()
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.paused = False
        self.waiter: asyncio.Future[None] | None = None
        #: The read timeout of the pending wait (:meth:`wait`)
        self.idle_timer: asyncio.TimerHandle | None = None
        self.deadline = 0.0
        self.wait_for: tuple[float, str] = (0.0, "")
        self.request: httpx.Request | None = None
        #: The session whose turns this connection last carried (``affinity`` extension).
        self.owner: str | None = None
        self._reset()

    def _reset(self) -> None:
        self.status = 0
        self.reason = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.headers_done = False
        self.complete = False
        self.received = False
        #: body bytes of each socket read, with the time the read returned (``perf_counter``)
        self.reads: deque[tuple[bytes, float]] = deque()
        self.pieces: list[bytes] = []
        self.buffered = 0
        self.exc: Exception | None = None
        self.keep_alive = True
        self.until_close = False

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self.received_at(data, perf_counter())  # before parsing: when the bytes were read

    def received_at(self, data: bytes, arrived: float) -> None:
        """``data`` reached the socket at ``arrived`` (the kernel's stamp, else read time)."""
        self.received = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self.exc = httpx.RemoteProtocolError(
                f"malformed HTTP response: {exc}", request=self.request
            )
            self.close()
        pieces = self.pieces
        if pieces:
            # HTTP chunks of one read are one piece: they arrived together.
            body = pieces[0] if len(pieces) == 1 else b"".join(pieces)
            pieces.clear()
            self.reads.append((body, arrived))
            self.buffered += len(body)
            if self.buffered > HIGH_WATER and not self.paused and self.transport is not None:
                self.paused = True
                self.transport.pause_reading()
        self._wake()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.headers_done and self.until_close and not self.complete:
            self.complete = True  # a body delimited by the end of the connection
        elif not self.complete and self.exc is None:
            reason = f": {exc}" if exc else ""
            where = "mid-response" if self.headers_done else "before a response"
            self.exc = httpx.ReadError(
                f"connection closed by the server {where}{reason}", request=self.request
            )
        self._wake()

    def pause_writing(self) -> None:  # request bodies are small; nothing to throttle
        pass

    def resume_writing(self) -> None:
        pass

    # -- httptools callbacks ---------------------------------------------------------------

    def on_status(self, status: bytes) -> None:
        self.reason = status

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        parser = self.parser
        self.status = parser.get_status_code()
        self.keep_alive = parser.should_keep_alive()
        self.headers_done = True
        framed = False
        for name, value in self.headers:
            lname = name.lower()
            if lname == b"content-length" or (
                lname == b"transfer-encoding" and b"chunked" in value.lower()
            ):
                framed = True
        self.until_close = not framed and self.status not in (204, 304)

    def on_body(self, body: bytes) -> None:
        self.pieces.append(body)

    def on_message_complete(self) -> None:
        self.complete = True

    # -- used by the transport -------------------------------------------------------------

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.done():
                waiter.set_result(None)

    async def wait(self, timeout: float | None, what: str) -> None:
        """Wait for the next parser event; ``httpx.ReadTimeout`` after ``timeout`` seconds.

        Called once per read: instead of a timer (and its exception) per call, one timer per
        connection is moved on lazily (:meth:`_idle_check`); a read costs a clock read."""
        waiter: asyncio.Future[None] = self.loop.create_future()
        self.waiter = waiter
        if timeout is None:
            if self.idle_timer is not None:  # an earlier wait's deadline is not this one's
                self.idle_timer.cancel()
                self.idle_timer = None
            await waiter
            return
        loop = self.loop
        self.deadline = deadline = loop.time() + timeout
        self.wait_for = (timeout, what)
        timer = self.idle_timer
        if timer is None or deadline < timer.when():  # none, or set for a longer timeout
            if timer is not None:
                timer.cancel()
            self.idle_timer = loop.call_at(deadline, self._idle_check)
        await waiter

    def _idle_check(self) -> None:
        """The read timer: fail the pending wait when its deadline passed, else sleep on."""
        self.idle_timer = None
        waiter = self.waiter
        if waiter is None or waiter.done():
            return  # nobody waits now: the next wait arms a timer again
        if self.loop.time() < self.deadline:
            self.idle_timer = self.loop.call_at(self.deadline, self._idle_check)
            return
        timeout, what = self.wait_for
        self.waiter = None
        waiter.set_exception(
            httpx.ReadTimeout(f"no data for {timeout:g} s {what}", request=self.request)
        )

    def take(self) -> tuple[bytes, float]:
        """The body bytes of the oldest unconsumed read, and when that read returned."""
        data, arrived = self.reads.popleft()
        self.buffered -= len(data)
        if self.paused and self.buffered <= HIGH_WATER // 2 and self.transport is not None:
            self.paused = False
            self.transport.resume_reading()
        return data, arrived

    @property
    def reusable(self) -> bool:
        return self.complete and self.keep_alive and not self.closed and self.exc is None

    def close(self) -> None:
        self.closed = True
        if self.idle_timer is not None:
            self.idle_timer.cancel()
            self.idle_timer = None
        if self.transport is not None:
            self.transport.close()
