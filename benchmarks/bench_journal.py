"""Journal bytes and packing time per request, for answers shaped like real servers'.

``bench_soak.py`` measures the journal against nginx, whose pre-rendered answers arrive
at once (every chunk gap is zero, the cheapest case). Here results of 128 chunks are written
through :class:`~guidellm.benchmark.journal.Journal` as a run writes them (a block about
every second), with the gaps between chunks drawn from a few shapes, and read back to check
that every chunk time survives to the microsecond:

* ``burst``: every chunk at once (nginx);
* ``steady``: a decode step of 10 ms with 5 % jitter (one server, steady load);
* ``spread``: gaps uniform in 10-30 ms (the worst case for the encoding: no two alike);
* ``stalls``: lognormal gaps around 20 ms, a tenth of them 100-400 ms stalls (heavy
  preemption; near the entropy of such gaps at a microsecond, about 2 bytes a chunk).

    .venv/bin/python benchmarks/bench_journal.py [--requests 50000] [--tokens 128]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from guidellm.benchmark.journal import Journal, read_journal  # noqa: E402
from guidellm.request import RequestResult  # noqa: E402

SHAPES = ("burst", "steady", "spread", "stalls")


def _gaps(shape: str, rng: np.random.Generator, n: int) -> np.ndarray:
    if shape == "burst":
        return np.zeros(n)
    if shape == "steady":
        return 0.010 * (1 + 0.05 * rng.standard_normal(n)).clip(0.5)
    if shape == "spread":
        return rng.uniform(0.010, 0.030, n)
    gaps = rng.lognormal(np.log(0.020), 0.5, n)
    stalls = rng.random(n) < 0.1
    gaps[stalls] = rng.uniform(0.1, 0.4, int(stalls.sum()))
    return gaps


def _results(shape: str, requests: int, tokens: int, seed: int) -> list[RequestResult]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(requests):
        start = 1000.0 + i / 1000.0
        first = start + rng.uniform(0.02, 0.2)
        times = (first + np.concatenate([[0.0], np.cumsum(_gaps(shape, rng, tokens - 1))])).tolist()
        out.append(
            RequestResult(
                request_id=f"bench-{i}",
                status="successful",
                scheduled_time=start - 1e-4,
                request_start=start,
                request_end=times[-1] + 1e-4,
                first_token_time=times[0],
                last_token_time=times[-1],
                chunk_times=times,
                content_chunks=tokens,
                output_tokens=tokens,
                prompt_tokens=128,
                request_prompt_tokens=128,
                requested_output_tokens=tokens,
                worker=i % 2,
            )
        )
    return out


def measure(shape: str, requests: int, tokens: int, work: Path) -> dict[str, object]:
    results = _results(shape, requests, tokens, seed=SHAPES.index(shape))
    path = work / f"{shape}.journal"
    journal = Journal(path)
    journal.run_started({}, {"profile": "constant"})
    journal.benchmark_started(0, {"type": "constant", "rate": 1000.0}, {})
    header = path.stat().st_size
    cpu = time.process_time()
    for k, result in enumerate(results):
        journal.result(0, result)
        if k % 1000 == 999:  # a run writes its block about once a second at 1,000/s
            journal.flush()
    journal.close()
    cpu = time.process_time() - cpu
    back = [rec[1] for kind, rec in read_journal(path) if kind == "result"]
    exact = len(back) == len(results) and all(
        max(abs(a - b) for a, b in zip(x.chunk_times, y.chunk_times, strict=True)) <= 0.5e-6
        for x, y in zip(back, results, strict=True)
    )
    return {
        "shape": shape,
        "requests": requests,
        "tokens": tokens,
        "bytes_per_request": round((path.stat().st_size - header) / requests, 1),
        "pack_us_per_request": round(cpu / requests * 1e6, 1),
        "chunk_times_to_the_microsecond": exact,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=50_000)
    parser.add_argument("--tokens", type=int, default=128)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-journal-") as tmp:
        for shape in SHAPES:
            print(json.dumps(measure(shape, args.requests, args.tokens, Path(tmp))), flush=True)


if __name__ == "__main__":
    main()
