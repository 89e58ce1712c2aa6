"""``guidellm compare A.json B.json [--fail-if EXPR]``: two runs side by side, for people and CI.

Benchmarks are paired by position. Each key metric shows A, B and the relative change; a change
is marked significant (``*``) when the two 95 % confidence intervals do not overlap. ``--fail-if``
gates (``ttft_p99_ms>+10%``) turn a regression into exit code 1.

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

__all__ = ["Gate", "compare", "metric_value", "parse_gate"]

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


@dataclass(frozen=True)
class Gate:
    """``key op value``: relative (``+10%``), absolute change (``+5``) or threshold (``250``)."""

    text: str
    key: str
    op: str
    value: float
    kind: str  # "relative", "delta" or "threshold"

    def check(self, a: Benchmark, b: Benchmark) -> tuple[bool, str]:
        """``(failed, explanation)`` for one pair of benchmarks."""
        va, vb = metric_value(a, self.key), metric_value(b, self.key)
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
        change = _change(va, vb)
        if change is not None and math.isfinite(change):
            shown += f" ({change * 100:+.1f}%)"
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
def compare(
    baseline: Path, candidate: Path, gates: tuple[str, ...], metrics: tuple[str, ...]
) -> None:
    """Compare two reports (A = BASELINE, B = CANDIDATE) benchmark by benchmark."""
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
    console = Console()
    pairs = list(zip(a_report.benchmarks, b_report.benchmarks, strict=False))
    if len(a_report.benchmarks) != len(b_report.benchmarks):
        console.print(
            f"[yellow]warning:[/] {baseline} has {len(a_report.benchmarks)} benchmarks, "
            f"{candidate} has {len(b_report.benchmarks)}; comparing the first {len(pairs)}",
            highlight=False,
        )
    for a, b in pairs:
        title = a.label if a.label == b.label else f"{a.label} vs {b.label}"
        table = Table(title=f"#{a.id} {title}", title_justify="left", box=box.SIMPLE_HEAVY)
        for header in ("metric", "A", "B", "change", "sig."):
            table.add_column(header, justify="left" if header == "metric" else "right")
        for key in keys:
            va, vb = metric_value(a, key), metric_value(b, key)
            change = _change(va, vb)
            sig = significant(a, b, key)
            table.add_row(
                key,
                _num(va),
                _num(vb),
                "-" if change is None else f"{change * 100:+.1f}%",
                "-" if sig is None else ("*" if sig else ""),
            )
        console.print(table)
    failures = 0
    # A baseline benchmark the candidate lacks (a run cut short) fails every gate: a gate that
    # cannot be checked must not pass.
    missing = a_report.benchmarks[len(pairs) :]
    for gate in parsed:
        for a, b in pairs:
            failed, shown = gate.check(a, b)
            if failed:
                failures += 1
                console.print(
                    f"[bold red]FAIL[/] {gate.text}: #{a.id} {b.label}: {shown}", highlight=False
                )
        for a in missing:
            failures += 1
            console.print(
                f"[bold red]FAIL[/] {gate.text}: #{a.id} {a.label}: not in {candidate}",
                highlight=False,
            )
    if parsed:
        if failures:
            console.print(f"{failures} gate check(s) failed", highlight=False)
            # SystemExit, not click's Exit: with standalone_mode=False click would turn Exit
            # into a return value that `python -m guidellm` drops.
            sys.exit(1)
        console.print(f"[green]all {len(parsed)} gate(s) passed[/]", highlight=False)
