"""The server's view in the console and HTML tables: what the scraped server said about itself
during each benchmark, and where its numbers and the client's agree (docs/metrics.md, "The
server's view").

Only benchmarks with ``server`` have rows; a report without any (an older report, a run that
scraped nothing) gets no table at all. Each table fits an 80-column terminal.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from guidellm.outputs.tables import Table, fmt

if TYPE_CHECKING:
    from guidellm.benchmark.report import Benchmark
    from guidellm.telemetry.models import ServerMetrics

__all__ = ["CROSSCHECK_LEGEND", "crosscheck_table", "prefix_hit_ratio", "server_tables"]

#: Printed under the cross-check table.
CROSSCHECK_LEGEND = "diff = client - server; for TTFT that is the network plus the client"


def _count(value: float | None) -> str:
    """A counter's increase: an integer when it is one."""
    if value is None:
        return "-"
    return fmt(int(value)) if float(value).is_integer() else fmt(value, 1)


def _gauge(server: ServerMetrics, meaning: str, scale: float = 1.0) -> str:
    """``mean/max`` of a gauge in one cell (``-`` when the server did not expose it): the
    table fits 80 columns, and sorting the HTML column sorts by the mean."""
    g = server.gauges.get(meaning)
    if g is None or g.mean is None:
        return "-"
    top = "-" if g.max is None else fmt(g.max * scale, 1 if scale != 1.0 else 0)
    return f"{fmt(g.mean * scale, 1)}/{top}"


def prefix_hit_ratio(server: ServerMetrics) -> float | None:
    """Prefix-cache hits over queries (the counters' increases), else the server's own hit
    ratio gauge's mean; ``None`` when it exposes neither (or had no query)."""
    hits = server.counters.get("prefix_cache_hits")
    queries = server.counters.get("prefix_cache_queries")
    if hits is not None and queries:
        return hits / queries
    gauge = server.gauges.get("prefix_cache_hit_ratio")
    return None if gauge is None else gauge.mean


def _load_row(b: Benchmark, server: ServerMetrics) -> list[str]:
    ratio = prefix_hit_ratio(server)
    return [
        b.label,
        server.server or "-",
        _gauge(server, "requests_running"),
        _gauge(server, "requests_waiting"),
        _gauge(server, "kv_cache_usage", 100.0),
        fmt(None if ratio is None else ratio * 100, 1),
        _count(server.counters.get("preemptions")),
    ]


def _ttft_row(b: Benchmark, server: ServerMetrics) -> list[str]:
    mine = server.histograms.get("ttft")
    queue = server.histograms.get("queue_time")
    client = b.metrics.time_to_first_token_ms.successful
    return [
        b.label,
        fmt(mine.mean_ms if mine else None, 1),
        fmt(mine.p90_ms if mine else None, 1),
        fmt(queue.mean_ms if queue else None, 1),
        fmt(client.mean, 1),
        fmt(client.percentiles.p90, 1),
    ]


def _has_ttft(b: Benchmark, server: ServerMetrics) -> bool:
    """Whether the server measured a TTFT, or the client did (pooling requests have none)."""
    mine = server.histograms.get("ttft")
    return mine is not None and (
        mine.mean_ms is not None or bool(b.metrics.time_to_first_token_ms.successful.count)
    )


def _value(name: str, value: float | None) -> str:
    """A cross-checked number: milliseconds with decimals, counts as integers."""
    return fmt(value, 1) if name.endswith("_ms") and value is not None else _count(value)


def crosscheck_table(bms: Sequence[Benchmark]) -> Table | None:
    """One row per benchmark and per number both sides gave; ``None`` when none has one."""
    from guidellm.telemetry.summary import crosscheck_rows

    rows = []
    for b in bms:
        if b.server is None:
            continue
        for c in crosscheck_rows(b.server):
            agrees = "-" if c.agree is None else ("yes" if c.agree else "NO")
            rows.append(
                [
                    b.label,
                    c.name,
                    _value(c.name, c.client),
                    _value(c.name, c.server),
                    _value(c.name, c.difference),
                    _value(c.name, c.tolerance),
                    agrees,
                ]
            )
    if not rows:
        return None
    return Table(
        "Cross-check: the client's numbers beside the server's",
        ["Benchmark", "number", "client", "server", "diff", "tolerance", "agrees"],
        rows,
        note=CROSSCHECK_LEGEND,
    )


def server_tables(bms: Sequence[Benchmark]) -> list[Table]:
    """The server's load (one row per scraped benchmark), its TTFT beside the client's (when
    some server has a TTFT histogram with observations, or its client a TTFT) and the
    cross-check (when some number has both sides); none when no benchmark was scraped."""
    scraped = [(b, b.server) for b in bms if b.server is not None]
    if not scraped:
        return []
    tables = [
        Table(
            "Server (its own metrics; gauges: mean/max over the benchmark's scrapes)",
            ["Benchmark", "server", "mean/max", "mean/max", "mean/max", "hit %", "preempt"],
            [_load_row(b, s) for b, s in scraped],
            [("", 2), ("Running", 1), ("Waiting", 1), ("KV-cache %", 1), ("Prefix", 1), ("", 1)],
        )
    ]
    if any(_has_ttft(b, s) for b, s in scraped):
        tables.append(
            Table(
                "TTFT ms: the server's histogram beside the client's successful requests "
                "(queue: the server's mean queue time)",
                ["Benchmark", "mean", "p90", "queue", "mean", "p90"],
                [_ttft_row(b, s) for b, s in scraped],
                [("", 1), ("Server", 3), ("Client", 2)],
            )
        )
    check = crosscheck_table(bms)
    if check is not None:
        tables.append(check)
    return tables
