"""One benchmark's server view, from the scrapes taken around and during it.

Counter increases run from the last scrape answered before the benchmark's first request to
the first scrape asked for after its last answer (both outside the load: the numbers count
this benchmark only, ``exact``). Gauges are summarised over the scrapes in between, server
histograms by their increase, and the cross-check sets the client's counts beside the
server's with a stated tolerance (docs/metrics.md, "The server's view").
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from guidellm.telemetry.catalog import MEANINGS

if TYPE_CHECKING:
    from guidellm.benchmark.report import Benchmark
    from guidellm.telemetry.models import CrossCheck, ServerMetrics
    from guidellm.telemetry.scraper import ClientLog, ScrapeLog, Telemetry

__all__ = ["ClientTotals", "Span", "histogram_quantile", "summarize", "summarize_run"]

#: Raw series kept per endpoint of an unknown server (the report stays small).
MAX_RAW_SERIES = 400
_COUNTERS = [m for m, v in MEANINGS.items() if v.kind == "counter"]
_GAUGES = [m for m, v in MEANINGS.items() if v.kind == "gauge"]
_HISTOGRAMS = [m for m, v in MEANINGS.items() if v.kind == "histogram"]
#: Counters charted as rates over time.
_RATES = ("requests", "prompt_tokens", "generation_tokens", "preemptions")


@dataclass(frozen=True)
class ClientTotals:
    """What the client counted over the whole benchmark (every result, window or not)."""

    successful: int = 0
    errored: int = 0
    incomplete: int = 0
    prompt_tokens: float = 0.0
    output_tokens: float = 0.0
    #: Mean TTFT of the successful requests in the measured window (ms).
    ttft_mean_ms: float | None = None

    @classmethod
    def of(
        cls, tally: Mapping[str, Any], benchmark: Benchmark, *, streamed: bool = True
    ) -> ClientTotals:
        """From an aggregator's running tally (every result) and its compiled benchmark; a
        client TTFT of answers that were not streamed is their whole latency, not comparable
        with the server's (left out)."""
        requests, output, tokens = tally["requests"], tally["output_tokens"], tally["tokens"]
        ttft = benchmark.metrics.time_to_first_token_ms.successful
        return cls(
            successful=int(requests[0]),
            errored=int(requests[1]),
            incomplete=int(requests[2]),
            output_tokens=float(output.sum()),
            prompt_tokens=float(tokens.sum() - output.sum()),
            ttft_mean_ms=ttft.mean if ttft.count and streamed else None,
        )


def histogram_quantile(q: float, bounds: Sequence[float], cumulative: Sequence[float]) -> float:
    """The ``q`` quantile of a cumulative histogram, linear inside its bucket (Prometheus'
    rule): in the ``+Inf`` bucket, the largest finite bound."""
    total = cumulative[-1]
    if total <= 0:
        return math.nan
    rank = q * total
    lower, below = 0.0, 0.0
    for bound, cum in zip(bounds, cumulative, strict=True):
        if cum >= rank:
            if math.isinf(bound):
                return lower
            if cum == below:
                return bound
            return lower + (bound - lower) * (rank - below) / (cum - below)
        lower, below = bound, cum
    return lower


@dataclass(frozen=True)
class Span:
    """One benchmark on the perf clock: its ``start`` (the time axis' origin) and ``end``,
    when its last answer was in (``drained``), and its neighbours' edges, so that a scrape
    taken while another benchmark ran is never one of its edges."""

    start: float
    end: float
    drained: float | None = None
    previous_end: float | None = None
    next_start: float | None = None


