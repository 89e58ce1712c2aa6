"""A TCP relay in front of an HTTP server that records every request it carries.

Tests use it to see what a client really sent (headers, body, which client connection)
to a real server (llama-server, the mock) without changing either: each client connection
gets its own upstream connection and bytes pass through untouched both ways; only the
requests are parsed (httptools), into :class:`RecordedRequest`.

    with RecordingProxy("http://127.0.0.1:8080") as url:
        ...  # point the client at url
    proxy.requests  # in the order they arrived
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httptools

__all__ = ["RecordedRequest", "RecordingProxy"]


@dataclass
class RecordedRequest:
    """One request as it reached the proxy."""

    method: str
    path: str
    #: Header names lower-cased (the last value of a repeated header).
    headers: dict[str, str]
    body: bytes
    #: The client connection's port: equal ports, same connection.
    client_port: int
    #: Its connection's index (0 for the first connection the proxy accepted).
    connection: int


@dataclass
class _Parsing:
    """httptools callbacks for one client connection."""

    port: int
    connection: int
    sink: list[RecordedRequest]
    url: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    body: list[bytes] = field(default_factory=list)
    parser: Any = None

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.sink.append(
            RecordedRequest(
                method=self.parser.get_method().decode(),
                path=self.url.decode("latin-1"),
                headers=self.headers,
                body=b"".join(self.body),
                client_port=self.port,
                connection=self.connection,
            )
        )
        self.url, self.headers, self.body = b"", {}, []


class RecordingProxy:
    """Relays 127.0.0.1:<port> to ``upstream`` (``http://host:port``) on its own thread."""

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        if parts.scheme != "http" or parts.hostname is None or parts.port is None:
            raise ValueError(f"upstream must be http://host:port, got {upstream!r}")
        self._up = (parts.hostname, parts.port)
        self.requests: list[RecordedRequest] = []
        self._connections = 0
        self._loop = asyncio.new_event_loop()
        self._thread: threading.Thread | None = None
        self._server: asyncio.AbstractServer | None = None
        self.url = ""

    def start(self) -> str:
        """Start relaying; returns the proxy's base URL."""
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            self._server = self._loop.run_until_complete(
                asyncio.start_server(self._client, "127.0.0.1", 0)
            )
            port = self._server.sockets[0].getsockname()[1]
            self.url = f"http://127.0.0.1:{port}"
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="recording-proxy", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the recording proxy did not start")
        return self.url

    def stop(self) -> None:
        if self._thread is None:
            return

        async def close() -> None:
            if self._server is not None:
                self._server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._thread = None
        self._loop.close()

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        index = self._connections
        self._connections += 1
        port = writer.get_extra_info("peername")[1]
        parsing = _Parsing(port, index, self.requests)
        parsing.parser = httptools.HttpRequestParser(parsing)
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._up)
        except OSError:
            writer.close()
            return

        async def upstream() -> None:
            while data := await up_reader.read(65536):
                writer.write(data)
                await writer.drain()
            writer.close()

        back = asyncio.create_task(upstream())
        try:
            while data := await reader.read(65536):
                parsing.parser.feed_data(data)
                up_writer.write(data)
                await up_writer.drain()
        except (ConnectionError, httptools.HttpParserError):
            pass
        finally:
            up_writer.close()
            with contextlib.suppress(Exception):
                await back
            writer.close()
