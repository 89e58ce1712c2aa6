"""A hostile OpenAI-compatible server: one broken behaviour per instance, for chaos tests.

The mock server fails politely (a 500, a reset, a stall at a chosen rate); this one breaks the
protocol the way proxies, overloaded engines and buggy servers do: a health check that trickles
one byte a second, a stream that hangs after its headers, a reset mid-stream, garbage instead
of SSE, one enormous event, a connection closed before any header, and an error body that
echoes the request's headers (credentials included). It counts every generation request it
received, so a test can hold the client's ledger (sent = successful + errored + incomplete)
against the server's own count.

```python
with HostileServer("echo_headers") as url:   # http://127.0.0.1:PORT, on a loop thread
    ...
```
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import threading
from typing import Any

import orjson

__all__ = ["MODES", "HostileServer"]

#: What each mode does to a generation request (``/health`` and ``/v1/models`` answer
#: normally except in ``trickle_health``).
MODES = {
    "trickle_health": "/health answers one byte a second, forever",
    "hang_after_headers": "200 and SSE headers, then nothing",
    "reset_mid_stream": "three tokens, then a TCP reset",
    "echo_headers": "HTTP 500 whose message repeats the request headers and basic credentials",
    "echo_in_text": "a normal stream whose generated text repeats the request headers",
    "garbage": "200 text/event-stream, then bytes that are not SSE",
    "enormous_chunks": "one 4 MiB token, then [DONE]",
    "close_before_headers": "the connection closed before any response byte",
    "ok": "a normal 8-token stream",
}

_MODEL = "hostile-model"
_SSE_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
)


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def _event(text: str) -> bytes:
    body = {"choices": [{"index": 0, "delta": {"content": text}}]}
    return _chunk(b"data: " + orjson.dumps(body) + b"\n\n")


def _usage(tokens: int) -> bytes:
    usage = {"prompt_tokens": 4, "completion_tokens": tokens, "total_tokens": tokens + 4}
    return _chunk(b"data: " + orjson.dumps({"choices": [], "usage": usage}) + b"\n\n")


_DONE = _chunk(b"data: [DONE]\n\n") + b"0\r\n\r\n"


def _simple(status: int, body: bytes, ctype: bytes = b"application/json") -> bytes:
    return (
        b"HTTP/1.1 %d X\r\ncontent-type: %s\r\ncontent-length: %d\r\n\r\n"
        % (status, ctype, len(body))
        + body
    )


def _credentials(headers: dict[str, str]) -> str:
    """Every credential the request carried, decoded the way a careless server logs it."""
    parts = [f"{k}: {v}" for k, v in headers.items()]
    auth = headers.get("authorization", "")
    if auth.lower().startswith("basic "):
        with contextlib.suppress(ValueError):
            parts.append("user " + base64.b64decode(auth[6:]).decode(errors="replace"))
    return "; ".join(parts)


class HostileServer:
    """One hostile behaviour (a key of :data:`MODES`) on 127.0.0.1, in a loop thread."""

    def __init__(self, mode: str, host: str = "127.0.0.1", port: int = 0) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; one of {', '.join(MODES)}")
        self.mode = mode
        self.host = host
        self.port = port
        #: Generation requests received in full (their body read).
        self.requests = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    # -- life cycle ----------------------------------------------------------------------------

    def start(self) -> str:
        started = threading.Event()

        def main() -> None:
            loop = self._loop = asyncio.new_event_loop()
            self._server = loop.run_until_complete(
                asyncio.start_server(self._serve, self.host, self.port)
            )
            self.port = self._server.sockets[0].getsockname()[1]
            started.set()
            loop.run_forever()
            self._server.close()
            for writer in list(self._writers):
                writer.transport.abort()
            pending = asyncio.all_tasks(loop)  # a stream that hangs on purpose, for one
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.wait(pending))
            loop.close()

        self._thread = threading.Thread(target=main, name=f"hostile-{self.mode}", daemon=True)
        self._thread.start()
        if not started.wait(10):
            raise RuntimeError("hostile server did not start")
        return self.url

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop = None

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *_exc: Any) -> None:
        self.stop()

    # -- HTTP ----------------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, path = lines[0].split(" ")[:2]
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        name, _, value = line.partition(":")
                        headers[name.strip().lower()] = value.strip()
                length = int(headers.get("content-length", "0") or 0)
                body = await reader.readexactly(length) if length else b""
                if not await self._answer(method, path, headers, body, writer):
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            self._writers.discard(writer)
            writer.transport.abort()

    async def _answer(
        self, method: str, path: str, headers: dict[str, str], body: bytes, w: Any
    ) -> bool:
        """Answer one request; False closes the connection."""
        mode = self.mode
        if path.startswith("/health"):
            if mode == "trickle_health":
                w.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n")
                w.write(b"content-length: 1000000\r\n\r\n")
                while True:  # one byte a second: each resets a per-read timeout
                    w.write(b" ")
                    await w.drain()
                    await asyncio.sleep(1.0)
            w.write(_simple(200, b'{"status":"ok"}'))
            return True
        if path.startswith("/v1/models"):
            w.write(_simple(200, orjson.dumps({"data": [{"id": _MODEL, "object": "model"}]})))
            return True
        if path.startswith("/metrics"):
            text = b"hostile_requests_total %d\n" % self.requests
            w.write(_simple(200, text, b"text/plain"))
            return True
        if method != "POST":
            w.write(_simple(405, b'{"error":{"message":"method"}}'))
            return True
        self.requests += 1
        return await self._generate(headers, w)

    async def _generate(self, headers: dict[str, str], w: Any) -> bool:
        mode = self.mode
        if mode == "close_before_headers":
            return False
        if mode == "echo_headers":
            message = f"bad request from {_credentials(headers)}"
            w.write(_simple(500, orjson.dumps({"error": {"message": message}})))
            return True
        if mode == "garbage":
            w.write(_SSE_HEAD + _chunk(b"\x00\xff not an event {]\n\n" * 4) + b"0\r\n\r\n")
            return True
        w.write(_SSE_HEAD)
        if mode == "hang_after_headers":
            await w.drain()
            await asyncio.sleep(3600)
            return False
        if mode == "enormous_chunks":
            w.write(_event("x" * (4 << 20)) + _usage(1) + _DONE)
            return True
        tokens = [" word"] * 8
        if mode == "echo_in_text":
            tokens = [" echo: ", _credentials(headers), " end"]
        for k, token in enumerate(tokens):
            w.write(_event(token))
            await w.drain()
            await asyncio.sleep(0.005)
            if mode == "reset_mid_stream" and k == 2:
                sock = w.transport.get_extra_info("socket")
                if sock is not None:
                    import socket
                    import struct

                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                w.transport.abort()
                return False
        w.write(_usage(len(tokens)) + _DONE)
        await w.drain()
        return True
