"""guidellm: benchmark LLM inference servers under realistic load, with numbers you can trust.

The public API is listed in ``__all__``; names are imported lazily so that ``import guidellm``
(and ``guidellm --help``) stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from guidellm.hookspecs import hookimpl
from guidellm.version import __version__

__all__ = [
    "Backend",
    "BenchmarkOutcome",
    "Benchmarker",
    "DatasetSource",
    "GenerationRequest",
    "PluginHost",
    "Profile",
    "Progress",
    "Register",
    "Report",
    "ReportWriter",
    "RequestResult",
    "ResponseRecorder",
    "RunConfig",
    "RunOutcome",
    "RunSettings",
    "SchedulingStrategy",
    "ServerCatalog",
    "UserError",
    "__version__",
    "hookimpl",
    "run",
]

_LAZY = {
    "Backend": "guidellm.backends.base",
    "BenchmarkOutcome": "guidellm.scheduler.strategy",
    "Benchmarker": "guidellm.benchmark.benchmarker",
    "DatasetSource": "guidellm.data.base",
    "GenerationRequest": "guidellm.request",
    "PluginHost": "guidellm.plugins",
    "Profile": "guidellm.scheduler.strategy",
    "Progress": "guidellm.benchmark.progress",
    "Register": "guidellm.hookspecs",
    "Report": "guidellm.benchmark.report",
    "ReportWriter": "guidellm.outputs.base",
    "RequestResult": "guidellm.request",
    "ResponseRecorder": "guidellm.request",
    "RunConfig": "guidellm.config",
    "RunOutcome": "guidellm.benchmark.benchmarker",
    "RunSettings": "guidellm.benchmark.benchmarker",
    "SchedulingStrategy": "guidellm.scheduler.strategy",
    "ServerCatalog": "guidellm.telemetry.catalog",
    "UserError": "guidellm.errors",
    "run": "guidellm.runner",
}

if TYPE_CHECKING:
    from guidellm.backends.base import Backend
    from guidellm.benchmark.benchmarker import Benchmarker, RunOutcome, RunSettings
    from guidellm.benchmark.progress import Progress
    from guidellm.benchmark.report import Report
    from guidellm.config import RunConfig
    from guidellm.data.base import DatasetSource
    from guidellm.errors import UserError
    from guidellm.hookspecs import Register
    from guidellm.outputs.base import ReportWriter
    from guidellm.plugins import PluginHost
    from guidellm.request import GenerationRequest, RequestResult, ResponseRecorder
    from guidellm.runner import run
    from guidellm.scheduler.strategy import BenchmarkOutcome, Profile, SchedulingStrategy
    from guidellm.telemetry.catalog import ServerCatalog


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'guidellm' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
