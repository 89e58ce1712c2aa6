"""Trace replay precision: when requests reach the server against when the trace sends them.

Makes a Mooncake trace with ``scripts/make_mooncake_trace.py`` (Poisson arrivals at
``--rate``), starts the built-in mock server in a child process whose request handler writes
down ``time.perf_counter()`` (CLOCK_MONOTONIC, the clock the client times with) as each
generation request is dispatched, i.e. once its last byte has been read, and runs
``guidellm run --profile replay`` against it as a user would, with the journal on.

Three things are checked from outside the client:

* the intended send times are the trace's: for every request (ids follow the trace's rows),
  ``scheduled - scheduled_0 == time_scale * (t_i - t_0)`` to within a microsecond;
* every request reached the server, and the i-th arrival (in time order) lies within
  ``|arrival - intended|`` of the i-th intended send time: p50, p99 and max are printed;
* nothing was lost: the server's count equals the trace's rows and the report's requests.

    .venv/bin/python benchmarks/bench_replay.py --requests 2000 --rate 200
    .venv/bin/python benchmarks/bench_replay.py --requests 5000 --rate 1000

Prints one JSON object. The server and the run are stopped by PID at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

# The child: the mock server with its dispatch wrapped to time each generation request.
_SERVER = """
import json, sys, time
from guidellm.mock_server import http_server
from guidellm.mock_server.behavior import MockServerConfig
from guidellm.mock_server.server import run_foreground

arrivals = []
clock = time.perf_counter
dispatch = http_server._Connection._dispatch

def timed(self, req):
    if req.path in http_server._GENERATION_PATHS:
        arrivals.append(clock())
    dispatch(self, req)

http_server._Connection._dispatch = timed
config = MockServerConfig(ttft_ms=1, itl_ms=1, output_tokens=4)
run_foreground(config, "127.0.0.1", 0, lambda url: print("LISTENING", url, flush=True))
with open(sys.argv[1], "w") as f:
    json.dump(arrivals, f)
"""


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _shorten_outputs(path: Path, tokens: int) -> None:
    """Small outputs: the benchmark measures send times, not generation."""
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    with path.open("w") as f:
        for row in rows:
            row["output_length"] = tokens
            f.write(json.dumps(row) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--time-scale", type=float, default=1.0)
    parser.add_argument("--reuse", type=float, default=0.5)
    parser.add_argument("--block-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        trace = work / "trace.jsonl"
        subprocess.run(
            [sys.executable, str(ROOT / "scripts" / "make_mooncake_trace.py"),
             "--requests", str(args.requests), "--rate", str(args.rate), "--out", str(trace),
             "--reuse", str(args.reuse), "--seed", str(args.seed),
             "--block-size", str(args.block_size)],
            check=True,
        )  # fmt: skip
        _shorten_outputs(trace, 4)
        stamps = [json.loads(line)["timestamp"] / 1000.0 for line in trace.open()]
        arrivals_file = work / "arrivals.json"
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        server = subprocess.Popen(
            [sys.executable, "-c", _SERVER, str(arrivals_file)],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        try:
            assert server.stdout is not None
            line = server.stdout.readline().split()
            if line[:1] != ["LISTENING"]:
                raise SystemExit(f"the mock server did not start: {line}")
            url = line[1]
            journal = work / "run.journal.jsonl"
            cmd = [
                sys.executable, "-m", "guidellm", "run", "--target", url,
                "--data", str(trace), "--data-args", f"block_size={args.block_size}",
                "--profile", "replay", "--profile-args", f"time_scale={args.time_scale}",
                "--journal", str(journal), "--output", str(work / "report.json"),
                "--disable-progress",
            ]  # fmt: skip
            began = time.perf_counter()
            run = subprocess.run(
                cmd, check=False, env=env, capture_output=True, text=True, timeout=600
            )
            took = time.perf_counter() - began
            if run.returncode != 0:
                raise SystemExit(f"guidellm run failed ({run.returncode}): {run.stderr[-2000:]}")
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
        arrivals = sorted(json.loads(arrivals_file.read_text()))
        rows = [json.loads(line) for line in journal.read_text().splitlines()]
        results = [r["r"] for r in rows if r.get("type") == "result"]
        report = json.loads((work / "report.json").read_text())
    (bench,) = report["benchmarks"]
    scheduled = {int(r[0]): r[2] for r in results}
    origin = scheduled[0]
    trace_error = max(
        abs((scheduled[i] - origin) - args.time_scale * (stamps[i] - stamps[0])) for i in scheduled
    )
    intended = sorted(scheduled.values())
    errors_ms = [abs(a - s) * 1000.0 for a, s in zip(arrivals, intended, strict=False)]
    send_delays_ms = [(r[3] - r[2]) * 1000.0 for r in results]
    out: dict[str, Any] = {
        "requests_in_trace": len(stamps),
        "rate": args.rate,
        "time_scale": args.time_scale,
        "server_received": len(arrivals),
        "report_requests": sum(
            bench["requests"][k] for k in ("successful", "errored", "incomplete")
        ),
        "successful": bench["requests"]["successful"],
        "intended_vs_trace_max_us": round(trace_error * 1e6, 3),
        "arrival_error_ms": {
            "p50": round(_percentile(errors_ms, 0.5), 3),
            "p99": round(_percentile(errors_ms, 0.99), 3),
            "max": round(max(errors_ms), 3),
        },
        "client_send_delay_ms_p99": round(_percentile(send_delays_ms, 0.99), 3),
        "run_seconds": round(took, 2),
        "trace_seconds": round(args.time_scale * (stamps[-1] - stamps[0]), 2),
    }
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