class _View:
    """One endpoint's scrapes around one benchmark."""

    def __init__(
        self, log: ScrapeLog, span: Span, slack: float = 0.0, model: str | None = None
    ) -> None:
        with log.lock:
            n = len(log.rows)
            t0 = list(log.t0[:n])
            t1 = list(log.t1[:n])
            ticks = list(log.ticks[:n])
            self.keys = dict(log.keys)
            failures = list(zip(log.failed_at, log.failed_why, strict=True))
            skipped = list(log.skipped_at)
        start, end = span.start, span.end
        drained = max(span.drained or end, end)
        self.log = log
        self.catalog = log.catalog
        before = [i for i in range(n) if t1[i] <= start]
        after = [i for i in range(n) if t0[i] >= drained]
        inside = [i for i in range(n) if t1[i] > start and t0[i] < end]
        self.base = before[-1] if before else (inside[0] if inside else None)
        self.close = after[0] if after else (inside[-1] if inside else None)
        # Exact: the baseline was asked after the previous benchmark's last answer and the
        # closing scrape answered before the next benchmark's first request.
        self.exact = bool(
            before
            and after
            and (span.previous_end is None or t0[before[-1]] >= span.previous_end)
            and (span.next_start is None or t1[after[0]] <= span.next_start)
        )
        lo = self.base if self.base is not None else 0
        hi = self.close if self.close is not None else -1
        self.rows = list(range(lo, hi + 1)) if hi >= lo else []
        self.inside = inside
        self.times = [(t0[i] + t1[i]) / 2.0 - start for i in range(n)]
        self.ticks = ticks
        lo_t, hi_t = start - slack, drained + slack
        self.errors: dict[str, int] = {}
        for t, why in failures:
            if lo_t <= t <= hi_t:
                self.errors[why] = self.errors.get(why, 0) + 1
        self.failed = sum(self.errors.values())
        self.skipped = sum(1 for t in skipped if lo_t <= t <= hi_t)
        # A server that labels its series by model: read the benchmark's model's own.
        mine = f"@{model}" if model else ""
        self.suffix = mine if mine and any(k.endswith(mine) for k in self.keys) else ""
        self.model = model if self.suffix else None

    def get(self, row: int, key: str) -> float:
        """Sample ``key`` (the benchmark's model's, when the server labels models) in a scrape."""
        return self.log.value(row, key + self.suffix)

    def pick(self, meaning: str, rows: Sequence[int]) -> list[str] | None:
        """The first of the catalog's names for ``meaning`` present in all ``rows``."""
        if self.catalog is None:
            return None
        for alternative in self.catalog.metrics.get(meaning, ()):
            parts = alternative.split("+")
            keys = parts
            if MEANINGS[meaning].kind == "histogram":
                keys = [parts[0] + "_count"]
            if all(not math.isnan(self.get(r, k)) for r in rows for k in keys):
                return parts
        return None

    def scale(self, meaning: str) -> float:
        return self.catalog.scale.get(meaning, 1.0) if self.catalog else 1.0

    def value(self, row: int, parts: Sequence[str], combine: str = "sum") -> float:
        total = sum(self.get(row, p) for p in parts)
        if combine == "mean":
            n = sum(self.get(row, p + "#n") for p in parts)
            return total / n if n > 0 else math.nan
        return total


def _gauge_summary(values: list[float]) -> dict[str, Any]:
    import numpy as np

    clean = [v for v in values if not math.isnan(v)]
    if not clean:
        return {"samples": 0}
    arr = np.asarray(clean)
    return {
        "mean": float(arr.mean()),
        "p90": float(np.percentile(arr, 90)),
        "max": float(arr.max()),
        "samples": len(clean),
    }


def _histogram(view: _View, meaning: str, parts: list[str]) -> dict[str, Any] | None:
    """A histogram's increase over the benchmark: ``count``, ``sum`` (seconds, scaled) and the
    cumulative count per bucket bound, to be added over endpoints and then summarised."""
    name = parts[0]
    base, close = view.base, view.close
    if base is None or close is None:
        return None
    prefix, suffix = name + "_bucket|", view.suffix
    count = view.get(close, name + "_count") - view.get(base, name + "_count")
    total = view.get(close, name + "_sum") - view.get(base, name + "_sum")
    if math.isnan(count) or count < 0:
        return None
    buckets = {}
    for key in view.keys:
        if not key.startswith(prefix):
            continue
        le, _, model = key[len(prefix) :].partition("@")
        if (model and f"@{model}" == suffix) or (not model and not suffix):
            bucket = key.removesuffix(suffix)
            buckets[float(le)] = view.get(close, bucket) - view.get(base, bucket)
    scale = view.scale(meaning)
    return {"count": count, "sum": total * scale, "buckets": buckets, "scale": scale}


