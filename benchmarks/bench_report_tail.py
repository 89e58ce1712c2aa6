"""Time from the last response to process exit for a real ``guidellm run``, and report size.

Starts the mock server (no delays, ``--tokens`` tokens per answer), runs ``guidellm run``
against it in a child process with ``--max-requests N`` and json/csv/html outputs, and when the
child exits reads the journal's last ``request_end``. Both times come from CLOCK_MONOTONIC
(``time.perf_counter``), which processes share on Linux, so the difference is the real tail:
compiling the benchmark, writing every report and exiting.

    .venv/bin/python benchmarks/bench_report_tail.py --requests 100000 --tokens 16 --repeat 3
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from guidellm.mock_server import MockServer, MockServerConfig


def last_request_end(journal: Path) -> tuple[float, int]:
    from guidellm.benchmark.journal import read_journal

    last, count = 0.0, 0
    for kind, record in read_journal(journal):
        if kind == "result":
            last = max(last, record[1].request_end)
            count += 1
    return last, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--tokens", type=int, default=16)
    parser.add_argument("--streams", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=1, help="runs (prints each, and the median)")
    args = parser.parse_args()
    tails = []
    for _ in range(max(args.repeat, 1)):
        tails.append(one_run(args))
    if len(tails) > 1:
        ordered = sorted(tails)
        print(f"median of {len(tails)}: {ordered[len(ordered) // 2] * 1000:.0f} ms")


def one_run(args: argparse.Namespace) -> float:

    config = MockServerConfig(ttft_ms=0.0, itl_ms=0.0, output_tokens=args.tokens)
    with MockServer(config) as url, tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        cmd = [
            sys.executable, "-m", "guidellm", "run", "--target", url,
            "--profile", "concurrent", "--rate", str(args.streams),
            "--max-requests", str(args.requests),
            "--data", f"prompt_tokens=16,output_tokens={args.tokens}",
            "--output", str(out / "run.json"), "--output", str(out / "run.csv"),
            "--output", str(out / "run.html"), "--disable-progress",
        ]  # fmt: skip
        started = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        exited = time.perf_counter()
        if proc.returncode != 0:
            sys.exit(f"guidellm run failed ({proc.returncode}): {proc.stderr[-2000:]}")
        last, count = last_request_end(out / "run.journal")
        sizes = {p.name: p.stat().st_size for p in sorted(out.iterdir())}
    print(f"requests {count:,} x {args.tokens} tokens, {args.streams} streams")
    print(f"run wall time: {exited - started:.1f} s")
    print(f"last response -> process exit: {(exited - last) * 1000:.0f} ms")
    print("sizes: " + ", ".join(f"{k} {v / 1024:.0f} KiB" for k, v in sizes.items()))
    return exited - last


if __name__ == "__main__":
    main()
