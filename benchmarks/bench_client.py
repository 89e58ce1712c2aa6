"""The whole tool's own cost and timing precision, against a target that is never the bottleneck.

Starts nginx serving pre-rendered 128-token SSE streams (``../shared/bench/gen_sse.py``), runs
``guidellm run`` as a user would (a subprocess: parent + worker processes) at ``throughput``
and at ``constant`` rates, then a 5-benchmark sweep, and prints for each run:

* requests/s seen by the server (nginx access log) and by the client;
* CPU-ms per request of the whole tool: user+sys of every guidellm process (parent and
  workers, reaped children included), start-up and shut-down included, divided by requests;
  and the steady-state figure the run measured itself (``client.cpu_ms_per_request``);
* peak RSS of all guidellm processes together (sampled every 0.1 s);
* time from launch to the first request handed to the transport (journal, same clock);
* at constant rate: achieved rate vs target, inter-arrival CV (request_start gaps),
  scheduling delay p99;
* for the sweep: the gap between one benchmark's end and the next one's start.

    .venv/bin/python benchmarks/bench_client.py [--duration 10] [--rates 200,500,1000]

nginx (``apt-get install -y nginx``) is stopped by its PID at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_GEN_SSE = Path(os.environ.get("GUIDELLM_GEN_SSE", ROOT.parent / "shared/bench/gen_sse.py"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def nginx_target(gen_sse: Path, tokens: int) -> Iterator[tuple[str, Path]]:
    """nginx on a free port with an access log; yields (url, log path); stopped by PID."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        sys.exit("nginx not found: apt-get install -y nginx")
    with tempfile.TemporaryDirectory(prefix="bench-client-") as tmp:
        Path(tmp).chmod(0o755)
        port = _free_port()
        log = Path(tmp) / "access.log"
        subprocess.run(
            [
                sys.executable,
                str(gen_sse),
                tmp,
                "--tokens",
                str(tokens),
                "--port",
                str(port),
                "--access-log",
                str(log),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        proc = subprocess.Popen([nginx, "-p", tmp, "-c", f"{tmp}/nginx.conf"])
        try:
            deadline = time.monotonic() + 10
            while True:
                with (
                    contextlib.suppress(OSError),
                    socket.create_connection(("127.0.0.1", port), 0.2),
                ):
                    break
                if time.monotonic() > deadline or proc.poll() is not None:
                    sys.exit(f"nginx did not start; see {tmp}/error.log")
                time.sleep(0.05)
            yield f"http://127.0.0.1:{port}", log
        finally:
            os.kill(proc.pid, signal.SIGQUIT)
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(5)


def _tree_rss(pid: int) -> int:
    """RSS bytes of ``pid`` and all its descendants."""
    total = 0
    stack = [pid]
    while stack:
        p = stack.pop()
        proc = Path(f"/proc/{p}")
        try:
            total += int((proc / "statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
            for task in (proc / "task").iterdir():
                stack.extend(int(c) for c in (task / "children").read_text().split())
        except (OSError, ValueError):
            continue
    return total


def _server_count(log: Path, since: float, until: float) -> tuple[int, float]:
    """Requests nginx logged between two epoch times, and the span they cover."""
    times = []
    with contextlib.suppress(OSError):
        for line in log.read_text().splitlines():
            parts = line.split()
            if len(parts) > 7 and parts[7] == "/v1/chat/completions":
                t = float(parts[0])
                if since <= t <= until:
                    times.append(t)
    if len(times) < 2:
        return len(times), 0.0
    return len(times), max(times) - min(times)


def run_case(url: str, log: Path, name: str, args: list[str], work: Path) -> dict[str, Any]:
    out = work / f"{name}.json"
    journal = work / f"{name}.journal"
    cmd = [
        sys.executable,
        "-m",
        "guidellm",
        "run",
        "--target",
        url,
        "--data",
        "prompt_tokens=128,output_tokens=128",
        "--output",
        str(out),
        "--journal",
        str(journal),
        "--disable-console-outputs",
        *args,
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    epoch0 = time.time()
    launch = time.perf_counter()
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    peak = 0
    series: list[int] = []
    while proc.poll() is None:
        rss = _tree_rss(proc.pid)
        series.append(rss)
        peak = max(peak, rss)
        time.sleep(0.1)
    err = proc.stderr.read() if proc.stderr else ""
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.exit(f"{name}: guidellm exited {proc.returncode}: {err.strip()}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    from guidellm.benchmark.journal import read_journal

    records = list(read_journal(journal))
    results = [msgspec.to_builtins(rec[1]) for kind, rec in records if kind == "result"]
    ends = [rec for kind, rec in records if kind == "benchmark_end"]
    report = json.loads(out.read_text())
    starts = sorted(r[3] for r in results)
    first_request = starts[0] - launch if starts else None
    served, span = _server_count(log, epoch0, time.time())
    row: dict[str, Any] = {
        "case": name,
        "requests": len(results),
        "server_rps": round(served / span, 1) if span else None,
        "cpu_ms_per_request_whole_tool": round(cpu * 1000 / max(len(results), 1), 3),
        "peak_rss_mb_all_processes": round(peak / 2**20, 1),
        "first_request_s": round(first_request, 3) if first_request is not None else None,
        # RSS of all processes at 20 %, 40 %, ... 100 % of the run: flat means no growth.
        "rss_mb_over_run": [
            round(series[min(len(series) - 1, len(series) * k // 5)] / 2**20, 1)
            for k in range(1, 6)
        ]
        if series
        else [],
    }
    benches = report["benchmarks"]
    row["client_cpu_ms_per_request"] = [b["client"]["cpu_ms_per_request"] for b in benches]
    row["scheduling_delay_ms_p99"] = [b["client"]["scheduling_delay_ms_p99"] for b in benches]
    row["client_limited"] = [b["client"]["limited"] for b in benches]
    if len(benches) == 1:
        b = benches[0]
        row["client_rps"] = round(b["metrics"]["requests_per_second"]["successful"], 1)
        rate = b["strategy"].get("rate")
        if rate:
            # Requests intended inside the benchmark, over its length: the achieved rate.
            t0, t1 = ends[0]["start_time"], ends[0]["end_time"]
            sent = sorted(r[3] for r in results if t0 <= r[2] < t1)
            gaps = [y - x for x, y in itertools.pairwise(sent)]
            achieved = (len(sent) - 1) / (sent[-1] - sent[0]) if len(sent) > 1 else 0
            row["target_rps"] = rate
            row["achieved_rps"] = round(achieved, 2)
            row["rate_error_pct"] = round(100 * (achieved - rate) / rate, 3)
            row["inter_arrival_cv"] = round(statistics.pstdev(gaps) / statistics.mean(gaps), 4)
    if len(ends) > 1:
        row["between_benchmarks_s"] = [
            round(b["start_time"] - a["end_time"], 3) for a, b in itertools.pairwise(ends)
        ]
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--gen-sse", type=Path, default=DEFAULT_GEN_SSE)
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--rates", default="200,500,1000")
    ap.add_argument("--concurrency", type=int, default=64, help="throughput's cap")
    ap.add_argument("--skip-sweep", action="store_true")
    ap.add_argument(
        "--memory-seconds",
        type=float,
        default=0,
        help="only run constant 500/s for this long and report RSS over the run",
    )
    a = ap.parse_args()
    rows = []
    with nginx_target(a.gen_sse, a.tokens) as (url, log), tempfile.TemporaryDirectory() as work:
        w = Path(work)
        d = str(a.duration)
        if a.memory_seconds:
            rows.append(
                run_case(
                    url,
                    log,
                    "memory-500",
                    [
                        "--profile",
                        "constant",
                        "--rate",
                        "500",
                        "--max-seconds",
                        str(a.memory_seconds),
                    ],
                    w,
                )
            )
            for row in rows:
                print(json.dumps(row))
            return
        rows.append(
            run_case(
                url,
                log,
                f"throughput-{a.concurrency}",
                ["--profile", "throughput", "--rate", str(a.concurrency), "--max-seconds", d],
                w,
            )
        )
        for rate in a.rates.split(","):
            rows.append(
                run_case(
                    url,
                    log,
                    f"constant-{rate}",
                    ["--profile", "constant", "--rate", rate, "--max-seconds", d],
                    w,
                )
            )
        if not a.skip_sweep:
            rows.append(
                run_case(
                    url,
                    log,
                    "sweep-5",
                    [
                        "--profile",
                        "sweep",
                        "--rate",
                        "5",
                        "--max-seconds",
                        "3",
                        "--profile-args",
                        f"max_concurrency={a.concurrency}",
                    ],
                    w,
                )
            )
    for row in rows:
        print(json.dumps(row))


if __name__ == "__main__":
    main()