def _histogram_summary(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Endpoints' histogram increases added up (buckets only when every endpoint has the same
    bounds), in milliseconds."""
    count = sum(p["count"] for p in parts)
    out: dict[str, Any] = {"count": count}
    if count > 0:
        out["mean_ms"] = sum(p["sum"] for p in parts) / count * 1000.0
    bounds = sorted(parts[0]["buckets"])
    if not bounds or any(sorted(p["buckets"]) != bounds for p in parts) or count <= 0:
        return out
    cumulative = [sum(p["buckets"][b] for p in parts) for b in bounds]
    if any(math.isnan(c) for c in cumulative):
        return out
    for q, key in ((0.5, "p50_ms"), (0.9, "p90_ms"), (0.99, "p99_ms")):
        value = histogram_quantile(q, bounds, cumulative)
        out[key] = None if math.isnan(value) else value * 1000.0 * parts[0]["scale"]
    return out


def _endpoint_numbers(view: _View) -> dict[str, Any]:
    """Counters, gauges, histograms and the per-scrape series of one endpoint."""
    counters: dict[str, float] = {}
    histograms: dict[str, dict[str, Any]] = {}
    gauges: dict[str, list[float]] = {}
    series: dict[str, list[float]] = {}
    base, close = view.base, view.close
    rows = view.rows
    if base is not None and close is not None:
        for meaning in _COUNTERS:
            parts = view.pick(meaning, (base, close))
            if parts is not None:
                delta = view.value(close, parts) - view.value(base, parts)
                if delta >= 0:  # a counter that went down: the server restarted
                    counters[meaning] = delta * view.scale(meaning)
                if meaning in _RATES:
                    values = [view.value(r, parts) for r in rows]
                    rates = [math.nan]
                    for k in range(1, len(rows)):
                        dt = view.times[rows[k]] - view.times[rows[k - 1]]
                        dv = values[k] - values[k - 1]
                        rates.append(dv / dt if dt > 0 and dv >= 0 else math.nan)
                    series[meaning + "_per_s"] = rates
        for meaning in _HISTOGRAMS:
            parts = view.pick(meaning, (base, close))
            if parts is not None:
                summary = _histogram(view, meaning, parts)
                if summary is not None:
                    histograms[meaning] = summary
    for meaning in _GAUGES:
        combine = MEANINGS[meaning].combine
        parts = view.pick(meaning, view.rows[-1:] if view.rows else ())
        if parts is None:
            continue
        values = [view.value(r, parts, combine) * view.scale(meaning) for r in rows]
        series[meaning] = values
        gauges[meaning] = [view.value(r, parts, combine) * view.scale(meaning) for r in view.inside]
    return {"counters": counters, "histograms": histograms, "gauges": gauges, "series": series}


def _raw(view: _View) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for key in view.keys:
        plain = key.partition("{")[0]  # a raw series' labels may hold any character
        if "#n" in plain or "|" in plain or "@" in plain or len(out) >= MAX_RAW_SERIES:
            continue
        values = [view.log.value(r, key) for r in view.rows]
        clean = [v for v in values if not math.isnan(v)]
        family = key.split("{", 1)[0]
        kind = next(
            (
                view.log.types[f]
                for f in (family, family.removesuffix("_total"), family.rsplit("_", 1)[0])
                if f in view.log.types
            ),
            "unknown",
        )
        out[key] = {
            "type": kind,
            "first": clean[0] if clean else None,
            "last": clean[-1] if clean else None,
            "min": min(clean) if clean else None,
            "max": max(clean) if clean else None,
            "values": [None if math.isnan(v) else v for v in values],
        }
    return out


def _client_series(log: ClientLog, start: float, end: float, slack: float) -> dict[str, Any]:
    n = len(log.t)
    idx = [i for i in range(n) if start - slack <= log.t[i] <= end + slack]
    out: dict[str, list[Any]] = {"t_s": [], "cpu_percent": [], "loop_lag_ms": []}
    for i in idx:
        out["t_s"].append(round(log.t[i] - start, 3))
        if i > 0 and log.t[i] > log.t[i - 1]:
            busy = (log.cpu_s[i] - log.cpu_s[i - 1]) / (log.t[i] - log.t[i - 1]) * 100.0
            out["cpu_percent"].append(round(max(busy, 0.0), 2))
        else:
            out["cpu_percent"].append(None)
        out["loop_lag_ms"].append(round(log.lag_ms[i], 3))
    return out


def _crosscheck(
    counters: dict[str, float], histograms: dict[str, Any], totals: ClientTotals
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    uncertain = totals.errored + totals.incomplete
    finished = totals.successful + totals.errored + totals.incomplete
    per_request = totals.output_tokens / finished if finished else 0.0

    def count_row(name: str, client: float, server: float | None, tol: float, rule: str) -> None:
        row: dict[str, Any] = {"name": name, "client": client, "server": server, "rule": rule}
        if server is not None:
            row["difference"] = client - server
            row["tolerance"] = tol
            row["agree"] = abs(client - server) <= tol + 1e-9
        rows.append(row)

    count_row(
        "requests",
        float(totals.successful),
        counters.get("requests"),
        float(uncertain),
        "client successful vs server finished; tolerance: errored + incomplete requests "
        "(the server's count of those depends on when it saw the failure)",
    )
    for name, client, server, mean in (
        ("output_tokens", totals.output_tokens, counters.get("generation_tokens"), per_request),
        (
            "prompt_tokens",
            totals.prompt_tokens,
            counters.get("prompt_tokens"),
            totals.prompt_tokens / finished if finished else 0.0,
        ),
    ):
        count_row(
            name,
            client,
            server,
            math.ceil(0.005 * client + totals.incomplete * mean),
            "every result of the benchmark; tolerance: 0.5 % plus a mean request's tokens per "
            "incomplete request (the server may or may not have processed a cut-off one)",
        )
    ttft = histograms.get("ttft", {}).get("mean_ms")
    if totals.ttft_mean_ms is not None and ttft is not None:
        tol = max(10.0, 0.25 * ttft)
        rows.append(
            {
                "name": "ttft_mean_ms",
                "client": totals.ttft_mean_ms,
                "server": ttft,
                "difference": totals.ttft_mean_ms - ttft,
                "tolerance": tol,
                "agree": abs(totals.ttft_mean_ms - ttft) <= tol,
                "rule": "the difference is the network plus the client; tolerance: "
                "10 ms or 25 % of the server's mean",
            }
        )
    return rows


def _combine_series(views: list[_View], parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One time axis for every endpoint: scrapes of the same tick add up (ratios average)."""
    if len(views) == 1:
        view, numbers = views[0], parts[0]
        return {
            "t_s": [round(view.times[r], 3) for r in view.rows],
            "values": {
                k: [None if math.isnan(v) else v for v in vs] for k, vs in numbers["series"].items()
            },
        }
    by_tick: dict[int, dict[str, list[float]]] = {}
    times: dict[int, list[float]] = {}
    for view, numbers in zip(views, parts, strict=True):
        for k, r in enumerate(view.rows):
            tick = view.ticks[r]
            times.setdefault(tick, []).append(view.times[r])
            slot = by_tick.setdefault(tick, {})
            for name, values in numbers["series"].items():
                slot.setdefault(name, []).append(values[k])
    names = sorted({n for p in parts for n in p["series"]})
    ticks = sorted(by_tick)
    out: dict[str, list[float | None]] = {n: [] for n in names}
    for tick in ticks:
        for name in names:
            values = by_tick[tick].get(name, [])
            mean = MEANINGS.get(name, MEANINGS["requests"]).combine == "mean"
            if len(values) != len(views) or any(math.isnan(v) for v in values):
                out[name].append(None)
            else:
                out[name].append(sum(values) / len(values) if mean else sum(values))
    return {"t_s": [round(sum(times[t]) / len(times[t]), 3) for t in ticks], "values": out}


