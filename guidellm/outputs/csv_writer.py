"""The ``csv`` writer: one header row, one row per benchmark, one column per statistic.

Rates and request counts are given for every status; per-request metrics for the successful
requests (the errored/incomplete splits stay in the JSON report). Benchmarks with cached
prompt tokens or sessions add ``prompt_cache.*`` and ``sessions.*`` columns (empty in the
other rows); the per-turn rows are the ``turns`` writer's. A mix adds ``class.<name>.<field>``
and ``model.<name>.<field>`` columns (:func:`group_columns`). Benchmarks with the server's view
add the ``server_*`` columns of :data:`SERVER_COLUMNS` last (empty when the server did not
expose the number).
"""

from __future__ import annotations

import csv
import io
import json
from typing import TYPE_CHECKING, Any, ClassVar

from guidellm.outputs.base import ReportWriter
from guidellm.outputs.files import write_atomically

if TYPE_CHECKING:
    from guidellm.benchmark.report import Benchmark, Report

__all__ = ["SERVER_COLUMNS", "CSVWriter", "benchmark_row", "group_columns", "server_columns"]

_STATS = ("mean", "median", "std", "min", "max", "count")

#: The server's view in one row: its kind, counters' increases, TTFT histogram mean, the
#: largest KV-cache usage (0..1) and queue, and whether every cross-checked number agreed.
SERVER_COLUMNS = (
    "server_kind",
    "server_requests",
    "server_generation_tokens",
    "server_prompt_tokens",
    "server_ttft_mean_ms",
    "kv_cache_usage_max",
    "requests_waiting_max",
    "crosscheck_agree",
)


def server_columns(b: Benchmark) -> dict[str, Any]:
    """The :data:`SERVER_COLUMNS` of one benchmark (``None``: not exposed or not checked);
    empty without the server's view."""
    server = b.server
    if server is None:
        return {}
    kv, waiting = server.gauges.get("kv_cache_usage"), server.gauges.get("requests_waiting")
    ttft = server.histograms.get("ttft")
    verdicts = [c.agree for c in server.crosscheck if c.agree is not None]
    values = (
        server.server,
        server.counters.get("requests"),
        server.counters.get("generation_tokens"),
        server.counters.get("prompt_tokens"),
        ttft.mean_ms if ttft else None,
        kv.max if kv else None,
        waiting.max if waiting else None,
        all(verdicts) if verdicts else None,
    )
    return dict(zip(SERVER_COLUMNS, values, strict=True))


def group_columns(b: Benchmark) -> dict[str, Any]:
    """A mix's rows flattened into one benchmark's row, so that a spreadsheet compares a class
    across benchmarks down one column: ``class.<name>.<field>`` for every field of a class's
    JSON row (``model.<name>.<field>`` for a model's, which has no request format; an unnamed
    model is ``default``), its goodput as ``...goodput.requests_per_second``, ``.attainment``,
    ``.met``, ``.counted`` and ``.slo.<key>``. Empty outside a mix."""
    if b.groups is None:
        return {}
    row: dict[str, Any] = {}
    for kind, groups in (("class", b.groups.classes), ("model", b.groups.models)):
        for g in groups:
            prefix = f"{kind}.{g.name or 'default'}"
            skip = {"name", "goodput"} if kind == "class" else {"name", "goodput", "request_format"}
            for key, value in g.model_dump(exclude=skip).items():
                if not isinstance(value, (dict, list)):
                    row[f"{prefix}.{key}"] = value
            if g.goodput is not None:
                good = g.goodput
                row[f"{prefix}.goodput.requests_per_second"] = good.requests_per_second
                row[f"{prefix}.goodput.attainment"] = good.attainment
                row[f"{prefix}.goodput.met"] = good.met
                row[f"{prefix}.goodput.counted"] = good.counted
                for key, limit in good.slo.items():
                    row[f"{prefix}.goodput.slo.{key}"] = limit
    return row


def benchmark_row(b: Benchmark) -> dict[str, Any]:
    """The flat ``{column: value}`` of one benchmark (column names are dotted paths)."""
    from guidellm.benchmark.report import METRIC_NAMES, STATUSES
    from guidellm.benchmark.statistics import PERCENTILES

    row: dict[str, Any] = {"id": b.id}
    for key, value in b.strategy.items():
        row[f"strategy.{key}"] = value if not isinstance(value, (dict, list)) else json.dumps(value)
    row.update(
        start_time=b.start_time,
        end_time=b.end_time,
        duration=b.duration,
        window_start=b.measured_window[0],
        window_end=b.measured_window[1],
    )
    for key, value in b.requests.model_dump().items():
        row[f"requests.{key}"] = value
    m = b.metrics
    for name in ("requests_per_second", "output_tokens_per_second", "tokens_per_second"):
        rates = getattr(m, name)
        for status in STATUSES:
            row[f"{name}.{status}"] = getattr(rates, status)
    for name in ("request_concurrency", *METRIC_NAMES):
        # Concurrency is the load the server saw: every request in flight, as the console's
        # and compare's; the per-request metrics are the successful requests'.
        split = getattr(m, name)
        summary = split.total if name == "request_concurrency" else split.successful
        for stat in _STATS:
            row[f"{name}.{stat}"] = getattr(summary, stat)
        for key in PERCENTILES:
            row[f"{name}.{key}"] = getattr(summary.percentiles, key)
    if m.goodput is not None:
        row["goodput.requests_per_second"] = m.goodput.requests_per_second
        row["goodput.attainment"] = m.goodput.attainment
        for key, limit in m.goodput.slo.items():
            row[f"goodput.slo.{key}"] = limit
        if getattr(m.goodput, "by_class", False):
            # Each request against its own class's SLOs: the class.<name>.goodput.slo.*.
            row["goodput.by_class"] = True
    if b.inputs is not None and m.inputs_per_second is not None:
        for status in STATUSES:
            row[f"inputs.{status}"] = getattr(b.inputs, status)
            row[f"inputs_per_second.{status}"] = getattr(m.inputs_per_second, status)
    if b.prompt_cache is not None:
        for status in STATUSES:
            counts = getattr(b.prompt_cache, status)
            row[f"prompt_cache.{status}.cached_tokens"] = counts.cached_tokens
            row[f"prompt_cache.{status}.hit_ratio"] = counts.hit_ratio
    if b.sessions is not None:
        for key, value in b.sessions.model_dump().items():
            row[f"sessions.{key}"] = value
    row.update(group_columns(b))
    row["tokens.source"] = b.tokens.source
    row["tokens.compared"] = b.tokens.compared
    row["tokens.disagreements"] = b.tokens.disagreements
    row["errors.total"] = sum(b.errors.values())
    for cat, n in sorted(b.errors.items()):
        row[f"errors.{cat}"] = n
    row["warnings"] = " | ".join(b.warnings)
    row.update(server_columns(b))
    return row


class CSVWriter(ReportWriter):
    """For spreadsheets: the key numbers of every benchmark in one table."""

    name = "csv"
    extensions: ClassVar[tuple[str, ...]] = (".csv",)

    def write(self, report: Report) -> None:
        assert self.path is not None
        rows = [benchmark_row(b) for b in report.benchmarks]
        columns: list[str] = []
        seen: set[str] = set()
        for row in rows:
            for key in row:
                if key not in seen:
                    seen.add(key)
                    columns.append(key)
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=columns, restval="", lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
        write_atomically(self.path, out.getvalue().encode("utf-8"))
