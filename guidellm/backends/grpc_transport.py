"""A lean gRPC client transport: gRPC framing over HTTP/2 frames we parse ourselves.

Why: grpc.aio costs about 130 µs of CPU per streamed message on this kind of machine (half in
its Cython call machinery per ``read()``, half in the C core's poller threads), and the pure
Python ``h2`` state machine still about 40 µs (an event object, a state-machine step and flow
control bookkeeping per frame), against about 6 µs per SSE chunk for the HTTP backend
(benchmarks/README.md). A benchmark client must not be the bottleneck, so ``grpc_kserve``
speaks the little of HTTP/2 a gRPC client needs: an ``asyncio.Protocol`` cuts frames with one
``struct`` call each, hands each DATA frame's length-prefixed gRPC messages straight to the
call's callback *inside* ``data_received`` (timed once per network read), with no event
object, future, queue or task per message. Only the end of a call resolves a future. Header
blocks (two per call) go through ``hpack`` (installed with ``httpx[http2]``).

Implemented (RFC 9113 client side, as gRPC uses it): the preface and SETTINGS (ours: no push,
16 MiB windows; theirs: window size, frame size, stream limit, header table size), HEADERS
with CONTINUATION, padding and priority fields, DATA, WINDOW_UPDATE both ways, RST_STREAM,
PING, GOAWAY. gRPC: unary and server-streaming calls with one request message
(``ModelStreamInfer`` sends one request, then half-closes), ``grpc-timeout``, custom metadata,
trailers and trailers-only responses, ``grpc-status``/``grpc-message``, the server's stream
limit (calls wait for a free stream), TLS with ALPN ``h2``. Not implemented: compression
(never requested, so servers do not compress), several request messages, retries.
"""

from __future__ import annotations

import asyncio
import collections
import struct
import urllib.parse
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, cast

from guidellm.backends.grpc_codec import STATUS_NAMES, GRPCStatusError, status_error
from guidellm.backends.stamped_socket import KernelClock, open_stamped
from guidellm.errors import BadResponseError, ConnectError, RequestTimeoutError
from guidellm.request import now

if TYPE_CHECKING:
    import ssl

__all__ = ["H2Call", "H2Channel"]

#: ``on_message(raw, arrived) -> True`` ends the call successfully (e.g. Triton's final flag).
OnMessage = Callable[[bytes, float], bool]

_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
_WINDOW = 1 << 24  # 16 MiB receive windows: never the limit for token streams
_DEFAULT_WINDOW = 65535
_HEAD = struct.Struct(">BHBBL")  # length (24 bits as 8 + 16), type, flags, stream id
_U32 = struct.Struct(">L")
# frame types
_DATA, _HEADERS, _RST_STREAM, _SETTINGS, _PUSH_PROMISE, _PING, _GOAWAY = 0, 1, 3, 4, 5, 6, 7
_WINDOW_UPDATE, _CONTINUATION = 8, 9
# flags
_END_STREAM, _ACK, _END_HEADERS, _PADDED, _PRIORITY = 0x1, 0x1, 0x4, 0x8, 0x20
_CANCEL, _REFUSED_STREAM = 8, 7
_HTTP_TO_GRPC = {400: "INTERNAL", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
                 404: "UNIMPLEMENTED", 429: "UNAVAILABLE", 502: "UNAVAILABLE",
                 503: "UNAVAILABLE", 504: "UNAVAILABLE"}  # fmt: skip


def _frame(ftype: int, flags: int, sid: int, payload: bytes = b"") -> bytes:
    n = len(payload)
    return _HEAD.pack(n >> 16, n & 0xFFFF, ftype, flags, sid) + payload


