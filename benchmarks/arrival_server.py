"""A minimal OpenAI-style server that records when each request *arrived*, by the kernel.

For ``bench_replay.py``. Each connection has ``SO_TIMESTAMPNS`` on, so every read carries the
time the kernel received its first bytes (CLOCK_REALTIME); a request's arrival is that time for
the read that began it, converted to the client's clock (CLOCK_MONOTONIC, ``perf_counter``)
with an offset taken at start-up. This is when the request reached the server, whatever the
server process was doing then: a Python server's own scheduling delay on shared cores is not
charged to the client. Answers are pre-rendered (nginx-like): ``/health``, ``/v1/models`` and
a streamed ``/v1/completions`` of ``--tokens`` chunks, written at once.

    python benchmarks/arrival_server.py OUT.jsonl [--tokens 4]

Prints ``LISTENING <url>``; on SIGTERM writes one ``[arrival, prompt]`` JSON array per
generation request to OUT.jsonl and exits.
"""

from __future__ import annotations

import argparse
import json
import selectors
import signal
import socket
import struct
import sys
import time
from pathlib import Path

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
_ANCILLARY = socket.CMSG_SPACE(16)


def _clock_offset() -> float:
    """CLOCK_REALTIME minus CLOCK_MONOTONIC, from the tightest of a few paired readings."""
    best = None
    for _ in range(50):
        a = time.perf_counter()
        r = time.time()
        b = time.perf_counter()
        if best is None or b - a < best[0]:
            best = (b - a, r - (a + b) / 2)
    assert best is not None
    return best[1]


def _sse(tokens: int) -> bytes:
    def event(obj: object) -> str:
        return "data: " + json.dumps(obj, separators=(",", ":")) + "\n\n"

    parts = []
    for i in range(tokens):
        finish = "length" if i == tokens - 1 else None
        choice = {"index": 0, "text": " tok", "finish_reason": finish}
        parts.append(event({"id": "c", "object": "text_completion", "choices": [choice]}))
    usage = {"prompt_tokens": 1, "completion_tokens": tokens, "total_tokens": tokens + 1}
    parts.append(event({"id": "c", "object": "text_completion", "choices": [], "usage": usage}))
    parts.append("data: [DONE]\n\n")
    return "".join(parts).encode()


def _response(body: bytes, ctype: bytes) -> bytes:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n" % (
        ctype,
        len(body),
    )
    return head + body


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--tokens", type=int, default=4)
    args = parser.parse_args()
    answers = {
        b"/health": _response(b'{"status":"ok"}', b"application/json"),
        b"/v1/models": _response(
            b'{"object":"list","data":[{"id":"mock-model","object":"model"}]}',
            b"application/json",
        ),
        b"/v1/completions": _response(_sse(args.tokens), b"text/event-stream"),
    }
    missing = _response(b'{"error":"no route"}', b"application/json").replace(b"200 OK", b"404 X")
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen(1024)
    server.setblocking(False)
    selector = selectors.DefaultSelector()
    selector.register(server, selectors.EVENT_READ)
    offset = _clock_offset()
    running = [True]
    signal.signal(signal.SIGTERM, lambda *_: running.__setitem__(0, False))
    print(f"LISTENING http://127.0.0.1:{server.getsockname()[1]}", flush=True)
    buffers: dict[socket.socket, list] = {}  # [bytes so far, kernel time of its first read]
    arrivals: list[tuple[float, str]] = []
    while running[0]:
        for key, _ in selector.select(0.2):
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            if sock is server:
                conn, _ = server.accept()
                conn.setblocking(False)
                conn.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                selector.register(conn, selectors.EVENT_READ)
                buffers[conn] = [b"", None]
                continue
            try:
                data, ancillary, _flags, _addr = sock.recvmsg(1 << 20, _ANCILLARY)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data, ancillary = b"", []
            if not data:
                selector.unregister(sock)
                sock.close()
                buffers.pop(sock, None)
                continue
            state = buffers[sock]
            if not state[0]:
                for level, kind, raw in ancillary:
                    if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                        seconds, nanos = struct.unpack("qq", raw[:16])
                        state[1] = seconds + nanos * 1e-9 - offset
            state[0] += data
            while True:
                buf = state[0]
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    break
                head = buf[:end].split(b"\r\n")
                length = 0
                for line in head[1:]:
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                if len(buf) < end + 4 + length:
                    break
                body = buf[end + 4 : end + 4 + length]
                method, path = head[0].split(b" ")[:2]
                if method == b"POST" and path == b"/v1/completions":
                    arrivals.append((state[1], json.loads(body)["prompt"]))
                sock.sendall(answers.get(path, missing))
                state[0] = buf[end + 4 + length :]
                state[1] = None if not state[0] else state[1]
    with Path(args.out).open("w") as f:
        for arrived, prompt in arrivals:
            f.write(json.dumps([arrived, prompt]) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
