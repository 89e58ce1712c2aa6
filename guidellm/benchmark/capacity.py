"""How much load the server takes: the saturation point of a sweep, the SLO capacity of a
search, as the report states them (docs/metrics.md, "Capacity").

Both are read off finished benchmarks, so a report rebuilt from its journal states the same
capacity as the live run.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

__all__ = ["Capacity", "CapacityProbe"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CapacityProbe(_Model):
    """One benchmark the answer was read from, and why it passed or failed."""

    #: The benchmark's index in the report.
    benchmark: int
    #: The rate (or concurrency) it asked for, in the capacity's ``unit``.
    rate: float
    #: What it achieved, in the same unit.
    achieved: float | None = None
    passed: bool
    #: The judged value and its 95 % interval (goodput fraction for a search, the latency
    #: ratio to low load for a sweep).
    value: float | None = None
    ci95: tuple[float, float] | None = None
    reason: str


class Capacity(_Model):
    """The run's answer to "how much can it take": ``kind`` ``saturation`` (a sweep's
    saturation point) or ``slo`` (the highest rate meeting the SLOs at the asked goodput)."""

    kind: Literal["saturation", "slo"]
    #: The rule applied, in words (also in docs/metrics.md).
    rule: str
    #: The answer (``None``: not found, ``reason`` says why).
    value: float | None = None
    unit: str = "requests/s"
    #: The answer lies in ``[low, high]``: the highest passing and lowest failing probe.
    bracket: tuple[float, float] | None = None
    #: The benchmark measured at ``value``.
    benchmark: int | None = None
    probes: list[CapacityProbe] = []
    reason: str | None = None
    #: ``slo`` only: the limits, the fraction of requests that must meet them, the precision.
    slo: dict[str, float] | None = None
    goodput: float | None = None
    precision: float | None = None
