"""A lean gRPC client transport: gRPC framing over one HTTP/2 connection, on ``h2``.

Why: grpc.aio costs about 130 µs of CPU per streamed message on this kind of machine (half in
its Cython call machinery per ``read()``, half in the C core's poller threads), more than three
times the HTTP backend's cost per SSE chunk (benchmarks/README.md). A benchmark client must not
be the bottleneck, so ``grpc_kserve`` speaks gRPC itself: an ``asyncio.Protocol`` feeds bytes
to an ``h2`` state machine (already installed with ``httpx[http2]``), each DATA frame's
length-prefixed messages go straight to the call's callback *inside* ``data_received``, timed
once per network read, with no future, queue or task per message. Only the end of a call
resolves a future.

What it implements of gRPC over HTTP/2: unary and server-streaming calls with one request
message (``ModelStreamInfer`` sends one request, then half-closes), ``grpc-timeout``, custom
metadata, trailers and trailers-only responses, ``grpc-status``/``grpc-message``, RST_STREAM,
GOAWAY, flow control both ways, the server's stream limit (calls wait for a free stream), TLS
with ALPN ``h2``. Not implemented: compression (never requested, so servers do not compress),
client streaming of several messages, retries.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import urllib.parse
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, cast

from guidellm.backends.grpc_codec import STATUS_NAMES, GRPCStatusError, status_error
from guidellm.errors import BadResponseError, ConnectError, RequestTimeoutError
from guidellm.request import now

if TYPE_CHECKING:
    import ssl

__all__ = ["H2Call", "H2Channel"]

#: ``on_message(raw, arrived) -> True`` ends the call successfully (e.g. Triton's final flag).
OnMessage = Callable[[bytes, float], bool]

_WINDOW = 1 << 24  # 16 MiB receive window: never the limit for token streams
_HTTP_TO_GRPC = {400: "INTERNAL", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
                 404: "UNIMPLEMENTED", 429: "UNAVAILABLE", 502: "UNAVAILABLE",
                 503: "UNAVAILABLE", 504: "UNAVAILABLE"}  # fmt: skip


class H2Call:
    """One gRPC call on an :class:`H2Channel`; await :attr:`done` for its end."""

    __slots__ = ("buf", "deadline", "done", "headers", "on_message", "pending", "stream_id")

    def __init__(self, stream_id: int, on_message: OnMessage, done: asyncio.Future[None]) -> None:
        self.stream_id = stream_id
        self.on_message = on_message
        self.done = done
        self.buf = b""
        self.pending = b""
        self.headers: dict[bytes, bytes] = {}
        self.deadline: asyncio.TimerHandle | None = None


class _Protocol(asyncio.Protocol):
    """Bytes in, h2 events out, messages to the calls' callbacks."""

    def __init__(self, channel: H2Channel) -> None:
        import h2.config
        import h2.connection

        self.channel = channel
        self.transport: asyncio.Transport | None = None
        config = h2.config.H2Configuration(
            client_side=True,
            header_encoding=None,
            validate_inbound_headers=False,
            normalize_inbound_headers=False,
            validate_outbound_headers=False,
            normalize_outbound_headers=False,
        )
        self.conn = h2.connection.H2Connection(config=config)
        self.calls: dict[int, H2Call] = {}
        self.closed = False
        self.goaway = False

    # -- asyncio.Protocol ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        import h2.settings

        self.transport = cast("asyncio.Transport", transport)  # uvloop's is no subclass
        conn = self.conn
        conn.initiate_connection()
        conn.update_settings(
            {
                h2.settings.SettingCodes.ENABLE_PUSH: 0,
                h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: _WINDOW,
            }
        )
        conn.increment_flow_control_window(_WINDOW)
        self.transport.write(conn.data_to_send())

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        reason = f": {exc}" if exc else ""
        for call in list(self.calls.values()):
            self.finish(call, ConnectError(f"gRPC UNAVAILABLE: connection lost{reason}"))
        self.channel._lost(self)

    def data_received(self, data: bytes) -> None:
        import h2.events
        import h2.exceptions

        arrived = now()
        try:
            events: list[Any] = self.conn.receive_data(data)
        except h2.exceptions.ProtocolError as exc:
            for broken in list(self.calls.values()):
                self.finish(broken, BadResponseError(f"HTTP/2 protocol error: {exc}"))
            if self.transport is not None:
                self.transport.close()
            return
        call: H2Call | None
        for event in events:
            kind = type(event)
            if kind is h2.events.DataReceived:
                self._data(event, arrived)
            elif kind is h2.events.ResponseReceived:
                call = self.calls.get(event.stream_id)
                if call is not None:
                    call.headers = dict(event.headers)
            elif kind is h2.events.TrailersReceived:
                call = self.calls.get(event.stream_id)
                if call is not None:
                    call.headers.update(event.headers)
            elif kind is h2.events.StreamEnded:
                call = self.calls.get(event.stream_id)
                if call is not None:
                    self.finish(call, self._status(call))
            elif kind is h2.events.StreamReset:
                call = self.calls.get(event.stream_id)
                if call is not None:
                    code = int(event.error_code)
                    if code == 7:  # REFUSED_STREAM: never processed, like UNAVAILABLE
                        error: Exception = ConnectError("gRPC UNAVAILABLE: stream refused")
                    else:
                        error = GRPCStatusError("INTERNAL", f"stream reset by the server ({code})")
                    self.finish(call, error)
            elif kind is h2.events.WindowUpdated:
                for waiting in list(self.calls.values()):
                    if waiting.pending:
                        self.channel._send_body(self, waiting)
            elif kind is h2.events.ConnectionTerminated:
                self.goaway = True
                last = event.last_stream_id or 0
                for dropped in list(self.calls.values()):
                    if dropped.stream_id > last:
                        self.finish(dropped, ConnectError("gRPC UNAVAILABLE: server going away"))
        self.flush()

    # -- helpers ------------------------------------------------------------------------------

    def flush(self) -> None:
        out = self.conn.data_to_send()
        if out and self.transport is not None and not self.closed:
            self.transport.write(out)

    def _data(self, event: Any, arrived: float) -> None:
        sid = event.stream_id
        if event.flow_controlled_length:
            with contextlib.suppress(Exception):  # the stream may be closed already
                self.conn.acknowledge_received_data(event.flow_controlled_length, sid)
        call = self.calls.get(sid)
        if call is None:
            return
        buf = call.buf + event.data if call.buf else event.data
        while len(buf) >= 5:
            size = int.from_bytes(buf[1:5], "big")
            end = 5 + size
            if len(buf) < end:
                break
            if buf[0]:
                self.finish(call, BadResponseError("compressed gRPC message"), reset=True)
                return
            message = buf[5:end]
            buf = buf[end:]
            try:
                final = call.on_message(message, arrived)
            except Exception as exc:  # the reader's verdict (server error, bad message)
                self.finish(call, exc, reset=True)
                return
            if final:
                self.finish(call, None, reset=True)
                return
        call.buf = buf

    def _status(self, call: H2Call) -> Exception | None:
        headers = call.headers
        status = headers.get(b":status", b"200")
        raw = headers.get(b"grpc-status")
        if raw is None:
            if status != b"200":
                name = _HTTP_TO_GRPC.get(int(status), "UNKNOWN")
                return status_error(name, f"HTTP {status.decode()} from the server")
            return BadResponseError("gRPC response ended without grpc-status")
        code = int(raw)
        if code == 0:
            return None
        name = STATUS_NAMES[code] if 0 <= code < len(STATUS_NAMES) else "UNKNOWN"
        message = urllib.parse.unquote(headers.get(b"grpc-message", b"").decode(errors="replace"))
        return status_error(name, message)

    def finish(self, call: H2Call, error: BaseException | None, reset: bool = False) -> None:
        """End ``call``: drop it, reset its stream if still open, resolve its future."""
        if self.calls.pop(call.stream_id, None) is None:
            return
        if call.deadline is not None:
            call.deadline.cancel()
        if reset and not self.closed:
            with contextlib.suppress(Exception):
                self.conn.reset_stream(call.stream_id, 8)  # CANCEL
            self.flush()
        done = call.done
        if not done.done():
            if error is None:
                done.set_result(None)
            elif isinstance(error, asyncio.CancelledError):
                done.cancel()
            else:
                done.set_exception(error)
        self.channel._release()


