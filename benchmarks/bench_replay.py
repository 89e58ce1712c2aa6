"""Trace replay precision: when requests reach the server against when the trace sends them.

Makes a Mooncake trace with ``scripts/make_mooncake_trace.py`` (Poisson arrivals at
``--rate``), starts a server that records each request's arrival, and runs ``guidellm run
--profile replay`` against it as a user would, with the journal on. ``--server kernel`` (the
default, ``benchmarks/arrival_server.py``): the kernel's receive time of the request's first
bytes (``SO_TIMESTAMPNS``), converted to CLOCK_MONOTONIC, the clock the client times with;
``--server mock``: the built-in mock server with its dispatch wrapped to take
``time.perf_counter()`` once the request is parsed (this adds the Python server's own
scheduling delay on shared cores).

The server also keeps each prompt; a RequestLoader over the same trace says which row each
prompt belongs to. Checked from outside the client:

* the intended send times are the trace's: sorted, ``scheduled_i - scheduled_0`` equals
  ``time_scale * (t_i - t_0)`` (the largest difference is printed, in microseconds);
* each request reached the server ``|arrival - intended|`` after (or before) its row's
  intended time: p50, p99 and max;
* every received prompt has exactly its row's ``input_length`` tokens (the approximate
  tokenizer the run used), and rows sharing their first k hash ids received prompts whose
  common prefix holds at least those k blocks' tokens;
* nothing was lost: the server's count equals the trace's rows and the report's requests.

    .venv/bin/python benchmarks/bench_replay.py --requests 2000 --rate 200
    .venv/bin/python benchmarks/bench_replay.py --requests 10000 --rate 1000

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

import msgspec

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
        arrivals.append((clock(), req.body))  # parsed after the run: no work per request
    dispatch(self, req)

http_server._Connection._dispatch = timed
config = MockServerConfig(ttft_ms=0, itl_ms=0, output_tokens=1)
run_foreground(config, "127.0.0.1", 0, lambda url: print("LISTENING", url, flush=True))
with open(sys.argv[1], "w") as f:
    for t, body in arrivals:
        f.write(json.dumps([t, json.loads(body)["prompt"]]) + chr(10))
"""


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _common_prefix(a: str, b: str) -> str:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return a[:n]


