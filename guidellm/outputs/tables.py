"""The tables every human-facing writer shows (console and HTML), defined once.

Each table is a title, column headers and rows of already formatted strings, so that the
console and the HTML report always agree on what a number is and how it is rounded.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from guidellm.benchmark.report import Benchmark, Report, Summary

__all__ = [
    "Table",
    "errors_of",
    "fmt",
    "report_tables",
    "session_tables",
    "turn_label",
    "warnings_of",
    "x_axis",
]


@dataclass(frozen=True)
class Table:
    title: str
    headers: list[str]
    rows: list[list[str]]
    #: Column groups for a second header row: ``[(label, span), ...]``.
    groups: list[tuple[str, int]] | None = None
    #: One line shown under the table (a legend).
    note: str | None = None


def fmt(value: float | int | None, digits: int = 2) -> str:
    """Numbers for humans: ``-`` for missing, thousands separators, fixed decimals."""
    if value is None:
        return "-"
    if isinstance(value, int):
        return f"{value:,}"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def _clock(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%H:%M:%S")


def _stats(summary: Summary, digits: int = 2) -> list[str]:
    def s(v: float | None) -> str:
        return fmt(v, digits)

    p = summary.percentiles
    return [s(summary.mean), s(summary.median), s(p.p90), s(p.p95), s(p.p99)]


def x_axis(benchmarks: Sequence[Benchmark]) -> tuple[str, list[float]]:
    """The x axis for charts across benchmarks: target rate, streams, or measured req/s."""
    for key, label in (("rate", "target rate (req/s)"), ("streams", "concurrency (streams)")):
        values = [b.strategy.get(key) for b in benchmarks]
        if benchmarks and all(isinstance(v, (int, float)) for v in values):
            return label, [float(v) for v in values]  # type: ignore[arg-type]
    return "measured requests/s", [b.metrics.requests_per_second.successful for b in benchmarks]


def _table(
    title: str,
    headers: list[str],
    benchmarks: Sequence[Benchmark],
    row: Callable[[Benchmark], list[str]],
    groups: list[tuple[str, int]] | None = None,
) -> Table:
    return Table(title, headers, [row(b) for b in benchmarks], groups)


def report_tables(report: Report) -> list[Table]:
    """Run summary, one latency table per metric, token counts and throughput, one row per
    benchmark; then one row per stage of the staged benchmarks, the prompt cache, the
    sessions and the server's view (only for benchmarks that have them)."""
    from guidellm.outputs.group_tables import BY_CLASS_NOTE, by_class, group_tables
    from guidellm.outputs.server_tables import server_tables

    bms = report.benchmarks

    def summary_row(b: Benchmark) -> list[str]:
        r = b.requests
        return [
            b.label,
            _clock(b.start_time),
            fmt(b.duration, 1),
            fmt(b.measured_window[1] - b.measured_window[0], 1),
            fmt(r.successful),
            fmt(r.errored),
            fmt(r.incomplete),
            fmt(r.outside_window),
        ]

    def token_row(b: Benchmark) -> list[str]:
        m = b.metrics
        t = b.tokens
        prompt, output = m.prompt_token_count.successful, m.output_token_count.successful
        return [
            b.label,
            fmt(prompt.mean, 1),
            fmt(prompt.median, 0),
            fmt(output.mean, 1),
            fmt(output.median, 0),
            t.source,
            f"{t.disagreements}/{t.compared}" if t.compared else "-",
        ]

    def throughput_row(b: Benchmark) -> list[str]:
        m = b.metrics
        good = m.goodput
        return [
            b.label,
            fmt(m.requests_per_second.successful),
            fmt(m.request_concurrency.total.mean),
            fmt(m.output_tokens_per_second.successful, 1),
            fmt(m.tokens_per_second.successful, 1),
            fmt(good.requests_per_second) if good else "-",
            fmt(None if good is None or good.attainment is None else good.attainment * 100, 1),
        ]

    tables = [
        _table(
            "Run summary",
            ["Benchmark", "Start UTC", "Dur s", "Window s", "OK", "Err", "Inc", "Outside"],
            bms,
            summary_row,
        ),
        *_latency_tables(bms),
        _table(
            "Token counts (successful requests)",
            ["Benchmark", "mean", "p50", "mean", "p50", "source", "disagree"],
            bms,
            token_row,
            [("", 1), ("Prompt", 2), ("Output", 2), ("Counting", 2)],
        ),
        _table(
            "Throughput",
            ["Benchmark", "Req/s", "Conc.", "Out tok/s", "Tot tok/s", "Good req/s", "SLO %"],
            bms,
            throughput_row,
        ),
    ]
    if any(by_class(b.metrics.goodput) for b in bms):
        tables[-1] = replace(tables[-1], note=BY_CLASS_NOTE)
    return (
        tables
        + group_tables(bms)
        + _pooling_tables(bms)
        + _media_tables(bms)
        + _stage_tables(bms)
        + _cache_tables(bms)
        + session_tables(bms)
        + server_tables(bms)
    )


