"""Kernel receive timestamps: every read carries the time its bytes reached the socket.

A chunk's arrival time stamped when the worker's event loop gets round to reading it carries the
client's own lag: under load the loop is busy with other streams, the process waits for a core,
and both show up as server latency. Linux stamps each incoming packet as it enters the network
stack and hands the stamp over with the bytes (``SO_TIMESTAMPNS``, ``recvmsg`` ancillary data).
:class:`StampedTransport` reads a TCP socket itself with ``recvmsg`` (``loop.add_reader``) and
gives its protocol ``received_at(data, arrived)`` with that stamp converted once to
``time.perf_counter()``: no loop lag, no scheduling delay in it.

What remains: TCP merges segments that wait unread in the socket into one, keeping the newest
stamp, so when the loop is late by more than the gap between two chunks, the earlier one is
stamped with the later one's time (still never later than today's read time).

The protocol side needs ``connection_made``, ``received_at``, ``connection_lost`` (and may have
``eof_received``); the transport offers the part of ``asyncio.Transport`` our HTTP/1.1 and
HTTP/2 clients use. Plain TCP only: TLS and platforms without the option keep loop stamping
(:func:`kernel_stamping`).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

__all__ = [
    "KernelClock",
    "StampedTransport",
    "choose_kernel_timing",
    "kernel_stamping",
    "open_stamped",
]

#: ``SO_TIMESTAMPNS`` (and its ``SCM_`` twin) on Linux with a 64-bit ``time_t``; Python's
#: ``socket`` module does not name it.
SO_TIMESTAMPNS = 35
_TIMESPEC = struct.Struct("=qq")
_unpack = _TIMESPEC.unpack
_ANC_SIZE = socket.CMSG_SPACE(_TIMESPEC.size) if hasattr(socket, "CMSG_SPACE") else 64
#: Bytes asked of one read. Python allocates this much per ``recvmsg`` and trims it after:
#: at 256 KiB that is an mmap per read (about 12 µs here), at 64 KiB an arena block (under 1).
_READ_SIZE = 64 * 1024
#: How often the wall-clock-to-perf_counter offset is measured again (a clock step), looked
#: at every so many reads.
_CALIBRATE_S = 1.0
_CHECK_EVERY = 64


def kernel_stamping() -> bool:
    """Whether this platform gives TCP receive timestamps we can put on ``perf_counter``'s
    axis: Linux, a 64-bit ``time_t``, ``perf_counter`` on ``CLOCK_MONOTONIC``."""
    if not sys.platform.startswith("linux") or struct.calcsize("l") != 8:
        return False
    info = time.get_clock_info("perf_counter")
    return "CLOCK_MONOTONIC" in info.implementation and "RAW" not in info.implementation


def choose_kernel_timing(timing: str, obstacle: str | None) -> bool:
    """Whether a backend reads with kernel stamps for ``--backend-args timing=<timing>``
    (``auto``, ``kernel`` or ``loop``); ``obstacle`` names what in the backend's own settings
    stands in the way (``None``: nothing). With ``timing=kernel`` an obstacle is a
    :class:`~guidellm.errors.UserError` naming it."""
    if timing == "loop":
        return False
    if obstacle is None and not kernel_stamping():
        obstacle = "this platform gives no TCP receive timestamps (Linux does)"
    if obstacle is None:
        return True
    if timing == "kernel":
        from guidellm.errors import UserError

        raise UserError(f"--backend-args timing=kernel: {obstacle}; use timing=auto")
    return False


class KernelClock:
    """Turns ``SO_TIMESTAMPNS`` stamps (``CLOCK_REALTIME``) into ``perf_counter`` seconds.

    The offset between the two clocks is taken from the tightest of a few bracketed readings
    (well under a microsecond here) and measured again at most once a second, looked at every
    64 reads and at each new connection: NTP slews both clocks alike, but a step of the wall
    clock moves the offset. A stamp later than the read is impossible: it is measured again
    then, and the stamp is never later than the read. ``missing`` counts reads that came
    without a stamp (stamped at read time instead), ``reads`` the reads, to within 64.
    """

    def __init__(self) -> None:
        self.missing = 0
        self.reads = 0
        self._sec = 0
        self._nsec = 0
        self._countdown = _CHECK_EVERY
        self._next = 0.0
        self.calibrate()

    def calibrate(self) -> None:
        best = 1 << 62
        offset = 0
        for _ in range(8):
            before = time.perf_counter_ns()
            real = time.clock_gettime_ns(time.CLOCK_REALTIME)
            after = time.perf_counter_ns()
            if after - before < best:
                best = after - before
                offset = real - (before + after) // 2
        self._sec, self._nsec = divmod(offset, 1_000_000_000)
        self._next = time.perf_counter() + _CALIBRATE_S

    def arrival(self, ancillary: list[tuple[int, int, bytes]]) -> float:
        """The ``perf_counter`` time a read's bytes arrived, from its ancillary data (the only
        option asked for is the stamp, so the first item is it). The hot path: one clock
        read, to hold the stamp to the read's own time."""
        self._countdown -= 1
        if not self._countdown:
            self._countdown = _CHECK_EVERY
            self.reads += _CHECK_EVERY
            if time.perf_counter() >= self._next:
                self.calibrate()
        if ancillary:
            sec: int
            nsec: int
            sec, nsec = _unpack(ancillary[0][2])
            stamp = (sec - self._sec) + (nsec - self._nsec) * 1e-9
            now = time.perf_counter()
            if stamp <= now:
                return stamp
            self.calibrate()  # the wall clock stepped forward since the last measurement
            stamp = (sec - self._sec) + (nsec - self._nsec) * 1e-9
            return stamp if stamp <= now else now
        self.missing += 1
        return time.perf_counter()

    @property
    def mostly_stamped(self) -> bool:
        """Reads without a stamp are at most 1 % (the first packets after timestamping is
        first switched on in the kernel can come without one)."""
        return self.missing * 100 <= self.reads + _CHECK_EVERY - self._countdown


