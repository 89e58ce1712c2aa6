"""The ``html`` writer: one self-contained file that opens offline in any browser.

Charts are inline SVG drawn here (:mod:`guidellm.outputs.svg`); the only script is a few lines
that toggle series from a legend and sort tables. Nothing is fetched: no CDN, no fonts, no
images. The full report tree is embedded as JSON so the file is its own source data.
"""

from __future__ import annotations

import json
from html import escape
from typing import TYPE_CHECKING, ClassVar

from guidellm.outputs.base import ReportWriter
from guidellm.outputs.files import write_atomically

if TYPE_CHECKING:
    from guidellm.benchmark.report import Report
    from guidellm.outputs.tables import Table

__all__ = ["HTMLWriter", "render_html"]

_CSS = """
:root{color-scheme:light;font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
body{margin:0;background:#f8fafc;color:#0f172a}
header{background:#0f172a;color:#f8fafc;padding:16px 24px}
header h1{margin:0;font-size:20px}header p{margin:4px 0 0;color:#cbd5e1;font-size:13px}
main{padding:16px 24px;max-width:1240px}
h2{font-size:16px;margin:24px 0 8px}
.charts{display:flex;flex-wrap:wrap;gap:16px}
.chart{background:#fff;border:1px solid #e2e8f0;border-radius:6px;margin:0;padding:8px}
.chart figcaption{font-weight:600;font-size:13px;margin:0 0 4px}
.chart svg{display:block;max-width:100%;height:auto}
.grid{stroke:#e2e8f0}.axis{stroke:#64748b}
.tick{font-size:11px;fill:#475569}.label{font-size:12px;fill:#334155}.muted{fill:#94a3b8}
.legend{display:flex;flex-wrap:wrap;gap:6px;margin-top:4px}
.key{font:12px system-ui,sans-serif;border:1px solid #cbd5e1;background:#fff;border-radius:4px;
 padding:2px 6px;cursor:pointer}
.key span{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:4px}
.key.off{opacity:.4}.series.off{display:none}
table{border-collapse:collapse;background:#fff;font-size:13px;margin-bottom:8px}
th,td{border:1px solid #e2e8f0;padding:4px 8px;text-align:right;white-space:nowrap}
th{background:#f1f5f9;cursor:pointer}td:first-child,th:first-child{text-align:left}
.warn{background:#fef9c3;border:1px solid #facc15;padding:6px 10px;border-radius:4px;
 margin:4px 0;font-size:13px}
.point-label{font-size:10px;fill:#334155}.capacity-label{font-size:11px;fill:#b45309;
 font-weight:600}.ci{opacity:.6}.note{font-size:12px;color:#475569;margin:0 0 8px}
.capacity{background:#fff;border:1px solid #f59e0b;border-radius:6px;padding:4px 12px 8px}
.capacity-answer{font-size:15px;font-weight:600}.capacity-facts th{text-align:left}
.capacity-facts td{text-align:left;white-space:normal}.capacity-probes td:last-child{
 text-align:left;white-space:normal}tr.fail td{background:#fef2f2}tr.pass td{background:#f0fdf4}
h3{font-size:14px;margin:12px 0 6px}
pre{background:#fff;border:1px solid #e2e8f0;padding:8px;overflow:auto;font-size:12px}
"""

# Toggle a series from its legend key; sort a table by a clicked header; mark the page ready
# (tests check the script ran to its end).
_JS = """
document.querySelectorAll('.key').forEach(function (key) {
  key.addEventListener('click', function () {
    var fig = key.closest('figure');
    var name = key.getAttribute('data-series');
    key.classList.toggle('off');
    fig.querySelectorAll('g.series').forEach(function (g) {
      if (g.getAttribute('data-series') === name) { g.classList.toggle('off'); }
    });
  });
});
document.querySelectorAll('table.sortable th').forEach(function (th, _i) {
  th.addEventListener('click', function () {
    var table = th.closest('table');
    var index = Array.prototype.indexOf.call(th.parentNode.children, th);
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var asc = th.getAttribute('data-dir') !== 'asc';
    th.setAttribute('data-dir', asc ? 'asc' : 'desc');
    function key(row) {
      var text = row.cells[index].textContent.replace(/,/g, '');
      var num = parseFloat(text);
      return isNaN(num) ? text : num;
    }
    rows.sort(function (a, b) {
      var x = key(a), y = key(b);
      return (x < y ? -1 : x > y ? 1 : 0) * (asc ? 1 : -1);
    });
    rows.forEach(function (row) { body.appendChild(row); });
  });
});
document.documentElement.setAttribute('data-ready', '1');
"""