class H2Call:
    """One gRPC call on an :class:`H2Channel`; await :attr:`done` for its end."""

    __slots__ = (
        "buf",
        "deadline",
        "done",
        "got_headers",
        "headers",
        "on_message",
        "pending",
        "recv_unacked",
        "send_window",
        "sent",
        "stream_id",
    )

    def __init__(
        self, stream_id: int, on_message: OnMessage, done: asyncio.Future[None], window: int
    ) -> None:
        self.stream_id = stream_id
        self.on_message = on_message
        self.done = done
        self.buf = b""
        self.pending = b""
        self.headers: dict[bytes, bytes] = {}
        self.got_headers = False
        self.deadline: asyncio.TimerHandle | None = None
        self.send_window = window
        self.recv_unacked = 0
        #: When its HEADERS and message were handed to the kernel (``perf_counter``, taken
        #: as the write is made).
        self.sent = 0.0

    def wait(self) -> asyncio.Future[None]:
        """The call's end to await (``grpc_aio.AioCall.wait`` is the grpc.aio twin)."""
        return self.done


class _Protocol(asyncio.Protocol):
    """Bytes in, frames out of them, gRPC messages to the calls' callbacks."""

    def __init__(self, channel: H2Channel) -> None:
        import hpack

        self.channel = channel
        self.transport: asyncio.Transport | None = None
        self.encoder = hpack.Encoder()
        self.decoder = hpack.Decoder()
        self.calls: dict[int, H2Call] = {}
        self.closed = False
        self.goaway = False
        self.next_sid = 1
        self.rest = b""
        self.out: list[bytes] = []
        # the peer's settings (RFC 9113 defaults until its SETTINGS frame arrives)
        self.peer_window = _DEFAULT_WINDOW
        self.max_frame = 16384
        self.max_streams = 100  # what gRPC servers usually announce; updated by SETTINGS
        self.send_window = _DEFAULT_WINDOW
        self.recv_unacked = 0
        self.continuation: tuple[int, int, bytearray] | None = None

    # -- asyncio.Protocol ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast("asyncio.Transport", transport)  # uvloop's is no subclass
        settings = struct.pack(">HLHL", 2, 0, 4, _WINDOW)  # ENABLE_PUSH 0, INITIAL_WINDOW_SIZE
        self.transport.write(
            _PREFACE
            + _frame(_SETTINGS, 0, 0, settings)
            + _frame(_WINDOW_UPDATE, 0, 0, _U32.pack(_WINDOW - _DEFAULT_WINDOW))
        )

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        reason = f": {exc}" if exc else ""
        for call in list(self.calls.values()):
            self.finish(call, ConnectError(f"gRPC UNAVAILABLE: connection lost{reason}"))
        self.channel._lost(self)

    def data_received(self, data: bytes) -> None:
        self.received_at(data, now())

    def received_at(self, data: bytes, arrived: float) -> None:
        """``data`` reached the socket at ``arrived`` (the kernel's stamp, else read time)."""
        buf = self.rest + data if self.rest else data
        end = len(buf)
        i = 0
        try:
            while end - i >= 9:
                hi, lo, ftype, flags, sid = _HEAD.unpack_from(buf, i)
                stop = i + 9 + ((hi << 16) | lo)
                if stop > end:
                    break
                start = i + 9
                i = stop
                if ftype == _DATA:
                    self._data(sid, flags, buf[start:stop], arrived)
                else:
                    self._control(ftype, flags, sid & 0x7FFFFFFF, buf[start:stop])
        except Exception as exc:  # a frame we cannot make sense of: the connection is unusable
            self.rest = b""
            for call in list(self.calls.values()):
                self.finish(call, BadResponseError(f"HTTP/2 protocol error: {exc!r}"))
            if self.transport is not None:
                self.transport.close()
            return
        self.rest = buf[i:] if i < end else b""
        self.flush()

    # -- frames ---------------------------------------------------------------------------------

    def _data(self, sid: int, flags: int, payload: bytes, arrived: float) -> None:
        size = len(payload)
        self.recv_unacked += size
        if self.recv_unacked > _WINDOW // 2:
            self.out.append(_frame(_WINDOW_UPDATE, 0, 0, _U32.pack(self.recv_unacked)))
            self.recv_unacked = 0
        call = self.calls.get(sid)
        if call is None:
            return  # a stream we already ended (cancelled, or final response seen)
        call.recv_unacked += size
        if call.recv_unacked > _WINDOW // 2:
            self.out.append(_frame(_WINDOW_UPDATE, 0, sid, _U32.pack(call.recv_unacked)))
            call.recv_unacked = 0
        if flags & _PADDED:
            payload = payload[1 : size - payload[0]]
        buf = call.buf + payload if call.buf else payload
        while len(buf) >= 5:
            end = 5 + _U32.unpack_from(buf, 1)[0]
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
        if flags & _END_STREAM:
            self.finish(call, self._status(call))

    def _control(self, ftype: int, flags: int, sid: int, payload: bytes) -> None:
        if ftype == _HEADERS:
            if flags & _PADDED:
                payload = payload[1 : len(payload) - payload[0]]
            if flags & _PRIORITY:
                payload = payload[5:]
            if flags & _END_HEADERS:
                self._headers(sid, flags, payload)
            else:
                self.continuation = (sid, flags, bytearray(payload))
        elif ftype == _CONTINUATION:
            if self.continuation is None or self.continuation[0] != sid:
                raise ValueError("CONTINUATION without HEADERS")
            self.continuation[2].extend(payload)
            if flags & _END_HEADERS:
                first_sid, first_flags, block = self.continuation
                self.continuation = None
                self._headers(first_sid, first_flags, bytes(block))
        elif ftype == _WINDOW_UPDATE:
            increment = _U32.unpack_from(payload)[0] & 0x7FFFFFFF
            if sid == 0:
                self.send_window += increment
                for waiting in list(self.calls.values()):
                    if waiting.pending:
                        self.send_body(waiting)
            else:
                call = self.calls.get(sid)
                if call is not None:
                    call.send_window += increment
                    if call.pending:
                        self.send_body(call)
        elif ftype == _SETTINGS:
            if not flags & _ACK:
                self._settings(payload)
        elif ftype == _PING:
            if not flags & _ACK:
                self.out.append(_frame(_PING, _ACK, 0, payload))
        elif ftype == _RST_STREAM:
            call = self.calls.get(sid)
            if call is not None:
                code = _U32.unpack_from(payload)[0]
                if code == _REFUSED_STREAM:  # never processed: like UNAVAILABLE
                    error: Exception = ConnectError("gRPC UNAVAILABLE: stream refused")
                else:
                    error = GRPCStatusError("INTERNAL", f"stream reset by the server ({code})")
                self.finish(call, error)
        elif ftype == _GOAWAY:
            self.goaway = True
            last = _U32.unpack_from(payload)[0] & 0x7FFFFFFF
            for dropped in list(self.calls.values()):
                if dropped.stream_id > last:
                    self.finish(dropped, ConnectError("gRPC UNAVAILABLE: server going away"))
        elif ftype == _PUSH_PROMISE:
            raise ValueError("PUSH_PROMISE although push is disabled")
        # PRIORITY and unknown frame types are ignored, as RFC 9113 asks

    def _headers(self, sid: int, flags: int, block: bytes) -> None:
        # always decode: the HPACK table is shared by every stream of the connection
        headers = self.decoder.decode(block, raw=True)
        call = self.calls.get(sid)
        if call is None:
            return
        if not call.got_headers:
            call.got_headers = True
            call.headers = dict(headers)
        else:
            call.headers.update(headers)
        if flags & _END_STREAM:
            self.finish(call, self._status(call))

    def _settings(self, payload: bytes) -> None:
        for k in range(0, len(payload) - 5, 6):
            key, value = struct.unpack_from(">HL", payload, k)
            if key == 1:
                self.encoder.header_table_size = value
            elif key == 3:
                self.max_streams = value
            elif key == 4:
                delta = value - self.peer_window
                self.peer_window = value
                for call in self.calls.values():
                    call.send_window += delta
            elif key == 5:
                self.max_frame = value
        self.out.append(_frame(_SETTINGS, _ACK, 0))
        for waiting in list(self.calls.values()):
            if waiting.pending:
                self.send_body(waiting)

    # -- sending -------------------------------------------------------------------------------

    def flush(self) -> None:
        """Write the frames queued so far, in one syscall."""
        out = self.out
        if out:
            self.out = []
            if self.transport is not None and not self.closed:
                self.transport.write(b"".join(out) if len(out) > 1 else out[0])

    def start(self, call: H2Call, headers: list[tuple[bytes, bytes]], payload: bytes) -> None:
        """Queue HEADERS (with CONTINUATION if long) and as much of the body as windows allow."""
        block = self.encoder.encode(headers)
        sid = call.stream_id
        first, block = block[: self.max_frame], block[self.max_frame :]
        self.out.append(_frame(_HEADERS, 0 if block else _END_HEADERS, sid, first))
        while block:
            piece, block = block[: self.max_frame], block[self.max_frame :]
            self.out.append(_frame(_CONTINUATION, 0 if block else _END_HEADERS, sid, piece))
        call.pending = len(payload).to_bytes(5, "big") + payload  # flag 0: not compressed
        self.send_body(call)

    def send_body(self, call: H2Call) -> None:
        while call.pending:
            size = min(len(call.pending), self.send_window, call.send_window, self.max_frame)
            if size <= 0:
                return  # the rest goes when the server opens a window (WINDOW_UPDATE)
            chunk, call.pending = call.pending[:size], call.pending[size:]
            self.send_window -= size
            call.send_window -= size
            flags = 0 if call.pending else _END_STREAM
            self.out.append(_frame(_DATA, flags, call.stream_id, chunk))

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
            self.out.append(_frame(_RST_STREAM, 0, call.stream_id, _U32.pack(_CANCEL)))
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
        kernel_timing: bool = False,
    ) -> None:
        self.host = host
        self.port = port
        self.ssl = ssl_context
        #: Plain connections read with kernel receive stamps (:mod:`.stamped_socket`).
        self.clock = KernelClock() if kernel_timing and ssl_context is None else None
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
            if self.clock is not None:
                _, made = await open_stamped(
                    lambda: _Protocol(self), self.host, self.port, self.clock
                )
            else:
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

    async def call(
        self, path: bytes, payload: bytes, on_message: OnMessage, timeout: float | None = None
    ) -> H2Call:
        """Start a call sending one message; the returned call's ``done`` resolves at its end.
        Its ``sent`` is set when it went over a connection already open (no connect or
        handshake in it)."""
        current = self._proto
        open_before = current if current is not None and not current.closed else None
        proto = await self._connection()
        while len(proto.calls) >= proto.max_streams or proto.next_sid > 0x7FFFFFFF:
            if proto.next_sid > 0x7FFFFFFF:  # stream ids used up: a fresh connection
                proto.goaway = True
                proto = await self._connection()
                continue
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            await waiter
            proto = await self._connection()
        sid = proto.next_sid
        proto.next_sid += 2
        headers = [*self._base, (b":path", path)]
        if timeout is not None:
            headers.append((b"grpc-timeout", b"%dm" % max(1, int(timeout * 1000))))
        loop = asyncio.get_running_loop()
        call = H2Call(sid, on_message, loop.create_future(), proto.peer_window)
        proto.calls[sid] = call
        if timeout is not None:
            call.deadline = loop.call_later(
                timeout,
                proto.finish,
                call,
                RequestTimeoutError(f"gRPC DEADLINE_EXCEEDED: no answer within {timeout:g} s"),
                True,
            )
        proto.start(call, headers, payload)
        if proto is open_before:
            call.sent = now()  # the call's bytes go to the kernel now, inside this flush
        proto.flush()
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
            # GOAWAY names the last *server*-initiated stream we took: none (no push)
            proto.out.append(_frame(_GOAWAY, 0, 0, _U32.pack(0) + _U32.pack(0)))
            proto.flush()
            proto.transport.close()
