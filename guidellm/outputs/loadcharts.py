"""The HTML report's charts across benchmarks: latency, throughput and rate against the load.

Each point names its benchmark (a ``#n`` tag, the label in its tooltip, with units); the
latency points carry their 95 % intervals as error bars; the run's capacity (a saturation
point or an SLO capacity) is a marked line with its bracket shaded; a rate and a
concurrency are never drawn on one axis; goodput is drawn only when SLOs were given.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from guidellm.benchmark.capacity import Capacity
    from guidellm.benchmark.report import Benchmark, Report
    from guidellm.outputs.svg import Mark, Series

__all__ = ["capacity_marks", "load_charts"]


def _x_unit(x_label: str) -> str:
    """The x axis's unit for tooltips: ``req/s`` or ``streams``."""
    return "streams" if x_label.startswith("concurrency") else "req/s"


def _direct(x_label: str, unit: str) -> bool:
    """Whether a value in ``unit`` can be placed on the x axis as it is: an asked rate on the
    target-rate axis, streams on the streams axis. A measured axis is not one (a failing
    benchmark achieves less than it asked), nor is an axis of another unit."""
    if x_label.startswith("concurrency"):
        return unit == "streams"
    return x_label.startswith("target rate") and unit.endswith("/s")


def capacity_marks(cap: Capacity | None, x_label: str, xs: Mapping[int, float]) -> list[Mark]:
    """The capacity as a mark on charts whose x value for benchmark ``i`` is ``xs[i]``. When
    its unit is not the axis's (:func:`_direct`), it is placed at its benchmark's x and its
    bracket at the x of the probes at the bracket's ends; none when it cannot be placed or
    was not found."""
    from guidellm.outputs.capacity_text import capacity_sentence, num
    from guidellm.outputs.svg import Mark

    if cap is None or cap.value is None:
        return []
    x: float | None = cap.value
    bracket = cap.bracket
    if not _direct(x_label, cap.unit):
        x = None if cap.benchmark is None else xs.get(cap.benchmark)
        bracket = None
        if cap.bracket is not None:
            ends = [
                xs.get(next((p.benchmark for p in cap.probes if p.rate == end), -1))
                for end in cap.bracket
            ]
            if ends[0] is not None and ends[1] is not None:
                bracket = (ends[0], ends[1])
    if x is None:
        return []
    short = "saturation" if cap.kind == "saturation" else "SLO capacity"
    unit = "req/s" if cap.unit == "requests/s" else cap.unit
    label = f"{short} {num(cap.value)} {unit}"
    return [Mark(x, label, bracket, title=capacity_sentence(cap), kind=cap.kind)]


def _ordered(report: Report) -> tuple[str, list[float], list[int]]:
    from guidellm.outputs.tables import x_axis

    x_label, xs = x_axis(report.benchmarks)
    return x_label, xs, sorted(range(len(xs)), key=lambda i: xs[i])


def load_charts(report: Report) -> list[str]:
    """TTFT, ITL and request latency (p50/p90/p99 with intervals), throughput, and the
    request rate with the concurrency on its own axis, all against the load."""
    from guidellm.outputs.svg import Series, line_chart

    bms = report.benchmarks
    x_label, all_xs, order = _ordered(report)
    xs = [all_xs[i] for i in order]
    ordered: list[Benchmark] = [bms[i] for i in order]
    labels = [f"#{i} {bms[i].label}" for i in order]
    tags = [f"#{i}" for i in order]
    x_unit = _x_unit(x_label)
    marks = capacity_marks(
        report.capacity, x_label, {b.id: x for b, x in zip(bms, all_xs, strict=True)}
    )

    def pcts(metric: str, unit: str, scale: float = 1.0) -> list[Series]:
        out = []
        for n, key in enumerate(("p50", "p90", "p99")):
            ys: list[float | None] = []
            errors: list[tuple[float, float] | None] = []
            for b in ordered:
                summary = getattr(b.metrics, metric).successful
                value = getattr(summary.percentiles, key)
                ys.append(None if value is None else value * scale)
                ci = (summary.ci95 or {}).get(key)
                errors.append(None if not ci else (ci[0] * scale, ci[1] * scale))
            out.append(
                Series(
                    key,
                    xs,
                    ys,
                    dashed=key != "p50",
                    labels=labels,
                    tags=tags if n == 0 else None,
                    errors=errors,
                    unit=unit,
                )
            )
        return out

    def rates(
        name: str,
        values: Sequence[float | None],
        unit: str,
        *,
        tagged: bool = False,
        dashed: bool = False,
        right: bool = False,
    ) -> Series:
        return Series(
            name,
            xs,
            values,
            dashed=dashed,
            labels=labels,
            tags=tags if tagged else None,
            unit=unit,
            right=right,
        )

    m = [b.metrics for b in ordered]
    requests = [
        rates(
            "successful req/s", [x.requests_per_second.successful for x in m], "req/s", tagged=True
        )
    ]
    if any(x.goodput is not None for x in m):
        requests.append(
            rates(
                "goodput req/s",
                [None if x.goodput is None else x.goodput.requests_per_second for x in m],
                "req/s",
                dashed=True,
            )
        )
    requests.append(
        rates(
            "mean concurrency",
            [x.request_concurrency.total.mean for x in m],
            "requests",
            right=True,
        )
    )

    def chart(title: str, series: list[Series], y_label: str, y2_label: str = "") -> str:
        return line_chart(
            title,
            series,
            x_label=x_label,
            y_label=y_label,
            marks=marks,
            x_unit=x_unit,
            y2_label=y2_label,
        )

    throughput = [
        rates(
            "output tokens/s",
            [x.output_tokens_per_second.successful for x in m],
            "tokens/s",
            tagged=True,
        ),
        rates(
            "total tokens/s", [x.tokens_per_second.successful for x in m], "tokens/s", dashed=True
        ),
    ]
    return [
        chart("Time to first token", pcts("time_to_first_token_ms", "ms"), "ms"),
        chart("Inter-token latency", pcts("inter_token_latency_ms", "ms"), "ms"),
        chart("Request latency", pcts("request_latency", "s"), "s"),
        chart("Throughput", throughput, "tokens/s"),
        chart("Request rate and concurrency", requests, "requests/s", "requests in flight"),
    ]
