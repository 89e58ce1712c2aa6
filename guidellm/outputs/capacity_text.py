"""The report's capacity in words and tables, shared by the console and the HTML report.

One line answers "how much can it take" (the saturation point of a sweep, or the SLO
capacity of a search); the tables show the rule and every probe the answer was read from,
so a reader can check it (docs/metrics.md, "Reading the results").
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from guidellm.outputs.tables import Table, fmt

if TYPE_CHECKING:
    from guidellm.benchmark.capacity import Capacity
    from guidellm.benchmark.report import Report

__all__ = [
    "capacity_line",
    "capacity_name",
    "capacity_sentence",
    "capacity_tables",
    "num",
    "percent",
    "slo_text",
]


def capacity_name(capacity: Capacity) -> str:
    """``Saturation point`` or ``SLO capacity``."""
    return "Saturation point" if capacity.kind == "saturation" else "SLO capacity"


def num(value: float) -> str:
    """A rate for a sentence: ``23.1``, ``22.0``, ``1,250.0``, ``0.25``."""
    if abs(value) >= 1 or value == 0:
        return f"{value:,.1f}"
    return f"{value:.3g}"


def percent(fraction: float) -> str:
    """The goodput asked for, ``0.95`` -> ``95``: the model stores a fraction; a value above
    1 can only be a percentage already and is shown as it is."""
    return f"{fraction * 100 if fraction <= 1 else fraction:g}"


def slo_text(capacity: Capacity) -> str:
    """``goodput ≥ 95 % of ttft_ms ≤ 200, itl_ms ≤ 20`` (empty for a sweep)."""
    if not capacity.slo:
        return ""
    limits = ", ".join(f"{k} ≤ {v:g}" for k, v in capacity.slo.items())
    if capacity.goodput is None:
        return limits
    return f"goodput ≥ {percent(capacity.goodput)} % of {limits}"


def capacity_line(report: Report) -> str | None:
    """The run's answer in one line (``None``: the run has no capacity)."""
    return None if report.capacity is None else capacity_sentence(report.capacity)


def capacity_sentence(cap: Capacity) -> str:
    """``Saturation point: 23.1 requests/s (between 22.0 and 24.5; benchmark 7)``, or
    ``...: not found: <reason>``."""
    name = capacity_name(cap)
    slo = slo_text(cap)
    if cap.value is None:
        line = f"{name}: not found: {cap.reason or 'no reason given'}"
        return f"{line} (asked: {slo})" if slo else line
    where = []
    if cap.bracket is not None:
        where.append(f"between {num(cap.bracket[0])} and {num(cap.bracket[1])}")
    if cap.benchmark is not None:
        where.append(f"benchmark {cap.benchmark}")
    if cap.reason:
        where.append(cap.reason)  # a found answer's caveat ("no measured rate failed")
    line = f"{name}: {num(cap.value)} {cap.unit}"
    if where:
        line += f" ({'; '.join(where)})"
    return f"{line} at {slo}" if slo else line


def _benchmark(report: Report, index: int) -> str:
    """``7 constant 23/s``: a probe's benchmark by its index and label."""
    if 0 <= index < len(report.benchmarks):
        return f"{index} {report.benchmarks[index].label}"
    return str(index)


def capacity_tables(report: Report) -> list[Table]:
    """The answer and its rule (two columns), then one row per probe; none without a
    capacity. The probes table fits 80 columns when reasons are short."""
    cap = report.capacity
    if cap is None:
        return []
    facts = [
        ["answer", "not found" if cap.value is None else f"{num(cap.value)} {cap.unit}"],
        ["unit", cap.unit],
        [
            "bracket",
            "-" if cap.bracket is None else f"{num(cap.bracket[0])} to {num(cap.bracket[1])}",
        ],
        ["benchmark", "-" if cap.benchmark is None else _benchmark(report, cap.benchmark)],
        ["rule", cap.rule],
    ]
    if cap.kind == "slo":
        facts.append(["SLOs", slo_text(cap) or "-"])
        # The search stops when the bracket is narrower than this share of its top.
        precision = (
            "-" if cap.precision is None else f"{percent(cap.precision)} % of the bracket's top"
        )
        facts.append(["precision", precision])
    if cap.reason:
        facts.append(["reason", cap.reason])
    tables = [Table(capacity_name(cap), ["", ""], facts)]
    if cap.probes:
        rows = [
            [
                _benchmark(report, p.benchmark),
                fmt(p.rate),
                fmt(p.achieved),
                "pass" if p.passed else "fail",
                fmt(p.value, 3),
                "-" if p.ci95 is None else f"{fmt(p.ci95[0], 3)} to {fmt(p.ci95[1], 3)}",
                p.reason,
            ]
            for p in cap.probes
        ]
        judged = "goodput" if cap.kind == "slo" else "latency ratio"
        tables.append(
            Table(
                f"{capacity_name(cap)}: probes (rate and achieved in {cap.unit})",
                ["Benchmark", "rate", "achieved", "result", judged, "95 % CI", "reason"],
                rows,
            )
        )
    return tables
