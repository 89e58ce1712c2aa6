"""The parent's open-loop feeding cost per request: send times, requests, ledger, frames.

Runs the real Scheduler on a pool that only counts what it is sent (no worker processes, no
server), at a rate so high that every request is due at once, so the CPU measured is the
feeding path alone: the strategy's offsets (or a trace's timestamps for ``replay``), taking
requests, the ledger and the ``Items`` frames.

    .venv/bin/python benchmarks/bench_dispatch.py [--requests 300000] [--repeat 5]

Prints microseconds of CPU per request (best of ``--repeat``) for ``constant`` and
``replay``.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import random
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from guidellm.request import GenerationRequest
from guidellm.scheduler.protocol import Done, End, Items
from guidellm.scheduler.scheduler import Limits, Scheduler
from guidellm.scheduler.strategies import ConstantStrategy
from guidellm.scheduler.strategy import SchedulingStrategy


class CountingPool:
    """A WorkerPool that counts requests and answers ``End`` with ``Done`` at once."""

    size = 2
    lost_workers: dict[int, str] = {}

    def __init__(self) -> None:
        self.scheduler: Scheduler | None = None
        self.requests = 0

    def launched(self, worker: int) -> int:
        return 0

    def send(self, worker: int, message: Any) -> None:
        if isinstance(message, Items):
            self.requests += len(message.requests)
        elif isinstance(message, End):
            assert self.scheduler is not None
            done = Done(message.index, worker, 0.0, [], 0, 0)
            asyncio.get_running_loop().call_soon(self.scheduler.on_message, done)


def _requests(timed: bool) -> Iterator[GenerationRequest]:
    for i in itertools.count():
        yield GenerationRequest(str(i), prompt="x", timestamp=i * 1e-7 if timed else None)


def _once(strategy: SchedulingStrategy, count: int) -> float:
    async def main() -> float:
        pool = CountingPool()
        scheduler = Scheduler(pool)  # type: ignore[arg-type]
        pool.scheduler = scheduler
        requests = _requests(strategy.timed_by_data)
        cpu = time.process_time()
        await scheduler.run(
            0, strategy, requests, on_result=lambda _r: None,
            limits=Limits(max_requests=count), rng=random.Random(1),
        )  # fmt: skip
        assert pool.requests == count
        return (time.process_time() - cpu) / count * 1e6

    return asyncio.run(main())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    from guidellm.scheduler.replay import ReplayStrategy

    cases: dict[str, SchedulingStrategy] = {
        "constant": ConstantStrategy(1e7),
        "replay": ReplayStrategy(),
    }
    out = {
        name: round(min(_once(s, args.requests) for _ in range(args.repeat)), 3)
        for name, s in cases.items()
    }
    print(json.dumps({"cpu_us_per_request": out, "requests": args.requests}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
