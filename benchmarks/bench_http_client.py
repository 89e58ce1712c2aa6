"""CPU cost of the ``openai_http`` backend per streamed request, against a target that is never
the bottleneck (nginx serving pre-rendered SSE bodies, see benchmarks/README.md).

For each client (our lean HTTP/1.1 transport, httpx's stock transport) and each number of
concurrent streams, one uvloop process sends requests in a closed loop through the real
``OpenAIHTTPBackend.resolve`` with a real ``ResponseRecorder`` and reports this process's CPU
milliseconds per request, plus body bytes and chunks parsed per CPU-second. A last line times
the SSE decoding and chunk handling alone (no sockets).

    python benchmarks/bench_http_client.py                       # starts nginx itself
    python benchmarks/bench_http_client.py --target http://127.0.0.1:8089 --tokens 128

Starting nginx needs ``nginx`` on PATH (``apt-get install -y nginx``) and the body generator
``gen_sse.py`` (``--gen-sse``, default ``$GUIDELLM_GEN_SSE`` or ``../shared/bench/gen_sse.py``
next to the checkout). nginx is stopped by its PID at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import uvloop

from guidellm.backends.openai_chunks import ChunkReader
from guidellm.backends.openai_http import OpenAIHTTPBackend
from guidellm.backends.sse import SSEDecoder
from guidellm.request import GenerationRequest, ResponseRecorder, now

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def nginx_target(gen_sse: Path, tokens: int) -> Iterator[tuple[str, Path]]:
    """Render the SSE bodies, start nginx on a free port, yield (url, dir); stop it by PID."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        sys.exit("nginx not found: apt-get install -y nginx (or pass --target URL)")
    if not gen_sse.exists():
        sys.exit(f"{gen_sse} not found: pass --gen-sse PATH (or --target URL)")
    with tempfile.TemporaryDirectory(prefix="bench-nginx-") as tmp:
        Path(tmp).chmod(0o755)  # nginx workers run as another user
        port = _free_port()
        subprocess.run(
            [sys.executable, str(gen_sse), tmp, "--tokens", str(tokens), "--port", str(port)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        proc = subprocess.Popen(
            [nginx, "-p", tmp, "-c", f"{tmp}/nginx.conf"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        sys.exit(f"nginx did not start; see {tmp}/error.log")
                    time.sleep(0.05)
            yield f"http://127.0.0.1:{port}", Path(tmp)
        finally:
            proc.send_signal(signal.SIGQUIT)  # graceful stop of master and worker
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


async def _run(  # noqa: PLR0917 - a private helper called once
    target: str, transport: str, streams: int, requests: int, fmt: str, tokens: int
) -> dict[str, float]:
    backend = OpenAIHTTPBackend(target, "anchor-model", transport=transport, request_format=fmt)
    await backend.startup(streams)
    request = GenerationRequest("r", prompt="hello", max_tokens=tokens)
    chunks = 0
    errors = 0

    async def one() -> None:
        nonlocal chunks, errors
        rec = ResponseRecorder(request, now())
        rec.start()
        try:
            await backend.resolve(request, rec)
        except Exception as exc:
            if not errors:
                print(f"first error: {type(exc).__name__}: {exc}", file=sys.stderr)
            errors += 1
        chunks += rec.content_chunks

    async def stream(n: int) -> None:
        for _ in range(n):
            await one()

    # Warm up: open every connection, fill caches.
    await asyncio.gather(*(stream(2) for _ in range(streams)))
    chunks = errors = 0
    per, extra = divmod(requests, streams)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    await asyncio.gather(*(stream(per + (i < extra)) for i in range(streams)))
    cpu = time.process_time() - cpu0
    wall = time.perf_counter() - wall0
    await backend.shutdown()
    return {"cpu": cpu, "wall": wall, "chunks": chunks, "errors": errors}


def parse_only(body: bytes, fmt: str, reads: int = 2000) -> dict[str, float]:
    """SSE decoding plus chunk handling with no I/O: the floor of the streaming path."""
    reader = ChunkReader(chat=fmt == "chat_completions")
    pieces = [body[i : i + 4096] for i in range(0, len(body), 4096)]
    request = GenerationRequest("r", prompt="x")
    chunks = 0
    cpu0 = time.process_time()
    for _ in range(reads):
        rec = ResponseRecorder(request, 0.0)
        dec = SSEDecoder()
        for piece in pieces:
            if reader.on_read(piece, now(), dec, rec):
                break
        chunks += rec.content_chunks
    cpu = time.process_time() - cpu0
    return {"cpu": cpu, "bytes": len(body) * reads, "chunks": chunks, "requests": reads}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", help="an already running target (skip starting nginx)")
    ap.add_argument(
        "--gen-sse",
        type=Path,
        default=Path(os.environ.get("GUIDELLM_GEN_SSE", ROOT.parent / "shared/bench/gen_sse.py")),
    )
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--streams", default="1,8,32")
    ap.add_argument("--requests", type=int, default=0, help="per run (default 400 x streams^.5)")
    ap.add_argument("--transports", default="lean,httpx")
    ap.add_argument("--format", default="chat_completions", dest="fmt")
    args = ap.parse_args()

    with contextlib.ExitStack() as stack:
        if args.target:
            target, body_dir = args.target, None
        else:
            target, body_dir = stack.enter_context(nginx_target(args.gen_sse, args.tokens))
        name = "chat.sse" if args.fmt == "chat_completions" else "completions.sse"
        body = (body_dir / name).read_bytes() if body_dir else b""
        print(
            f"target {target}  format {args.fmt}  tokens/request {args.tokens}  python "
            f"{sys.version.split()[0]}  uvloop {uvloop.__version__}"
        )
        print(
            f"{'transport':>9} {'streams':>7} {'requests':>8} {'CPU-ms/req':>10} "
            f"{'req/s':>7} {'MB/CPU-s':>8} {'chunks/CPU-s':>12} {'errors':>6}"
        )
        for transport in args.transports.split(","):
            for streams in (int(s) for s in args.streams.split(",")):
                n = args.requests or int(400 * streams**0.5)
                r = uvloop.run(_run(target, transport, streams, n, args.fmt, args.tokens))
                mb = len(body) * n / r["cpu"] / 1e6 if body else float("nan")
                print(
                    f"{transport:>9} {streams:>7} {n:>8} {1000 * r['cpu'] / n:>10.3f} "
                    f"{n / r['wall']:>7.0f} {mb:>8.1f} {r['chunks'] / r['cpu']:>12.0f} "
                    f"{r['errors']:>6.0f}"
                )
        if body:
            p = parse_only(body, args.fmt)
            print(
                f"parse-only (SSEDecoder + chunk handling, 4 KiB reads): "
                f"{1000 * p['cpu'] / p['requests']:.3f} CPU-ms/req, "
                f"{p['bytes'] / p['cpu'] / 1e6:.1f} MB/CPU-s, "
                f"{p['chunks'] / p['cpu']:.0f} chunks/CPU-s"
            )


if __name__ == "__main__":
    main()
