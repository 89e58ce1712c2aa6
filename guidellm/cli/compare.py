"""``guidellm compare A.json B.json [--fail-if EXPR] [--format table|markdown|json]``: two runs
side by side, for people and CI.

Benchmarks are paired by strategy: the same type and the same rate, streams or concurrency cap;
then, within a type, the ones left on both sides pair in order when both sides have as many
(the constant rates of two sweeps, which each derives from its own measurements). The rest are
listed as only in A or only in B. Each key metric shows A, B and the relative change (``new``
when A was 0); a change is marked significant (``*``) when the two 95 % confidence intervals do
not overlap. ``--fail-if`` gates (``ttft_p99_ms>+10%``) turn a regression into exit code 1.

Metric keys: ``rps``, ``output_tps``, ``tps``, ``goodput_rps``, ``attainment``, ``errors``,
``error_rate``, ``concurrency``, and ``<metric>_<stat>[_<unit>]`` where metric is ``ttft``,
``itl``, ``tpot``, ``ict`` (inter-chunk), ``latency``, ``scheduled_latency``, ``delay``,
``prompt_tokens`` or ``output_tokens``, stat is ``mean``, ``median``, ``std``, ``min``, ``max``
or a percentile (``p50``, ``p99``, ``p999``...), and unit ``ms`` or ``s`` converts times.
"""

from __future__ import annotations

import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from guidellm.benchmark.report import Benchmark, Summary

__all__ = [
    "LEGEND",
    "Gate",
    "Pairing",
    "change_text",
    "compare",
    "metric_value",
    "pair",
    "parse_gate",
]

# key prefix -> (report metric, unit of its values)
_SUMMARIES = {
    "ttft": ("time_to_first_token_ms", "ms"),
    "itl": ("inter_token_latency_ms", "ms"),
    "tpot": ("time_per_output_token_ms", "ms"),
    "ict": ("inter_chunk_latency_ms", "ms"),
    "latency": ("request_latency", "s"),
    "scheduled_latency": ("scheduled_latency", "s"),
    "delay": ("scheduling_delay_ms", "ms"),
    "prompt_tokens": ("prompt_token_count", "tokens"),
    "output_tokens": ("output_token_count", "tokens"),
}
_SCALARS = (
    "rps",
    "output_tps",
    "tps",
    "goodput_rps",
    "attainment",
    "errors",
    "error_rate",
    "concurrency",
)
_KEY = re.compile(
    r"^(?P<metric>" + "|".join(sorted(_SUMMARIES, key=len, reverse=True)) + r")_"
    r"(?P<stat>mean|median|std|min|max|p\d+)(?:_(?P<unit>ms|s|tokens))?$"
)
_UNIT = {("ms", "s"): 0.001, ("s", "ms"): 1000.0}
_CI_STATS = {"mean": "mean", "median": "p50", "p50": "p50", "p90": "p90", "p99": "p99"}

#: Shown by default, in this order.
DEFAULT_KEYS = (
    "rps",
    "output_tps",
    "goodput_rps",
    "concurrency",
    "ttft_p50_ms",
    "ttft_p99_ms",
    "itl_p50_ms",
    "itl_p99_ms",
    "tpot_p50_ms",
    "latency_p50_s",
    "latency_p99_s",
    "error_rate",
)


def _bad_key(key: str) -> Exception:
    from guidellm.errors import UserError

    return UserError(
        f"unknown metric {key!r}; use {', '.join(_SCALARS)} or <metric>_<stat>[_ms|_s] with "
        f"metric one of {', '.join(_SUMMARIES)} (e.g. ttft_p99_ms)"
    )


def _summary(b: Benchmark, key: str) -> tuple[Summary, str, float]:
    match = _KEY.match(key)
    if match is None:
        raise _bad_key(key)
    metric, unit = _SUMMARIES[match["metric"]]
    wanted = match["unit"] or unit
    if wanted != unit and (unit, wanted) not in _UNIT:
        raise _bad_key(key)
    factor = _UNIT.get((unit, wanted), 1.0)
    return getattr(b.metrics, metric).successful, match["stat"], factor


def metric_value(b: Benchmark, key: str) -> float | None:
    """The value of ``key`` for the successful requests of ``b`` (``None``: not measured)."""
    m = b.metrics
    r = b.requests
    if key in _SCALARS:
        done = r.successful + r.errored
        scalars: dict[str, float | None] = {
            "rps": m.requests_per_second.successful,
            "output_tps": m.output_tokens_per_second.successful,
            "tps": m.tokens_per_second.successful,
            "goodput_rps": None if m.goodput is None else m.goodput.requests_per_second,
            "attainment": None if m.goodput is None else m.goodput.attainment,
            "errors": float(r.errored),
            "error_rate": r.errored / done if done else None,
            "concurrency": m.request_concurrency.total.mean,
        }
        return scalars[key]
    summary, stat, factor = _summary(b, key)
    if not hasattr(summary.percentiles, stat) and stat.startswith("p"):
        raise _bad_key(key)
    value = summary.stat(stat)
    return None if value is None else value * factor


