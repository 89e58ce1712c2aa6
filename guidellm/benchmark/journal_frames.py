"""The journal's binary form: checksummed frames, and blocks of results packed small.

A journal file starts with :data:`MAGIC`; then come frames, each ``SYNC (4 bytes) | length
(u32 LE) | CRC-32 of the body (u32 LE) | body``. A body's first byte says what it holds:

* ``M``: one record (the run header, a benchmark's start or end...) as a msgpack map;
* ``R``: a block of results of one benchmark: the benchmark's index (u32 LE), then
  zlib-compressed msgpack ``[results, chunk counts, width, chunk deltas]``. Each result is a
  :class:`~guidellm.request.RequestResult` in its msgpack array form without its chunk times;
  those are whole microseconds after the request's start, delta-encoded per request, stored
  in the narrowest unsigned width that holds them (2, 4 or 8 bytes, signed when one goes
  back) with their bytes regrouped by significance, which zlib compresses several times
  better than floats (about 1.5 bytes per chunk of a real stream, well under one for a
  steady one).

The reader (:func:`scan_frames`) walks frame by frame. A frame whose header or checksum is
wrong is skipped by searching for the next ``SYNC`` that starts a sound frame; a frame cut
by the end of the file (a run killed while writing) ends the scan. Each skip is said once,
with the byte offset where it began, so a damaged journal still yields every sound record.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from itertools import chain
from typing import IO, Any

import msgspec
import numpy as np

from guidellm.request import RequestResult

__all__ = [
    "MAGIC",
    "RECORD",
    "RESULTS",
    "block_index",
    "decode_results",
    "encode_frame",
    "encode_results",
    "scan_frames",
]

MAGIC = b"\x89GLJ\r\n\x1a\n"
SYNC = b"\xa7\x1fJF"
RECORD = b"M"
RESULTS = b"R"
_HEAD = struct.Struct("<4sII")
_INDEX = struct.Struct("<I")
#: No sound frame is larger (a block of results is about a second of them).
_MAX_FRAME = 1 << 30
_SCAN = 1 << 20
_ZLIB_LEVEL = 1
_result_decoder = msgspec.msgpack.Decoder(list[RequestResult])
_block_decoder = msgspec.msgpack.Decoder(tuple[list[msgspec.Raw], bytes, int, bytes])


def encode_frame(body: bytes) -> bytes:
    """One frame: the sync mark, the body's length and checksum, the body."""
    return _HEAD.pack(SYNC, len(body), zlib.crc32(body)) + body


def encode_results(
    index: int, encoded: list[bytes], starts: list[float], times: list[list[float]]
) -> bytes:
    """A results block's body: results already msgpack-encoded without their chunk times,
    with each one's start and chunk times (see the module docstring)."""
    counts = np.fromiter(map(len, times), dtype=np.int64, count=len(times))
    total = int(counts.sum())
    if total:
        flat = np.fromiter(chain.from_iterable(times), dtype=np.float64, count=total)
        base = np.repeat(np.asarray(starts, dtype=np.float64), counts)
        micros = np.rint((flat - base) * 1e6).astype(np.int64)
        deltas = np.diff(micros, prepend=0)
        firsts = np.cumsum(counts)[:-1]
        firsts = firsts[counts[1:] > 0]
        deltas[firsts] = micros[firsts]  # each request's first chunk: from its own start
        width = _width(deltas)
        packed = _shuffle(deltas.astype(_DTYPES[width]))
    else:
        width, packed = 2, b""
    payload = msgspec.msgpack.encode(
        [
            [msgspec.Raw(e) for e in encoded],
            counts.astype(np.uint32).tobytes(),
            width,
            packed,
        ]
    )
    return RESULTS + _INDEX.pack(index) + zlib.compress(payload, _ZLIB_LEVEL)


def block_index(body: bytes) -> int:
    """The benchmark a results block belongs to, without decompressing it."""
    return int(_INDEX.unpack_from(body, 1)[0])


