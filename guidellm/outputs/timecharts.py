"""Charts of one benchmark over time for the HTML report: its time slices as lines.

Rate (achieved, and intended when the strategy says), TTFT/ITL and request latency p50/p99
per slice, with stage boundaries as labelled vertical lines (docs/metrics.md: time slices).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from guidellm.benchmark.report import Benchmark, TimeSlices

__all__ = ["intended_rates", "time_charts"]


def intended_rates(b: Benchmark, ts: TimeSlices) -> list[float | None] | None:
    """The rate the strategy intended at each slice's midpoint, or ``None`` when it did not
    ask for a rate (a concurrency stage, a closed loop)."""
    mids = [(s + e) / 2 for s, e in zip(ts.start_s, ts.end_s, strict=True)]
    if b.stages:
        out: list[float | None] = []
        for mid in mids:
            value = None
            for st in b.stages:
                if st.start_s <= mid < st.end_s and st.rate is not None:
                    to = st.rate if st.ramp_to is None else st.ramp_to
                    value = st.rate + (to - st.rate) * (mid - st.start_s) / (st.end_s - st.start_s)
            out.append(value)
        return out if any(v is not None for v in out) else None
    rate = b.strategy.get("rate")
    if isinstance(rate, (int, float)) and not isinstance(rate, bool):
        return [float(rate)] * len(mids)
    return None


def time_charts(b: Benchmark) -> list[str]:
    """The over-time charts of one benchmark (none without time slices)."""
    from guidellm.outputs.svg import Series, line_chart

    ts = b.timeslices
    if ts is None or not len(ts):
        return []
    xs = [(s + e) / 2 for s, e in zip(ts.start_s, ts.end_s, strict=True)]
    markers = [(st.start_s, f"stage {st.index}") for st in b.stages or ()]
    width = f"{ts.size:g} s slices" + (" (widened)" if ts.widened else "")
    x_label = f"seconds from start ({width})"
    rate = [Series("achieved req/s", xs, ts.requests_per_second)]
    intended = intended_rates(b, ts)
    if intended is not None:
        rate.append(Series("intended req/s", xs, intended, dashed=True))
    # A rate and a concurrency never share an axis: the concurrency has its own, on the right.
    rate.append(Series("mean concurrency", xs, ts.concurrency_mean, unit="requests", right=True))
    latency_ms = [
        Series("TTFT p50", xs, ts.ttft_ms_p50),
        Series("TTFT p99", xs, ts.ttft_ms_p99, dashed=True),
        Series("ITL p50", xs, ts.itl_ms_p50),
        Series("ITL p99", xs, ts.itl_ms_p99, dashed=True),
    ]
    latency_s = [
        Series("latency p50", xs, ts.latency_s_p50),
        Series("latency p99", xs, ts.latency_s_p99, dashed=True),
    ]
    charts = (
        ("rate over time", rate, "req/s", "requests in flight"),
        ("TTFT and ITL over time", latency_ms, "ms", ""),
        ("request latency over time", latency_s, "s", ""),
    )
    return [
        line_chart(
            f"{b.label}: {title}",
            series,
            x_label=x_label,
            y_label=y_label,
            y2_label=y2_label,
            markers=markers,
            dots=False,
        )
        for title, series, y_label, y2_label in charts
    ]