def _interval(b: Benchmark, key: str) -> list[float] | None:
    if key in _SCALARS:
        return None
    summary, stat, factor = _summary(b, key)
    ci_key = _CI_STATS.get(stat)
    if ci_key is None or not summary.ci95 or ci_key not in summary.ci95:
        return None
    lo, hi = summary.ci95[ci_key]
    return [lo * factor, hi * factor]


def significant(a: Benchmark, b: Benchmark, key: str) -> bool | None:
    """True when the 95 % intervals of A and B do not overlap; ``None`` without intervals."""
    ia, ib = _interval(a, key), _interval(b, key)
    if ia is None or ib is None:
        return None
    return ia[1] < ib[0] or ib[1] < ia[0]


def _change(a: float | None, b: float | None) -> float | None:
    if a is None or b is None:
        return None
    if a == 0:
        return 0.0 if b == 0 else math.copysign(math.inf, b)
    return (b - a) / abs(a)


def change_text(a: float | None, b: float | None) -> str:
    """The change column: ``+12.5%``; ``new`` from zero (a percentage of nothing is no
    number); ``-`` when either side was not measured."""
    change = _change(a, b)
    if change is None:
        return "-"
    if math.isinf(change):
        return "new"
    return f"{change * 100:+.1f}%"


#: What the significance and change columns mean, printed under every comparison.
LEGEND = (
    "sig.: * = the 95 % confidence intervals of A and B do not overlap (a change beyond the "
    "run's own noise); blank = they overlap; - = no interval for this metric (rates and counts "
    "carry none). change: (B - A) / |A|; new = A was 0."
)


def _identity(b: Benchmark) -> tuple[str, dict[str, object]]:
    """A benchmark's strategy type and its scalar settings (rate, streams, cap...)."""
    strategy = b.strategy
    scalars: dict[str, object] = {
        k: v
        for k, v in strategy.items()
        if k != "type" and isinstance(v, (int, float, str, bool)) and v is not None
    }
    return str(strategy.get("type", "?")), scalars


def _same(x: dict[str, object], y: dict[str, object]) -> bool:
    if x.keys() != y.keys():
        return False
    for key, vx in x.items():
        vy = y[key]
        if isinstance(vx, (int, float)) and isinstance(vy, (int, float)):
            if not math.isclose(vx, vy, rel_tol=1e-6, abs_tol=1e-9):
                return False
        elif vx != vy:
            return False
    return True


@dataclass
class Pairing:
    """Benchmarks of A and B paired by strategy (``how``: ``strategy`` or ``order``), and
    the ones without a partner."""

    pairs: list[tuple[Benchmark, Benchmark, str]]
    only_a: list[Benchmark]
    only_b: list[Benchmark]


def pair(a_list: list[Benchmark], b_list: list[Benchmark]) -> Pairing:
    """Pair by strategy type and settings; then, per type, the leftovers in order when both
    sides have as many of them; the rest are only in A or only in B."""
    ids_b = [_identity(b) for b in b_list]
    used: set[int] = set()
    matched: dict[int, tuple[int, str]] = {}
    for i, a in enumerate(a_list):
        kind, scalars = _identity(a)
        for j, (kind_b, scalars_b) in enumerate(ids_b):
            if j not in used and kind == kind_b and _same(scalars, scalars_b):
                matched[i] = (j, "strategy")
                used.add(j)
                break
    left_a: dict[str, list[int]] = {}
    left_b: dict[str, list[int]] = {}
    for i, a in enumerate(a_list):
        if i not in matched:
            left_a.setdefault(_identity(a)[0], []).append(i)
    for j, (kind_b, _) in enumerate(ids_b):
        if j not in used:
            left_b.setdefault(kind_b, []).append(j)
    for kind, rest_a in left_a.items():
        rest_b = left_b.get(kind, [])
        if len(rest_a) == len(rest_b):
            for i, j in zip(rest_a, rest_b, strict=True):
                matched[i] = (j, "order")
                used.add(j)
    return Pairing(
        pairs=[(a_list[i], b_list[j], how) for i, (j, how) in sorted(matched.items())],
        only_a=[a for i, a in enumerate(a_list) if i not in matched],
        only_b=[b for j, b in enumerate(b_list) if j not in used],
    )