def _table_html(table: Table) -> str:
    parts = [f"<h2>{escape(table.title)}</h2><table class='sortable'><thead>"]
    if table.groups:
        parts.append("<tr>")
        for label, span in table.groups:
            parts.append(f"<th colspan='{span}'>{escape(label)}</th>")
        parts.append("</tr>")
    parts.append("<tr>" + "".join(f"<th>{escape(h)}</th>" for h in table.headers) + "</tr>")
    parts.append("</thead><tbody>")
    for row in table.rows:
        parts.append("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>")
    parts.append("</tbody></table>")
    if table.note:
        parts.append(f"<p class='note'>{escape(table.note)}</p>")
    return "".join(parts)


def _capacity_html(report: Report) -> str:
    """The run's answer first: the sentence, the rule and bracket, then every probe."""
    from guidellm.outputs.capacity_text import capacity_line, capacity_tables

    line = capacity_line(report)
    if line is None or report.capacity is None:
        return ""
    facts, *probes = capacity_tables(report)
    parts = [
        f"<section class='capacity' id='capacity' data-kind='{report.capacity.kind}'>"
        f"<h2>Capacity</h2><p class='capacity-answer'>{escape(line)}</p>"
        "<table class='capacity-facts'><tbody>"
    ]
    for key, value in facts.rows:
        parts.append(f"<tr><th>{escape(key)}</th><td>{escape(value)}</td></tr>")
    parts.append("</tbody></table>")
    for table in probes:
        parts.append(
            f"<h3>{escape(table.title)}</h3><table class='sortable capacity-probes'><thead><tr>"
            + "".join(f"<th>{escape(h)}</th>" for h in table.headers)
            + "</tr></thead><tbody>"
        )
        for row in table.rows:
            parts.append(
                f"<tr class='probe {escape(row[3])}'>"
                + "".join(f"<td>{escape(c)}</td>" for c in row)
                + "</tr>"
            )
        parts.append("</tbody></table>")
    parts.append("</section>")
    return "".join(parts)


def _distribution_charts(report: Report) -> list[str]:
    from guidellm.benchmark.statistics import PERCENTILES
    from guidellm.outputs.svg import Series, line_chart

    keys = list(PERCENTILES)
    idx = list(range(len(keys)))

    def curves(metric: str) -> list[Series]:
        out = []
        for b in report.benchmarks:
            pct = getattr(b.metrics, metric).successful.percentiles
            out.append(Series(b.label, idx, [getattr(pct, k) for k in keys]))
        return out

    return [
        line_chart(
            "TTFT distribution (percentiles)",
            curves("time_to_first_token_ms"),
            x_label="percentile",
            y_label="ms",
            categories=keys,
        ),
        line_chart(
            "ITL distribution (percentiles)",
            curves("inter_token_latency_ms"),
            x_label="percentile",
            y_label="ms",
            categories=keys,
        ),
    ]


def _over_time_html(report: Report) -> str:
    """Each benchmark's time slices: rate and latency over time, stages marked."""
    from guidellm.outputs.timecharts import time_charts

    parts = []
    for b in report.benchmarks:
        charts = time_charts(b)
        if charts:
            parts.append(
                f"<section class='over-time' data-benchmark='{b.id}'>"
                f"<h2>Over time: {escape(b.label)}</h2><div class='charts'>"
            )
            parts.extend(charts)
            parts.append("</div></section>")
    return "".join(parts)


