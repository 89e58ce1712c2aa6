"""What a large trace costs: validation time, iteration rate and memory while iterating.

Writes a Mooncake trace of ``--rows`` requests (``scripts/make_mooncake_trace.py``, Poisson
arrivals, half the requests reusing a prefix) into a temporary folder, builds the real
RequestLoader on it (the validation pass reads every row), then iterates every request with
the approximate tokenizer (or ``--processor``). Prints the validation time, rows/s iterated,
the growth of the process's peak RSS while iterating and its RSS every 10 % of the way (flat
means bounded read-ahead), and re-counts a sample of prompts to show they are exact.

    .venv/bin/python benchmarks/bench_traces.py [--rows 1000000] [--processor tokenizer.json]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import multiprocessing
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _rss_mb() -> float:
    with Path("/proc/self/status").open(encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _write_trace(path: Path, rows: int, input_span: tuple[int, int]) -> None:
    spec = importlib.util.spec_from_file_location("mk", ROOT / "scripts/make_mooncake_trace.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    chunk = 100_000
    with path.open("w", encoding="utf-8") as f:
        offset = 0.0
        for start in range(0, rows, chunk):  # chunks keep this script's own memory small
            part = module.make_trace(
                min(chunk, rows - start), 200.0, reuse=0.5, seed=start, input_tokens=input_span
            )
            id_base = start * 64
            for row in part:
                row["timestamp"] += offset
                row["hash_ids"] = [h + id_base for h in row["hash_ids"]]
                f.write(json.dumps(row, separators=(",", ":")) + "\n")
            offset = part[-1]["timestamp"] + 5


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--processor", default=None)
    parser.add_argument("--input-min", type=int, default=128)
    parser.add_argument("--input-max", type=int, default=4096)
    args = parser.parse_args()

    from guidellm.data.loader import RequestLoader
    from guidellm.data.tokenizers import ApproxTokenizer, load_tokenizer
    from guidellm.plugins import get_plugin_host

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "trace.jsonl"
        t0 = time.perf_counter()
        # Written by a child process, so that this one's peak RSS is the loader's alone.
        child = multiprocessing.get_context("fork").Process(
            target=_write_trace, args=(path, args.rows, (args.input_min, args.input_max))
        )
        child.start()
        child.join()
        size_mb = path.stat().st_size / 2**20
        print(f"trace: {args.rows:,} rows, {size_mb:.0f} MiB, written in "
              f"{time.perf_counter() - t0:.1f} s")  # fmt: skip
        host = get_plugin_host()
        rss0 = _rss_mb()
        t0 = time.perf_counter()
        loader = RequestLoader([str(path)], {}, processor=args.processor, random_seed=1, host=host)
        validate_s = time.perf_counter() - t0
        rate = args.rows / validate_s
        print(f"validation (loader built, every row checked): {validate_s:.2f} s "
              f"({rate:,.0f} rows/s), RSS {rss0:.0f} -> {_rss_mb():.0f} MB")  # fmt: skip
        peak_before, rss_before = _peak_mb(), _rss_mb()
        marks: list[str] = []
        sample = []
        step = max(1, args.rows // 10)
        t0 = time.perf_counter()
        n = tokens = 0
        for n, request in enumerate(loader, 1):
            tokens += request.prompt_tokens or 0
            if n % step == 0:
                marks.append(f"{_rss_mb():.0f}")
            if n % 9973 == 0 and len(sample) < 50:
                sample.append(request)
        iterate_s = time.perf_counter() - t0
        print(f"iterated {n:,} requests ({tokens / n:,.0f} prompt tokens each) in "
              f"{iterate_s:.2f} s: {n / iterate_s:,.0f} rows/s")  # fmt: skip
        print(f"peak RSS growth while iterating: {_peak_mb() - peak_before:.1f} MB "
              f"(RSS before {rss_before:.0f} MB; every 10 %: {' '.join(marks)} MB)")  # fmt: skip
        tok = load_tokenizer(args.processor) or ApproxTokenizer()
        exact = sum(tok.count(r.prompt or "") == r.prompt_tokens for r in sample)
        print(f"exact prompt lengths in a sample: {exact}/{len(sample)}")
        print(json.dumps(loader.describe()["trace"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
