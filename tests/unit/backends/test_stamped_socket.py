"""The kernel-stamped transport over real loopback sockets: stamps, writes, pauses, ends."""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from typing import Any

import pytest
import uvloop

from guidellm.backends.stamped_socket import (
    SO_TIMESTAMPNS,
    KernelClock,
    StampedTransport,
    choose_kernel_timing,
    kernel_stamping,
    open_stamped,
)
from guidellm.errors import UserError

pytestmark = pytest.mark.skipif(not kernel_stamping(), reason="kernel receive stamps: Linux")


class Recorder:
    """A protocol that keeps what the transport gives it."""

    keep_open_at_eof = False
    fail_on_read = False

    def __init__(self) -> None:
        self.reads: list[tuple[bytes, float]] = []
        self.lost: list[Exception | None] = []
        self.eof = 0
        self.transport: Any = None
        self.changed = asyncio.Event()

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def received_at(self, data: bytes, arrived: float) -> None:
        self.reads.append((data, arrived))
        self.changed.set()
        if self.fail_on_read:
            raise ValueError("a protocol bug")

    def eof_received(self) -> bool:
        self.eof += 1
        self.changed.set()
        return self.keep_open_at_eof

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost.append(exc)
        self.changed.set()

    async def until(self, done: Any, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            self.changed.clear()
            await asyncio.wait_for(self.changed.wait(), max(0.01, deadline - time.monotonic()))

    @property
    def data(self) -> bytes:
        return b"".join(d for d, _ in self.reads)


async def _pair(
    factory: type[Recorder] = Recorder, host: str = "127.0.0.1"
) -> tuple[StampedTransport, Recorder, socket.socket]:
    """A stamped client connection to ``host`` and the server's end of it (a blocking socket
    on 127.0.0.1)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    transport, protocol = await open_stamped(factory, host, port, KernelClock())
    peer, _ = listener.accept()
    listener.close()
    assert isinstance(transport, StampedTransport) and isinstance(protocol, Recorder)
    return transport, protocol, peer


def test_each_read_carries_when_its_bytes_arrived_not_when_it_was_read() -> None:
    async def go() -> tuple[float, float, float]:
        transport, protocol, peer = await _pair()
        sent = time.perf_counter()
        peer.sendall(b"token")
        time.sleep(0.05)  # the loop is busy: the bytes wait in the socket
        read_after = time.perf_counter()
        await protocol.until(lambda: protocol.reads)
        transport.close()
        peer.close()
        return sent, protocol.reads[0][1], read_after

    sent, arrived, busy_until = uvloop.run(go())
    assert 0 <= arrived - sent < 0.002  # the kernel's stamp: microseconds after the send
    assert busy_until - arrived > 0.045  # not the 50 ms later read


def test_a_paused_transport_reads_on_resume_with_the_arrival_times() -> None:
    async def go() -> tuple[int, list[tuple[bytes, float]], float, float]:
        transport, protocol, peer = await _pair()
        transport.pause_reading()
        sent = time.perf_counter()
        peer.sendall(b"a")
        await asyncio.sleep(0.05)
        while_paused = len(protocol.reads)
        resumed = time.perf_counter()
        transport.resume_reading()
        await protocol.until(lambda: protocol.reads)
        transport.close()
        peer.close()
        return while_paused, protocol.reads, sent, resumed

    while_paused, reads, sent, resumed = uvloop.run(go())
    assert while_paused == 0
    assert reads[0][0] == b"a"
    assert sent <= reads[0][1] < resumed - 0.04


def test_a_write_larger_than_the_socket_buffer_arrives_whole_and_in_order() -> None:
    payload = bytes(range(256)) * (16 * 1024)  # 4 MiB

    async def go() -> tuple[bytes, int]:
        transport, _protocol, peer = await _pair()
        transport.write(payload[:1000])
        transport.write(payload[1000:])  # queued behind what the kernel did not take
        peer.setblocking(False)
        got = bytearray()
        loop = asyncio.get_running_loop()
        while len(got) < len(payload):
            got += await loop.sock_recv(peer, 1 << 16)
            await asyncio.sleep(0)
        left = transport.get_write_buffer_size()
        transport.close()
        peer.close()
        return bytes(got), left

    got, left = uvloop.run(go())
    assert got == payload
    assert left == 0


def test_the_end_of_the_stream_is_told_once_after_the_last_bytes() -> None:
    async def go() -> Recorder:
        transport, protocol, peer = await _pair()
        peer.sendall(b"last words")
        peer.close()
        await protocol.until(lambda: protocol.lost)
        await asyncio.sleep(0.01)
        assert transport.is_closing()
        return protocol

    protocol = uvloop.run(go())
    assert protocol.data == b"last words"
    assert protocol.eof == 1
    assert protocol.lost == [None]


def test_close_sends_what_is_buffered_first() -> None:
    payload = b"x" * (8 << 20)  # more than the socket takes at once

    async def go() -> tuple[int, bool, list[Exception | None]]:
        transport, protocol, peer = await _pair()
        transport.write(payload)
        assert transport.get_write_buffer_size() > 0
        transport.close()  # a GOAWAY queued behind data: it must still leave
        transport.write(b"late")  # after close: dropped
        peer.setblocking(False)
        loop = asyncio.get_running_loop()
        got = 0
        while True:
            chunk = await loop.sock_recv(peer, 1 << 16)
            if not chunk:
                break
            got += len(chunk)
        await protocol.until(lambda: protocol.lost)
        peer.close()
        return got, transport.is_closing(), protocol.lost

    got, closing, lost = uvloop.run(go())
    assert got == len(payload)
    assert closing and lost == [None]


def test_a_protocol_error_while_reading_ends_the_connection_with_it() -> None:
    class Failing(Recorder):
        fail_on_read = True

    async def go() -> Recorder:
        transport, protocol, peer = await _pair(Failing)
        peer.sendall(b"data")
        await protocol.until(lambda: protocol.lost)
        assert transport.is_closing()
        peer.close()
        return protocol

    protocol = uvloop.run(go())
    assert len(protocol.lost) == 1 and isinstance(protocol.lost[0], ValueError)


def test_a_half_close_kept_open_reads_no_more_and_can_still_write() -> None:
    class HalfOpen(Recorder):
        keep_open_at_eof = True

    async def go() -> tuple[Recorder, bytes]:
        transport, protocol, peer = await _pair(HalfOpen)
        peer.shutdown(socket.SHUT_WR)
        await protocol.until(lambda: protocol.eof)
        await asyncio.sleep(0.05)  # a readable EOF must not be reported again and again
        transport.resume_reading()  # nothing left to read: stays off
        await asyncio.sleep(0.02)
        transport.write(b"reply")
        answer = peer.recv(16)
        transport.close()
        await protocol.until(lambda: protocol.lost)
        peer.close()
        return protocol, answer

    protocol, answer = uvloop.run(go())
    assert protocol.eof == 1
    assert answer == b"reply"
    assert protocol.lost == [None]


def test_a_reset_is_an_error_to_the_protocol() -> None:
    async def go() -> Recorder:
        transport, protocol, peer = await _pair()
        peer.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        peer.close()  # RST
        await protocol.until(lambda: protocol.lost)
        transport.close()  # already closing: no second report
        await asyncio.sleep(0.01)
        return protocol

    protocol = uvloop.run(go())
    assert len(protocol.lost) == 1
    assert isinstance(protocol.lost[0], ConnectionResetError)


def test_a_refused_connection_raises_as_create_connection_does() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nobody listens

    async def go() -> None:
        await open_stamped(Recorder, "127.0.0.1", port, KernelClock())

    with pytest.raises(ConnectionRefusedError):
        uvloop.run(go())


def test_a_host_name_is_resolved() -> None:
    async def go() -> bytes:
        transport, protocol, peer = await _pair(host="localhost")
        peer.sendall(b"hi")
        await protocol.until(lambda: protocol.reads)
        transport.close()
        peer.close()
        return protocol.data

    assert uvloop.run(go()) == b"hi"


def test_the_clock_puts_stamps_on_perf_counter_and_counts_reads_without_one() -> None:
    clock = KernelClock()
    real = time.clock_gettime_ns(time.CLOCK_REALTIME)
    mono = time.perf_counter()
    raw = struct.pack("=qq", *divmod(real, 1_000_000_000))
    assert abs(clock.arrival([(socket.SOL_SOCKET, SO_TIMESTAMPNS, raw)]) - mono) < 0.0005
    before = time.perf_counter()
    assert clock.arrival([]) >= before
    assert clock.missing == 1


@pytest.mark.parametrize(
    ("timing", "obstacle", "expected"),
    [("auto", None, True), ("loop", None, False), ("auto", "the target is https", False)],
)
def test_timing_choice(timing: str, obstacle: str | None, expected: bool) -> None:
    assert choose_kernel_timing(timing, obstacle) is expected


def test_insisting_on_kernel_timing_names_what_stands_in_the_way() -> None:
    with pytest.raises(UserError, match=r"timing=kernel: the target is https; use timing=auto"):
        choose_kernel_timing("kernel", "the target is https")