@dataclass(frozen=True)
class Gate:
    """``key op value``: relative (``+10%``), absolute change (``+5``) or threshold (``250``)."""

    text: str
    key: str
    op: str
    value: float
    kind: str  # "relative", "delta" or "threshold"

    def check(self, a: Benchmark | None, b: Benchmark) -> tuple[bool, str]:
        """``(failed, explanation)`` for one pair of benchmarks (``a`` ``None``: a benchmark
        only the candidate has, which only a threshold can judge)."""
        va = None if a is None else metric_value(a, self.key)
        vb = metric_value(b, self.key)
        shown = f"{_num(va)} -> {_num(vb)}"
        if vb is None or (self.kind != "threshold" and va is None):
            return True, f"{shown}: not measured"
        if self.kind == "threshold":
            measured = vb
        elif self.kind == "delta":
            measured = vb - (va or 0.0)
        else:
            measured = _change(va, vb) or 0.0
        failed = {
            ">": measured > self.value,
            ">=": measured >= self.value,
            "<": measured < self.value,
            "<=": measured <= self.value,
        }[self.op]
        if va is not None:
            shown += f" ({change_text(va, vb)})"
        return failed, shown


_GATE = re.compile(r"^\s*([a-z0-9_]+)\s*(>=|<=|>|<)\s*([+-]?)(\d+(?:\.\d+)?)\s*(%?)\s*$")


def parse_gate(text: str) -> Gate:
    """Parse one ``--fail-if`` expression; bad ones raise ``UserError`` naming the syntax."""
    from guidellm.errors import UserError

    match = _GATE.match(text)
    if match is None:
        raise UserError(
            f"--fail-if {text!r} is not KEY>VALUE; write e.g. 'ttft_p99_ms>+10%' (relative), "
            "'rps<-5%', 'itl_p50_ms>+2' (absolute change) or 'error_rate>0.01' (threshold)"
        )
    key, op, sign, number, percent = match.groups()
    if key not in _SCALARS and _KEY.match(key) is None:
        raise _bad_key(key)
    value = float(number) * (-1 if sign == "-" else 1)
    if percent:
        return Gate(text.strip(), key, op, value / 100.0, "relative")
    return Gate(text.strip(), key, op, value, "delta" if sign else "threshold")


def _num(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.4g}"


def _rows(a: Benchmark, b: Benchmark, keys: list[str]) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for key in keys:
        va, vb = metric_value(a, key), metric_value(b, key)
        change = _change(va, vb)
        rows.append(
            {
                "metric": key,
                "a": va,
                "b": vb,
                # JSON has no infinity: a change from zero is null there, and "new" in text.
                "change": change if change is not None and math.isfinite(change) else None,
                "change_text": change_text(va, vb),
                "significant": significant(a, b, key),
            }
        )
    return rows


def _cell(value: object) -> str:
    return _num(float(value)) if isinstance(value, (int, float)) else "-"


def _sig(value: object) -> str:
    return "-" if value is None else ("*" if value else "")


def _title(a: Benchmark, b: Benchmark, how: str) -> str:
    title = a.label if a.label == b.label else f"{a.label} vs {b.label}"
    if how == "order":
        title += " (paired in order within its type: the settings differ)"
    return f"#{a.id}/#{b.id} {title}" if a.id != b.id else f"#{a.id} {title}"


def _brief(b: Benchmark) -> dict[str, object]:
    return {"id": b.id, "label": b.label, "strategy": dict(b.strategy)}


def _gate_results(gates: list[Gate], pairing: Pairing, candidate: Path) -> list[dict[str, object]]:
    """Every gate on every pair. A benchmark only the baseline has (a run cut short) fails
    every gate: a gate that cannot be checked must not pass. One only the candidate has is
    judged by threshold gates alone (there is nothing to compare it with)."""
    out: list[dict[str, object]] = []
    for gate in gates:
        for a, b, _ in pairing.pairs:
            failed, shown = gate.check(a, b)
            out.append({"gate": gate.text, "benchmark": b.label, "id": a.id,
                        "failed": failed, "detail": shown})  # fmt: skip
        for a in pairing.only_a:
            out.append({"gate": gate.text, "benchmark": a.label, "id": a.id, "failed": True,
                        "detail": f"not in {candidate}"})  # fmt: skip
        if gate.kind == "threshold":
            for b in pairing.only_b:
                failed, shown = gate.check(None, b)
                out.append({"gate": gate.text, "benchmark": b.label, "id": b.id,
                            "failed": failed, "detail": shown})  # fmt: skip
    return out


