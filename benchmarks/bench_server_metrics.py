"""What scraping a server's metrics every second costs the client, at 500 requests/s.

Starts nginx serving pre-rendered SSE streams (``../shared/bench/gen_sse.py``; the target is
never the bottleneck) and, in this process (so its CPU is not counted as the tool's), a
``/metrics`` endpoint serving a vLLM-sized exposition: ``--lines`` lines of vLLM-named
gauges, counters and histograms with two label sets, like a two-engine server. Then runs
``guidellm run --profile constant --rate R`` as a user does, alternating
``--server-metrics off`` and ``--server-metrics URL`` (every ``--interval``), and reports for
each: requests, the whole tool's CPU seconds (user+sys of every guidellm process, start-up
included) per second of run and per request, and the scrapes the report counted. Also times
one parse of the exposition, and the scraper alone: ``Telemetry`` scraping the endpoint (in a
child process here) every 100 ms for ``--direct-seconds`` in this process, whose CPU time
over the scrapes is the cost of one scrape, everything included (HTTP, parse, storage).

    .venv/bin/python benchmarks/bench_server_metrics.py [--rate 500] [--seconds 20] [--repeat 2]

nginx (``apt-get install -y nginx``) is stopped by its PID at the end.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_client import DEFAULT_GEN_SSE, nginx_target


def vllm_exposition(lines: int) -> bytes:
    """About ``lines`` lines shaped like vLLM's /metrics (two engines)."""
    out: list[str] = []
    gauges = ["num_requests_running", "num_requests_waiting", "kv_cache_usage_perc"]
    counters = [
        "prompt_tokens_total", "generation_tokens_total", "request_success_total",
        "num_preemptions_total", "prefix_cache_queries_total", "prefix_cache_hits_total",
    ]  # fmt: skip
    for g in gauges:
        out += [f"# HELP vllm:{g} g", f"# TYPE vllm:{g} gauge"]
        out += [f'vllm:{g}{{engine="{e}",model_name="m"}} {e + 0.5}' for e in range(2)]
    for c in counters:
        base = c.removesuffix("_total")
        out += [f"# HELP vllm:{base} c", f"# TYPE vllm:{base} counter"]
        out += [f'vllm:{c}{{engine="{e}",model_name="m"}} {1000 * (e + 1)}' for e in range(2)]
    h = 0
    while len(out) < lines:
        name = f"vllm:histogram_{h}_seconds"
        h += 1
        out += [f"# HELP {name} h", f"# TYPE {name} histogram"]
        for e in range(2):
            for b in range(20):
                out.append(
                    f'{name}_bucket{{engine="{e}",le="{0.001 * 2**b:g}",model_name="m"}} {b}'
                )
            out.append(f'{name}_bucket{{engine="{e}",le="+Inf",model_name="m"}} 20')
            out.append(f'{name}_sum{{engine="{e}",model_name="m"}} 1.5')
            out.append(f'{name}_count{{engine="{e}",model_name="m"}} 20')
    return ("\n".join(out) + "\n").encode()


