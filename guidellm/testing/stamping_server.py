"""A streaming chat server that writes its own send time into every token, for timing tests.

Each token's text is the ``time.perf_counter()`` reading taken just before the server handed
that token's bytes to the kernel (``"1234.5678901 "``), and each response carries
``X-Received-At``: when the server had read the whole request. On Linux ``perf_counter`` is
``CLOCK_MONOTONIC``, one clock for every process of the machine, so a client can hold its
recorded arrival times against the true send times token by token. A uvloop server (its
writes go to the kernel at once): it may be late under load, its stamps never are.

    python -m guidellm.testing.stamping_server --ttft-ms 20 --itl-ms 10     # prints its port

or, in a test, ``with StampingServer(itl_ms=10).start() as server: ... server.url`` (a real
process, stopped by PID). Routes: ``POST /v1/chat/completions`` and ``/v1/completions``
(streamed; ``max_tokens`` tokens, 16 by default), ``GET /health``, ``GET /v1/models`` (one
model, ``stamp``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvloop

from guidellm.testing.process import RealServer, ServerProcess, free_port, http_ok

__all__ = ["StampingServer"]

_MODELS = b'{"object":"list","data":[{"id":"stamp","object":"model"}]}'


class _Connection(asyncio.Protocol):
    """One client connection: requests one after another (keep-alive), each streamed by a
    task that stamps every token as it writes it."""

    ttft_s = 0.02
    itl_s = 0.01

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.busy = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        self.buf += data
        self._next()

    def _next(self) -> None:
        if self.busy or b"\r\n\r\n" not in self.buf:
            return
        head, rest = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        if len(rest) < length:
            return
        received = time.perf_counter()
        body, self.buf = rest[:length], rest[length:]
        assert self.transport is not None
        if method == "GET":
            payload = _MODELS if path.startswith("/v1/models") else b"{}"
            self.transport.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n%s" % (len(payload), payload)
            )
            self._next()
            return
        self.busy = True
        request = json.loads(body or b"{}")
        asyncio.get_running_loop().create_task(self._stream(request, received, "chat" in path))

    async def _stream(self, req: dict[str, Any], received: float, chat: bool) -> None:
        transport = self.transport
        assert transport is not None
        tokens = int(req.get("max_tokens") or 16)
        transport.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            b"Transfer-Encoding: chunked\r\nX-Received-At: %.7f\r\n\r\n" % received
        )
        due = received + self.ttft_s
        for _ in range(tokens):
            pause = due - time.perf_counter()
            if pause > 0:
                await asyncio.sleep(pause)
            if transport.is_closing():
                return
            sent = time.perf_counter()  # the bytes go to the kernel in this write
            text = f"{sent:.7f} "
            delta: dict[str, Any] = {"delta": {"content": text}} if chat else {"text": text}
            transport.write(_event({"object": "chunk", "choices": [{"index": 0, **delta}]}))
            due += self.itl_s
        usage = {"prompt_tokens": 1, "completion_tokens": tokens, "total_tokens": tokens + 1}
        transport.write(_event({"object": "chunk", "choices": [], "usage": usage}))
        transport.write(b"e\r\ndata: [DONE]\n\n\r\n0\r\n\r\n")
        self.busy = False
        self._next()


def _event(event: dict[str, Any]) -> bytes:
    data = b"data: " + json.dumps(event, separators=(",", ":")).encode() + b"\n\n"
    return b"%x\r\n%s\r\n" % (len(data), data)


class StampingServer(RealServer):
    """The server in its own process on a free loopback port (``url`` once started), stopped
    by PID; a failed start raises :class:`~guidellm.testing.process.TestServerError` with the
    log tail."""

    def __init__(
        self,
        ttft_ms: float = 20.0,
        itl_ms: float = 10.0,
        log_dir: Path | None = None,
        timeout: float = 15.0,
    ) -> None:
        super().__init__(log_dir, timeout)
        self.ttft_ms = ttft_ms
        self.itl_ms = itl_ms
        self.url = ""

    def _launch(self) -> tuple[ServerProcess, Callable[[], bool]]:
        port = free_port()
        self.url = url = f"http://127.0.0.1:{port}"
        argv = [sys.executable, "-m", "guidellm.testing.stamping_server", "--port", str(port)]
        argv += ["--ttft-ms", str(self.ttft_ms), "--itl-ms", str(self.itl_ms)]
        log = self.log_dir / f"stamping-server-{port}.log"
        return ServerProcess("stamping-server", argv, log), lambda: http_ok(f"{url}/health")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--ttft-ms", type=float, default=20.0)
    parser.add_argument("--itl-ms", type=float, default=10.0)
    args = parser.parse_args()
    _Connection.ttft_s = args.ttft_ms / 1000
    _Connection.itl_s = args.itl_ms / 1000

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(_Connection, "127.0.0.1", args.port)
        print(server.sockets[0].getsockname()[1], flush=True)
        await server.serve_forever()

    with contextlib.suppress(KeyboardInterrupt):
        uvloop.run(serve())


if __name__ == "__main__":
    main()