def _markdown(
    tables: list[tuple[str, list[dict[str, object]]]],
    pairing: Pairing,
    gates: list[dict[str, object]],
) -> str:
    lines: list[str] = []
    for title, rows in tables:
        lines += [f"### {title}", "", "| metric | A | B | change | sig. |", "|---|--:|--:|--:|:-:|"]
        for r in rows:
            a, b = r["a"], r["b"]
            lines.append(
                f"| {r['metric']} | {_cell(a)} | "
                f"{_cell(b)} | {r['change_text']} | "
                f"{_sig(r['significant']) or ' '} |"
            )
        lines.append("")
    for name, only in (("A", pairing.only_a), ("B", pairing.only_b)):
        if only:
            lines.append(f"Only in {name}: " + ", ".join(f"#{x.id} {x.label}" for x in only))
            lines.append("")
    for g in gates:
        if g["failed"]:
            lines.append(f"- **FAIL** {g['gate']}: #{g['id']} {g['benchmark']}: {g['detail']}")
    lines.append(LEGEND)
    return "\n".join(lines)


@click.command("compare")
@click.argument("baseline", type=click.Path(path_type=Path))
@click.argument("candidate", type=click.Path(path_type=Path))
@click.option(
    "--fail-if",
    "gates",
    multiple=True,
    help="Exit 1 when a gate fails: 'ttft_p99_ms>+10%' (relative change), 'itl_p50_ms>+2' "
    "(absolute change), 'error_rate>0.01' (threshold on the candidate). Repeatable; commas "
    "separate several.",
)
@click.option("--metric", "metrics", multiple=True, help="Show these metric keys instead.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "markdown", "json"]),
    default="table",
    show_default=True,
    help="table for a terminal, markdown for a pull request, json for scripts.",
)
def compare(
    baseline: Path, candidate: Path, gates: tuple[str, ...], metrics: tuple[str, ...], fmt: str
) -> None:
    """Compare two reports (A = BASELINE, B = CANDIDATE), benchmarks paired by strategy."""
    import json

    from rich import box
    from rich.console import Console
    from rich.table import Table

    from guidellm.cli.report import load_report

    parsed = [parse_gate(g) for text in gates for g in text.split(",") if g.strip()]
    keys = list(metrics) or list(DEFAULT_KEYS)
    for key in keys:
        if key not in _SCALARS and _KEY.match(key) is None:
            raise _bad_key(key)
    a_report, b_report = load_report(baseline), load_report(candidate)
    pairing = pair(a_report.benchmarks, b_report.benchmarks)
    tables = [(_title(a, b, how), _rows(a, b, keys)) for a, b, how in pairing.pairs]
    results = _gate_results(parsed, pairing, candidate)
    failures = sum(1 for g in results if g["failed"])
    if fmt == "json":
        doc = {
            "baseline": str(baseline),
            "candidate": str(candidate),
            "pairs": [
                {"a": _brief(a), "b": _brief(b), "paired_by": how, "metrics": rows}
                for (a, b, how), (_, rows) in zip(pairing.pairs, tables, strict=True)
            ],
            "only_in_a": [_brief(a) for a in pairing.only_a],
            "only_in_b": [_brief(b) for b in pairing.only_b],
            "gates": results,
            "failures": failures,
        }
        click.echo(json.dumps(doc, indent=2))
    elif fmt == "markdown":
        click.echo(_markdown(tables, pairing, results))
    else:
        console = Console()
        for title, rows in tables:
            table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAVY)
            for header in ("metric", "A", "B", "change", "sig."):
                table.add_column(header, justify="left" if header == "metric" else "right")
            for r in rows:
                table.add_row(
                    str(r["metric"]),
                    _cell(r["a"]),
                    _cell(r["b"]),
                    str(r["change_text"]),
                    _sig(r["significant"]),
                )
            console.print(table)
        for name, only in (("A", pairing.only_a), ("B", pairing.only_b)):
            if only:
                listed = ", ".join(f"#{x.id} {x.label}" for x in only)
                console.print(f"[yellow]only in {name}:[/] {listed}", highlight=False)
        console.print(LEGEND, highlight=False, soft_wrap=True)
        for g in results:
            if g["failed"]:
                console.print(
                    f"[bold red]FAIL[/] {g['gate']}: #{g['id']} {g['benchmark']}: {g['detail']}",
                    highlight=False,
                )
    if parsed:
        if failures:
            click.echo(f"{failures} gate check(s) failed", err=fmt == "json")
            # SystemExit, not click's Exit: with standalone_mode=False click would turn Exit
            # into a return value that `python -m guidellm` drops.
            sys.exit(1)
        click.echo(f"all {len(parsed)} gate(s) passed", err=fmt == "json")
