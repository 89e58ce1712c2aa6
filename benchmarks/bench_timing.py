"""How far are guidellm's TTFT and ITL from the truth while it is under load?

For each rate, ``guidellm run --profile constant`` runs against a server while a bare client in
this process samples the same server, one streamed request at a time, with the same request
shape (a 64-token prompt, 32 output tokens, chat completions). The bare client has no event
loop and nothing else to do: a blocking socket, ``sendall``, then ``recvmsg`` until ``[DONE]``.
It takes two times for every read: the kernel's receive timestamp (``SO_TIMESTAMPNS``: when
the bytes reached the socket, the reference) and ``perf_counter()`` after the read returned
(what a plain client would record). Its send time is taken as ``sendall`` is called, which is
when guidellm starts a request's clock too.

Printed per rate: the medians of TTFT and ITL of guidellm's report and of the bare client
(kernel and read-time), guidellm minus the bare kernel figure, guidellm's timing source, its
workers' loop lag (p99 and max), its CPU use and its client verdict.

    python benchmarks/bench_timing.py                          # the mock, 50/200/1000 req/s
    python benchmarks/bench_timing.py --rates 50,200,1000,1500 --seconds 20
    python benchmarks/bench_timing.py --llama --rates 5,10,20 --itl-tokens 16
        # llama-server (scripts/test-servers/setup.sh llama installs it)
    python benchmarks/bench_timing.py --target http://127.0.0.1:8000 --model m
        # a server you started

The mock is started with TTFT 50 ms and ITL 10 ms in its own process and stopped by PID.
Figures go in benchmarks/README.md with the command line.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from guidellm.backends.stamped_socket import SO_TIMESTAMPNS, KernelClock
from guidellm.mock_server import MockServer, MockServerConfig

_TOKEN = b'"choices":[{'
_PROMPT = " ".join(["word"] * 63)  # about 64 tokens; the mock's TTFT does not depend on it


class BareClient:
    """Sequential streamed requests over fresh connections; per request the send time and,
    per token chunk, the kernel receive time and the read-return time (perf_counter s)."""

    def __init__(self, url: str, model: str | None, tokens: int) -> None:
        parts = urlsplit(url)
        self.addr = (parts.hostname or "127.0.0.1", parts.port or 80)
        body: dict[str, object] = {
            "messages": [{"role": "user", "content": _PROMPT}],
            "max_tokens": tokens,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if model:
            body["model"] = model
        data = json.dumps(body).encode()
        self.request = (
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: %s:%d\r\n"
            b"Content-Type: application/json\r\nAccept-Encoding: identity\r\n"
            b"Content-Length: %d\r\nConnection: close\r\n\r\n"
            % (self.addr[0].encode(), self.addr[1], len(data))
        ) + data
        self.samples: list[tuple[float, list[float], list[float]]] = []
        self.clock = KernelClock()

    def one(self) -> None:
        with socket.create_connection(self.addr, timeout=30) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)  # stamps for the reference
            sent = time.perf_counter()
            sock.sendall(self.request)
            kernel: list[float] = []
            read: list[float] = []
            buf = b""
            while True:
                data, anc, _, _ = sock.recvmsg(65536, 64)
                returned = time.perf_counter()
                if not data:
                    break
                stamp = self.clock.arrival(anc)
                buf += data
                *events, buf = buf.split(b"\n\n")
                for event in events:
                    if _TOKEN in event and b'"content":""' not in event:
                        kernel.append(stamp)
                        read.append(returned)
                if b"data: [DONE]" in data:
                    break
        if len(kernel) >= 2:
            self.samples.append((sent, kernel, read))

    def run_until(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.one()
            except OSError as exc:
                print(f"bare client: {exc}", file=sys.stderr)
                time.sleep(0.1)

    def medians(self) -> dict[str, float]:
        def ttft(i: int) -> list[float]:
            return [(s[i][0] - s[0]) * 1e3 for s in self.samples]

        def itl(i: int) -> list[float]:
            return [(s[i][-1] - s[i][0]) * 1e3 / (len(s[i]) - 1) for s in self.samples]

        return {
            "n": len(self.samples),
            "ttft_kernel": statistics.median(ttft(1)),
            "ttft_read": statistics.median(ttft(2)),
            "itl_kernel": statistics.median(itl(1)),
            "itl_read": statistics.median(itl(2)),
        }


@contextlib.contextmanager
def mock_server(ttft_ms: float, itl_ms: float) -> Iterator[str]:
    """The mock in its own process on a free port, stopped by PID."""
    with MockServer(MockServerConfig(ttft_ms=ttft_ms, itl_ms=itl_ms)) as url:
        yield url


@contextlib.contextmanager
def llama_server() -> Iterator[str]:
    from guidellm.testing.llama import LlamaServer

    with LlamaServer(slots=64).start() as server:
        yield server.url


def one_rate(
    url: str,
    model: str | None,
    *,
    rate: float,
    seconds: float,
    tokens: int,
    profile: str,
    timing: str,
) -> dict[str, Any]:
    """guidellm at ``rate`` for ``seconds`` with the bare client sampling meanwhile."""
    with tempfile.TemporaryDirectory(prefix="bench-timing-") as tmp:
        report = Path(tmp) / "r.json"
        argv = [sys.executable, "-m", "guidellm", "run", "--target", url]
        argv += ["--profile", profile, "--rate", str(rate), "--max-seconds", str(seconds)]
        argv += ["--backend-args", f"timing={timing}", "--warmup", "2"]
        argv += ["--data", f"prompt_tokens=64,output_tokens={tokens}"]
        argv += ["--output", str(report), "--disable-console-outputs"]
        if model:
            argv += ["--model", model]
        env = {k: v for k, v in os.environ.items() if not k.startswith("GUIDELLM_")}
        run = subprocess.Popen(argv, env=env)
        bare = BareClient(url, model, tokens)
        time.sleep(2.0)  # guidellm started, sending, and past its warmup
        stop = threading.Event()
        sampler = threading.Thread(target=bare.run_until, args=(stop,), daemon=True)
        sampler.start()
        time.sleep(max(1.0, seconds - 2.0))
        stop.set()
        sampler.join(30)
        if run.wait(120) != 0:
            raise SystemExit(f"guidellm run exited with {run.returncode}")
        bench = json.loads(report.read_text())["benchmarks"][0]
    metrics, client = bench["metrics"], bench["client"]
    return {
        "profile": profile,
        "rate": rate,
        "achieved": metrics["requests_per_second"]["successful"],
        "ttft": metrics["time_to_first_token_ms"]["successful"]["median"],
        "itl": metrics["inter_token_latency_ms"]["successful"]["median"],
        "source": client.get("timing_source", "loop"),
        "lag_p99": client["loop_lag_ms_p99"],
        "lag_max": client["loop_lag_ms_max"],
        "cpu_busy": client["cpu_busy"],
        "limited": client["limited"],
        "bare": bare.medians(),
    }


def truth_rate(
    url: str, *, rate: float, seconds: float, tokens: int, profile: str, timing: str
) -> dict[str, Any]:
    """guidellm at ``rate`` against the stamping server: every token's recorded arrival held
    against the send time the server wrote into it (its own requests, its own load)."""
    from guidellm.benchmark.journal import read_journal

    with tempfile.TemporaryDirectory(prefix="bench-timing-") as tmp:
        report, journal = Path(tmp) / "r.json", Path(tmp) / "r.journal"
        argv = [sys.executable, "-m", "guidellm", "run", "--target", url, "--model", "stamp"]
        argv += ["--profile", profile, "--rate", str(rate), "--max-seconds", str(seconds)]
        argv += ["--backend-args", f"timing={timing}", "--output-sampling", "100000"]
        argv += ["--data", f"prompt_tokens=64,output_tokens={tokens}"]
        argv += ["--output", str(report), "--journal", str(journal)]
        argv += ["--disable-console-outputs"]
        env = {k: v for k, v in os.environ.items() if not k.startswith("GUIDELLM_")}
        if subprocess.run(argv, env=env, check=False).returncode != 0:
            raise SystemExit("guidellm run failed")
        bench = json.loads(report.read_text())["benchmarks"][0]
        token_err: list[float] = []
        first_err: list[float] = []
        itl_err: list[float] = []
        for kind, record in read_journal(journal):
            if kind != "result":
                continue
            result = record[1]
            if result.status != "successful" or not result.output_text:
                continue
            sent = [float(t) for t in result.output_text.split()]
            got = result.chunk_times
            if len(sent) != len(got) or len(got) < 2:
                continue
            token_err += [(g - s) * 1e3 for g, s in zip(got, sent, strict=True)]
            first_err.append((got[0] - sent[0]) * 1e3)
            true_itl = (sent[-1] - sent[0]) / (len(sent) - 1)
            itl_err.append(((got[-1] - got[0]) / (len(got) - 1) - true_itl) * 1e3)
    client = bench["client"]
    token_err.sort()
    return {
        "profile": profile,
        "rate": rate,
        "achieved": bench["metrics"]["requests_per_second"]["successful"],
        "source": client.get("timing_source", "loop"),
        "requests": len(first_err),
        "first": statistics.median(first_err),
        "token": statistics.median(token_err),
        "token_p99": token_err[int(len(token_err) * 0.99)],
        "itl": statistics.median(itl_err),
        "lag_p99": client["loop_lag_ms_p99"],
        "cpu_busy": client["cpu_busy"],
        "limited": client["limited"],
    }


def truth_main(args: argparse.Namespace) -> None:
    from guidellm.testing.stamping_server import StampingServer

    head = (
        "| arrivals | rate | achieved | source | requests | first token error | token error "
        "median / p99 | ITL error | loop lag p99 | cpu_busy | limited |"
    )
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    with StampingServer(ttft_ms=args.ttft_ms, itl_ms=args.itl_ms).start() as server:
        for profile in args.profiles.split(","):
            for rate in (float(r) for r in args.rates.split(",")):
                for timing in args.timings.split(","):
                    r = truth_rate(
                        server.url,
                        rate=rate,
                        seconds=args.seconds,
                        tokens=args.tokens,
                        profile=profile,
                        timing=timing,
                    )
                    print(
                        f"| {r['profile']} | {r['rate']:g} | {r['achieved']:.1f} "
                        f"| {r['source']} | {r['requests']} | {r['first']:+.3f} "
                        f"| {r['token']:+.3f} / {r['token_p99']:+.3f} | {r['itl']:+.4f} "
                        f"| {r['lag_p99']:.2f} | {r['cpu_busy']:.2f} | {r['limited']} |",
                        flush=True,
                    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rates", default="50,200,1000", help="requests/s, comma separated")
    parser.add_argument("--profiles", default="constant,poisson", help="arrival processes")
    parser.add_argument("--timings", default="auto,loop", help="guidellm timing= values")
    parser.add_argument("--seconds", type=float, default=15.0, help="per rate")
    parser.add_argument("--tokens", type=int, default=32, help="output tokens per request")
    parser.add_argument("--target", help="a running server (default: start the mock)")
    parser.add_argument("--model", help="model name for --target")
    parser.add_argument("--llama", action="store_true", help="start llama-server")
    parser.add_argument("--ttft-ms", type=float, default=50.0)
    parser.add_argument("--itl-ms", type=float, default=10.0)
    parser.add_argument(
        "--truth",
        action="store_true",
        help="against the stamping server: each token's recorded time vs its true send time",
    )
    args = parser.parse_args()
    if args.truth:
        truth_main(args)
        return
    rates = [float(r) for r in args.rates.split(",")]
    model = args.model
    if args.target:
        server: contextlib.AbstractContextManager[str] = contextlib.nullcontext(args.target)
    elif args.llama:
        server, model = llama_server(), model or "tiny"
    else:
        server = mock_server(args.ttft_ms, args.itl_ms)
    head = (
        "| arrivals | rate | achieved | source | TTFT guidellm | TTFT bare (kernel / read) "
        "| TTFT error | ITL guidellm | ITL bare (kernel / read) | ITL error | loop lag p99 / max "
        "| cpu_busy | limited | bare n |"
    )
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    with server as url:
        if args.llama:
            # llama-server is slow the first time it meets a batch size (its first run at a
            # higher rate crawls, whichever the timing): load it at the top rate, unmeasured
            one_rate(
                url, model, rate=max(rates), seconds=10, tokens=args.tokens,
                profile="poisson", timing="auto",
            )  # fmt: skip
        for profile in args.profiles.split(","):
            for rate in rates:
                for timing in args.timings.split(","):
                    r = one_rate(
                        url,
                        model,
                        rate=rate,
                        seconds=args.seconds,
                        tokens=args.tokens,
                        profile=profile,
                        timing=timing,
                    )
                    row(r)
                    if args.llama:
                        time.sleep(2.0)  # requests cut by the time limit drain


def row(r: dict[str, Any]) -> None:
    b = r["bare"]
    print(
        f"| {r['profile']} | {r['rate']:g} | {r['achieved']:.1f} | {r['source']} | {r['ttft']:.3f} "
        f"| {b['ttft_kernel']:.3f} / {b['ttft_read']:.3f} "
        f"| {r['ttft'] - b['ttft_kernel']:+.3f} | {r['itl']:.4f} "
        f"| {b['itl_kernel']:.4f} / {b['itl_read']:.4f} "
        f"| {r['itl'] - b['itl_kernel']:+.4f} | {r['lag_p99']:.2f} / {r['lag_max']:.2f} "
        f"| {r['cpu_busy']:.2f} | {r['limited']} | {b['n']} |",
        flush=True,
    )


if __name__ == "__main__":
    main()
