"""Benchmarks: the aggregator, the statistics and the report models.

Names are imported lazily (numpy and pydantic stay out of ``guidellm --help``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = ["Benchmark", "BenchmarkAggregator", "Report", "window_bounds"]

_LAZY = {
    "Benchmark": "guidellm.benchmark.report",
    "Report": "guidellm.benchmark.report",
    "BenchmarkAggregator": "guidellm.benchmark.aggregator",
    "window_bounds": "guidellm.benchmark.compile",
}

if TYPE_CHECKING:
    from guidellm.benchmark.aggregator import BenchmarkAggregator
    from guidellm.benchmark.compile import window_bounds
    from guidellm.benchmark.report import Benchmark, Report


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'guidellm.benchmark' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
