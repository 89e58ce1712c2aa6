"""Server-sent events: split a byte stream into event payloads, fast.

The streaming loop of the HTTP backend calls :meth:`SSEDecoder.feed` once per network read. A
read may carry many events (a fast server, or a slow reader) or part of one (an event split
across reads); both are handled by keeping the unfinished tail for the next read. The common
event, one ``data:`` line, takes a fast path with no per-line work; anything else (several
``data:`` lines, ``event:``/``id:``/``retry:`` fields, ``:`` comments used as keep-alives,
``\\r\\n`` line ends) goes through the general parser of the WHATWG SSE rules.
"""

from __future__ import annotations

__all__ = ["SSEDecoder", "SSEEvent", "parse_events"]

#: ``[DONE]`` as a whole event after another one (a blank line, then the line).
_DONE_EVENT = b"\n\ndata: [DONE]\n\n"


class SSEEvent:
    """A named event (``event: NAME``); plain message events are returned as bare bytes."""

    __slots__ = ("data", "event")

    def __init__(self, event: str, data: bytes) -> None:
        self.event = event
        self.data = data

    def __repr__(self) -> str:
        return f"SSEEvent({self.event!r}, {self.data!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SSEEvent) and other.event == self.event and other.data == self.data

    def __hash__(self) -> int:
        return hash((self.event, self.data))


def _parse_event(block: bytes) -> bytes | SSEEvent | None:
    """One event block (lines without the blank separator); ``None`` when it has no data."""
    data: list[bytes] = []
    event = b""
    for line in block.split(b"\n"):
        if not line or line[0] == 58:  # b":" starts a comment (keep-alive)
            continue
        name, colon, value = line.partition(b":")
        if colon and value[:1] == b" ":
            value = value[1:]
        if name == b"data":
            data.append(value)
        elif name == b"event":
            event = value
        # id and retry do not matter to a benchmark client; unknown fields are ignored (spec).
    if not data:
        return None
    payload = data[0] if len(data) == 1 else b"\n".join(data)
    if event and event != b"message":
        return SSEEvent(event.decode("utf-8", "replace"), payload)
    return payload


def parse_events(data: bytes) -> list[bytes | SSEEvent]:
    """Every event of ``data``, which must end at an event boundary (a blank line)."""
    decoder = SSEDecoder()
    return decoder.feed(data) + decoder.close()


class SSEDecoder:
    """Incremental decoder: ``feed(bytes) -> [payload, ...]`` with the unfinished tail kept.

    A payload is the event's ``data`` as ``bytes`` (``b"[DONE]"`` included: the caller decides
    what ends a stream), or an :class:`SSEEvent` for an event with a name other than
    ``message`` (for instance ``event: error``). Events without data (comments, keep-alives)
    produce nothing.
    """

    __slots__ = ("_tail", "batch", "done")

    def __init__(self) -> None:
        self._tail = b""
        #: The events behind the last JSON array :meth:`feed_json` returned (for a fallback).
        self.batch = b""
        #: :meth:`feed_json` saw ``data: [DONE]`` as the last event of a read.
        self.done = False

    def feed_json(self, data: bytes) -> tuple[bytes | None, list[bytes | SSEEvent]]:
        """Like :meth:`feed`, but when the complete events look like plain ``data: {...}``
        lines (the common case), return them as one JSON array ``b"[{...},{...}]"`` and
        ``[]``, so that the caller decodes a read in one call instead of one per event; a final
        ``data: [DONE]`` sets :attr:`done`. Otherwise return ``None`` and :meth:`feed`'s list.

        The array is built with one ``replace`` of the event separator ``\n\ndata: `` by a
        comma. JSON text holds no raw newline, so anything but single-line ``data:`` events
        (a comment, a second field, ``[DONE]`` before the end) leaves SSE syntax in the array
        and makes it invalid JSON: the caller must then parse :attr:`batch` with
        :func:`parse_events`, which handles every case.
        """
        if self._tail:
            data = self._tail + data
        cut = data.rfind(b"\n\n") + 2
        if cut < 2:
            self._tail = data
            return None, []
        complete = data if cut == len(data) else data[:cut]
        if complete[:7] == b"data: {" and b"\r" not in complete:
            self._tail = data[cut:]
            self.batch = complete
            joined = complete.replace(b"\n\ndata: ", b",")
            end = len(joined) - 2  # the final blank line
            if complete.endswith(_DONE_EVENT):
                self.done = True
                end -= len(b",[DONE]")
            return b"".join((b"[", memoryview(joined)[6:end], b"]")), []
        self._tail = b""
        return None, self.feed(data)

    def feed(self, data: bytes) -> list[bytes | SSEEvent]:
        if self._tail:
            data = self._tail + data
        if b"\r" in data:
            # Normalize CRLF and CR line ends; a CR at the very end may be half of a CRLF.
            keep_cr = data.endswith(b"\r")
            if keep_cr:
                data = data[:-1]
            data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
            if keep_cr:
                data += b"\r"
        blocks = data.split(b"\n\n")
        self._tail = blocks.pop()
        out: list[bytes | SSEEvent] = []
        append = out.append
        for block in blocks:
            if block[:6] == b"data: " and b"\n" not in block:
                append(block[6:])
            elif block:
                item = _parse_event(block.lstrip(b"\n"))
                if item is not None:
                    append(item)
        return out

    def close(self) -> list[bytes | SSEEvent]:
        """The stream ended: parse what is left, even without the final blank line.

        The SSE rules drop an unterminated event; being lenient here lets a server that omits
        the last blank line still deliver its ``[DONE]``.
        """
        tail, self._tail = self._tail.rstrip(b"\r\n"), b""
        if not tail:
            return []
        return self.feed(tail + b"\n\n")

    @property
    def pending(self) -> int:
        """Bytes of an unfinished event waiting for the next read."""
        return len(self._tail)
