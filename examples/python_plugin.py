"""A scheduling strategy written in a script, registered on a PluginHost and run from Python.

``bursts`` sends ``size`` requests at once every ``every`` seconds: the shape of a batch job
hitting a shared server. Run it against the built-in mock server (no target):

    python examples/python_plugin.py [--max-seconds 4]
"""

from __future__ import annotations

import argparse
import itertools
import random
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import guidellm
from guidellm import PluginHost, Register, RunConfig, SchedulingStrategy, UserError, hookimpl


class BurstStrategy(SchedulingStrategy):
    """Open loop: ``size`` requests together every ``every`` seconds."""

    name = "bursts"

    def __init__(self, size: int, every: float) -> None:
        self.size = size
        self.every = every

    @classmethod
    def from_rates(
        cls, rates: Sequence[float] | None, options: Mapping[str, Any]
    ) -> list[SchedulingStrategy]:
        every = float(options.get("every", 1.0))
        if every <= 0:
            raise UserError(f"--profile-args every={every}: give a positive number of seconds")
        return [cls(int(size), every) for size in (rates or [4])]

    def arrival_offsets(self, rng: random.Random) -> Iterator[float]:
        for burst in itertools.count():
            for _ in range(self.size):
                yield burst * self.every

    def describe(self) -> dict[str, Any]:
        return {"type": self.name, "size": self.size, "every": self.every}


class BurstPlugin:
    """The plugin object: its hook registers the strategy (also a profile of its name)."""

    @hookimpl
    def register_strategies(self, register: Register[SchedulingStrategy]) -> None:
        register(BurstStrategy)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--max-seconds", type=float, default=4.0)
    ap.add_argument("--output", default="bursts.json")
    args = ap.parse_args()
    host = PluginHost()
    host.add_plugin(BurstPlugin(), "bursts")
    config = RunConfig(
        profile="bursts",
        rate=[8],
        profile_args={"every": 0.5},
        data=["prompt_tokens=32,output_tokens=16"],
        max_seconds=args.max_seconds,
        outputs=[args.output],
        progress=False,
    )
    report = guidellm.run(config, host=host)
    bench = report.benchmarks[0]
    print(f"{bench.requests.successful} requests in bursts of 8; wrote {args.output}")


if __name__ == "__main__":
    main()