def metrics_server(body: bytes) -> tuple[ThreadingHTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/metrics"


def direct_cost(body: bytes, seconds: float) -> dict[str, Any]:
    """CPU per scrape of the real scraper, the endpoint served by a child process."""
    from guidellm.telemetry.catalog import BUILTIN_CATALOGS
    from guidellm.telemetry.scraper import Telemetry

    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "metrics").write_bytes(body)
        child = subprocess.Popen(
            [sys.executable, "-m", "http.server", "0", "--bind", "127.0.0.1", "-d", tmp],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        try:
            line = child.stdout.readline() if child.stdout else ""
            port = int(line.split(" port ")[1].split()[0])
            url = f"http://127.0.0.1:{port}/metrics"
            telemetry = Telemetry([url], BUILTIN_CATALOGS, interval=0.1)
            telemetry.start()
            # From the first answer on: the imports and the first (reference) parse are once
            # per run, not per scrape.
            telemetry.wait_scraped_after(0.0, 5.0)
            first = len(telemetry.logs[0].rows)
            cpu0 = time.process_time()
            time.sleep(seconds)
            cpu = time.process_time() - cpu0
            scrapes = len(telemetry.logs[0].rows) - first
            telemetry.close()
        finally:
            child.terminate()
            child.wait(5)
    per_scrape = cpu / max(scrapes, 1) * 1000
    return {
        "direct_scrapes": scrapes,
        "direct_cpu_ms_per_scrape": round(per_scrape, 3),
        "percent_of_a_core_at_1s": round(per_scrape / 10, 3),
    }


def run(url: str, metrics: str, args: argparse.Namespace, work: Path, name: str) -> dict[str, Any]:
    out = work / f"{name}.json"
    cmd = [
        sys.executable, "-m", "guidellm", "run", "--target", url,
        "--data", "prompt_tokens=64,output_tokens=16", "--profile", "constant",
        "--rate", str(args.rate), "--max-seconds", str(args.seconds),
        "--server-metrics", metrics, "--server-metrics-interval", args.interval,
        "--output", str(out), "--disable-console-outputs",
    ]  # fmt: skip
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=args.seconds + 120, check=False
    )
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.exit(f"{name}: guidellm exited {proc.returncode}: {proc.stderr.strip()}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    (bench,) = json.loads(out.read_text())["benchmarks"]
    requests = sum(bench["requests"][k] for k in ("successful", "errored", "incomplete"))
    server = bench.get("server") or {}
    return {
        "case": name,
        "requests": requests,
        "cpu_s": round(cpu, 3),
        "wall_s": round(wall, 2),
        "cpu_percent_of_a_core": round(cpu / wall * 100, 2),
        "cpu_ms_per_request": round(cpu * 1000 / max(requests, 1), 4),
        "scrapes": sum(e["scrapes"] for e in server.get("endpoints", [])),
        "server": server.get("server"),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--gen-sse", type=Path, default=DEFAULT_GEN_SSE)
    ap.add_argument("--rate", type=float, default=500.0)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--interval", default="1s")
    ap.add_argument("--lines", type=int, default=700)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--direct-seconds", type=float, default=10.0)
    args = ap.parse_args()
    body = vllm_exposition(args.lines)
    from guidellm.telemetry.exposition import fast_values, parse_exposition

    text = body.decode()
    t = time.process_time()
    for _ in range(20):
        _, types = parse_exposition(text)
    reference_ms = (time.process_time() - t) / 20 * 1000
    t = time.process_time()
    for _ in range(200):
        fast_values(text, types)
    fast_ms = (time.process_time() - t) / 200 * 1000
    print(json.dumps({"exposition_lines": body.count(b"\n"), "bytes": len(body),
                      "first_parse_cpu_ms": round(reference_ms, 2),
                      "later_parse_cpu_ms": round(fast_ms, 3)}))  # fmt: skip
    print(json.dumps(direct_cost(body, args.direct_seconds)), flush=True)
    server, metrics_url = metrics_server(body)
    rows = []
    try:
        with nginx_target(args.gen_sse, 16) as (url, _log), tempfile.TemporaryDirectory() as tmp:
            for k in range(args.repeat):
                for name, metrics in (("off", "off"), ("scraped", metrics_url)):
                    row = run(url, metrics, args, Path(tmp), f"{name}-{k}")
                    rows.append(row)
                    print(json.dumps(row), flush=True)
    finally:
        server.shutdown()
    for name in ("off", "scraped"):
        mine = [r for r in rows if r["case"].startswith(name)]
        if not mine:
            continue
        cpu = sum(r["cpu_s"] for r in mine) / len(mine)
        share = sum(r["cpu_percent_of_a_core"] for r in mine) / len(mine)
        print(f"{name}: mean CPU {cpu:.3f} s per run, {share:.2f} % of a core")


if __name__ == "__main__":
    main()
