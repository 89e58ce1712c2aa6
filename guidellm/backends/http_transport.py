"""A lean HTTP/1.1 transport for httpx: keep-alive connections and a C parser (httptools).

httpx's stock transport (httpcore) parses HTTP/1.1 in pure Python and guards its pool with
locks whose cost grows with the number of connections; on a streaming benchmark that is most of
the client's CPU. This transport keeps httpx's API (``httpx.AsyncClient(transport=...)``) and
does only what a benchmark client needs: one connection per in-flight request, kept alive and
reused, a pool sized by the caller, the response parsed by ``httptools`` inside an
:class:`asyncio.Protocol` (:mod:`.http_connection`), and body bytes handed to the reader as
they arrive.

Not supported (use httpx's stock transport): HTTP/2, proxies, ``HEAD`` requests, upgrades.
Failures are raised as httpx exceptions so that callers treat both transports alike.
"""

from __future__ import annotations

import asyncio
import ssl
import sys
from collections import deque
from collections.abc import AsyncIterator, Awaitable
from time import perf_counter
from typing import Any

import httpx

from guidellm.backends.http_connection import (
    ClientConnection,
    fire_timeout,
    request_timeout,
)
from guidellm.backends.stamped_socket import KernelClock, open_stamped

__all__ = ["LeanHTTPTransport"]

#: How long to wait for the end of a response whose reader has what it needs.
_FINISH_SECONDS = 0.5


class _ResponseStream(httpx.AsyncByteStream):
    """The body of one response, one item per socket read; hands the connection back to the
    pool when closed.

    ``arrived`` is the ``time.perf_counter()`` time the bytes last yielded reached the socket
    (the kernel's receive stamp; on a TLS or loop-timed connection, when the read returned):
    free of the delay before the reader task ran. ``sent`` is when the request's bytes were
    handed to the kernel (as the write was made). The response exposes this object as
    ``response.extensions["arrival_clock"]``.
    """

    def __init__(
        self,
        transport: LeanHTTPTransport,
        conn: ClientConnection,
        timeout: float | None,
        sent: float,
        kept: bool,
    ) -> None:
        self._transport = transport
        self._conn = conn
        self._timeout = timeout
        self._released = False
        self.arrived = 0.0
        self.sent = sent
        #: The request went over a kept-alive connection (no connect or handshake in it).
        self.kept = kept

    async def __aiter__(self) -> AsyncIterator[bytes]:
        conn = self._conn
        timeout = self._timeout
        while True:
            if conn.reads:
                data, self.arrived = conn.take()
                yield data
            elif conn.complete:
                return
            elif conn.exc is not None:
                raise conn.exc
            else:
                await conn.wait(timeout, "while reading the response body")

    async def finish(self, timeout: float = _FINISH_SECONDS) -> None:
        """The reader has what it needs (say, ``[DONE]``): drop the rest of the body and wait,
        at most ``timeout`` seconds, for the end of the message, so that the connection can be
        kept. Streaming servers (llama.cpp, uvicorn) send the chunked body's terminator in a
        later write than ``[DONE]``; without this, every request would open a new connection
        (and, over TLS, pay a handshake inside the next request's time to first token)."""
        conn = self._conn
        conn.reads.clear()
        conn.buffered = 0
        if conn.paused and conn.transport is not None:
            conn.paused = False
            conn.transport.resume_reading()
        try:
            while not conn.complete and conn.exc is None and not conn.closed:
                await conn.wait(timeout, "after the end of the stream")
                conn.reads.clear()
                conn.buffered = 0
        except httpx.ReadTimeout:
            conn.close()  # not kept: its state is unknown

    async def aclose(self) -> None:
        if not self._released:
            self._released = True
            self._transport._release(self._conn)


