"""The saved report: pydantic models of its tree (docs/metrics.md; JSON, and YAML the same).

``guidellm report`` rebuilds every other format from this tree alone, so everything a writer
shows must live here. Nothing per request is stored (a 100,000-request run stays a few hundred
KB) except the ``samples`` that ``--output-sampling N`` asks for.
"""

from __future__ import annotations

import json
import platform
import sys
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pydantic import Field

from guidellm.benchmark.capacity import Capacity, find_capacity
from guidellm.benchmark.report_rows import (
    Goodput,
    Groups,
    GroupSummary,
    OverSaturation,
    StageSummary,
    _Model,
)
from guidellm.errors import UserError
from guidellm.telemetry.models import ServerMetrics

__all__ = [
    "METRIC_NAMES",
    "STATUSES",
    "AudioCounts",
    "Benchmark",
    "Goodput",
    "GroupSummary",
    "Groups",
    "ImageCounts",
    "InputCounts",
    "Metrics",
    "OverSaturation",
    "Percentiles",
    "PromptCache",
    "PromptCacheCounts",
    "Report",
    "ReportMetadata",
    "SessionSummary",
    "StageSummary",
    "StatusRates",
    "StatusSummaries",
    "Summary",
    "TimeSlices",
    "TokenCounting",
    "TurnSummary",
    "strategy_label",
]

STATUSES = ("successful", "errored", "incomplete", "total")

#: Per-request metrics (each a :class:`StatusSummaries`), in report order, with their unit.
METRIC_NAMES: dict[str, str] = {
    "time_to_first_token_ms": "ms",
    "inter_token_latency_ms": "ms",
    "time_per_output_token_ms": "ms",
    "inter_chunk_latency_ms": "ms",
    "request_latency": "s",
    "scheduled_latency": "s",
    "scheduling_delay_ms": "ms",
    "prompt_token_count": "tokens",
    "output_token_count": "tokens",
}


class Percentiles(_Model):
    p001: float | None = None
    p01: float | None = None
    p05: float | None = None
    p10: float | None = None
    p25: float | None = None
    p50: float | None = None
    p75: float | None = None
    p90: float | None = None
    p95: float | None = None
    p99: float | None = None
    p999: float | None = None


class Summary(_Model):
    """Distribution of one metric over the requests of one status (``None``: no values)."""

    mean: float | None = None
    median: float | None = None
    std: float | None = None
    min: float | None = None
    max: float | None = None
    count: int = 0
    percentiles: Percentiles = Field(default_factory=Percentiles)
    #: 95 % intervals: ``{"mean": [lo, hi], "p50": ..., "p90": ..., "p99": ...}``.
    ci95: dict[str, list[float]] | None = None
    #: Why some intervals are missing (too few samples), if any are.
    ci_note: str | None = None

    def stat(self, name: str) -> float | None:
        """``mean``/``median``/``std``/``min``/``max``/``count`` or a percentile key."""
        if name in Percentiles.model_fields:
            value: float | None = getattr(self.percentiles, name)
            return value
        return getattr(self, name)  # type: ignore[no-any-return]


class StatusSummaries(_Model):
    successful: Summary = Field(default_factory=Summary)
    errored: Summary = Field(default_factory=Summary)
    incomplete: Summary = Field(default_factory=Summary)
    total: Summary = Field(default_factory=Summary)


class StatusRates(_Model):
    """A rate (per second of the measured window) per status."""

    successful: float = 0.0
    errored: float = 0.0
    incomplete: float = 0.0
    total: float = 0.0


class Metrics(_Model):
    requests_per_second: StatusRates = Field(default_factory=StatusRates)
    output_tokens_per_second: StatusRates = Field(default_factory=StatusRates)
    tokens_per_second: StatusRates = Field(default_factory=StatusRates)
    #: Texts sent by pooling requests (embeddings inputs, rerank documents) per second;
    #: ``None`` for generation.
    inputs_per_second: StatusRates | None = None
    request_concurrency: StatusSummaries = Field(default_factory=StatusSummaries)
    time_to_first_token_ms: StatusSummaries = Field(default_factory=StatusSummaries)
    inter_token_latency_ms: StatusSummaries = Field(default_factory=StatusSummaries)
    time_per_output_token_ms: StatusSummaries = Field(default_factory=StatusSummaries)
    inter_chunk_latency_ms: StatusSummaries = Field(default_factory=StatusSummaries)
    request_latency: StatusSummaries = Field(default_factory=StatusSummaries)
    scheduled_latency: StatusSummaries = Field(default_factory=StatusSummaries)
    scheduling_delay_ms: StatusSummaries = Field(default_factory=StatusSummaries)
    prompt_token_count: StatusSummaries = Field(default_factory=StatusSummaries)
    output_token_count: StatusSummaries = Field(default_factory=StatusSummaries)
    goodput: Goodput | None = None


