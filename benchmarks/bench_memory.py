"""Memory per request of the parent and of each worker, over a long constant-rate run.

Starts the built-in mock server (a child process), runs ``guidellm run`` as a user would at a
constant rate, samples the RSS of the parent and of each worker process every 0.25 s from
/proc, and fits a straight line to each process's RSS from ``--settle`` seconds on: the slope,
divided by the rate, is what the process keeps per request. Start-up costs (imports, the
first allocations of each arena) fall before the settle point and do not count.

    .venv/bin/python benchmarks/bench_memory.py [--rate 200] [--seconds 60] [--tokens 32]

Prints one JSON object: per process, RSS at the settle point and at the end (MB) and the
growth in bytes per request. Everything is stopped by PID at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from guidellm.mock_server import MockServer, MockServerConfig  # noqa: E402

_PAGE = os.sysconf("SC_PAGE_SIZE")


def _rss(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * _PAGE
    except (OSError, ValueError):
        return None


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _slope(points: list[tuple[float, int]]) -> float:
    """Least-squares slope (bytes per second) of (seconds, bytes) points."""
    n = len(points)
    if n < 2:
        return 0.0
    mx = sum(t for t, _ in points) / n
    my = sum(v for _, v in points) / n
    sxx = sum((t - mx) ** 2 for t, _ in points)
    sxy = sum((t - mx) * (v - my) for t, v in points)
    return sxy / sxx if sxx else 0.0


def run(rate: float, seconds: float, tokens: int, settle: float, workers: int) -> dict[str, Any]:
    config = MockServerConfig(ttft_ms=20, itl_ms=5, output_tokens=tokens, seed=1)
    with MockServer(config) as url, tempfile.TemporaryDirectory(prefix="bench-mem-") as tmp:
        cmd = [
            sys.executable, "-m", "guidellm", "run", "--target", url,
            "--profile", "constant", "--rate", f"{rate:g}", "--max-seconds", f"{seconds:g}",
            "--data", f"prompt_tokens=64,output_tokens={tokens}", "--workers", str(workers),
            "--disable-progress", "--disable-console-outputs", "--output", f"{tmp}/r.json",
        ]  # fmt: skip
        env = {k: v for k, v in os.environ.items() if not k.startswith("GUIDELLM_")}
        start = time.monotonic()
        proc = subprocess.Popen(cmd, env=env, cwd=tmp)
        series: dict[str, list[tuple[float, int]]] = {}
        try:
            while proc.poll() is None:
                now = time.monotonic() - start
                named = {"parent": proc.pid}
                for i, child in enumerate(sorted(_children(proc.pid))):
                    named[f"worker{i}"] = child
                for name, pid in named.items():
                    rss = _rss(pid)
                    if rss is not None:
                        series.setdefault(name, []).append((now, rss))
                time.sleep(0.25)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(30)
        report = json.loads(Path(tmp, "r.json").read_text())
    bench = report["benchmarks"][0]
    done = sum(bench["requests"][k] for k in ("successful", "errored", "incomplete"))
    out: dict[str, Any] = {
        "rate": rate,
        "seconds": seconds,
        "tokens": tokens,
        "requests": done,
        "exit_code": proc.returncode,
    }
    for name, points in sorted(series.items()):
        # The run ends `seconds` after its start (~0.5 s after launch): leave the tail out.
        steady = [(t, v) for t, v in points if settle <= t <= seconds - 1.0]
        if len(steady) < 8:
            continue
        out[name] = {
            "rss_mb_at_settle": round(steady[0][1] / 2**20, 1),
            "rss_mb_at_end": round(steady[-1][1] / 2**20, 1),
            "bytes_per_request": round(_slope(steady) / rate, 1),
            "grew_mb": round((steady[-1][1] - steady[0][1]) / 2**20, 2),
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rate", type=float, default=200.0)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--tokens", type=int, default=32)
    ap.add_argument("--settle", type=float, default=10.0, help="seconds left out at the start")
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args()
    print(json.dumps(run(a.rate, a.seconds, a.tokens, a.settle, a.workers), indent=2))


if __name__ == "__main__":
    main()
