"""A mix's tables (console and HTML): one row per traffic class, one per model.

Each benchmark of a mix gets a "Traffic classes" table and, when it sent more than one model
(or had models but no classes), a "Models" table. A column is shown only when some row has a
value for it: a pooling-only mix has no TTFT or ITL column, a mix without SLOs no goodput.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from guidellm.outputs.tables import Table, fmt

if TYPE_CHECKING:
    from guidellm.benchmark.report import Benchmark, Goodput, GroupSummary

__all__ = ["BY_CLASS_NOTE", "by_class", "group_tables", "slo_text"]

#: Under the throughput table when a benchmark's goodput was judged class by class.
BY_CLASS_NOTE = (
    "Good req/s and SLO %: each request against its own traffic class's SLOs (a class "
    "without SLOs counts its successes as met)"
)

#: Short names of the SLO keys, for a compact "ttft≤300ms".
_SLO_NAMES = {"ttft_ms": "ttft", "itl_ms": "itl", "tpot_ms": "tpot", "latency_ms": "lat"}


def slo_text(slo: dict[str, float]) -> str:
    """``ttft≤300ms,lat≤30s``: the SLOs a row's goodput was judged against, short enough for a
    table cell (whole seconds above a second)."""
    parts = []
    for key, limit in slo.items():
        name = _SLO_NAMES.get(key, key.removesuffix("_ms"))
        if limit >= 1000 and limit % 1000 == 0:
            parts.append(f"{name}≤{limit / 1000:g}s")
        else:
            parts.append(f"{name}≤{limit:g}ms")
    return ",".join(parts)


def by_class(goodput: Goodput | None) -> bool:
    """Whether a benchmark's goodput counts every request against its own class's SLOs."""
    return goodput is not None and bool(getattr(goodput, "by_class", False))


@dataclass(frozen=True)
class _Column:
    group: str
    header: str
    cell: Callable[[GroupSummary], str | None]


#: Request formats, short enough for a narrow column.
_FORMATS = {
    "chat_completions": "chat",
    "text_completions": "text",
    "anthropic_messages": "anthropic",
}


def _format(g: GroupSummary) -> str | None:
    return None if g.request_format is None else _FORMATS.get(g.request_format, g.request_format)


def _num(value: float | None, digits: int = 2, scale: float = 1.0) -> str | None:
    return None if value is None else fmt(value * scale, digits)


def _out_tokens(g: GroupSummary) -> str | None:
    """A pooling row (inputs and no output tokens) has no output rate, not a zero one."""
    if g.inputs_per_second is not None and g.output_tokens_per_second == 0:
        return None
    return fmt(g.output_tokens_per_second, 1)


def _share(rows: Sequence[GroupSummary]) -> _Column:
    """The share of the window's requests a row got, beside the share it was meant to have
    (``50.0/50.0``) when any row has a weight: one column, to fit 80 columns."""
    if not any(g.weight is not None for g in rows):
        return _Column("Share %", "got", lambda g: _num(g.share, 1, 100))

    def cell(g: GroupSummary) -> str:
        return f"{_num(g.share, 1, 100) or '-'}/{_num(g.weight, 1, 100) or '-'}"

    return _Column("Share %", "got/meant", cell)


def _attainment(g: GroupSummary) -> str | None:
    return None if g.goodput is None else _num(g.goodput.attainment, 1, 100)


def _good_rate(g: GroupSummary) -> str | None:
    return None if g.goodput is None else fmt(g.goodput.requests_per_second)


def _load_columns(rows: Sequence[GroupSummary], with_format: bool) -> list[_Column]:
    columns = [_Column("", "Format", _format)] if with_format else []
    return [
        *columns,
        _Column("", "OK/Err/Inc", lambda g: f"{g.successful}/{g.errored}/{g.incomplete}"),
        _share(rows),
        _Column("", "Req/s", lambda g: fmt(g.requests_per_second)),
        _Column("", "Out tok/s", _out_tokens),
        _Column("", "Inputs/s", lambda g: _num(g.inputs_per_second)),
    ]


_TIMING_COLUMNS = (
    _Column("TTFT ms", "p50", lambda g: _num(g.ttft_ms_p50)),
    _Column("TTFT ms", "p99", lambda g: _num(g.ttft_ms_p99)),
    _Column("ITL ms", "p50", lambda g: _num(g.itl_ms_p50)),
    _Column("Lat. s", "p50", lambda g: _num(g.latency_s_p50, 3)),
    _Column("Lat. s", "p99", lambda g: _num(g.latency_s_p99, 3)),
    _Column("Goodput", "SLO %", _attainment),
    _Column("Goodput", "req/s", _good_rate),
)


def _table(
    title: str,
    first: str,
    rows: Sequence[GroupSummary],
    columns: Sequence[_Column],
    note: str | None = None,
) -> Table | None:
    """The rows under the columns some row has a value for (``-`` where a row has none);
    ``None`` when no column has a value."""
    shown = [c for c in columns if any(c.cell(g) is not None for g in rows)]
    if not shown:
        return None
    headers = [first, *(c.header for c in shown)]
    body = [[g.name or "default", *(c.cell(g) or "-" for c in shown)] for g in rows]
    groups: list[tuple[str, int]] = [("", 1)]
    for c in shown:
        if groups[-1][0] == c.group:
            groups[-1] = (c.group, groups[-1][1] + 1)
        else:
            groups.append((c.group, 1))
    return Table(title, headers, body, groups if len(groups) > 1 else None, note)


def _slo_note(rows: Sequence[GroupSummary]) -> str | None:
    """``SLOs: chat ttft≤300ms; batch lat≤30s``: what each row's goodput was judged against
    (a legend, not a column: a column would not fit 80 columns)."""
    slos = [
        f"{g.name or 'default'} {slo_text(g.goodput.slo)}"
        for g in rows
        if g.goodput is not None and g.goodput.slo
    ]
    return f"SLOs: {'; '.join(slos)}" if slos else None


def _overall_note(b: Benchmark) -> str | None:
    """The benchmark's overall goodput beside its classes' (its definition differs)."""
    good = b.metrics.goodput
    if good is None or not by_class(good):
        return None
    pct = "-" if good.attainment is None else f"{good.attainment * 100:.1f} %"
    return (
        f"Overall goodput: {fmt(good.requests_per_second)} req/s, {pct} of "
        f"{good.counted:,} requests met their own class's SLOs (a class without SLOs counts "
        "its successes as met)"
    )


def _pair(
    kind: str, first: str, b: Benchmark, rows: Sequence[GroupSummary], overall: bool
) -> list[Table]:
    """Two tables of one kind of row, each narrow enough for an 80-column terminal: the
    requests and rates, then the timings and goodput (with the SLOs as a legend)."""
    load = _table(
        f"{kind}: {b.label} (requests in the window, every status)",
        first,
        rows,
        _load_columns(rows, with_format=first == "Class"),
    )
    notes = [_slo_note(rows), _overall_note(b) if overall else None]
    timing = _table(
        f"{kind}: {b.label}, timings (successful requests) and goodput",
        first,
        rows,
        _TIMING_COLUMNS,
        ". ".join(n for n in notes if n) or None,
    )
    return [t for t in (load, timing) if t is not None]


def group_tables(bms: Sequence[Benchmark]) -> list[Table]:
    """Per benchmark of a mix: its traffic classes, then its models when there is more than
    one (or no classes); none outside a mix."""
    tables = []
    for b in bms:
        groups = b.groups
        if groups is None:
            continue
        if groups.classes:
            tables += _pair("Traffic classes", "Class", b, groups.classes, overall=True)
        if groups.models and (len(groups.models) > 1 or not groups.classes):
            tables += _pair("Models", "Model", b, groups.models, overall=not groups.classes)
    return tables
