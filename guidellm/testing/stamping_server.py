"""A streaming chat server that writes its own send time into every token, for timing tests.

Each token's text is the ``time.perf_counter()`` reading taken just before the server handed
that token's bytes to the kernel (``"1234.5678901 "``), and each response carries
``X-Received-At``: when the server had read the whole request. On Linux ``perf_counter`` is
``CLOCK_MONOTONIC``, one clock for every process of the machine, so a client can hold its
recorded arrival times against the true send times token by token. One thread per connection,
blocking sockets, nothing else to do: its stamps are as close to the wire as Python gets.

    python -m guidellm.testing.stamping_server --ttft-ms 20 --itl-ms 10     # prints its port

or, in a test, ``with StampingServer(itl_ms=10).start() as url: ...`` (a real process, stopped
by PID). Routes: ``POST /v1/chat/completions`` and ``/v1/completions`` (streamed; ``max_tokens``
tokens, 16 by default), ``GET /health``, ``GET /v1/models`` (one model, ``stamp``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import socketserver
import subprocess
import sys
import time
from typing import Any

__all__ = ["StampingServer"]

_MODELS = b'{"object":"list","data":[{"id":"stamp","object":"model"}]}'


class _Handler(socketserver.BaseRequestHandler):
    ttft_s = 0.02
    itl_s = 0.01

    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buf = b""
        while True:
            while b"\r\n\r\n" not in buf:
                data = sock.recv(65536)
                if not data:
                    return
                buf += data
            head, buf = buf.split(b"\r\n\r\n", 1)
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            while len(buf) < length:
                data = sock.recv(65536)
                if not data:
                    return
                buf += data
            body, buf = buf[:length], buf[length:]
            received = time.perf_counter()
            if method == "GET":
                payload = _MODELS if path.startswith("/v1/models") else b"{}"
                sock.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (len(payload), payload)
                )
                continue
            self._stream(sock, json.loads(body or b"{}"), received, path)

    def _stream(self, sock: socket.socket, req: dict[str, Any], received: float, path: str) -> None:
        tokens = int(req.get("max_tokens") or 16)
        chat = "chat" in path
        sock.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            b"Transfer-Encoding: chunked\r\nX-Received-At: %.7f\r\n\r\n" % received
        )
        due = received + self.ttft_s
        for _ in range(tokens):
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            sent = time.perf_counter()
            text = f"{sent:.7f} "
            delta: dict[str, Any] = {"delta": {"content": text}} if chat else {"text": text}
            choice = {"index": 0, **delta}
            _send_event(sock, {"object": "chunk", "choices": [choice]})
            due += self.itl_s
        usage = {"prompt_tokens": 1, "completion_tokens": tokens, "total_tokens": tokens + 1}
        _send_event(sock, {"object": "chunk", "choices": [], "usage": usage})
        sock.sendall(b"e\r\ndata: [DONE]\n\n\r\n0\r\n\r\n")


def _send_event(sock: socket.socket, event: dict[str, Any]) -> None:
    data = b"data: " + json.dumps(event, separators=(",", ":")).encode() + b"\n\n"
    sock.sendall(b"%x\r\n%s\r\n" % (len(data), data))


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class StampingServer:
    """The server in its own process on a free loopback port; ``url`` once started."""

    def __init__(self, ttft_ms: float = 20.0, itl_ms: float = 10.0) -> None:
        self.ttft_ms = ttft_ms
        self.itl_ms = itl_ms
        self.url = ""
        self._proc: subprocess.Popen[str] | None = None

    def start(self) -> StampingServer:
        argv = [sys.executable, "-m", "guidellm.testing.stamping_server"]
        argv += ["--ttft-ms", str(self.ttft_ms), "--itl-ms", str(self.itl_ms)]
        self._proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline().strip()
        if not line.isdigit():
            self.stop()
            from guidellm.testing.process import TestServerError

            raise TestServerError(f"the stamping server did not start (printed {line!r})")
        self.url = f"http://127.0.0.1:{line}"
        return self

    def stop(self) -> None:
        if self._proc is not None:
            proc, self._proc = self._proc, None
            proc.terminate()
            proc.wait(10)

    def __enter__(self) -> StampingServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--ttft-ms", type=float, default=20.0)
    parser.add_argument("--itl-ms", type=float, default=10.0)
    args = parser.parse_args()
    _Handler.ttft_s = args.ttft_ms / 1000
    _Handler.itl_s = args.itl_ms / 1000
    with _Server(("127.0.0.1", args.port), _Handler) as server:
        print(server.server_address[1], flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            server.serve_forever()


if __name__ == "__main__":
    main()
