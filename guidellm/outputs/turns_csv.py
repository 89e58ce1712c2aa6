"""The ``turns`` writer: every benchmark's per-turn-index rows as one CSV (docs/metrics.md).

One row per turn index (and kind) per benchmark that had sessions, for comparing early and
late turns of conversations in a spreadsheet; chosen by a name ending ``turns.csv``
(``--output run.turns.csv``, or ``--outputs turns``). Single-turn benchmarks add no rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from guidellm.outputs.base import ReportWriter
from guidellm.outputs.files import write_csv_rows

if TYPE_CHECKING:
    from guidellm.benchmark.report import Report

__all__ = ["TURN_COLUMNS", "TurnsCSVWriter", "turn_csv_rows"]

#: The columns, in order: the benchmark, then the row's fields as in the JSON report.
TURN_COLUMNS = (
    "benchmark",
    "strategy",
    "turn",
    "kind",
    "and_later",
    "successful",
    "errored",
    "incomplete",
    "ttft_ms_p50",
    "ttft_ms_p90",
    "ttft_ms_p99",
    "itl_ms_p50",
    "itl_ms_p90",
    "itl_ms_p99",
    "latency_s_p50",
    "latency_s_p90",
    "latency_s_p99",
    "prompt_tokens_median",
    "prompt_tokens_mean",
    "output_tokens_median",
    "output_tokens_mean",
    "cached_tokens",
    "cache_hit_ratio",
)


def turn_csv_rows(report: Report) -> list[dict[str, Any]]:
    """Every per-turn row of every benchmark (benchmarks without sessions add none)."""
    out: list[dict[str, Any]] = []
    for b in report.benchmarks:
        for t in b.turns or ():
            row = t.model_dump()
            row.update(benchmark=b.id, strategy=b.label)
            out.append(row)
    return out


class TurnsCSVWriter(ReportWriter):
    """For spreadsheets: how conversations' turns compare, one row per turn index."""

    name = "turns"
    extensions: ClassVar[tuple[str, ...]] = ("turns.csv",)

    def write(self, report: Report) -> None:
        assert self.path is not None
        write_csv_rows(self.path, TURN_COLUMNS, turn_csv_rows(report))