def summarize(
    telemetry: Telemetry, span: Span, totals: ClientTotals
) -> tuple[ServerMetrics, list[str]]:
    """The server view of one benchmark (``span``, perf clock), and the warnings it raises
    (failed scrapes, disagreements), each one line."""
    from guidellm.telemetry.models import ServerMetrics

    start, end = span.start, span.end
    # Failures just outside the benchmark (its edge scrapes) count as its own.
    slack = telemetry.interval + telemetry.timeout
    views = [_View(log, span, slack, telemetry.model) for log in telemetry.logs]
    parts = [_endpoint_numbers(view) for view in views]
    warnings: list[str] = []
    endpoints: list[dict[str, Any]] = []
    counters: dict[str, float] = {}
    raw: dict[str, Any] = {}
    notes: list[str] = []
    for view, numbers in zip(views, parts, strict=True):
        log = view.log
        endpoints.append(
            {
                "url": log.url,
                "server": log.catalog.name if log.catalog else None,
                "model": view.model,
                "scrapes": len(view.inside),
                "failed": view.failed,
                "skipped": view.skipped,
                "errors": view.errors,
                "baseline_s": None if view.base is None else round(view.times[view.base], 3),
                "closing_s": None if view.close is None else round(view.times[view.close], 3),
                "exact": view.exact,
            }
        )
        for name, value in numbers["counters"].items():
            counters[name] = counters.get(name, 0.0) + value
        if log.raw:
            prefix = f"{log.url} " if len(views) > 1 else ""
            raw.update({prefix + k: v for k, v in _raw(view).items()})
        if log.catalog is not None:
            notes.extend(n for n in log.catalog.notes if n not in notes)
    failed = [(e, v) for e, v in zip(endpoints, views, strict=True) if v.failed or v.base is None]
    if failed:
        described = "; ".join(
            f"{e['url']}: {v.failed} failed"
            + (f" ({', '.join(sorted(e['errors']))})" if e["errors"] else "")
            + ("" if v.base is not None else ", no scrape answered")
            for e, v in failed
        )
        warnings.append(
            f"server metrics incomplete: {described}; the load and the client's numbers are "
            "unaffected, the server's side is partial"
        )
    histograms: dict[str, Any] = {}
    for meaning in _HISTOGRAMS:
        per = [p["histograms"][meaning] for p in parts if meaning in p["histograms"]]
        if per and len(per) == len(parts):
            histograms[meaning] = _histogram_summary(per)
    series = _combine_series(views, parts)
    gauges: dict[str, Any] = {}
    if len(views) == 1:
        gauges = {k: _gauge_summary(v) for k, v in parts[0]["gauges"].items()}
    else:  # the combined series (one value per round), during the load only
        length = end - start
        for meaning in _GAUGES:
            values = series["values"].get(meaning)
            if values is not None:
                gauges[meaning] = _gauge_summary(
                    [
                        math.nan if v is None else v
                        for t, v in zip(series["t_s"], values, strict=True)
                        if 0.0 <= t <= length
                    ]
                )
    crosscheck = _crosscheck(counters, histograms, totals)
    for row in crosscheck:
        if row.get("agree") is False:
            warnings.append(
                f"server and client disagree on {row['name']}: client {_fmt(row['client'])}, "
                f"server {_fmt(row['server'])} (tolerance {_fmt(row['tolerance'])})"
            )
    catalogs = {e["server"] for e in endpoints}
    client = telemetry.client
    metrics = ServerMetrics.model_validate(
        {
            "interval_s": telemetry.interval,
            "server": next(iter(catalogs)) if len(catalogs) == 1 else None,
            "endpoints": endpoints,
            "counters": counters,
            "gauges": gauges,
            "histograms": histograms,
            "crosscheck": crosscheck,
            "series": series,
            "client": _client_series(client, start, end, telemetry.interval) if client.t else None,
            "raw": raw or None,
            "notes": notes,
        }
    )
    return metrics, warnings


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:,.1f}"


def crosscheck_rows(metrics: ServerMetrics) -> list[CrossCheck]:
    """The cross-check rows that have a server number."""
    return [row for row in metrics.crosscheck if row.server is not None]


def summarize_run(
    telemetry: Telemetry, spans: Sequence[tuple[float, float, float, ClientTotals]]
) -> list[tuple[ServerMetrics | None, list[str], str | None]]:
    """Every benchmark's view, from its ``(start, end, drained, totals)`` and its neighbours':
    ``(view, warnings, None)``, or ``(None, [], why)`` when that benchmark's failed (one
    benchmark's failure costs only its own view)."""
    out: list[tuple[ServerMetrics | None, list[str], str | None]] = []
    for k, (start, end, drained, totals) in enumerate(spans):
        span = Span(
            start,
            end,
            drained,
            previous_end=spans[k - 1][2] if k else None,
            next_start=spans[k + 1][0] if k + 1 < len(spans) else None,
        )
        try:
            server, warnings = summarize(telemetry, span, totals)
        except Exception as exc:
            out.append((None, [], f"{type(exc).__name__}: {exc}"))
            continue
        out.append((server, warnings, None))
    return out
