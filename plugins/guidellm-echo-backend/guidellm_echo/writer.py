"""The ``markdown`` report writer: one table row per benchmark, ready to paste in a PR."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from guidellm import ReportWriter

if TYPE_CHECKING:
    from guidellm.benchmark.report import Report

__all__ = ["MarkdownWriter", "render"]

COLUMNS = (
    "benchmark",
    "strategy",
    "successful",
    "errored",
    "requests/s",
    "TTFT p50 ms",
    "ITL p50 ms",
)


def _median(metric: Any) -> Any:
    """A summary's median, from ``{"successful": {"median": ...}}`` or ``{"median": ...}``."""
    if isinstance(metric, dict):
        inner = metric.get("successful", metric)
        if isinstance(inner, dict):
            return inner.get("median", inner.get("mean"))
        return inner
    return metric


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def render(report: dict[str, Any]) -> str:
    """The Markdown table for a report (the dict form of a saved JSON report)."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for index, bench in enumerate(report.get("benchmarks", [])):
        strategy = bench.get("strategy", {})
        label = " ".join(f"{k}={_cell(v)}" for k, v in strategy.items() if k != "type")
        requests = bench.get("requests", {})
        metrics = bench.get("metrics", {})
        row = (
            bench.get("id", index),
            f"{strategy.get('type', '?')} {label}".strip(),
            requests.get("successful"),
            requests.get("errored"),
            _median(metrics.get("requests_per_second")),
            _median(metrics.get("time_to_first_token_ms")),
            _median(metrics.get("inter_token_latency_ms")),
        )
        lines.append("| " + " | ".join(_cell(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


class MarkdownWriter(ReportWriter):
    """``--output results.md``: a Markdown table of the run's benchmarks."""

    name = "markdown"
    extensions = (".md",)

    def write(self, report: Report) -> None:
        if self.path is None:
            raise ValueError("the markdown writer needs an --output path ending in .md")
        Path(self.path).write_text(render(report.to_dict()), encoding="utf-8")
