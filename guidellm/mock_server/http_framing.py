"""HTTP/1.1 for the mock server: requests parsed with httptools, answers written as raw bytes.

No web framework (a framework's per-request cost would show up in the timings the mock is
meant to keep): :class:`HTTPConnection` is an :class:`asyncio.Protocol` that parses requests,
queues pipelined ones and hands them to :meth:`HTTPConnection._dispatch` one at a time, in
order, each once the previous answer is complete (:meth:`HTTPConnection._finish`). It answers
``Expect: 100-continue``, refuses what it cannot parse with a 400 and can close with a TCP
reset. What to answer is the subclass's business (the OpenAI routes in
:mod:`guidellm.mock_server.http_server`).
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import socket
import struct
import time
from collections import deque

import httptools
import orjson

__all__ = ["HTTPConnection", "Request", "chunk", "error_body", "response_head"]

_REASONS = {
    200: b"OK",
    400: b"Bad Request",
    404: b"Not Found",
    405: b"Method Not Allowed",
    429: b"Too Many Requests",
    500: b"Internal Server Error",
}
_LINGER_RESET = struct.pack("ii", 1, 0)


def response_head(status: int, headers: list[tuple[bytes, bytes]], keep_alive: bool) -> bytes:
    """The status line and headers of an answer, up to the body."""
    lines = [b"HTTP/1.1 %d %s" % (status, _REASONS.get(status, b"Unknown"))]
    lines += [name + b": " + value for name, value in headers]
    if not keep_alive:
        lines.append(b"connection: close")
    return b"\r\n".join(lines) + b"\r\n\r\n"


def error_body(message: str, kind: str, code: int | str) -> bytes:
    """An error answer's JSON body, shaped as OpenAI-compatible servers shape theirs."""
    return orjson.dumps({"error": {"message": message, "type": kind, "code": code}})


def chunk(data: bytes) -> bytes:
    """One HTTP/1.1 chunk of the chunked transfer encoding."""
    return b"%x\r\n%s\r\n" % (len(data), data)


class Request:
    """One parsed request; ``arrival`` is when the server starts on it (``time.monotonic``)."""

    __slots__ = ("arrival", "body", "keep_alive", "method", "path")

    def __init__(
        self, method: bytes, path: bytes, body: bytes, keep_alive: bool, arrival: float
    ) -> None:
        self.method = method
        self.path = path
        self.body = body
        self.keep_alive = keep_alive
        self.arrival = arrival


class HTTPConnection(asyncio.Protocol, abc.ABC):
    """One client connection: parse requests, answer them one after the other.

    A subclass implements :meth:`_dispatch` and calls :meth:`_finish` when an answer is
    complete; :meth:`_lost` runs when the connection goes (reset, closed, aborted).
    ``connections`` is the server's set of open connections (for closing them all at once).
    """

    def __init__(self, connections: set[HTTPConnection]) -> None:
        self.connections = connections
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.url = b""
        self.body: list[bytes] = []
        self.queue: deque[Request] = deque()
        self.busy = False
        self.closed = False
        self.expect_continue = False

    @abc.abstractmethod
    def _dispatch(self, req: Request) -> None:
        """Answer ``req`` (now, or later from a timer) and then call :meth:`_finish`."""

    def _lost(self) -> None:
        """The connection is gone, whatever answer was in progress."""

    # -- asyncio.Protocol ------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass
        self.connections.add(self)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.connections.discard(self)
        self._lost()  # a reset, a stalled stream or a client gone mid-answer

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._refuse("upgrade not supported")
        except httptools.HttpParserError as exc:
            self._refuse(f"bad HTTP request: {exc}")

    def _refuse(self, message: str) -> None:
        """Answer 400 and close; in the middle of a response only closing is possible."""
        if self.busy:
            self.abort()
            return
        self._write_simple(400, error_body(message, "invalid_request", 400))
        self._close()

    # -- httptools callbacks ---------------------------------------------------------------
    def on_message_begin(self) -> None:
        self.url = b""
        self.body = []
        self.expect_continue = False

    def on_header(self, name: bytes, value: bytes) -> None:
        if len(name) == 6 and name.lower() == b"expect":
            self.expect_continue = value.lower() == b"100-continue"

    def on_headers_complete(self) -> None:
        # curl sends 'Expect: 100-continue' before a body > 1 KiB and waits 1 s unless told to go
        if self.expect_continue and not self.closed and self.transport is not None:
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        arrival = time.monotonic()
        path = self.url.split(b"?", 1)[0]
        request = Request(
            self.parser.get_method(),
            path,
            b"".join(self.body),
            self.parser.should_keep_alive(),
            arrival,
        )
        self.queue.append(request)
        if not self.busy:
            self._next(fresh=True)

    # -- answering -------------------------------------------------------------------------
    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def _close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def _write(self, data: bytes) -> None:
        if not self.closed and self.transport is not None:
            self.transport.write(data)

    def _write_simple(
        self,
        status: int,
        body: bytes,
        keep_alive: bool = False,
        extra: list[tuple[bytes, bytes]] | None = None,
        content_type: bytes = b"application/json",
    ) -> None:
        headers = [
            (b"content-type", content_type),
            (b"content-length", str(len(body)).encode()),
        ]
        if extra:
            headers += extra
        self._write(response_head(status, headers, keep_alive) + body)

    def _injected_error(self, fault: str | None, retry_after_s: float, keep_alive: bool) -> bool:
        """Answer the ``error_500`` and ``error_429`` faults (every route draws them the same
        way); ``True`` when the request was answered so."""
        if fault == "error_500":
            body, extra = error_body("injected server error", "server_error", 500), None
        elif fault == "error_429":
            body = error_body("injected rate limit", "rate_limit_exceeded", 429)
            extra = [(b"retry-after", str(retry_after_s).encode())]
        else:
            return False
        self._write_simple(500 if fault == "error_500" else 429, body, keep_alive, extra)
        self._finish(keep_alive)
        return True

    def _finish(self, keep_alive: bool) -> None:
        """The current response is complete: close, or answer the next queued request."""
        self.busy = False
        if not keep_alive:
            self._close()
        elif self.queue and not self.closed:
            self._next()

    def _next(self, fresh: bool = False) -> None:
        request = self.queue.popleft()
        self.busy = True
        if not fresh:  # it waited behind another response: the server starts on it now
            request.arrival = time.monotonic()
        self._dispatch(request)

    def _reset(self) -> None:
        """Close with a TCP RST (SO_LINGER 0): the client sees 'connection reset by peer'."""
        if self.transport is None or self.closed:
            return
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
        self.abort()