class RequestCounts(_Model):
    successful: int = 0
    errored: int = 0
    incomplete: int = 0
    #: Results received that started outside the measured window (warmup/cooldown).
    outside_window: int = 0


class InputCounts(_Model):
    """Texts sent by pooling requests (embeddings inputs, rerank documents), per status."""

    successful: int = 0
    errored: int = 0
    incomplete: int = 0
    total: int = 0


class TokenCounting(_Model):
    """Where output token counts came from, and how often server and client disagreed."""

    #: ``usage``, ``tokenizer``, ``chunks``, ``mixed`` or ``none`` (no requests).
    source: str = "none"
    sources: dict[str, int] = Field(default_factory=dict)
    #: Requests with both a server count and a client count, and how many differed.
    compared: int = 0
    disagreements: int = 0
    #: What the server count was compared with: ``tokenizer`` or ``chunks``.
    compared_with: str | None = None


class TimeSlices(_Model):
    """A benchmark over time (docs/metrics.md): one list per column, one entry per slice,
    slice ``i`` being entry ``i`` of every list; ``None``: nothing to measure in that slice."""

    #: Seconds per slice (the last may be shorter), the size asked for, and whether the
    #: benchmark was long enough for the asked size to be widened.
    size: float
    asked: float
    widened: bool = False
    start_s: list[float] = Field(default_factory=list)
    end_s: list[float] = Field(default_factory=list)
    start_time: list[float] = Field(default_factory=list)
    end_time: list[float] = Field(default_factory=list)
    #: ``warmup``, ``measured`` or ``cooldown``: where the slice's midpoint falls.
    phase: list[str] = Field(default_factory=list)
    #: The stage index each slice starts in (staged strategies only).
    stage: list[int | None] | None = None
    started: list[int] = Field(default_factory=list)
    successful: list[int] = Field(default_factory=list)
    errored: list[int] = Field(default_factory=list)
    incomplete: list[int] = Field(default_factory=list)
    requests_per_second: list[float | None] = Field(default_factory=list)
    #: Requests whose intended send time falls in the slice, per second: the schedule's rate
    #: (for closed loop, when a stream freed up).
    intended_per_second: list[float | None] = Field(default_factory=list)
    concurrency_mean: list[float | None] = Field(default_factory=list)
    output_tokens_per_second: list[float | None] = Field(default_factory=list)
    ttft_ms_p50: list[float | None] = Field(default_factory=list)
    ttft_ms_p90: list[float | None] = Field(default_factory=list)
    ttft_ms_p99: list[float | None] = Field(default_factory=list)
    itl_ms_p50: list[float | None] = Field(default_factory=list)
    itl_ms_p90: list[float | None] = Field(default_factory=list)
    itl_ms_p99: list[float | None] = Field(default_factory=list)
    latency_s_p50: list[float | None] = Field(default_factory=list)
    latency_s_p90: list[float | None] = Field(default_factory=list)
    latency_s_p99: list[float | None] = Field(default_factory=list)
    scheduling_delay_ms_p99: list[float | None] = Field(default_factory=list)

    def __len__(self) -> int:
        return len(self.start_s)

    def rows(self) -> list[dict[str, Any]]:
        """One ``{column: value}`` per slice (the CSV's rows)."""
        columns = {
            name: value
            for name, value in self.model_dump().items()
            if isinstance(value, list) and len(value) == len(self)
        }
        return [{name: col[i] for name, col in columns.items()} for i in range(len(self))]


class PromptCacheCounts(_Model):
    """Prompt tokens served from the server's prefix cache, over the requests (of one
    status) whose server said how many it cached."""

    cached_tokens: int = 0
    #: Prompt tokens of those requests (the ratio's denominator).
    prompt_tokens: int = 0
    #: Requests that reported cached tokens.
    reported: int = 0
    #: ``cached_tokens / prompt_tokens`` (``None``: no prompt tokens).
    hit_ratio: float | None = None


class ImageCounts(_Model):
    """Images sent in the measured window, over the requests that carried any (every
    status: an image is sent whether or not its request succeeds). ``image_bytes`` are the
    encoded images' sizes (``data:`` URLs; an http(s) URL counts no bytes)."""

    requests_with_images: int = 0
    images: int = 0
    image_bytes: int = 0
    images_per_request_mean: float | None = None
    image_bytes_per_request_mean: float | None = None


