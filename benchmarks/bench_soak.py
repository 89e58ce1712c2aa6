"""A soak run: memory and disk of a long benchmark at 1,000 requests/s must not grow with it.

Starts nginx serving pre-rendered 128-token SSE streams (``../shared/bench/gen_sse.py``, a
target that is never the bottleneck), runs ``guidellm run --profile constant --rate 1000``
for ``--minutes`` as a user would (parent + worker processes), and samples every second:

* RSS of every guidellm process together (and of the parent alone), and its peak so far;
* the bytes of the parent's spill files (unlinked, read through ``/proc/PID/fd``);
* the journal's size.

At each mark (1, 5 and 10 minutes by default) it prints the peak RSS so far and the journal's
bytes; at the end the journal's bytes per request, the peak while the report was compiled,
and whether the peaks after the first minute stay within 10 % of the first minute's (exit 1
if not). The one-hour figure: ``--minutes 60 --marks 1,5,10,30,60``.

    .venv/bin/python benchmarks/bench_soak.py [--minutes 10] [--rate 1000] [--marks 1,5,10]

nginx (``apt-get install -y nginx``) is stopped by its PID at the end.
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

from bench_client import DEFAULT_GEN_SSE, _tree_rss, nginx_target

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

_MB = 1 << 20


def _rss(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return 0


def _parent_split(pid: int) -> tuple[float, float]:
    """The parent's anonymous and file-backed RSS in MB (spill files read through a memory
    map count as file-backed while mapped)."""
    fields: dict[str, int] = {}
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
            key, value = line.split(":", 1)
            fields[key.strip()] = int(value.split()[0])
    except (OSError, ValueError):
        return 0.0, 0.0
    anon = fields.get("Anonymous", 0)
    return round(anon / 1024, 1), round((fields.get("Rss", 0) - anon) / 1024, 1)


def _spilled(pid: int) -> int:
    """Bytes of the unlinked files ``pid`` holds open (the aggregator's spill)."""
    total = 0
    folder = Path(f"/proc/{pid}/fd")
    try:
        fds = list(folder.iterdir())
    except OSError:
        return 0
    for fd in fds:
        try:
            if str(fd.readlink()).endswith("(deleted)"):
                total += fd.stat().st_size
        except OSError:
            continue
    return total


def soak(url: str, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    journal = work / "soak.journal"
    out = work / "soak.json"
    seconds = args.minutes * 60
    cmd = [
        sys.executable, "-m", "guidellm", "run", "--target", url,
        "--data", "prompt_tokens=128,output_tokens=128",
        "--profile", "constant", "--rate", str(args.rate), "--max-seconds", str(seconds),
        "--output", str(out), "--journal", str(journal),
        "--disable-console-outputs", "--server-metrics", "off",
    ]  # fmt: skip
    marks = sorted(float(m) * 60 for m in args.marks.split(","))
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    launch = time.monotonic()
    peak = 0
    rows: list[dict[str, Any]] = []
    next_mark = 0
    run_peak = 0
    ended_at = None
    while proc.poll() is None:
        elapsed = time.monotonic() - launch
        total = _tree_rss(proc.pid)
        peak = max(peak, total)
        if elapsed <= seconds + 1:
            run_peak = peak
        elif ended_at is None:
            ended_at = elapsed
        if next_mark < len(marks) and elapsed >= marks[next_mark]:
            size = journal.stat().st_size if journal.exists() else 0
            anon, mapped = _parent_split(proc.pid)
            row = {
                "minute": round(marks[next_mark] / 60, 2),
                "peak_rss_mb": round(peak / _MB, 1),
                "rss_mb": round(total / _MB, 1),
                "parent_rss_mb": round(_rss(proc.pid) / _MB, 1),
                "parent_anon_mb": anon,
                "parent_file_mb": mapped,
                "spill_mb": round(_spilled(proc.pid) / _MB, 1),
                "journal_mb": round(size / _MB, 1),
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
            next_mark += 1
        time.sleep(1.0)
    err = proc.stderr.read() if proc.stderr else ""
    if proc.returncode != 0:
        sys.exit(f"guidellm exited {proc.returncode}: {err.strip()[-2000:]}")
    from guidellm.benchmark.journal import read_journal

    results = sum(1 for kind, _ in read_journal(journal) if kind == "result")
    (bench,) = json.loads(out.read_text())["benchmarks"]
    first = rows[0]["peak_rss_mb"] if rows else 0.0
    later = [r["peak_rss_mb"] for r in rows[1:]]
    flat = all(p <= first * 1.10 for p in later)
    return {
        "marks": rows,
        "requests": results,
        "requests_per_second": round(results / seconds, 1),
        "journal_bytes_per_request": round(journal.stat().st_size / max(results, 1), 1),
        "peak_rss_mb_during_run": round(run_peak / _MB, 1),
        "peak_rss_mb_with_compile": round(peak / _MB, 1),
        "client_limited": bench["client"].get("limited"),
        "cpu_ms_per_request": bench["client"].get("cpu_ms_per_request"),
        "ttft_ms_median": bench["metrics"]["time_to_first_token_ms"]["successful"]["median"],
        "flat_within_10_percent": flat,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--marks", default="1,5,10", help="minutes at which to report")
    parser.add_argument("--gen-sse", type=Path, default=DEFAULT_GEN_SSE)
    args = parser.parse_args()
    with (
        nginx_target(args.gen_sse, 128) as (url, _log),
        tempfile.TemporaryDirectory(prefix="bench-soak-") as tmp,
    ):
        summary = soak(url, args, Path(tmp))
    print(json.dumps(summary, indent=1))
    if not summary["flat_within_10_percent"]:
        sys.exit("peak RSS grew more than 10 % after the first minute")


if __name__ == "__main__":
    main()