def _pooling_tables(bms: Sequence[Benchmark]) -> list[Table]:
    """Texts sent by pooling requests (embeddings inputs, rerank documents), for the
    benchmarks that sent them."""
    rows = [
        [
            b.label,
            fmt(b.inputs.successful),
            fmt(b.metrics.inputs_per_second.successful),
            fmt(b.metrics.requests_per_second.successful),
            fmt(b.metrics.tokens_per_second.successful, 1),
        ]
        for b in bms
        if b.inputs is not None and b.metrics.inputs_per_second is not None
    ]
    if not rows:
        return []
    headers = ["Benchmark", "Inputs", "Inputs/s", "Req/s", "Prompt tok/s"]
    return [Table("Pooling inputs (successful requests)", headers, rows)]


def _media_tables(bms: Sequence[Benchmark]) -> list[Table]:
    """Images and audio sent with the requests (every status), for the benchmarks that sent
    any; the real-time factor is request latency over audio seconds (successful requests)."""
    rows = []
    for b in bms:
        images, audio = b.images, b.audio
        if images is None and audio is None:
            continue
        kib = (
            None
            if images is None or images.image_bytes_per_request_mean is None
            else (images.image_bytes_per_request_mean / 1024)
        )
        rows.append(
            [
                b.label,
                fmt(None if images is None else images.requests_with_images),
                fmt(None if images is None else images.images_per_request_mean),
                fmt(kib, 1),
                fmt(None if audio is None else audio.requests_with_audio),
                fmt(None if audio is None else audio.audio_seconds_per_request_mean),
                fmt(None if audio is None else audio.rtf_mean, 3),
            ]
        )
    if not rows:
        return []
    headers = ["Benchmark", "Requests", "Per req", "KiB/req", "Requests", "s/req", "RTF"]
    groups = [("", 1), ("Images", 3), ("Audio", 3)]
    return [Table("Media sent with the requests (every status)", headers, rows, groups)]


#: The latency tables: (title, metric, decimals). One metric per table, so that five
#: statistics (mean, p50, p90, p95, p99) fit an 80-column terminal.
_LATENCY_TABLES = (
    ("Request latency s (successful)", "request_latency", 3),
    ("Time to first token ms (successful)", "time_to_first_token_ms", 2),
    ("Inter-token latency ms (successful, token-weighted)", "inter_token_latency_ms", 2),
    ("Time per output token ms (successful, token-weighted)", "time_per_output_token_ms", 2),
)
LATENCY_STATS = ["mean", "p50", "p90", "p95", "p99"]


def _latency_tables(bms: Sequence[Benchmark]) -> list[Table]:
    """Mean and the percentiles readers compare (p50, p90, p95, p99) of each latency; a
    token latency no benchmark has (pooling requests have no tokens) is left out."""
    tables = []
    for title, metric, digits in _LATENCY_TABLES:
        if metric != "request_latency" and not any(
            getattr(b.metrics, metric).successful.count for b in bms
        ):
            continue
        rows = [[b.label, *_stats(getattr(b.metrics, metric).successful, digits)] for b in bms]
        tables.append(Table(title, ["Benchmark", *LATENCY_STATS], rows))
    return tables


def _rate(value: float | None) -> str:
    """A stage's asked rate, short: ``10``, ``2.5``."""
    return "-" if value is None else f"{value:g}"


def _stage_tables(bms: Sequence[Benchmark]) -> list[Table]:
    """One row per stage of every staged benchmark (none without stages); narrow enough for
    an 80-column terminal."""
    rows: list[list[str]] = []
    for b in bms:
        for st in b.stages or ():
            if st.concurrency is not None:
                asked = f"{st.concurrency} streams"
            elif st.ramp_to is not None:
                asked = f"{_rate(st.rate)}→{_rate(st.ramp_to)}/s"
            else:
                asked = f"{_rate(st.rate)}/s"
            rows.append(
                [
                    b.label,
                    str(st.index),
                    asked,
                    fmt(st.requests_per_second),
                    f"{st.successful}/{st.errored}/{st.incomplete}",
                    fmt(st.ttft_ms_p99),
                    fmt(st.itl_ms_p99),
                    fmt(st.latency_s_p99, 3),
                ]
            )
    if not rows:
        return []
    headers = ["Benchmark", "Stage", "Asked", "Req/s", "OK/Err/Inc", "p99", "p99", "p99"]
    groups = [("", 5), ("TTFT ms", 1), ("ITL ms", 1), ("Lat. s", 1)]
    return [Table("Stages (requests by intended send time)", headers, rows, groups)]