class AudioCounts(_Model):
    """Audio clips sent in the measured window, over the requests that carried any (every
    status), with their length read from each WAV header. ``rtf_mean`` is the real-time
    factor: request latency / audio seconds, averaged over the successful requests with audio
    (below 1: the server answers faster than the audio plays; ``None``: none succeeded)."""

    requests_with_audio: int = 0
    clips: int = 0
    audio_seconds: float = 0.0
    audio_seconds_per_request_mean: float | None = None
    rtf_mean: float | None = None


class PromptCache(_Model):
    successful: PromptCacheCounts = Field(default_factory=PromptCacheCounts)
    errored: PromptCacheCounts = Field(default_factory=PromptCacheCounts)
    incomplete: PromptCacheCounts = Field(default_factory=PromptCacheCounts)
    total: PromptCacheCounts = Field(default_factory=PromptCacheCounts)


class SessionSummary(_Model):
    """The benchmark's conversations, over every result (not windowed), so that
    ``started = completed + cut_short``, ``cut_short = ended_by_error + stopped`` and
    ``turns_sent + turns_not_sent = turns_planned``."""

    started: int = 0
    #: Every planned turn came back successful.
    completed: int = 0
    cut_short: int = 0
    #: A turn errored (the session ended there).
    ended_by_error: int = 0
    #: The benchmark stopped it: a cancelled turn, or turns never sent.
    stopped: int = 0
    turns_planned: int = 0
    turns_sent: int = 0
    turns_not_sent: int = 0
    #: Results of tool-call turns (``turn_kind == "tool"``).
    tool_turns: int = 0
    turns_per_session_mean: float | None = None
    #: Sessions started, and completed, per second of the benchmark's duration.
    started_per_second: float = 0.0
    completed_per_second: float = 0.0
    #: What the strategy scheduled: with sessions, a rate is new sessions per second and a
    #: concurrent stream runs sessions back to back.
    scheduled: str = "sessions"
    #: First turn's start to last turn's end, completed sessions (``None``: none completed).
    duration_s_mean: float | None = None
    duration_s_p50: float | None = None
    duration_s_p90: float | None = None
    duration_s_p99: float | None = None


class TurnSummary(_Model):
    """One turn index (``kind``: ``user`` or ``tool`` turns) of the measured window's session
    results; ``and_later``: the row also holds every later turn index."""

    turn: int
    kind: str = "user"
    and_later: bool = False
    successful: int = 0
    errored: int = 0
    incomplete: int = 0
    ttft_ms_p50: float | None = None
    ttft_ms_p90: float | None = None
    ttft_ms_p99: float | None = None
    itl_ms_p50: float | None = None
    itl_ms_p90: float | None = None
    itl_ms_p99: float | None = None
    latency_s_p50: float | None = None
    latency_s_p90: float | None = None
    latency_s_p99: float | None = None
    prompt_tokens_median: float | None = None
    prompt_tokens_mean: float | None = None
    output_tokens_median: float | None = None
    output_tokens_mean: float | None = None
    cached_tokens: int = 0
    cache_hit_ratio: float | None = None


class Benchmark(_Model):
    """One strategy's run, compiled by the BenchmarkAggregator. Times are epoch seconds."""

    id: int
    strategy: dict[str, Any]
    start_time: float
    end_time: float
    duration: float
    measured_window: list[float]
    warmup: float | None = None
    cooldown: float | None = None
    max_seconds: float | None = None
    max_requests: int | None = None
    requests: RequestCounts = Field(default_factory=RequestCounts)
    #: Texts sent by the window's pooling requests (embeddings inputs, rerank documents) per
    #: status and in total; ``None`` for generation.
    inputs: InputCounts | None = None
    metrics: Metrics = Field(default_factory=Metrics)
    tokens: TokenCounting = Field(default_factory=TokenCounting)
    errors: dict[str, int] = Field(default_factory=dict)
    #: One example message per error category (already redacted by the backend).
    error_examples: dict[str, str] = Field(default_factory=dict)
    warnings: list[str] = Field(default_factory=list)
    #: The client's judgement of itself, measured by the scheduler (docs/architecture.md).
    client: dict[str, Any] = Field(default_factory=dict)
    #: Output texts of up to ``--output-sampling N`` requests.
    samples: list[dict[str, Any]] = Field(default_factory=list)
    #: The benchmark over time (``None`` in reports written before time slices existed).
    timeslices: TimeSlices | None = None
    #: One summary per stage of a staged strategy, else ``None``.
    stages: list[StageSummary] | None = None
    #: Cached prompt tokens per status (``None``: no server said what it cached).
    prompt_cache: PromptCache | None = None
    #: Images sent (``None``: no request of the window carried any).
    images: ImageCounts | None = None
    #: Conversations (``None``: no session results, as in older reports).
    sessions: SessionSummary | None = None
    #: One row per turn index of the session results (``None`` likewise).
    turns: list[TurnSummary] | None = None
    #: The over-saturation test's evidence when it stopped this benchmark, else ``None``.
    over_saturation: OverSaturation | None = None
    #: What the server's own metrics said (``None``: not scraped, as in older reports).
    server: ServerMetrics | None = None
    #: A mix's per-class and per-model rows (``None``: no mix).
    groups: Groups | None = None
    #: Audio sent (``None``: no request of the window carried any).
    audio: AudioCounts | None = None

    @property
    def label(self) -> str:
        """Short label for tables and charts (see :func:`strategy_label`)."""
        return strategy_label(self.strategy)


