"""The server's view in the report: pydantic models of ``Benchmark.server`` (docs/metrics.md).

Times in ``t_s`` are seconds from the benchmark's start, the origin of its time slices, so a
gauge and a latency slice at the same ``t_s`` describe the same moment.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ClientSeries",
    "CrossCheck",
    "EndpointSummary",
    "GaugeSummary",
    "HistogramSummary",
    "RawSeries",
    "ServerMetrics",
    "ServerSeries",
]


class _Model(BaseModel):
    # Reports written by newer versions may carry more fields: keep them.
    model_config = ConfigDict(extra="allow")


class GaugeSummary(_Model):
    """A gauge over the benchmark's scrapes (those taken between its start and end)."""

    mean: float | None = None
    p90: float | None = None
    max: float | None = None
    samples: int = 0


class HistogramSummary(_Model):
    """A server histogram's increase over the benchmark, in milliseconds.

    Quantiles are interpolated inside the server's buckets (as Prometheus does), so they are
    only as fine as its bucket bounds; the mean is exact."""

    count: float = 0.0
    mean_ms: float | None = None
    p50_ms: float | None = None
    p90_ms: float | None = None
    p99_ms: float | None = None


class CrossCheck(_Model):
    """One number seen from both sides of the wire."""

    name: str
    client: float | None = None
    server: float | None = None
    #: ``client - server``.
    difference: float | None = None
    #: The largest difference that still agrees (``rule`` says how it was set).
    tolerance: float | None = None
    agree: bool | None = None
    rule: str = ""
    note: str | None = None


class EndpointSummary(_Model):
    """One scraped endpoint over the benchmark."""

    url: str
    #: The catalog that recognised it (``vllm``, ``llamacpp`` ...), ``None``: kept raw.
    server: str | None = None
    #: The model whose series were read, when the server labels its series by model.
    model: str | None = None
    scrapes: int = 0
    failed: int = 0
    #: Ticks dropped while an earlier scrape still waited for a slow endpoint.
    skipped: int = 0
    errors: dict[str, int] = Field(default_factory=dict)
    #: When the scrapes the counter deltas run between were taken (s from the start): the
    #: last before the first request, the first after the last answer.
    baseline_s: float | None = None
    closing_s: float | None = None
    #: Both edges were scraped outside the load: the deltas count this benchmark only.
    exact: bool = False


class ServerSeries(_Model):
    """Gauges at each scrape, and counter rates (``<meaning>_per_s``) between scrapes."""

    t_s: list[float] = Field(default_factory=list)
    values: dict[str, list[float | None]] = Field(default_factory=dict)


class ClientSeries(_Model):
    """The client's own side over the same time axis: CPU of every guidellm process (percent
    of one core) and the worst worker event-loop lag between samples."""

    t_s: list[float] = Field(default_factory=list)
    cpu_percent: list[float | None] = Field(default_factory=list)
    loop_lag_ms: list[float | None] = Field(default_factory=list)


class RawSeries(_Model):
    """A series of a server no catalog knows, kept as it was exposed."""

    type: str = "unknown"
    first: float | None = None
    last: float | None = None
    min: float | None = None
    max: float | None = None
    values: list[float | None] = Field(default_factory=list)


class ServerMetrics(_Model):
    """What the servers said about themselves during one benchmark (docs/metrics.md)."""

    interval_s: float
    #: The catalog every endpoint matched, ``None`` when unknown or mixed.
    server: str | None = None
    endpoints: list[EndpointSummary] = Field(default_factory=list)
    #: Counter increases over the benchmark, summed over endpoints, by meaning.
    counters: dict[str, float] = Field(default_factory=dict)
    gauges: dict[str, GaugeSummary] = Field(default_factory=dict)
    histograms: dict[str, HistogramSummary] = Field(default_factory=dict)
    crosscheck: list[CrossCheck] = Field(default_factory=list)
    series: ServerSeries = Field(default_factory=ServerSeries)
    client: ClientSeries | None = None
    #: Every series of an endpoint no catalog knows (``None`` when all were known).
    raw: dict[str, RawSeries] | None = None
    #: What the server does not expose, said once.
    notes: list[str] = Field(default_factory=list)
