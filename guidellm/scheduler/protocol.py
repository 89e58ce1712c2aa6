"""The messages between the parent and its RequestsWorkers, and their framing on pipes.

Compact on purpose (thousands of requests a second cross these pipes): msgspec structs
encoded as msgpack arrays, each frame a 4-byte little-endian length then the payload, many
requests or results per frame.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Callable
from typing import Any

import msgspec

from guidellm.request import GenerationRequest, RequestResult

__all__ = [
    "Done",
    "End",
    "Failed",
    "FrameReader",
    "Items",
    "Quit",
    "Ready",
    "Results",
    "Start",
    "Stats",
    "Stop",
    "Streams",
    "frame",
]

_HEADER = struct.Struct("<I")


# -- parent -> worker ------------------------------------------------------------------------


class Start(msgspec.Struct, tag="start", array_like=True):
    """Benchmark ``index`` begins at ``start_time``; closed loop when ``streams`` > 0."""

    index: int
    start_time: float
    streams: int
    max_concurrency: int
    keep_text: int = 0


class Items(msgspec.Struct, tag="items", array_like=True):
    """Requests to send; ``times`` are intended send times (empty for closed loop)."""

    index: int
    times: list[float]
    requests: list[GenerationRequest]


class Streams(msgspec.Struct, tag="streams", array_like=True):
    """Closed loop, from ``at`` on: keep ``streams`` requests in flight (a new stage)."""

    index: int
    streams: int
    at: float


class End(msgspec.Struct, tag="end", array_like=True):
    """No more requests for this benchmark: finish what is queued and in flight."""

    index: int


class Stop(msgspec.Struct, tag="stop", array_like=True):
    """A stop condition fired: drop the queue, cancel what is in flight."""

    index: int


class Quit(msgspec.Struct, tag="quit", array_like=True):
    """The run is over: shut the backend down and exit."""


ToWorker = Start | Items | Streams | End | Stop | Quit


# -- worker -> parent ------------------------------------------------------------------------


class Ready(msgspec.Struct, tag="ready", array_like=True):
    worker: int
    pid: int


class Results(msgspec.Struct, tag="results", array_like=True):
    index: int
    results: list[RequestResult]


class Stats(msgspec.Struct, tag="stats", array_like=True):
    """A few times a second: what the worker has in flight and queued, its CPU seconds so far
    and its worst event-loop lag (ms) since the previous Stats (the client's telemetry)."""

    worker: int
    in_flight: int
    queued: int
    cpu_s: float = 0.0
    lag_ms: float = 0.0


class Done(msgspec.Struct, tag="done", array_like=True):
    """The worker finished benchmark ``index``: every result has been sent before this."""

    index: int
    worker: int
    cpu_seconds: float
    loop_lags_ms: list[float]
    sent: int
    waited_for_slot: int
    #: Where its chunk arrival times came from (``Backend.timing_source``; "" unknown).
    timing_source: str = ""


class Failed(msgspec.Struct, tag="failed", array_like=True):
    """The worker could not start (or crashed); ``error`` is one line for the user."""

    worker: int
    error: str


ToParent = Ready | Results | Stats | Done | Failed

_encoder = msgspec.msgpack.Encoder()


def frame(message: Any) -> bytes:
    """One length-prefixed frame carrying ``message``."""
    payload = _encoder.encode(message)
    return _HEADER.pack(len(payload)) + payload


class FrameReader(asyncio.Protocol):
    """An asyncio read-pipe protocol that decodes frames and hands each message on."""

    def __init__(
        self,
        decoder: msgspec.msgpack.Decoder[Any],
        on_message: Callable[[Any], None],
        on_eof: Callable[[], None],
    ) -> None:
        self._decode = decoder.decode
        self._on_message = on_message
        self._on_eof = on_eof
        self._buffer = bytearray()

    def data_received(self, data: bytes) -> None:
        buf = self._buffer
        buf += data
        pos = 0
        size = len(buf)
        messages = []
        with memoryview(buf) as view:
            while size - pos >= 4:
                (length,) = _HEADER.unpack_from(buf, pos)
                end = pos + 4 + length
                if end > size:
                    break
                messages.append(self._decode(view[pos + 4 : end]))
                pos = end
        if pos:
            del buf[:pos]
        for message in messages:
            self._on_message(message)

    def eof_received(self) -> bool | None:
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._on_eof()


to_worker_decoder: msgspec.msgpack.Decoder[ToWorker] = msgspec.msgpack.Decoder(ToWorker)
to_parent_decoder: msgspec.msgpack.Decoder[ToParent] = msgspec.msgpack.Decoder(ToParent)
