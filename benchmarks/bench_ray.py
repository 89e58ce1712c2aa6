"""The Ray executor's cost and reach on one machine, next to local worker processes.

Starts nginx serving pre-rendered SSE streams (as ``bench_client.py`` does) and a local Ray
cluster of two nodes (``guidellm.testing.RayCluster``: a head and a worker node, each its own
raylet on 127.0.0.1), then runs ``guidellm run`` as a user would at ``throughput`` (64 streams)
and at a ``constant`` rate, with ``--workers 2`` and with ``--executor ray`` (2 actors, one
per node), and prints for each run:

* requests/s seen by the server (nginx's log) and by the client;
* the driver's CPU-ms per result: user+sys of the ``guidellm`` process tree. With local
  workers that tree holds the workers too; with Ray it is the driver alone (the actors are
  the raylets' children), so the Ray figure is what the driver pays per result;
* scheduling delay p99 and, at a constant rate, the achieved rate.

One machine cannot show a speed-up (the actors share its two cores with the driver, nginx and
Ray's own processes); it shows what the indirection costs and that the schedule holds.

    .venv/bin/python benchmarks/bench_ray.py [--duration 10] [--rate 500]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_client import DEFAULT_GEN_SSE, nginx_target, run_case

from guidellm.testing.ray_cluster import RayCluster


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--gen-sse", type=Path, default=DEFAULT_GEN_SSE)
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--rate", type=int, default=500)
    a = ap.parse_args()
    d = str(a.duration)
    cases = {
        "throughput-64": ["--profile", "throughput", "--rate", "64", "--max-seconds", d],
        f"constant-{a.rate}": ["--profile", "constant", "--rate", str(a.rate), "--max-seconds", d],
    }
    with (
        nginx_target(a.gen_sse, a.tokens) as (url, log),
        tempfile.TemporaryDirectory() as work,
        RayCluster(nodes=2).start() as cluster,
    ):
        ray = ["--executor", f"kind=ray,address={cluster.address},workers=2"]
        for name, args in cases.items():
            for kind, extra in (("local", ["--workers", "2"]), ("ray", ray)):
                row = run_case(url, log, f"{name}-{kind}", [*args, *extra], Path(work))
                print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