class LeanHTTPTransport(httpx.AsyncBaseTransport):
    """An HTTP/1.1 transport with at most ``max_connections`` keep-alive connections.

    ``ssl_context`` is used for ``https`` URLs (build it with ``httpx.create_ssl_context``).
    Timeouts come from httpx's per-request ``timeout`` extension (connect, read, pool).
    A request with an ``affinity`` extension (a session's identity) goes over the connection
    that carried that session's previous request when it is idle, so that a session's turns
    share one connection as a user's chat would; at most one session owns a connection. A
    session's first request takes an idle connection no session owns, else opens one while
    the pool has room, else takes the one idle longest (most likely a session that ended
    without saying so); ``affinity_end`` (its last request) frees its connection.
    """

    def __init__(
        self,
        max_connections: int = 100,
        ssl_context: ssl.SSLContext | None = None,
        kernel_timing: bool = False,
    ):
        if max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        self.max_connections = max_connections
        self.ssl_context = ssl_context
        #: Plain-HTTP connections read with kernel receive stamps (:mod:`.stamped_socket`).
        self.clock = KernelClock() if kernel_timing else None
        #: Connections opened with kernel receive stamps, and without.
        self.opened = {"kernel": 0, "loop": 0}
        # Idle connections per host, most recently used last (a dict: a session's own
        # connection is taken out of the middle in O(1)).
        self._idle: dict[tuple[str, str, int], dict[ClientConnection, None]] = {}
        self._open = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._closed = False
        self._owned: dict[str, ClientConnection] = {}

    # -- pool --------------------------------------------------------------------------------

    def _pop_idle(self, key: tuple[str, str, int]) -> ClientConnection | None:
        idle = self._idle.get(key)
        while idle:
            conn = idle.popitem()[0]
            if not conn.closed and conn.transport is not None and not conn.transport.is_closing():
                return conn
            self._open -= 1
            self._disown(conn)
        return None

    def _evict_other_idle(self, key: tuple[str, str, int]) -> bool:
        """Close one idle connection to another host to make room; True if one was closed."""
        for other, idle in self._idle.items():
            if other != key and idle:
                idle.popitem()[0].close()
                self._open -= 1
                return True
        return False

    def _take_owned(self, key: tuple[str, str, int], affinity: str) -> ClientConnection | None:
        """The idle connection that carried ``affinity``'s last request, if any."""
        conn = self._owned.get(affinity)
        if conn is None or conn.request is not None or conn.closed or conn.key != key:
            return None
        idle = self._idle.get(key)
        if not idle or conn not in idle:
            return None
        del idle[conn]
        if conn.transport is None or conn.transport.is_closing():
            self._open -= 1
            return None
        return conn

    def _own(self, conn: ClientConnection, affinity: str) -> None:
        if conn.owner != affinity:
            self._disown(conn)
            previous = self._owned.get(affinity)
            if previous is not None:
                previous.owner = None  # the session moved: its old connection is free
            conn.owner = affinity
            self._owned[affinity] = conn

    def _take_unowned(self, key: tuple[str, str, int]) -> ClientConnection | None:
        """An idle connection no session owns: the newest, else the one idle longest, else,
        when the pool is full, the one idle longest whoever owns it."""
        idle = self._idle.get(key)
        while idle:
            newest = next(reversed(idle))
            oldest = next(iter(idle))
            if newest.owner is None:
                conn = newest
            elif oldest.owner is None or self._open >= self.max_connections:
                conn = oldest
            else:
                return None  # every idle one is a session's: open a new one
            del idle[conn]
            if not conn.closed and conn.transport is not None and not conn.transport.is_closing():
                return conn
            self._open -= 1
            self._disown(conn)
        return None

    def _disown(self, conn: ClientConnection) -> None:
        if conn.owner is not None:
            if self._owned.get(conn.owner) is conn:
                del self._owned[conn.owner]
            conn.owner = None

    async def _acquire(
        self, request: httpx.Request, key: tuple[str, str, int]
    ) -> tuple[ClientConnection, bool]:
        """A connection for ``key`` and whether it was kept alive from an earlier request."""
        affinity = request.extensions.get("affinity")
        if affinity is None:
            return await self._acquire_any(request, key)
        conn = self._take_owned(key, affinity) or self._take_unowned(key)
        reused = conn is not None
        if conn is None:
            conn, reused = await self._acquire_any(request, key)
        if request.extensions.get("affinity_end"):
            self._disown(conn)
        else:
            self._own(conn, affinity)
        return conn, reused

    async def _acquire_any(
        self, request: httpx.Request, key: tuple[str, str, int]
    ) -> tuple[ClientConnection, bool]:
        while True:
            conn = self._pop_idle(key)
            if conn is not None:
                return conn, True
            if self._open < self.max_connections or self._evict_other_idle(key):
                self._open += 1
                try:
                    return await self._connect(request, key), False
                except BaseException:
                    self._open -= 1
                    self._wake_one()
                    raise
            loop = asyncio.get_running_loop()
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiters.append(waiter)
            pool_timeout = request_timeout(request, "pool")
            timer = (
                None
                if pool_timeout is None
                else loop.call_later(
                    pool_timeout,
                    fire_timeout,
                    waiter,
                    httpx.PoolTimeout(
                        f"all {self.max_connections} connections stayed busy for "
                        f"{pool_timeout:g} s",
                        request=request,
                    ),
                )
            )
            try:
                await waiter
            except BaseException:
                if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                    self._wake_one()  # woken, then cancelled: pass the free slot on
                raise
            finally:
                if timer is not None:
                    timer.cancel()
                if waiter in self._waiters:
                    self._waiters.remove(waiter)

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _release(self, conn: ClientConnection) -> None:
        conn.request = None
        if conn.reusable and not self._closed:
            conn._reset()
            self._idle.setdefault(conn.key, {})[conn] = None
        else:
            conn.close()
            self._open -= 1
            self._disown(conn)
        self._wake_one()

    async def _connect(self, request: httpx.Request, key: tuple[str, str, int]) -> ClientConnection:
        scheme, host, port = key
        loop = asyncio.get_running_loop()
        conn = ClientConnection(key)
        ctx: ssl.SSLContext | None = None
        if scheme == "https":
            ctx = self.ssl_context or httpx.create_ssl_context()
        timeout = request_timeout(request, "connect")
        clock = self.clock
        opening: Awaitable[Any]
        if clock is not None and ctx is None:
            opening = open_stamped(lambda: conn, host, port, clock)
        else:
            opening = loop.create_connection(
                lambda: conn, host, port, ssl=ctx, server_hostname=host if ctx else None
            )
        try:
            if sys.version_info >= (3, 11):
                # no extra task, and a cancel is never swallowed (3.11's wait_for can be)
                async with asyncio.timeout(timeout):
                    await opening
            else:  # pragma: no cover - Python 3.10
                await asyncio.wait_for(opening, timeout)
        except asyncio.TimeoutError:
            raise httpx.ConnectTimeout(
                f"connecting to {host}:{port} took longer than {timeout:g} s", request=request
            ) from None
        except OSError as exc:  # ssl.SSLError is an OSError too
            raise httpx.ConnectError(f"{exc}", request=request) from exc
        self.opened["kernel" if clock is not None and ctx is None else "loop"] += 1
        return conn

    @property
    def timing_source(self) -> str:
        """``kernel`` when every connection so far read kernel receive stamps (all but a
        stray read had one), ``loop`` when none did, ``mixed`` otherwise; before any
        connection, what it is set up to do."""
        kernel, loop = self.opened["kernel"], self.opened["loop"]
        if not kernel:
            return "kernel" if self.clock is not None and not loop else "loop"
        if loop or (self.clock is not None and not self.clock.mostly_stamped):
            return "mixed"
        return "kernel"

    async def warm(self, request: httpx.Request, count: int) -> int:
        """Open up to ``count`` connections to ``request``'s host now and keep them idle, so
        that the first requests of a benchmark do not pay for the TCP (and TLS) handshake
        (a few hundred microseconds each, late sends at the start of every run otherwise).
        Failures are not errors here: the requests will connect (and fail) on their own.
        Returns how many were opened."""
        url = request.url
        key = (url.scheme, url.host, url.port or (443 if url.scheme == "https" else 80))
        count = max(0, min(count, self.max_connections - self._open))
        self._open += count
        try:
            opened = await asyncio.gather(
                *(self._connect(request, key) for _ in range(count)), return_exceptions=True
            )
        except BaseException:  # cancelled: none of them joins the pool
            self._open -= count
            raise
        good = [c for c in opened if isinstance(c, ClientConnection)]
        self._open -= count - len(good)
        self._idle.setdefault(key, {}).update(dict.fromkeys(good))
        return len(good)

    # -- httpx.AsyncBaseTransport ------------------------------------------------------------

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        scheme = url.scheme
        if scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"unsupported URL scheme {scheme!r}", request=request)
        if self._closed:
            raise RuntimeError("the transport is closed")
        port = url.port or (443 if scheme == "https" else 80)
        key = (scheme, url.host, port)
        head, body = await _serialize(request)
        read_timeout = request_timeout(request, "read")
        for attempt in (0, 1):
            conn, reused = await self._acquire(request, key)
            conn.request = request
            try:
                assert conn.transport is not None
                # The request leaves now: both transports hand it to the kernel inside write()
                # (a body larger than the socket buffer goes on as the server reads it). On
                # loopback the server may have it before that call returns, so the clock
                # starts as the call is made.
                sent = perf_counter()
                conn.transport.write(head + body if len(body) < 65536 else head)
                if len(body) >= 65536:
                    conn.transport.write(body)
                while not conn.headers_done:
                    if conn.exc is not None:
                        raise conn.exc
                    await conn.wait(read_timeout, "waiting for the response headers")
            except httpx.ReadError:
                self._release(conn)
                # A kept-alive connection the server closed while idle: retry once, fresh.
                if attempt == 0 and reused and not conn.received:
                    continue
                raise
            except BaseException:
                self._release(conn)
                raise
            stream = _ResponseStream(self, conn, read_timeout, sent, reused)
            return httpx.Response(
                status_code=conn.status,
                headers=conn.headers,
                stream=stream,
                request=request,
                extensions={
                    "http_version": b"HTTP/1.1",
                    "reason_phrase": conn.reason,
                    "arrival_clock": stream,
                },
            )
        raise AssertionError("unreachable")  # pragma: no cover

    async def aclose(self) -> None:
        self._closed = True
        for idle in self._idle.values():
            for conn in idle:
                conn.close()
        self._idle.clear()
        self._open = 0


async def _serialize(request: httpx.Request) -> tuple[bytes, bytes]:
    """The request head and body as bytes; streamed bodies are read and sent with a length."""
    try:
        body = request.content
        headers = request.headers.raw
    except httpx.RequestNotRead:
        body = b"".join([part async for part in request.stream])  # type: ignore[union-attr]
        headers = [
            (k, v)
            for k, v in request.headers.raw
            if k.lower() not in (b"transfer-encoding", b"content-length")
        ]
        headers.append((b"Content-Length", str(len(body)).encode()))
    parts: list[bytes] = [request.method.encode(), b" ", request.url.raw_path, b" HTTP/1.1\r\n"]
    for name, value in headers:
        parts += (name, b": ", value, b"\r\n")
    parts.append(b"\r\n")
    return b"".join(parts), body