def strategy_label(strategy: Mapping[str, Any]) -> str:
    """``concurrent 8``, ``constant 2.5/s``, ``throughput``, ``synchronous``."""
    kind = str(strategy.get("type", "?"))
    rate = strategy.get("rate")
    if rate is not None:
        return f"{kind} {_num(rate)}/s"
    streams = strategy.get("streams")
    if streams is not None and kind != "synchronous":
        return f"{kind} {_num(streams)}"
    return kind


def _num(value: Any) -> str:
    """A rate or count for a label: ``17710.4`` -> ``17,710``, ``2.5`` -> ``2.5``."""
    if isinstance(value, (int, float)) and abs(value) >= 1000:
        return f"{value:,.0f}"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


class ReportMetadata(_Model):
    guidellm_version: str
    python: str
    platform: str
    created: str
    command: str | None = None

    @classmethod
    def current(cls, command: str | None = None) -> ReportMetadata:
        from guidellm.version import __version__

        return cls(
            guidellm_version=__version__,
            python=sys.version.split()[0],
            platform=platform.platform(),
            created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            command=command,
        )


class Report(_Model):
    """The whole run: ``metadata``, the redacted ``config`` (a RunConfig dump: pass the
    report back to ``--scenario`` to rerun it), ``labels``, what the run ``resolved`` (the
    backend and model it found, the data, the profile) and one entry per benchmark."""

    metadata: ReportMetadata
    config: dict[str, Any] = Field(default_factory=dict)
    labels: dict[str, str] = Field(default_factory=dict)
    resolved: dict[str, Any] = Field(default_factory=dict)
    benchmarks: list[Benchmark] = Field(default_factory=list)
    #: The saturation point of a sweep or the SLO capacity of a search (``None``: neither).
    capacity: Capacity | None = None

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        benchmarks: list[Benchmark],
        command: str | None = None,
        *,
        resolved: dict[str, Any] | None = None,
        labels: dict[str, str] | None = None,
    ) -> Report:
        """A report stamped with this process's metadata (``config`` must be redacted), with
        the capacity its profile finds (a sweep's saturation point, a search's answer)."""
        resolved = resolved or {}
        return cls(
            metadata=ReportMetadata.current(command),
            config=config,
            labels=labels or {},
            resolved=resolved,
            benchmarks=benchmarks,
            capacity=find_capacity(resolved.get("profile"), benchmarks),
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready tree (what the json and yaml writers write)."""
        return self.model_dump(mode="json")

    @classmethod
    def load(cls, path: str | Path) -> Report:
        """Read a report written by the json or yaml writer; bad files raise ``UserError``."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise UserError(
                f"cannot read report {str(path)!r}: {exc.strerror}; check the path"
            ) from None
        except UnicodeDecodeError:
            raise UserError(
                f"{str(path)!r} is not a text file, so not a guidellm report; pass a .json or "
                ".yaml file written by 'guidellm run --output'"
            ) from None
        try:
            if path.suffix.lower() in (".yaml", ".yml"):
                import yaml

                data = yaml.safe_load(text)
            else:
                data = json.loads(text)
        except Exception as exc:
            raise UserError(
                f"{str(path)!r} is not a valid guidellm report ({type(exc).__name__}); "
                "pass a .json or .yaml file written by 'guidellm run --output'"
            ) from None
        if not isinstance(data, dict) or "benchmarks" not in data:
            raise UserError(
                f"{str(path)!r} is not a guidellm report (no 'benchmarks'); "
                "pass a .json or .yaml file written by 'guidellm run --output'"
            )
        from pydantic import ValidationError

        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise UserError(
                f"{str(path)!r} is not a valid guidellm report ({where}: {first['msg']}); "
                "regenerate it with this guidellm version"
            ) from None


def epoch_offset() -> float:
    """Add to a :func:`guidellm.request.now` time to get epoch seconds."""
    from guidellm.request import now

    return time.time() - now()
