"""RunSettings: everything about a run that is not a component (limits, windows, SLOs,
seeds, where the workers run), as the Benchmarker takes it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["RunSettings"]


@dataclass
class RunSettings:
    """Everything about a run that is not a component: limits, windows, SLOs, seeds."""

    max_seconds: float | None = None
    max_requests: int | None = None
    max_errors: int | None = None
    max_error_rate: float | None = None
    max_sessions: int | None = None
    warmup: float | None = None
    cooldown: float | None = None
    slo: dict[str, float] | None = None
    random_seed: int = 42
    output_sampling: int = 0
    workers: int | None = None
    time_slice: float = 1.0
    #: ``auto`` (the profile's ``stop_on_saturation``), ``on`` or ``off``.
    stop_on_saturation: str = "auto"
    #: A mix's traffic classes (name, weight, models, request_format, slo) for its rows.
    classes: list[dict[str, Any]] | None = None
    #: Where the workers run: ``{"kind": "local"}`` or ``{"kind": "ray", ...}``.
    executor: dict[str, Any] | None = None
    #: A lost worker stops the run (``stop``) or the others carry on (``continue``).
    on_worker_loss: str = "stop"

    def __post_init__(self) -> None:
        # Checked here, before any worker starts: the aggregator that uses them is built
        # after the first requests went out.
        from guidellm.benchmark.slo import check_slo

        self.slo = check_slo(self.slo) or None

    def aggregator_settings(self) -> dict[str, Any]:
        """The BenchmarkAggregator keyword arguments (also journalled for rebuilds)."""
        return {
            "warmup": self.warmup,
            "cooldown": self.cooldown,
            "max_seconds": self.max_seconds,
            "max_requests": self.max_requests,
            "slo": self.slo,
            "output_sampling": self.output_sampling,
            "time_slice": self.time_slice,
            "classes": self.classes,
        }
