"""The server's view in the console, HTML and CSV: hand-made server metrics
(``reportdata.server_metrics``), a server that exposed nothing known, and none at all."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from reportdata import server_metrics, server_report, sweep_report
from rich.console import Console

from guidellm.benchmark.report import Report
from guidellm.outputs.console import ConsoleWriter
from guidellm.outputs.csv_writer import SERVER_COLUMNS, CSVWriter
from guidellm.outputs.html import render_html
from guidellm.outputs.server_tables import CROSSCHECK_LEGEND, server_tables
from guidellm.outputs.tables import report_tables
from guidellm.telemetry.models import ServerMetrics

SERVER_TITLES = ("Server (", "TTFT ms: the server", "Cross-check")


@pytest.fixture(scope="module")
def report() -> Report:
    """Three benchmarks with long labels: the first and last scraped, the last one's server
    without a KV-cache gauge; the middle one not scraped."""
    report = server_report((1.25, 12.75, 125.5), scraped=[0, 2])
    server = report.benchmarks[2].server
    assert server is not None
    del server.gauges["kv_cache_usage"]
    del server.series.values["kv_cache_usage"]
    return report


def _console(report: Report, width: int = 80) -> str:
    console = Console(width=width, record=True, file=io.StringIO())
    ConsoleWriter(console=console, progress=False).write(report)
    return console.export_text()


def _rows(text: str, title: str, end: str) -> dict[str, list[str]]:
    """The rows of the table ``title`` in the console text, by benchmark label."""
    block = text.split(title, 1)[1].split(end, 1)[0]
    return {
        " ".join(line.split()[:2]): line.split()[2:]
        for line in block.splitlines()
        if line.startswith(" constant ")
    }


def _page(report: Report) -> str:
    """The page without its embedded JSON (which holds every string of the report)."""
    return render_html(report).split("id='report-data'")[0]


def _chart(page: str, title: str) -> str:
    return page.split(f"<figcaption>{title}</figcaption>", 1)[1].split("</figure>", 1)[0]


def test_console_server_table_values_and_dashes(report: Report) -> None:
    text = _console(report)
    assert max(len(line.rstrip()) for line in text.splitlines()) <= 80
    rows = _rows(text, "Server (its own metrics", "TTFT ms:")
    # running 3.5/8, waiting 1.5/4, KV 42.3/87.1 %, 500 of 2,000 prefix queries hit, 3
    # preemptions; the last server has no KV-cache gauge; the middle benchmark no server.
    assert rows == {
        "constant 1.25/s": ["vllm", "3.5/8", "1.5/4", "42.3/87.1", "25.0", "3"],
        "constant 125.5/s": ["vllm", "3.5/8", "1.5/4", "-", "25.0", "3"],
    }
    ttft = _rows(text, "TTFT ms: the server", "Cross-check")
    client = report.benchmarks[0].metrics.time_to_first_token_ms.successful
    assert ttft["constant 1.25/s"] == [
        "40.0",
        "55.5",
        "2.5",
        f"{client.mean:.1f}",
        f"{client.percentiles.p90:.1f}",
    ]
    assert "constant 12.75/s" not in ttft


def test_console_cross_check_rows_and_legend(report: Report) -> None:
    text = _console(report)
    block = text.split("Cross-check", 1)[1].split("Errors", 1)[0]
    lines = [line.split() for line in block.splitlines() if line.startswith(" constant 1.25/s")]
    ok = report.benchmarks[0].requests.successful
    # prompt_tokens has no server number: no row.
    assert [line[2:] for line in lines] == [
        ["requests", str(ok), str(ok), "0", "4", "yes"],
        ["output_tokens", "3,136", "3,136", "0", "17", "yes"],
        ["ttft_mean_ms", "65.0", "40.0", "25.0", "10.0", "NO"],
    ]
    # The legend is the line right under the table.
    after = [line.strip() for line in block.splitlines() if line.strip()]
    assert after[-1] == CROSSCHECK_LEGEND


def test_a_server_that_exposed_nothing_known_shows_dashes() -> None:
    report = sweep_report((2.0,))
    report.benchmarks[0].server = ServerMetrics(interval_s=1.0)
    tables = server_tables(report.benchmarks)
    # No TTFT histogram and no number on both sides: only the load table, all "-".
    assert [t.title.split(" ", 1)[0] for t in tables] == ["Server"]
    assert tables[0].rows == [["constant 2/s", "-", "-", "-", "-", "-", "-"]]


def test_prefix_hit_ratio_falls_back_to_the_servers_gauge() -> None:
    from guidellm.telemetry.models import GaugeSummary

    report = sweep_report((2.0,))
    server = server_metrics(report.benchmarks[0])
    del server.counters["prefix_cache_hits"]
    server.gauges["prefix_cache_hit_ratio"] = GaugeSummary(mean=0.125, max=0.5, samples=3)
    report.benchmarks[0].server = server
    assert server_tables(report.benchmarks)[0].rows[0][5] == "12.5"
    del server.gauges["prefix_cache_hit_ratio"]
    assert server_tables(report.benchmarks)[0].rows[0][5] == "-"


def test_no_server_no_tables_no_charts_no_columns(tmp_path: Path) -> None:
    plain = sweep_report()
    assert not any(t.title.startswith(SERVER_TITLES) for t in report_tables(plain))
    text = _console(plain)
    assert not any(title in text for title in SERVER_TITLES)
    assert CROSSCHECK_LEGEND not in text
    page = _page(plain)
    assert "server queue" not in page and "KV-cache usage" not in page
    assert not any(title in page for title in SERVER_TITLES)
    CSVWriter(tmp_path / "r.csv").write(plain)
    header = next(csv.reader((tmp_path / "r.csv").open()))
    assert not set(SERVER_COLUMNS) & set(header)


def test_html_tables_and_legend(report: Report) -> None:
    page = _page(report)
    for title in SERVER_TITLES:
        assert f"<h2>{title}" in page
    assert "<td>constant 1.25/s</td><td>vllm</td><td>3.5/8</td><td>1.5/4</td>" in page
    assert "<td>ttft_mean_ms</td><td>65.0</td><td>40.0</td><td>25.0</td><td>10.0</td>" in page
    assert f"<p class='note'>{CROSSCHECK_LEGEND}</p>" in page


def _section(page: str, index: int) -> str:
    return page.split(f"<section class='over-time' data-benchmark='{index}'>", 1)[1].split(
        "</section>", 1
    )[0]


def test_html_server_charts_beside_the_ttft_chart(report: Report) -> None:
    page = _page(report)
    scraped, plain = _section(page, 0), _section(page, 1)
    captions = re.findall(r"<figcaption>constant 1\.25/s: ([^<]*)</figcaption>", scraped)
    assert captions == [
        "rate over time",
        "request latency over time",
        "TTFT and ITL over time",
        "server queue (requests running and waiting)",
        "KV-cache usage",
        "client CPU and event-loop lag",
    ]
    assert 'aria-label="constant 1.25/s: server queue (requests running and waiting)"' in scraped
    # The unscraped benchmark keeps its three charts, in their order.
    assert re.findall(r"<figcaption>constant 12\.75/s: ([^<]*)</figcaption>", plain) == [
        "rate over time",
        "TTFT and ITL over time",
        "request latency over time",
    ]
    # The last server has no KV-cache gauge: no KV chart.
    assert "constant 125.5/s: KV-cache usage" not in page
    assert "constant 125.5/s: server queue" in page


def _x_ticks(chart: str) -> list[str]:
    return re.findall(r'<text class="tick" x="[\d.]+" y="272" text-anchor="middle">([^<]*)<', chart)


def test_html_server_charts_share_the_time_axis(report: Report) -> None:
    # Samples from 10 s to 20 s only (the endpoint answered late and stopped early): the
    # server's charts still span the whole benchmark, as its slices do.
    late = report.model_copy(deep=True)
    server = late.benchmarks[0].server
    assert server is not None and server.client is not None
    keep = slice(11, 21)
    server.series.t_s = server.series.t_s[keep]
    server.series.values = {k: v[keep] for k, v in server.series.values.items()}
    c = server.client
    c.t_s, c.cpu_percent, c.loop_lag_ms = c.t_s[keep], c.cpu_percent[keep], c.loop_lag_ms[keep]
    for r in (report, late):
        page = _page(r)
        ttft = _chart(page, "constant 1.25/s: TTFT and ITL over time")
        queue = _chart(page, "constant 1.25/s: server queue (requests running and waiting)")
        client = _chart(page, "constant 1.25/s: client CPU and event-loop lag")
        assert _x_ticks(ttft) and _x_ticks(ttft) == _x_ticks(queue) == _x_ticks(client)
        # The scrape before the start (t = -0.05 s) is not drawn: the axis starts at 0.
        assert _x_ticks(queue)[0] == "0"


def _groups(chart: str, name: str) -> str:
    return chart.split(f'<g class="series" data-series="{name}">', 1)[1].split("</g>", 1)[0]


def test_html_a_failed_scrape_breaks_the_lines(report: Report) -> None:
    page = _page(report)
    queue = _chart(page, "constant 1.25/s: server queue (requests running and waiting)")
    kv = _chart(page, "constant 1.25/s: KV-cache usage")
    for chart, name in ((queue, "running"), (queue, "waiting"), (kv, "KV-cache usage")):
        group = _groups(chart, name)
        # Scrapes at 0.95 s, (1.95 s failed), 2.95 s ...: a lone point, then a line.
        assert group.count("<polyline") == 1, name
        assert group.count('<circle class="lone"') == 1, name
    # Percent, not a ratio: the top of the KV axis is 80 % (0.8 the largest sample).
    ticks = [float(t) for t in re.findall(r'text-anchor="end">([\d.]+)</text>', kv)]
    assert max(ticks) == 80
    client = _chart(page, "constant 1.25/s: client CPU and event-loop lag")
    assert 'data-series="client CPU"' in client and 'data-series="worst loop lag"' in client
    assert 'class="label y2"' in client and ">loop lag ms</text>" in client
    # The client's samples have no gap: one line each.
    assert _groups(client, "client CPU").count("<polyline") == 1


def test_csv_server_columns_come_last(report: Report, tmp_path: Path) -> None:
    CSVWriter(tmp_path / "r.csv").write(report)
    rows = list(csv.reader((tmp_path / "r.csv").open()))
    header = rows[0]
    plain = tmp_path / "plain.csv"
    CSVWriter(plain).write(sweep_report((1.25, 12.75, 125.5)))
    before = next(csv.reader(plain.open()))
    assert header == before + list(SERVER_COLUMNS)
    records = [dict(zip(header, row, strict=True)) for row in rows[1:]]
    first = {k: records[0][k] for k in SERVER_COLUMNS}
    ok = report.benchmarks[0].requests.successful
    assert first == {
        "server_kind": "vllm",
        "server_requests": f"{float(ok)}",
        "server_generation_tokens": "3136.0",
        "server_prompt_tokens": "",  # the hand-made server did not count prompt tokens
        "server_ttft_mean_ms": "40.0",
        "kv_cache_usage_max": "0.871",
        "requests_waiting_max": "4.0",
        "crosscheck_agree": "False",  # the TTFT mean disagreed
    }
    assert all(records[1][k] == "" for k in SERVER_COLUMNS)  # not scraped
    assert records[2]["kv_cache_usage_max"] == ""


def test_csv_agree_is_true_when_every_checked_number_agrees(tmp_path: Path) -> None:
    report = server_report((2.0,))
    server = report.benchmarks[0].server
    assert server is not None
    server.crosscheck = [c for c in server.crosscheck if c.agree is not False]
    CSVWriter(tmp_path / "r.csv").write(report)
    (row,) = csv.DictReader((tmp_path / "r.csv").open())
    assert row["crosscheck_agree"] == "True"
    server.crosscheck = [c for c in server.crosscheck if c.agree is None]
    CSVWriter(tmp_path / "r.csv").write(report)
    (row,) = csv.DictReader((tmp_path / "r.csv").open())
    assert row["crosscheck_agree"] == ""


def test_a_saved_report_keeps_the_server_view(report: Report, tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text(report.model_dump_json())
    loaded = Report.load(path)
    assert [t.rows for t in server_tables(loaded.benchmarks)] == [
        t.rows for t in server_tables(report.benchmarks)
    ]