if TYPE_CHECKING:  # a Protocol class costs a millisecond to create at import

    class _StampedProtocol(Protocol):
        def connection_made(self, transport: Any) -> None: ...
        def received_at(self, data: bytes, arrived: float) -> None: ...
        def connection_lost(self, exc: Exception | None) -> None: ...


class StampedTransport:
    """A connected TCP socket read with ``recvmsg`` from the loop's reader callback.

    Writes go straight to ``send`` (what did not fit waits for the socket to drain), so a
    request's bytes are in the kernel when :meth:`write` returns, as with asyncio's own
    transports. One read per readiness callback, up to 64 KiB.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: socket.socket,
        protocol: _StampedProtocol,
        clock: KernelClock,
    ) -> None:
        self._loop = loop
        self._sock = sock
        self._fd = sock.fileno()
        self._protocol = protocol
        self._clock = clock
        self._closing = False  # no more writes (buffered ones may still drain)
        self._ended = False  # connection_lost is scheduled
        self._reading = True
        self._eof = False
        self._out = bytearray()
        # bound once: the read path is per token
        self._recvmsg = sock.recvmsg
        self._received = protocol.received_at
        self._arrival = clock.arrival
        # Registered first: a protocol that fails in connection_made (a write refused) ends
        # the transport, and the end must find the reader to remove.
        loop.add_reader(self._fd, self._on_readable)
        try:
            protocol.connection_made(self)
        except BaseException:
            loop.remove_reader(self._fd)
            raise

    # -- reading ------------------------------------------------------------------------------

    def _on_readable(self) -> None:
        try:
            data, ancillary, _flags, _addr = self._recvmsg(_READ_SIZE, _ANC_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._fail(exc)
            return
        try:
            if data:
                self._received(data, self._arrival(ancillary))
                return
            eof = getattr(self._protocol, "eof_received", None)
            keep_open = eof() if eof is not None else False
        except Exception as exc:  # as asyncio's transports do: the connection is done for
            self._fail(exc)
            return
        if keep_open:  # half-closed: nothing more to read (a socket at EOF stays readable)
            self._eof = True
            self.pause_reading()
        else:
            self.close()

    def pause_reading(self) -> None:
        if self._reading and not self._ended:
            self._reading = False
            self._loop.remove_reader(self._fd)

    def resume_reading(self) -> None:
        if not self._reading and not self._closing and not self._eof:
            self._reading = True
            self._loop.add_reader(self._fd, self._on_readable)

    # -- writing ------------------------------------------------------------------------------

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._closing or not data:
            return
        if self._out:
            self._out += data
            return
        try:
            sent = self._sock.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError as exc:
            self._fail(exc)
            return
        if sent < len(data):
            self._out += memoryview(data)[sent:]
            self._loop.add_writer(self._fd, self._on_writable)

    def writelines(self, chunks: list[bytes]) -> None:
        self.write(b"".join(chunks))

    def _on_writable(self) -> None:
        try:
            sent = self._sock.send(self._out)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._fail(exc)
            return
        del self._out[:sent]
        if not self._out:
            self._loop.remove_writer(self._fd)
            if self._closing:  # close() waited for this
                self._end(None)

    def get_write_buffer_size(self) -> int:
        return len(self._out)

    # -- the end ------------------------------------------------------------------------------

    def is_closing(self) -> bool:
        return self._closing

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "socket":
            return self._sock
        if name in ("peername", "sockname"):
            with contextlib.suppress(OSError):
                return getattr(self._sock, f"get{name}")()
        return default

    def close(self) -> None:
        """Stop reading now, send what is buffered (a GOAWAY, say), then close and tell the
        protocol on the next loop pass, as asyncio's transports do."""
        if self._closing:
            return
        self._closing = True
        if self._out:
            self.pause_reading()  # the writer callback ends it once drained
        else:
            self._end(None)

    def abort(self) -> None:
        """Close now, dropping what is buffered."""
        self._end(None)

    def _fail(self, exc: Exception) -> None:
        self._end(exc)

    def _end(self, exc: Exception | None) -> None:
        if self._ended:
            return
        self._ended = self._closing = True
        if self._reading:
            self._reading = False
            self._loop.remove_reader(self._fd)
        if self._out:
            self._out.clear()
            self._loop.remove_writer(self._fd)
        self._loop.call_soon(self._lost, exc)

    def _lost(self, exc: Exception | None) -> None:
        try:
            self._protocol.connection_lost(exc)
        finally:
            self._sock.close()


def _numeric(host: str) -> int | None:
    """The address family of a numeric ``host`` (no resolver round trip), else ``None``."""
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
        except OSError:
            continue
        return family
    return None


async def open_stamped(
    factory: Callable[[], _StampedProtocol], host: str, port: int, clock: KernelClock
) -> tuple[StampedTransport, _StampedProtocol]:
    """Connect to ``host:port`` (each address in turn) with receive timestamps on; raises
    ``OSError`` as ``loop.create_connection`` would."""
    loop = asyncio.get_running_loop()
    family = _numeric(host)
    if family is not None:
        addresses: list[tuple[Any, ...]] = [(family, (host, port))]
    else:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        addresses = [(info[0], info[4]) for info in infos]
    last: OSError | None = None
    for family, address in addresses:
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            await loop.sock_connect(sock, address)
        except OSError as exc:
            sock.close()
            last = exc
            continue
        except BaseException:
            sock.close()
            raise
        try:
            protocol = factory()
            clock.calibrate()  # once per connection: a clock step meanwhile is caught here
            return StampedTransport(loop, sock, protocol, clock), protocol
        except BaseException:
            sock.close()
            raise
    raise last or OSError(f"no address for {host}:{port}")
