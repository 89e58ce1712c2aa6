"""Charts of one benchmark over time for the HTML report: its time slices as lines.

Rate (achieved, and intended when the strategy says), TTFT/ITL and request latency p50/p99
per slice, with stage boundaries as labelled vertical lines (docs/metrics.md: time slices).
When the server was scraped, its queue and KV-cache usage follow the TTFT chart, on the same
time axis, so that a reader sees why latency bends; then the client's own CPU and event-loop
lag, which say whether the client kept up (a failed scrape breaks the line).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from guidellm.benchmark.report import Benchmark, TimeSlices
    from guidellm.outputs.svg import Series

__all__ = ["intended_rates", "server_series", "time_charts"]


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


def server_series(b: Benchmark) -> list[tuple[str, list[Series], str, str]]:
    """``(title, series, y label, right y label)`` of the server's and the client's charts
    over time (none without a scraped server or with nothing to draw). Only the samples taken
    during the benchmark are drawn: the scrapes just before and after it (the counters'
    baseline and closing reads) would stretch the time axis past its slices."""
    from guidellm.outputs.svg import Series

    server = b.server
    if server is None:
        return []

    def during(
        t_s: list[float], columns: dict[str, list[float | None]]
    ) -> tuple[list[float], dict[str, list[float | None]]]:
        keep = [i for i, t in enumerate(t_s) if 0.0 <= t <= b.duration]
        return [t_s[i] for i in keep], {
            k: [v[i] if i < len(v) else None for i in keep] for k, v in columns.items()
        }

    out: list[tuple[str, list[Series], str, str]] = []
    t, values = during(server.series.t_s, server.series.values)
    queue = [
        Series(name, t, values[key], unit="requests", gaps=True)
        for key, name in (("requests_running", "running"), ("requests_waiting", "waiting"))
        if key in values
    ]
    if queue:
        out.append(("server queue (requests running and waiting)", queue, "requests", ""))
    if "kv_cache_usage" in values:
        percent = [None if v is None else v * 100 for v in values["kv_cache_usage"]]
        out.append(
            (
                "KV-cache usage",
                [Series("KV-cache usage", t, percent, unit="%", gaps=True)],
                "% of the KV cache",
                "",
            )
        )
    if server.client is not None:
        c = server.client
        ct, own = during(c.t_s, {"cpu": c.cpu_percent, "lag": c.loop_lag_ms})
        if ct:
            # Percent and milliseconds never share an axis: the lag has its own, on the right.
            client = [
                Series("client CPU", ct, own["cpu"], unit="% of a core", gaps=True),
                Series("worst loop lag", ct, own["lag"], unit="ms", right=True, gaps=True),
            ]
            out.append(
                ("client CPU and event-loop lag", client, "CPU % of one core", "loop lag ms")
            )
    return out


def _span(b: Benchmark) -> tuple[float, float]:
    """The time every over-time chart of ``b`` covers: the benchmark and its slices."""
    ts = b.timeslices
    times = [0.0, b.duration, *(ts.start_s[:1] if ts else ()), *(ts.end_s[-1:] if ts else ())]
    return min(times), max(times)


def time_charts(b: Benchmark) -> list[str]:
    """The over-time charts of one benchmark: its time slices (none without), then the
    server's and the client's samples (none without a scraped server)."""
    from guidellm.outputs.svg import Series, line_chart

    markers = [(st.start_s, f"stage {st.index}") for st in b.stages or ()]
    scraped = [(*chart, "seconds from start (scraped samples)") for chart in server_series(b)]
    charts: list[tuple[str, list[Series], str, str, str]] = []
    ts = b.timeslices
    if ts is not None and len(ts):
        xs = [(s + e) / 2 for s, e in zip(ts.start_s, ts.end_s, strict=True)]
        width = f"{ts.size:g} s slices" + (" (widened)" if ts.widened else "")
        x_label = f"seconds from start ({width})"
        rate = [Series("achieved req/s", xs, ts.requests_per_second)]
        intended = intended_rates(b, ts)
        if intended is not None:
            rate.append(Series("intended req/s", xs, intended, dashed=True))
        # A rate and a concurrency never share an axis: the concurrency has its own, on the
        # right.
        rate.append(
            Series("mean concurrency", xs, ts.concurrency_mean, unit="requests", right=True)
        )
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
        by_rate = ("rate over time", rate, "req/s", "requests in flight", x_label)
        by_ttft = ("TTFT and ITL over time", latency_ms, "ms", "", x_label)
        by_latency = ("request latency over time", latency_s, "s", "", x_label)
        # Two charts a row on a wide page: with the server's charts, the TTFT chart starts a
        # row and the server's queue sits beside it.
        charts = [by_rate, by_latency, by_ttft] if scraped else [by_rate, by_ttft, by_latency]
    # With the server's charts every x axis spans the slices and the samples: they line up.
    span = _span(b) if scraped else None
    return [
        line_chart(
            f"{b.label}: {title}",
            series,
            x_label=x_label,
            y_label=y_label,
            y2_label=y2_label,
            markers=markers,
            dots=False,
            x_range=span,
        )
        for title, series, y_label, y2_label, x_label in charts + scraped
    ]