def decode_results(body: bytes) -> tuple[int, list[RequestResult]]:
    """A results block's benchmark index and results, chunk times restored (to the
    microsecond). Raises ``ValueError`` on a body that does not decode."""
    index = block_index(body)
    try:
        raw, counts_b, width, packed = _block_decoder.decode(zlib.decompress(body[5:]))
        results = _result_decoder.decode(msgspec.msgpack.encode(raw))
    except (zlib.error, msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ValueError(f"a results block does not decode: {exc}") from None
    counts = np.frombuffer(counts_b, dtype=np.uint32)
    if width not in _DTYPES or len(counts) != len(results):
        raise ValueError("a results block's chunk times do not match its results")
    if not len(packed):
        return index, results
    deltas = _unshuffle(packed, _DTYPES[width]).astype(np.int64)
    ends = np.cumsum(counts, dtype=np.int64)
    if len(deltas) != (int(ends[-1]) if len(ends) else 0):
        raise ValueError("a results block's chunk times do not match its results")
    # Each request's first delta is from its own start: undo the running sum across
    # requests by taking off what the entries before the request added.
    micros = np.cumsum(deltas)
    firsts = ends - counts
    carry = np.repeat(np.where(firsts > 0, micros[np.maximum(firsts - 1, 0)], 0), counts)
    offsets = (micros - carry) / 1e6
    start = 0
    for result, n in zip(results, counts.tolist(), strict=True):
        if n:
            stop = start + n
            result.chunk_times = (offsets[start:stop] + result.request_start).tolist()
            start = stop
    return index, results


_DTYPES: dict[int, Any] = {2: np.uint16, 4: np.uint32, 8: np.int64}


def _width(deltas: np.ndarray[Any, Any]) -> int:
    low, high = int(deltas.min()), int(deltas.max())
    if low >= 0 and high < 1 << 16:
        return 2
    if low >= 0 and high < 1 << 32:
        return 4
    return 8


def _shuffle(values: np.ndarray[Any, Any]) -> bytes:
    """The values' bytes grouped by significance (every lowest byte, then the next...)."""
    width = values.dtype.itemsize
    data: bytes = values.view(np.uint8).reshape(-1, width).T.tobytes()
    return data


def _unshuffle(data: bytes, dtype: Any) -> np.ndarray[Any, Any]:
    width = np.dtype(dtype).itemsize
    planes = np.frombuffer(data, dtype=np.uint8).reshape(width, -1)
    values: np.ndarray[Any, Any] = np.ascontiguousarray(planes.T).view(dtype).ravel()
    return values


def scan_frames(
    f: IO[bytes], size: int, skipped: list[tuple[int, int, str]]
) -> Iterator[tuple[int, bytes]]:
    """Every sound frame's offset and body from the file ``f`` (``size`` bytes, positioned
    after the magic). What is skipped is appended to ``skipped`` as ``(offset, bytes, why)``:
    ``torn`` for a frame the file's end cuts, ``unreadable`` for bytes that are no frame."""
    pos = f.tell()
    bad_from: int | None = None
    while pos < size:
        body, torn = _frame_at(f, pos, size)
        if body is not None:
            if bad_from is not None:
                skipped.append((bad_from, pos - bad_from, "unreadable"))
                bad_from = None
            yield pos, body
            pos += _HEAD.size + len(body)
            continue
        if torn and bad_from is None:
            # A frame the end of the file cuts, unless a damaged length only says so: then a
            # sound frame follows, and the bytes up to it are skipped as unreadable.
            # A sync mark inside damaged or compressed bytes is no frame: look on.
            later = _next_sync(f, pos + 1, size)
            while later < size and _frame_at(f, later, size)[0] is None:
                later = _next_sync(f, later + 1, size)
            if later >= size:
                skipped.append((pos, size - pos, "torn"))
                return
        if bad_from is None:
            bad_from = pos
        pos = _next_sync(f, pos + 1, size)
    if bad_from is not None:
        skipped.append((bad_from, size - bad_from, "unreadable"))


def _frame_at(f: IO[bytes], pos: int, size: int) -> tuple[bytes | None, bool]:
    """The body of the sound frame at ``pos`` (``None``: none), and whether what is there
    looks like a frame the end of the file cuts (a sync mark, or its start, too close to it)."""
    f.seek(pos)
    head = f.read(_HEAD.size)
    if len(head) < _HEAD.size:
        return None, head == SYNC[: len(head)] or head[:4] == SYNC
    sync, length, crc = _HEAD.unpack(head)
    if sync != SYNC or length > _MAX_FRAME:
        return None, False
    if pos + _HEAD.size + length > size:
        return None, True
    data = f.read(length)
    return (data if zlib.crc32(data) == crc else None), False


def _next_sync(f: IO[bytes], pos: int, size: int) -> int:
    """The offset of the next sync mark at or after ``pos`` (``size`` if there is none)."""
    while pos < size:
        f.seek(pos)
        data = f.read(_SCAN + len(SYNC) - 1)
        found = data.find(SYNC)
        if found >= 0:
            return pos + found
        pos += _SCAN
    return size