def _expected_prompts(trace: Path, block_size: int) -> list[str]:
    """The prompt of each trace row, built by a RequestLoader as the run builds them."""
    from guidellm.data.loader import RequestLoader
    from guidellm.plugins import PluginHost

    loader = RequestLoader(
        [str(trace)], {"block_size": block_size}, processor=None, random_seed=42,
        host=PluginHost(),
    )  # fmt: skip
    return [r.prompt or "" for r in loader]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--time-scale", type=float, default=1.0)
    parser.add_argument("--reuse", type=float, default=0.5)
    parser.add_argument("--block-size", type=int, default=64)
    parser.add_argument("--input", default="128:1024", help="MIN:MAX prompt tokens")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--output-tokens", type=int, default=4)
    parser.add_argument(
        "--server",
        choices=("kernel", "mock"),
        default="kernel",
        help="kernel: arrival_server.py, kernel receive times; mock: the mock server's dispatch",
    )
    parser.add_argument("--workers", type=int, default=None, help="default: one per core")
    args = parser.parse_args()
    from guidellm.data.tokenizers import ApproxTokenizer

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        trace = work / "trace.jsonl"
        subprocess.run(
            [sys.executable, str(ROOT / "scripts" / "make_mooncake_trace.py"),
             "--requests", str(args.requests), "--rate", str(args.rate), "--out", str(trace),
             "--reuse", str(args.reuse), "--seed", str(args.seed), "--input", args.input,
             "--output", f"{args.output_tokens}:{args.output_tokens}",
             "--block-size", str(args.block_size)],
            check=True,
        )  # fmt: skip
        rows = [json.loads(line) for line in trace.open()]
        stamps = [row["timestamp"] / 1000.0 for row in rows]
        expected = _expected_prompts(trace, args.block_size)
        row_of = {prompt: i for i, prompt in enumerate(expected)}
        arrivals_file = work / "arrivals.jsonl"
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        if args.server == "kernel":
            argv = [str(ROOT / "benchmarks" / "arrival_server.py"), str(arrivals_file),
                    "--tokens", str(args.output_tokens)]  # fmt: skip
        else:
            argv = ["-c", _SERVER, str(arrivals_file)]
        server = subprocess.Popen(
            [sys.executable, *argv],
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
            journal = work / "run.journal"
            cmd = [
                sys.executable, "-m", "guidellm", "run", "--target", url,
                "--data", str(trace), "--data-args", f"block_size={args.block_size}",
                "--backend-args", "request_format=text_completions",
                "--profile", "replay", "--profile-args", f"time_scale={args.time_scale}",
                "--journal", str(journal), "--output", str(work / "report.json"),
                "--disable-progress",
                *(["--workers", str(args.workers)] if args.workers else []),
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
        arrivals = [json.loads(line) for line in arrivals_file.open()]
        from guidellm.benchmark.journal import read_journal

        results = [
            msgspec.to_builtins(rec[1]) for kind, rec in read_journal(journal) if kind == "result"
        ]
        report = json.loads((work / "report.json").read_text())
    (bench,) = report["benchmarks"]
    # The run's intended send times: the earliest is the first row's (the replay's origin).
    origin = min(r[2] for r in results)
    intended = [origin + args.time_scale * (t - stamps[0]) for t in stamps]
    scheduled = sorted(r[2] for r in results)
    trace_error = max(abs(a - b) for a, b in zip(scheduled, intended, strict=True))
    errors_ms: list[float] = []
    length_mismatches = unknown = 0
    count = ApproxTokenizer().count
    received: dict[int, str] = {}
    # Each result by its intended time (equal to its row's, checked above): where the error
    # comes from, the client's send delay or the way from the client's send to the server.
    by_time = {round(r[2], 9): r for r in results}
    transit_ms: list[float] = []
    settled_ms: list[float] = []  # after the first second (connections opened by then)
    for arrived, prompt in arrivals:
        row = row_of.get(prompt)
        if row is None:
            unknown += 1
            continue
        received[row] = prompt
        errors_ms.append(abs(arrived - intended[row]) * 1000.0)
        if intended[row] - origin >= 1.0:
            settled_ms.append(errors_ms[-1])
        result = by_time.get(round(intended[row], 9))
        if result is not None:
            transit_ms.append((arrived - result[3]) * 1000.0)
        if count(prompt) != rows[row]["input_length"]:
            length_mismatches += 1
    # Rows sharing their first k hash ids must share their first k blocks' text, byte for byte.
    shared_pairs = prefix_failures = 0
    by_prefix: dict[tuple[int, ...], int] = {}
    for i, row in enumerate(rows):
        ids = row["hash_ids"]
        for k in range(len(ids) - 1, 0, -1):
            other = by_prefix.get(tuple(ids[:k]))
            if other is not None and other in received and i in received:
                shared_pairs += 1
                common = _common_prefix(received[i], received[other])
                if count(common) < k * args.block_size - 1:
                    prefix_failures += 1
                break
        for k in range(1, len(ids)):
            by_prefix.setdefault(tuple(ids[:k]), i)
    send_delays_ms = [(r[3] - r[2]) * 1000.0 for r in results]
    out: dict[str, Any] = {
        "requests_in_trace": len(rows),
        "rate": args.rate,
        "time_scale": args.time_scale,
        "server_received": len(arrivals),
        "unknown_prompts": unknown,
        "report_requests": sum(
            bench["requests"][k] for k in ("successful", "errored", "incomplete")
        ),
        "successful": bench["requests"]["successful"],
        "intended_vs_trace_max_us": round(trace_error * 1e6, 3),
        "arrival_error_ms": {
            "p50": round(_percentile(errors_ms, 0.5), 3),
            "p99": round(_percentile(errors_ms, 0.99), 3),
            "max": round(max(errors_ms), 3),
            "p99_after_1s": round(_percentile(settled_ms, 0.99), 3) if settled_ms else None,
        },
        "prompt_length_mismatches": length_mismatches,
        "shared_prefix_pairs": shared_pairs,
        "shared_prefix_failures": prefix_failures,
        "client_send_delay_ms": {
            "p50": round(_percentile(send_delays_ms, 0.5), 3),
            "p99": round(_percentile(send_delays_ms, 0.99), 3),
        },
        "send_to_server_ms": {
            "p50": round(_percentile(transit_ms, 0.5), 3),
            "p99": round(_percentile(transit_ms, 0.99), 3),
            "matched": len(transit_ms),
        },
        "run_seconds": round(took, 2),
        "trace_seconds": round(args.time_scale * (stamps[-1] - stamps[0]), 2),
    }
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