def _turns_html(report: Report) -> str:
    """Per turn index of each benchmark with sessions: TTFT and the cache hit ratio."""
    from guidellm.outputs.svg import Series, line_chart
    from guidellm.outputs.tables import turn_label

    parts = []
    for b in report.benchmarks:
        if not b.turns:
            continue
        names = [turn_label(t.turn, t.kind, t.and_later) for t in b.turns]
        xs = list(range(len(names)))
        ttft = [
            Series(q, xs, [getattr(t, f"ttft_ms_{q}") for t in b.turns], dashed=q != "p50")
            for q in ("p50", "p90", "p99")
        ]
        hit = [
            Series(
                "cache hit %",
                xs,
                [None if t.cache_hit_ratio is None else t.cache_hit_ratio * 100 for t in b.turns],
            )
        ]
        parts.append(
            f"<section class='turns' data-benchmark='{b.id}'>"
            f"<h2>Per turn: {escape(b.label)}</h2><div class='charts'>"
        )
        parts.append(
            line_chart("TTFT by turn", ttft, x_label="turn", y_label="ms", categories=names)
        )
        parts.append(
            line_chart(
                "Prompt cache hits by turn", hit, x_label="turn", y_label="%", categories=names
            )
        )
        parts.append("</div></section>")
    return "".join(parts)


def _errors_html(report: Report) -> str:
    from guidellm.outputs.tables import errors_of

    rows = errors_of(report)
    if not rows:
        return ""
    parts = [
        "<h2>Errors</h2><table><thead><tr><th>Benchmark</th><th>Category</th>"
        "<th>Count</th><th>Example</th></tr></thead><tbody>"
    ]
    for label, cat, n, example in rows:
        parts.append(
            f"<tr><td>{escape(label)}</td><td>{escape(cat)}</td><td>{n:,}</td>"
            f"<td style='text-align:left;white-space:normal'>{escape(example[:300])}</td></tr>"
        )
    parts.append("</tbody></table>")
    return "".join(parts)


def render_html(report: Report) -> str:
    """The whole page as a string."""
    from guidellm.outputs.loadcharts import load_charts
    from guidellm.outputs.tables import report_tables, warnings_of

    md = report.metadata
    # No "<" at all inside the data block: nothing in it can close the script or open a comment.
    data = json.dumps(report.to_dict(), separators=(",", ":")).replace("<", "\\u003c")
    config = json.dumps(report.config, indent=2, default=str)
    warnings = "".join(f"<div class='warn'>{escape(w)}</div>" for w in warnings_of(report))
    body = [
        "<header><h1>guidellm benchmark report</h1>",
        f"<p>{escape(md.created)} · guidellm {escape(md.guidellm_version)} · Python "
        f"{escape(md.python)} · {len(report.benchmarks)} benchmark(s)</p>",
        f"<p><code>{escape(md.command or '')}</code></p></header><main>",
        warnings,
    ]
    if report.benchmarks:
        body.append(_capacity_html(report))
        body.append("<h2>Latency and throughput across benchmarks</h2>")
        body.append(
            "<p class='note'>#n: the benchmark's index in the report; bars: 95 % intervals; "
            "hover a point for its benchmark, value and units.</p><div class='charts'>"
        )
        body.extend(load_charts(report))
        body.append("</div><h2>Distributions</h2><div class='charts'>")
        body.extend(_distribution_charts(report))
        body.append("</div>")
        body.append(_over_time_html(report))
        body.append(_turns_html(report))
        body.extend(_table_html(t) for t in report_tables(report))
        body.append(_errors_html(report))
    else:
        body.append("<p>No benchmarks were completed.</p>")
    body.append(
        f"<h2>Configuration</h2><details><summary>show</summary><pre>{escape(config)}"
        "</pre></details></main>"
    )
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>guidellm report {escape(md.created)}</title><style>{_CSS}</style></head><body>"
        + "".join(body)
        + f"<script type='application/json' id='report-data'>{data}</script>"
        + f"<script>{_JS}</script></body></html>\n"
    )


class HTMLWriter(ReportWriter):
    """Charts and tables in one offline HTML file."""

    name = "html"
    extensions: ClassVar[tuple[str, ...]] = (".html", ".htm")

    def write(self, report: Report) -> None:
        assert self.path is not None
        write_atomically(self.path, render_html(report).encode("utf-8"))
