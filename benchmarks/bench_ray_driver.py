"""What the driver pays per result on Ray, at 5,000 and 10,000 results/s.

The request workers' own cost is taken out of the picture: they run ``SleepBackend`` (no
server, no network: a 1 ms sleep, then 4 chunks), so one machine's two cores can produce
10,000 results/s, which real requests to nginx cannot here. Each case runs the Benchmarker in
a child process at a constant rate, twice (``--short`` and ``--long`` seconds), and reads the
child's own CPU (``RUSAGE_SELF``: the driver and its Ray client threads; the actors belong to
the raylets). The difference between the two runs, over the difference in results, is the
driver's marginal CPU per result: start-up (imports, connecting to Ray, the actors' start)
cancels out. The same is measured for local worker processes, whose parent does the same
merging and aggregation without Ray.

    .venv/bin/python benchmarks/bench_ray_driver.py [--rates 5000,10000] [--short 4] [--long 10]
"""

from __future__ import annotations

import argparse
import itertools
import json
import resource
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def _child(executor: str, rate: float, seconds: float, work: Path) -> None:
    """One run in this process; prints its results, rate and CPU as JSON."""
    from guidellm.benchmark.benchmarker import Benchmarker, RunSettings
    from guidellm.benchmark.journal import Journal
    from guidellm.outputs.files import JSONWriter
    from guidellm.plugins import PluginHost
    from guidellm.request import GenerationRequest
    from guidellm.testing.sleep_backend import SleepBackend

    class _Requests:
        def __iter__(self) -> Iterator[GenerationRequest]:
            for i in itertools.count():
                yield GenerationRequest(f"r{i}", prompt="hi", prompt_tokens=2, max_tokens=4)

    options = json.loads(executor)
    bench = Benchmarker(
        backend=SleepBackend(ttft_ms=1, itl_ms=0, output_tokens=4),
        requests=_Requests(),
        profile=PluginHost(entry_points=False).profiles.get("constant")([rate], {}),
        settings=RunSettings(max_seconds=seconds, workers=2, executor=options),
        writers=[JSONWriter(work / "r.json")],
        journal=Journal(work / "r.journal"),
    )
    outcome = bench.run()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    (summary,) = outcome.summaries
    print(
        json.dumps(
            {
                "exit": outcome.exit_code,
                "results": summary.completed,
                "rate": summary.completed / summary.duration,
                "cpu_s": usage.ru_utime + usage.ru_stime,
                "delay_p99_ms": outcome.report.benchmarks[0].client["scheduling_delay_ms_p99"],
            }
        )
    )


def _run(executor: dict[str, Any], rate: float, seconds: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as work:
        cmd = [sys.executable, __file__, "--child", json.dumps(executor), str(rate), str(seconds),
               work]  # fmt: skip
        proc = subprocess.run(
            cmd, check=False, capture_output=True, text=True, timeout=seconds + 120
        )
        if proc.returncode != 0:
            sys.exit(f"child failed ({proc.returncode}): {proc.stderr[-2000:]}")
        row: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
        return row


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _, _, executor, rate, seconds, work = sys.argv
        _child(executor, float(rate), float(seconds), Path(work))
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rates", default="5000,10000")
    ap.add_argument("--short", type=float, default=4.0)
    ap.add_argument("--long", type=float, default=10.0)
    a = ap.parse_args()
    from guidellm.testing.ray_cluster import RayCluster

    with RayCluster(nodes=2).start() as cluster:
        executors = {
            "local": {"kind": "local"},
            "ray": {"kind": "ray", "address": cluster.address, "workers": 2},
        }
        for rate in (float(r) for r in a.rates.split(",")):
            for name, executor in executors.items():
                short = _run(executor, rate, a.short)
                long = _run(executor, rate, a.long)
                extra = long["results"] - short["results"]
                per_result_us = (long["cpu_s"] - short["cpu_s"]) * 1e6 / max(extra, 1)
                print(
                    json.dumps(
                        {
                            "case": f"constant-{rate:g}-{name}",
                            "achieved_rate": round(long["rate"], 1),
                            "results": long["results"],
                            "driver_cpu_us_per_result": round(per_result_us, 1),
                            "driver_cores_at_rate": round(per_result_us * long["rate"] / 1e6, 2),
                            "delay_p99_ms": long["delay_p99_ms"],
                            "exit": long["exit"],
                        }
                    ),
                    flush=True,
                )


if __name__ == "__main__":
    main()
