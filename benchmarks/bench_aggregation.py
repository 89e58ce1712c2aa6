"""The aggregator's cost: per result while the run goes on, and after the last result.

Feeds N synthetic results (``--tokens`` chunks each, times from a seeded generator) to a
BenchmarkAggregator exactly as the Benchmarker does, then compiles the benchmark and writes
the json, yaml, csv and html reports (``--turns N``: the results are sessions of N turns).
Prints the CPU cost of ``add()`` per result, the slowest single ``add()`` (the parent's event
loop waits that long while a block is merged), the time from the last result to the compiled
benchmark and to every report written, the JSON size and the peak memory growth.

Time slices are tallied per block once the aggregator knows the benchmark's start, as in a
run (``--slices-from run``, the default); ``--slices-from compile`` leaves the start unknown
until compile (the journal-rebuild and bare-API path), so every row is sliced there.

    .venv/bin/python benchmarks/bench_aggregation.py --requests 100000 --tokens 128
"""

from __future__ import annotations

import argparse
import random
import resource
import tempfile
import time
from pathlib import Path

from guidellm.benchmark.aggregator import BenchmarkAggregator
from guidellm.benchmark.report import Report
from guidellm.outputs import writers_for
from guidellm.plugins import PluginHost
from guidellm.request import RequestResult


def results(
    n: int, tokens: int, seed: int, error_every: int = 200, turns: int = 0
) -> list[RequestResult]:
    """``turns`` > 0: consecutive results are the turns of sessions that long (a twentieth
    of the prompt cached per turn after the first)."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        start = i * 0.001
        first = start + 0.05 + rng.random() * 0.02
        itl = 0.01 + rng.random() * 0.002
        times = [first + k * itl for k in range(tokens)]
        failed = bool(error_every) and i % error_every == 0
        out.append(
            RequestResult(
                request_id=str(i),
                status="errored" if failed else "successful",
                scheduled_time=start,
                request_start=start + 0.0002,
                request_end=times[-1] + 0.0005,
                first_token_time=first,
                last_token_time=times[-1],
                chunk_times=times,
                content_chunks=tokens,
                prompt_tokens=256,
                output_tokens=tokens,
                error_category="http_5xx" if failed else None,
                error="HTTP 503: overloaded" if failed else None,
                **(
                    {
                        "session_id": f"s{i // turns}",
                        "turn": i % turns + 1,
                        "session_turns": turns,
                        "turn_kind": "user",
                        "session_end": failed or i % turns == turns - 1,
                        "cached_tokens": 12 * (i % turns),
                    }
                    if turns
                    else {}
                ),
            )
        )
    return out


def _repeat_compile(agg: BenchmarkAggregator, end: float, n: int) -> tuple[float, float]:
    """Best compile time with the slices, and without them (the slicer's compile skipped)."""
    from guidellm.benchmark.timeslices import SliceAccumulator

    def best() -> float:
        times = []
        for _ in range(n):
            t = time.perf_counter()
            agg.compile(start_time=0.0, end_time=end, client={"limited": False})
            times.append(time.perf_counter() - t)
        return min(times)

    with_slices = best()
    real = SliceAccumulator.compile
    SliceAccumulator.compile = lambda self, **kw: None  # type: ignore[method-assign,assignment]
    try:
        without = best()
    finally:
        SliceAccumulator.compile = real  # type: ignore[method-assign]
    return with_slices, without


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--warmup", type=float, default=0.1, help="0: no measured window")
    parser.add_argument("--error-every", type=int, default=200, help="0: every request succeeds")
    parser.add_argument("--time-slice", type=float, default=1.0, help="seconds per slice asked")
    parser.add_argument("--turns", type=int, default=0, help="sessions of N turns (0: none)")
    parser.add_argument(
        "--slices-from",
        choices=("run", "compile"),
        default="run",
        help="when the benchmark's start is known: from the start (as a run) or at compile",
    )
    parser.add_argument(
        "--repeat-compile",
        type=int,
        default=0,
        help="then compile N more times with the slices and N without; print the best of each",
    )
    args = parser.parse_args()

    data = results(args.requests, args.tokens, args.seed, args.error_every, args.turns)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    agg = BenchmarkAggregator(
        index=0,
        strategy={"type": "constant", "rate": 1000.0},
        warmup=args.warmup or None,
        cooldown=None,
        max_seconds=None,
        max_requests=None,
        slo={"ttft_ms": 60.0, "itl_ms": 11.0},
        time_slice=args.time_slice,
        origin=0.0 if args.slices_from == "run" else None,
    )
    cpu0 = time.process_time()
    clock = time.perf_counter
    worst = 0.0
    for r in data:
        t = clock()
        agg.add(r)
        worst = max(worst, clock() - t)
    cpu_add = time.process_time() - cpu0
    last = time.perf_counter()
    end = data[-1].request_end
    benchmark = agg.compile(start_time=0.0, end_time=end, client={"limited": False})
    compiled = time.perf_counter()
    report = Report.create({"target": "synthetic"}, [benchmark], command="bench_aggregation")
    host = PluginHost(builtins=("guidellm.outputs.builtin",), entry_points=False)
    with tempfile.TemporaryDirectory() as tmp:
        paths = [Path(tmp) / f"report.{ext}" for ext in ("json", "yaml", "csv", "html")]
        written_at = {}
        for writer in writers_for(paths, host):
            writer.write(report)
            written_at[writer.name] = time.perf_counter()
        sizes = {p.suffix: p.stat().st_size for p in paths}
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        f"requests {args.requests:,} x {args.tokens} chunks, warmup {args.warmup:g}, "
        f"1 in {args.error_every or 'no'} errored, "
        + (f"sessions of {args.turns} turns" if args.turns else "no sessions")
    )
    print(f"add(): {cpu_add / args.requests * 1e6:.2f} CPU-us per result")
    print(f"slowest add() (one with a block merge): {worst * 1000:.1f} ms")
    print(f"last result -> benchmark compiled: {(compiled - last) * 1000:.0f} ms")
    ts = benchmark.timeslices
    if ts is not None:
        print(
            f"time slices: {len(ts)} of {ts.size:g} s (asked {ts.asked:g} s, "
            f"widened {ts.widened}), sliced at {args.slices_from}"
        )
    for name, t in written_at.items():
        print(f"last result -> {name} written: {(t - last) * 1000:.0f} ms")
    if args.repeat_compile:
        with_s, without_s = _repeat_compile(agg, end, args.repeat_compile)
        print(
            f"compile, best of {args.repeat_compile}: {with_s * 1000:.1f} ms with time slices, "
            f"{without_s * 1000:.1f} ms without (+{(with_s / without_s - 1) * 100:.1f} %)"
        )
    print("sizes: " + ", ".join(f"{k} {v / 1024:.0f} KiB" for k, v in sizes.items()))
    print(f"peak RSS growth while aggregating: {(rss1 - rss0) / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
