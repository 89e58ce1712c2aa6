"""The ``timeline`` writer: every benchmark's time slices as one CSV (docs/metrics.md).

One row per slice per benchmark, for plotting a run over time in a spreadsheet; chosen by a
name ending ``timeline.csv`` (``--output run.timeline.csv``, or ``--outputs timeline``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from guidellm.outputs.base import ReportWriter
from guidellm.outputs.files import write_csv_rows

if TYPE_CHECKING:
    from guidellm.benchmark.report import Report

__all__ = ["TIMELINE_COLUMNS", "TimelineCSVWriter", "timeline_rows"]

#: The columns, in order: the benchmark, then the slice's columns as in the JSON report.
TIMELINE_COLUMNS = (
    "benchmark",
    "strategy",
    "start_s",
    "end_s",
    "start_time",
    "end_time",
    "phase",
    "stage",
    "started",
    "successful",
    "errored",
    "incomplete",
    "requests_per_second",
    "intended_per_second",
    "concurrency_mean",
    "output_tokens_per_second",
    "ttft_ms_p50",
    "ttft_ms_p90",
    "ttft_ms_p99",
    "itl_ms_p50",
    "itl_ms_p90",
    "itl_ms_p99",
    "latency_s_p50",
    "latency_s_p90",
    "latency_s_p99",
    "scheduling_delay_ms_p99",
)


def timeline_rows(report: Report) -> list[dict[str, Any]]:
    """Every slice of every benchmark (benchmarks without slices add none)."""
    out: list[dict[str, Any]] = []
    for b in report.benchmarks:
        if b.timeslices is None:
            continue
        for row in b.timeslices.rows():
            row.update(benchmark=b.id, strategy=b.label)
            out.append(row)
    return out


class TimelineCSVWriter(ReportWriter):
    """For spreadsheets: how each benchmark moved over time, one row per time slice."""

    name = "timeline"
    extensions: ClassVar[tuple[str, ...]] = ("timeline.csv",)

    def write(self, report: Report) -> None:
        assert self.path is not None
        write_csv_rows(self.path, TIMELINE_COLUMNS, timeline_rows(report))