def _pct(ratio: float | None) -> str:
    return fmt(None if ratio is None else ratio * 100, 1)


def _cache_tables(bms: Sequence[Benchmark]) -> list[Table]:
    """Cached prompt tokens, for the benchmarks whose server said what it cached."""
    rows = [
        [
            b.label,
            fmt(pc.successful.cached_tokens),
            fmt(pc.successful.prompt_tokens),
            _pct(pc.successful.hit_ratio),
            _pct(pc.total.hit_ratio),
        ]
        for b in bms
        if (pc := b.prompt_cache) is not None
    ]
    if not rows:
        return []
    headers = ["Benchmark", "cached", "prompt", "hit %", "hit %"]
    groups = [("", 1), ("Tokens", 2), ("OK", 1), ("All", 1)]
    title = "Prompt cache (successful requests that reported cached tokens; All: every status)"
    return [Table(title, headers, rows, groups)]


def turn_label(turn: int, kind: str, and_later: bool) -> str:
    """``3``, ``2 tool``, ``≥32``: a per-turn row's name."""
    label = f"≥{turn}" if and_later else str(turn)
    return f"{label} tool" if kind == "tool" else label


def session_tables(bms: Sequence[Benchmark]) -> list[Table]:
    """The sessions summary (one row per benchmark with sessions), then one per-turn table
    per such benchmark; none for single-turn benchmarks. Each fits 80 columns."""
    with_sessions = [b for b in bms if b.sessions is not None]
    if not with_sessions:
        return []
    rows = []
    for b in with_sessions:
        s = b.sessions
        assert s is not None
        rows.append(
            [
                b.label,
                fmt(s.started),
                fmt(s.completed),
                f"{s.ended_by_error}/{s.stopped}",
                fmt(s.turns_not_sent),
                fmt(s.completed_per_second),
                fmt(s.duration_s_p50),
            ]
        )
    headers = ["Benchmark", "started", "done", "err/stop", "not sent", "done/s", "p50"]
    groups = [("", 1), ("Sessions", 2), ("Cut", 1), ("Turns", 1), ("Sess.", 1), ("Dur. s", 1)]
    title = (
        "Sessions (every result, not windowed; cut short by an error or a stop; a rate is "
        "new sessions/s)"
    )
    tables = [Table(title, headers, rows, groups)]
    for b in with_sessions:
        turns = b.turns or []
        title = f"Turns: {b.label} (timings of successful requests)"
        if any(t.and_later for t in turns):
            title += f"; the last row holds turns ≥ {turns[-1].turn}"
        tables.append(
            Table(
                title,
                ["Turn", "OK/Err/Inc", "p50", "p99", "p50", "p50", "p50", "hit %"],
                [
                    [
                        turn_label(t.turn, t.kind, t.and_later),
                        f"{t.successful}/{t.errored}/{t.incomplete}",
                        fmt(t.ttft_ms_p50),
                        fmt(t.ttft_ms_p99),
                        fmt(t.itl_ms_p50),
                        fmt(t.latency_s_p50, 3),
                        fmt(t.prompt_tokens_median, 0),
                        _pct(t.cache_hit_ratio),
                    ]
                    for t in turns
                ],
                [
                    ("", 2),
                    ("TTFT ms", 2),
                    ("ITL ms", 1),
                    ("Lat. s", 1),
                    ("Prompt", 1),
                    ("Cache", 1),
                ],
            )
        )
    return tables


def warnings_of(report: Report) -> list[str]:
    """Every benchmark's warnings, prefixed with its label."""
    return [f"{b.label}: {w}" for b in report.benchmarks for w in b.warnings]


def errors_of(report: Report) -> list[tuple[str, str, int, str]]:
    """``(benchmark, category, count, example)`` for every error category seen, except
    ``cancelled`` (requests cut by a stop condition, shown as incomplete in the run summary)."""
    rows: list[tuple[str, str, int, str]] = []
    for b in report.benchmarks:
        for cat, n in sorted(b.errors.items()):
            if cat == "cancelled":
                continue
            rows.append((b.label, cat, n, b.error_examples.get(cat, "")))
    return rows
