"""Report rows that are not per-metric summaries: goodput, stages, over-saturation, and a mix's
per-class and per-model rows (docs/metrics.md). Part of the report tree of
:mod:`guidellm.benchmark.report`, which re-exports them."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Goodput", "GroupSummary", "Groups", "OverSaturation", "StageSummary"]


class _Model(BaseModel):
    # Reports written by newer versions (or plugins) may carry more fields: keep them.
    model_config = ConfigDict(extra="allow")


class Goodput(_Model):
    """Requests meeting every SLO: per second of the window and as a fraction of requests."""

    slo: dict[str, float]
    requests_per_second: float
    #: Requests (of every status) that met every SLO / all requests counted.
    attainment: float | None
    met: int
    counted: int
    #: Fraction of counted requests meeting each SLO on its own.
    per_slo: dict[str, float | None]


class StageSummary(_Model):
    """One stage of a staged strategy: its requests are those intended to be sent in it."""

    index: int
    start_s: float
    end_s: float
    #: What the stage asked for: a rate (``ramp_to``: linearly to that rate) or streams.
    rate: float | None = None
    ramp_to: float | None = None
    concurrency: int | None = None
    #: The mean rate the stage intended (a ramp's mean), ``None`` for a concurrency stage.
    intended_rate: float | None = None
    successful: int = 0
    errored: int = 0
    incomplete: int = 0
    #: Requests actually started within the stage's bounds, per second of the stage.
    requests_per_second: float = 0.0
    output_tokens_per_second: float = 0.0
    ttft_ms_p50: float | None = None
    ttft_ms_p99: float | None = None
    itl_ms_p50: float | None = None
    itl_ms_p99: float | None = None
    latency_s_p50: float | None = None
    latency_s_p99: float | None = None


class OverSaturation(_Model):
    """Why the over-saturation test stopped a benchmark (docs/metrics.md, "Over-saturation"):
    the slopes over its window, their t-statistics, in flight then and at the baseline."""

    detected: bool = True
    #: Seconds into the benchmark when the test fired.
    at_s: float
    window_s: float
    samples: int = 0
    in_flight_slope_per_s: float
    in_flight_t: float
    ttft_slope_ms_per_s: float
    ttft_t: float
    #: In flight once the benchmark settled (the baseline) and at the window's end (fitted).
    in_flight_start: float
    in_flight_end: float
    thresholds: dict[str, float] = Field(default_factory=dict)


class GroupSummary(_Model):
    """One traffic class's or one model's requests in the measured window of a mix: the
    benchmark's definitions over its rows; ``goodput`` against its own SLOs."""

    name: str | None = None
    successful: int = 0
    errored: int = 0
    incomplete: int = 0
    total: int = 0
    #: Its fraction of the window's requests, and the fraction it was meant to have.
    share: float | None = None
    weight: float | None = None
    request_format: str | None = None
    requests_per_second: float = 0.0
    output_tokens_per_second: float = 0.0
    inputs_per_second: float | None = None
    ttft_ms_p50: float | None = None
    ttft_ms_p90: float | None = None
    ttft_ms_p99: float | None = None
    itl_ms_p50: float | None = None
    itl_ms_p90: float | None = None
    itl_ms_p99: float | None = None
    latency_s_p50: float | None = None
    latency_s_p90: float | None = None
    latency_s_p99: float | None = None
    goodput: Goodput | None = None


class Groups(_Model):
    """A mix's rows: one per traffic class, one per model (empty when it has none)."""

    classes: list[GroupSummary] = Field(default_factory=list)
    models: list[GroupSummary] = Field(default_factory=list)