class H2Channel:
    """One HTTP/2 connection to a gRPC server, opened on first use and reopened when lost."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        ssl_context: ssl.SSLContext | None = None,
        metadata: Sequence[tuple[str, str]] = (),
    ) -> None:
        self.host = host
        self.port = port
        self.ssl = ssl_context
        authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self._base = [
            (b":method", b"POST"),
            (b":scheme", b"https" if ssl_context is not None else b"http"),
            (b":authority", authority.encode()),
            (b"content-type", b"application/grpc"),
            (b"te", b"trailers"),
            (b"user-agent", b"guidellm-grpc/1"),
            *((k.lower().encode(), v.encode()) for k, v in metadata),
        ]
        self._proto: _Protocol | None = None
        self._connecting: asyncio.Future[_Protocol] | None = None
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    async def _connection(self) -> _Protocol:
        proto = self._proto
        if proto is not None and not proto.closed and not proto.goaway:
            return proto
        if self._connecting is not None:
            return await asyncio.shield(self._connecting)
        loop = asyncio.get_running_loop()
        self._connecting = fut = loop.create_future()
        try:
            _, made = await loop.create_connection(
                lambda: _Protocol(self),
                self.host,
                self.port,
                ssl=self.ssl,
                server_hostname=self.host if self.ssl is not None else None,
            )
        except OSError as exc:
            error = ConnectError(
                f"gRPC UNAVAILABLE: cannot connect to {self.host}:{self.port}: "
                f"{exc.strerror or exc}"
            )
            fut.set_exception(error)
            fut.exception()  # retrieved: waiters re-raise it themselves
            raise error from None
        finally:
            self._connecting = None
        assert isinstance(made, _Protocol)
        self._proto = made
        fut.set_result(made)
        return made

    def _lost(self, proto: _Protocol) -> None:
        if self._proto is proto:
            self._proto = None
        self._release()

    def _release(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _send_body(self, proto: _Protocol, call: H2Call) -> None:
        conn = proto.conn
        while call.pending:
            window = min(
                conn.local_flow_control_window(call.stream_id), conn.max_outbound_frame_size
            )
            if window <= 0:
                return  # the rest goes when the server opens the window (WindowUpdated)
            chunk, call.pending = call.pending[:window], call.pending[window:]
            conn.send_data(call.stream_id, chunk, end_stream=not call.pending)
        proto.flush()

    async def call(
        self, path: bytes, payload: bytes, on_message: OnMessage, timeout: float | None = None
    ) -> H2Call:
        """Start a call sending one message; the returned call's ``done`` resolves at its end."""
        proto = await self._connection()
        while len(proto.calls) >= proto.conn.remote_settings.max_concurrent_streams:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            await waiter
            proto = await self._connection()
        conn = proto.conn
        sid = conn.get_next_available_stream_id()
        headers = [*self._base, (b":path", path)]
        if timeout is not None:
            headers.append((b"grpc-timeout", b"%dm" % max(1, int(timeout * 1000))))
        loop = asyncio.get_running_loop()
        call = H2Call(sid, on_message, loop.create_future())
        proto.calls[sid] = call
        if timeout is not None:
            call.deadline = loop.call_later(
                timeout,
                proto.finish,
                call,
                RequestTimeoutError(f"gRPC DEADLINE_EXCEEDED: no answer within {timeout:g} s"),
                True,
            )
        conn.send_headers(sid, headers, end_stream=False)
        call.pending = len(payload).to_bytes(5, "big") + payload  # flag 0: not compressed
        self._send_body(proto, call)
        return call

    def cancel(self, call: H2Call) -> None:
        """Abort ``call`` (RST_STREAM CANCEL); its ``done`` future is cancelled."""
        proto = self._proto
        if proto is not None and call.stream_id in proto.calls:
            proto.finish(call, asyncio.CancelledError(), reset=True)
        elif not call.done.done():
            call.done.cancel()

    async def unary(self, path: bytes, payload: bytes, timeout: float | None) -> bytes:
        """One request, one response message (raw bytes)."""
        got: list[bytes] = []

        def keep(raw: bytes, _arrived: float) -> bool:
            got.append(raw)
            return False

        call = await self.call(path, payload, keep, timeout)
        try:
            await call.done
        except asyncio.CancelledError:
            self.cancel(call)
            raise
        if len(got) != 1:
            raise BadResponseError(f"expected one response message, got {len(got)}")
        return got[0]

    async def close(self) -> None:
        """Close the connection (calls still running fail with ``connection``)."""
        proto, self._proto = self._proto, None
        if proto is not None and proto.transport is not None and not proto.closed:
            with contextlib.suppress(Exception):
                proto.conn.close_connection()
                proto.flush()
            proto.transport.close()
