"""How precisely does the mock server keep its configured TTFT and ITL?

A minimal client (one uvloop loop, raw asyncio protocols, the arrival time of every read taken
with ``time.perf_counter`` before any parsing) sends streaming ``/v1/completions`` requests at
fixed rates (open loop) to a mock server started in its own process, and compares what it sees
with what the server was configured to do:

* TTFT error: (first token chunk - request written) - ttft_ms
* gap error: every gap between consecutive token chunks - itl_ms
* ITL error: (last - first) / (tokens - 1) - itl_ms, the per-request ITL guidellm reports
* drift: (last chunk - request written) - (ttft + (tokens - 1) * itl); absolute deadlines mean
  it does not grow with the stream's length
* server CPU-ms per request (from /proc/PID/stat of the server process)

Usage::

    python benchmarks/mock_precision.py                     # 1, 10, 50 req/s (timerfd timers)
    python benchmarks/mock_precision.py --timer loop        # the same with the loop's timers
    python benchmarks/mock_precision.py --rates 50,200 --kernel-stamps
        # reads timed by the kernel's receive stamps: what is left is the server's own
    python benchmarks/mock_precision.py --sync 20 --url http://127.0.0.1:8000
        # 20 sequential requests against a running 'guidellm mock-server', printing the TTFT
        # and ITL medians that 'guidellm run --profile synchronous' should reproduce
    python benchmarks/mock_precision.py --capacity 64 --tokens 128 --seconds 5
        # server CPU per token with 64 closed-loop streams at ITL 0, 1 and 10 ms
    python benchmarks/mock_precision.py --compare-run 20
        # issue 3's check: start 'guidellm mock-server --ttft-ms 50 --itl-ms 10
        # --output-tokens 32', run the minimal client (20 sequential requests), a 20-request
        # synchronous 'guidellm run', and the minimal client again; compare the medians
        # (TTFT within 3 ms, ITL within 0.5 ms)

Figures go in benchmarks/README.md with the command line.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import statistics
import sys
import time
from typing import Any

try:
    import uvloop
except ImportError:  # pragma: no cover
    uvloop = None  # type: ignore[assignment]

from guidellm.backends.stamped_socket import KernelClock, open_stamped
from guidellm.mock_server import MockServer, MockServerConfig

_TOKEN_MARK = b'"choices":[{'
_KERNEL_CLOCK: KernelClock | None = None


class _StreamClient(asyncio.Protocol):
    """Write one request, timestamp every read, count token events, stop at [DONE] or EOF."""

    def __init__(self, request: bytes, done: asyncio.Future[None]) -> None:
        self.request = request
        self.done = done
        self.sent = 0.0
        self.times: list[float] = []
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.sent = time.perf_counter()
        self.transport.write(self.request)  # type: ignore[union-attr]

    def data_received(self, data: bytes) -> None:
        self.received_at(data, time.perf_counter())

    def received_at(self, data: bytes, arrived: float) -> None:
        self.buffer += data
        *events, self.buffer = self.buffer.split(b"\n\n")
        for event in events:
            if _TOKEN_MARK in event:
                self.times.append(arrived)
            elif b"data: [DONE]" in event and not self.done.done():
                self.done.set_result(None)
                assert self.transport is not None
                self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(None)


def _request(host: str, tokens: int, prompt_words: int = 1) -> bytes:
    prompt = " ".join(f"w{i % 1000}" for i in range(prompt_words)) if prompt_words > 1 else "hello"
    body = json.dumps({"prompt": prompt, "max_tokens": tokens, "stream": True}).encode()
    return (
        f"POST /v1/completions HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    ).encode() + body


async def _one(host: str, port: int, request: bytes) -> tuple[float, list[float]]:
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    transport: Any
    if _KERNEL_CLOCK is not None:  # --kernel-stamps: reads carry the kernel's receive time
        transport, client = await open_stamped(
            lambda: _StreamClient(request, done), host, port, _KERNEL_CLOCK
        )
    else:
        transport, client = await loop.create_connection(
            lambda: _StreamClient(request, done), host, port
        )
    await done
    transport.close()
    return client.sent, client.times


def _cpu_seconds(pid: int | None) -> float:
    if pid is None:
        return float("nan")
    with open(f"/proc/{pid}/stat") as f:  # noqa: PTH123 - procfs, read once per phase
        parts = f.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _summary(
    results: list[tuple[float, list[float]]], ttft_ms: float, itl_ms: float, tokens: int
) -> dict[str, Any]:
    ttft_err, itl_err, gap_err, drift = [], [], [], []
    bad = 0
    for sent, times in results:
        if len(times) != tokens:
            bad += 1
            continue
        ttft_err.append((times[0] - sent) * 1000 - ttft_ms)
        itl_err.append((times[-1] - times[0]) * 1000 / (tokens - 1) - itl_ms)
        gap_err += [(b - a) * 1000 - itl_ms for a, b in itertools.pairwise(times)]
        drift.append((times[-1] - sent) * 1000 - (ttft_ms + (tokens - 1) * itl_ms))
    out: dict[str, Any] = {"requests": len(results), "incomplete": bad}
    for name, values in (("ttft", ttft_err), ("itl", itl_err), ("gap", gap_err), ("drift", drift)):
        abs_values = [abs(v) for v in values]
        out[name] = {
            "median": statistics.median(values),
            "p99_abs": _pct(abs_values, 0.99),
            "max_abs": max(abs_values),
        }
    return out


async def _rate_phase(
    host: str, port: int, rate: float, count: int, tokens: int
) -> tuple[list[tuple[float, list[float]]], float]:
    """Send ``count`` requests at ``rate``/s (open loop); return results and worst send lag."""
    request = _request(host, tokens)
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.05
    tasks = []
    lag = 0.0
    for i in range(count):
        target = start + i / rate
        delay = target - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        lag = max(lag, loop.time() - target)
        tasks.append(asyncio.ensure_future(_one(host, port, request)))
    return list(await asyncio.gather(*tasks)), lag


async def _sync_phase(host: str, port: int, count: int, tokens: int) -> list[Any]:
    request = _request(host, tokens)
    return [await _one(host, port, request) for _ in range(count)]


def _sync_medians(host: str, port: int, count: int, tokens: int) -> tuple[float, float]:
    run = uvloop.run if uvloop is not None else asyncio.run
    results = run(_sync_phase(host, port, count, tokens))
    ttfts = [(t[0] - s) * 1000 for s, t in results]
    itls = [(t[-1] - t[0]) * 1000 / (len(t) - 1) for _, t in results]
    return statistics.median(ttfts), statistics.median(itls)


async def _capacity_phase(
    host: str, port: int, streams: int, seconds: float, tokens: int, *, prompt_words: int = 1
) -> tuple[int, int, float]:
    """Closed loop: ``streams`` clients back to back for ``seconds``; (done, bad, elapsed)."""
    request = _request(host, tokens, prompt_words)
    end = time.monotonic() + seconds
    done = bad = 0

    async def client() -> None:
        nonlocal done, bad
        while time.monotonic() < end:
            _, times = await _one(host, port, request)
            done += 1
            bad += len(times) != tokens

    start = time.monotonic()
    await asyncio.gather(*(client() for _ in range(streams)))
    return done, bad, time.monotonic() - start


def _capacity(args: argparse.Namespace) -> int:
    """Server CPU per token with many concurrent streams (how far one mock process goes)."""
    os.environ["GUIDELLM_MOCK_TIMERFD"] = "1" if args.timer == "timerfd" else "0"
    run = uvloop.run if uvloop is not None else asyncio.run
    print(f"prompt: {args.prompt_words} word(s), the same in every request")
    print("| ITL (ms) | streams | tokens/request | requests/s | tokens/s | server CPU % "
          "| server CPU-us per token | server CPU-us per request | incomplete |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for itl in [float(v) for v in args.capacity_itl.split(",")]:
        server = MockServer(MockServerConfig(ttft_ms=0, itl_ms=itl))
        url = server.start_process()
        host, port_text = url.removeprefix("http://").rsplit(":", 1)
        try:
            cpu0 = _cpu_seconds(server.pid)
            done, bad, elapsed = run(
                _capacity_phase(
                    host, int(port_text), args.capacity, args.seconds, args.tokens,
                    prompt_words=args.prompt_words,
                )
            )  # fmt: skip
            cpu = _cpu_seconds(server.pid) - cpu0
        finally:
            server.stop()
        sent = done * args.tokens
        print(f"| {itl:g} | {args.capacity} | {args.tokens} | {done / elapsed:.0f} "
              f"| {sent / elapsed:.0f} | {cpu / elapsed * 100:.0f} "
              f"| {cpu * 1e6 / max(1, sent):.1f} | {cpu * 1e6 / max(1, done):.0f} "
              f"| {bad} |")  # fmt: skip
    return 0


def _compare_run(args: argparse.Namespace) -> int:
    """Issue 3's check: guidellm's synchronous medians against the minimal client's."""
    import subprocess
    import tempfile

    count = args.compare_run
    server = subprocess.Popen(
        [sys.executable, "-m", "guidellm", "mock-server", "--port", "0",
         "--ttft-ms", f"{args.ttft_ms:g}", "--itl-ms", f"{args.itl_ms:g}",
         "--output-tokens", str(args.tokens)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        host, port_text = url.removeprefix("http://").rsplit(":", 1)
        port = int(port_text)
        _sync_medians(host, port, 3, args.tokens)  # warm-up
        before = _sync_medians(host, port, count, args.tokens)
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "report.json")  # noqa: PTH118
            subprocess.run(
                [sys.executable, "-m", "guidellm", "run", "--target", url,
                 "--profile", "synchronous", "--max-requests", str(count),
                 "--data", f"prompt_tokens=64,output_tokens={args.tokens}",
                 "--disable-progress", "--disable-console-outputs", "--output", out],
                check=True, stdout=subprocess.DEVNULL,
            )  # fmt: skip
            with open(out) as f:  # noqa: PTH123
                metrics = json.load(f)["benchmarks"][0]["metrics"]
        after = _sync_medians(host, port, count, args.tokens)
    finally:
        server.terminate()
        server.wait(10)
    g_ttft = metrics["time_to_first_token_ms"]["successful"]["median"]
    g_itl = metrics["inter_token_latency_ms"]["successful"]["median"]
    m_ttft = (before[0] + after[0]) / 2
    m_itl = (before[1] + after[1]) / 2
    ok = abs(g_ttft - m_ttft) <= 3.0 and abs(g_itl - m_itl) <= 0.5
    print(
        f"| client | TTFT median (ms) | ITL median (ms) |\n|---|---|---|\n"
        f"| minimal, before | {before[0]:.3f} | {before[1]:.4f} |\n"
        f"| guidellm run, synchronous, {count} requests | {g_ttft:.3f} | {g_itl:.4f} |\n"
        f"| minimal, after | {after[0]:.3f} | {after[1]:.4f} |\n"
        f"| guidellm - minimal (mean) | {g_ttft - m_ttft:+.3f} | {g_itl - m_itl:+.4f} |"
    )
    print("PASS" if ok else "FAIL", "(TTFT within 3 ms, ITL within 0.5 ms)")
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ttft-ms", type=float, default=50.0)
    parser.add_argument("--itl-ms", type=float, default=10.0)
    parser.add_argument("--tokens", type=int, default=32, help="max_tokens of every request")
    parser.add_argument("--rates", default="1,10,50", help="requests/s, comma-separated")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each rate phase")
    parser.add_argument("--timer", choices=["timerfd", "loop"], default="timerfd")
    parser.add_argument(
        "--kernel-stamps",
        action="store_true",
        help="time reads by the kernel's receive stamps (SO_TIMESTAMPNS), not the loop's read",
    )
    parser.add_argument("--url", help="measure this running mock server instead of starting one")
    parser.add_argument("--sync", type=int, default=0, help="N sequential requests, then exit")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument(
        "--compare-run", type=int, default=0, help="N: compare a synchronous guidellm run"
    )
    parser.add_argument(
        "--capacity", type=int, default=0, help="N: closed-loop streams for a CPU-cost run"
    )
    parser.add_argument("--capacity-itl", default="0,1,10", help="ITLs (ms) of --capacity")
    parser.add_argument(
        "--prompt-words", type=int, default=1, help="prompt length of --capacity's requests"
    )
    args = parser.parse_args()
    if args.kernel_stamps:
        global _KERNEL_CLOCK  # noqa: PLW0603 - one clock for the whole script
        _KERNEL_CLOCK = KernelClock()
    if args.capacity:
        return _capacity(args)
    if args.compare_run:
        return _compare_run(args)

    server: MockServer | None = None
    if args.url:
        url = args.url
    else:
        os.environ["GUIDELLM_MOCK_TIMERFD"] = "1" if args.timer == "timerfd" else "0"
        config = MockServerConfig(ttft_ms=args.ttft_ms, itl_ms=args.itl_ms, output_tokens=32)
        server = MockServer(config)
        url = server.start_process()
    host, port_text = url.removeprefix("http://").rsplit(":", 1)
    port = int(port_text)
    pid = server.pid if server else None
    run = uvloop.run if uvloop is not None else asyncio.run
    report: dict[str, Any] = {"url": url, "timer": args.timer if server else "external"}
    try:
        run(_sync_phase(host, port, 3, args.tokens))  # warm-up
        if args.sync:
            results = run(_sync_phase(host, port, args.sync, args.tokens))
            ttfts = [(t[0] - s) * 1000 for s, t in results]
            itls = [(t[-1] - t[0]) * 1000 / (len(t) - 1) for _, t in results]
            report["sync"] = {
                "requests": args.sync,
                "ttft_median_ms": statistics.median(ttfts),
                "itl_median_ms": statistics.median(itls),
            }
            print(json.dumps(report["sync"], indent=2))
        else:
            print(f"# mock precision, ttft {args.ttft_ms} ms, itl {args.itl_ms} ms, "
                  f"{args.tokens} tokens, timer {report['timer']}, "
                  f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")  # fmt: skip
            print("| req/s | requests | TTFT err median / p99 / max (ms) | ITL err median / p99 "
                  "(ms) | gap err median / p99 / max (ms) | drift p99 (ms) | server CPU-ms/req "
                  "| client send lag max (ms) |")  # fmt: skip
            print("|---|---|---|---|---|---|---|---|")
            for rate in [float(r) for r in args.rates.split(",")]:
                count = max(5, int(rate * args.seconds))
                cpu0 = _cpu_seconds(pid)
                results, lag = run(_rate_phase(host, port, rate, count, args.tokens))
                cpu = (_cpu_seconds(pid) - cpu0) * 1000 / count
                s = _summary(results, args.ttft_ms, args.itl_ms, args.tokens)
                s["server_cpu_ms_per_request"] = cpu
                s["client_send_lag_max_ms"] = lag * 1000
                report[f"rate_{rate:g}"] = s
                t, i, g = s["ttft"], s["itl"], s["gap"]
                print(
                    f"| {rate:g} | {count}{' (' + str(s['incomplete']) + ' bad)' if s['incomplete'] else ''} "  # noqa: E501
                    f"| {t['median']:+.3f} / {t['p99_abs']:.3f} / {t['max_abs']:.3f} "
                    f"| {i['median']:+.4f} / {i['p99_abs']:.4f} "
                    f"| {g['median']:+.3f} / {g['p99_abs']:.3f} / {g['max_abs']:.3f} "
                    f"| {s['drift']['p99_abs']:.3f} | {cpu:.2f} | {lag * 1000:.2f} |"
                )
    finally:
        if server is not None:
            server.stop()
    if args.json:
        with open(args.json, "w") as f:  # noqa: PTH123
            json.dump(report, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
