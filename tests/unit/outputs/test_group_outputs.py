"""A mix's per-class and per-model rows in the console, HTML and CSV; none outside a mix."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import msgspec
import pytest
from reportdata import compile_results, result
from rich.console import Console

from guidellm.benchmark.report import Report
from guidellm.outputs.console import ConsoleWriter
from guidellm.outputs.csv_writer import CSVWriter
from guidellm.outputs.group_tables import BY_CLASS_NOTE, group_tables, slo_text
from guidellm.outputs.html import render_html
from guidellm.outputs.tables import Table, report_tables
from guidellm.request import RequestResult

CLASSES = [
    {"name": "fast", "weight": 0.6, "slo": {"ttft_ms": 60.0}},
    {"name": "slow", "weight": 0.4, "slo": {"latency_ms": 30000.0, "ttft_ms": 60.0}},
]


def _tag(r: RequestResult, cls: str, model: str, **changes: object) -> RequestResult:
    return msgspec.structs.replace(r, traffic_class=cls, model=model, **changes)


def _mix_results() -> list[RequestResult]:
    """fast: 6 requests, TTFT 50 ms (all meet 60 ms) on model a; slow: 3 successful with TTFT
    100 ms (all miss) and one errored, on model b. One request a second."""
    fast = [_tag(result(float(i), ttft=0.05), "fast", "a") for i in range(6)]
    slow = [_tag(result(6.0 + i, ttft=0.1), "slow", "b") for i in range(3)]
    slow.append(
        _tag(
            result(9.0, ttft=None, tokens=0, status="errored", error_category="http_500"),
            "slow",
            "b",
        )
    )
    return fast + slow


def _report(results: list[RequestResult], classes: list[dict[str, object]]) -> Report:
    bench = compile_results(
        results, strategy={"type": "concurrent", "streams": 2}, classes=classes, end_time=10.0
    )
    return Report.create({"target": "http://127.0.0.1:1/v1"}, [bench], command="guidellm run")


@pytest.fixture(scope="module")
def mix() -> Report:
    return _report(_mix_results(), CLASSES)


def _console(report: Report) -> str:
    console = Console(width=80, record=True, file=io.StringIO())
    ConsoleWriter(console=console, progress=False).write(report)
    return console.export_text()


def _rows(table: Table) -> dict[str, dict[str, str]]:
    """``{row name: {header (with its group): cell}}``."""
    names = list(table.headers)
    if table.groups:
        names, i = [], 0
        for label, span in table.groups:
            names += [f"{label} {h}".strip() for h in table.headers[i : i + span]]
            i += span
    return {row[0]: dict(zip(names, row, strict=True)) for row in table.rows}


def test_the_mix_gets_class_and_model_tables_with_each_rows_numbers(mix: Report) -> None:
    tables = group_tables(mix.benchmarks)
    titles = [t.title.split(":")[0] for t in tables]
    assert titles == ["Traffic classes", "Traffic classes", "Models", "Models"]
    load, timing = _rows(tables[0]), _rows(tables[1])
    assert list(load) == ["fast", "slow"]
    assert load["fast"]["OK/Err/Inc"] == "6/0/0" and load["slow"]["OK/Err/Inc"] == "3/1/0"
    assert load["fast"]["Share % got/meant"] == "60.0/60.0"
    assert load["slow"]["Share % got/meant"] == "40.0/40.0"
    # No class named a format, none sent pooling inputs: no empty columns.
    assert "Format" not in load["fast"] and "Inputs/s" not in load["fast"]
    assert timing["fast"]["TTFT ms p50"] == "50.00" and timing["slow"]["TTFT ms p50"] == "100.00"
    assert timing["fast"]["Goodput SLO %"] == "100.0" and timing["slow"]["Goodput SLO %"] == "0.0"
    assert timing["fast"]["Goodput req/s"] == "0.60"
    note = tables[1].note or ""
    assert "SLOs: fast ttft≤60ms; slow lat≤30s,ttft≤60ms" in note
    # 6 of the 10 counted requests met their own class's SLOs.
    assert "Overall goodput: 0.60 req/s, 60.0 % of 10 requests" in note
    models = _rows(tables[2])
    assert list(models) == ["a", "b"] and "Format" not in models["a"]
    assert models["b"]["OK/Err/Inc"] == "3/1/0" and models["a"]["Share % got"] == "60.0"


def test_the_throughput_table_says_goodput_is_judged_per_class(mix: Report) -> None:
    (throughput,) = [t for t in report_tables(mix) if t.title == "Throughput"]
    assert throughput.note == BY_CLASS_NOTE
    assert throughput.rows[0][-1] == "60.0"


def test_console_shows_the_mix_within_80_columns(mix: Report) -> None:
    text = _console(mix)
    assert max(len(line.rstrip()) for line in text.splitlines()) <= 80
    flat = " ".join(text.split())
    classes = text.split("Traffic classes: concurrent 2 (requests")[1].split("Traffic classes")[0]
    rows = {line.split()[0]: line.split() for line in classes.splitlines() if line[:2] == " f"}
    assert rows["fast"][1:3] == ["6/0/0", "60.0/60.0"]
    assert "Good req/s and SLO %: each request against its own traffic class" in flat
    assert "Overall goodput: 0.60 req/s, 60.0 % of 10 requests" in flat


def test_html_holds_the_class_and_model_tables(mix: Report) -> None:
    html = render_html(mix)
    assert "<h2>Traffic classes: concurrent 2 (requests in the window, every status)</h2>" in html
    assert "<h2>Models: concurrent 2, timings (successful requests) and goodput</h2>" in html
    assert "<tr><td>slow</td><td>3/1/0</td><td>40.0/40.0</td>" in html
    assert "SLOs: fast ttft≤60ms" in html


def test_csv_has_each_class_and_model_in_the_benchmark_row(mix: Report, tmp_path: Path) -> None:
    path = tmp_path / "run.csv"
    CSVWriter(path).write(mix)
    (row,) = list(csv.DictReader(path.open()))
    assert row["goodput.by_class"] == "True"
    for kind, names in (("class", ("fast", "slow")), ("model", ("a", "b"))):
        totals = [int(row[f"{kind}.{n}.total"]) for n in names]
        window = sum(int(row[f"requests.{s}"]) for s in ("successful", "errored", "incomplete"))
        assert sum(totals) == window == 10
    assert row["class.slow.errored"] == "1" and row["class.fast.successful"] == "6"
    assert float(row["class.fast.share"]) == 0.6 and float(row["class.slow.weight"]) == 0.4
    assert float(row["class.fast.goodput.attainment"]) == 1.0
    assert float(row["class.slow.goodput.attainment"]) == 0.0
    assert row["class.slow.goodput.counted"] == "4"
    assert float(row["class.slow.goodput.slo.latency_ms"]) == 30000.0
    assert float(row["class.fast.ttft_ms_p50"]) == pytest.approx(50.0)
    assert "model.a.request_format" not in row and "class.fast.request_format" in row


def test_pooling_classes_have_no_token_columns() -> None:
    """A pooling-only mix: no TTFT, ITL, output rate, goodput or models table (one model)."""
    results = [
        _tag(result(float(i), ttft=None, tokens=0), cls, "m", inputs=2)
        for i, cls in enumerate(["emb", "rr", "emb", "rr"])
    ]
    classes = [
        {"name": "emb", "weight": 0.5, "request_format": "embeddings"},
        {"name": "rr", "weight": 0.5, "request_format": "rerank"},
    ]
    tables = group_tables(_report(results, classes).benchmarks)
    assert [t.title.split(":")[0] for t in tables] == ["Traffic classes", "Traffic classes"]
    load, timing = tables
    assert load.headers == ["Class", "Format", "OK/Err/Inc", "got/meant", "Req/s", "Inputs/s"]
    assert _rows(load)["emb"]["Inputs/s"] == "0.40"
    assert timing.headers == ["Class", "p50", "p99"] and timing.note is None


def test_no_mix_no_tables_and_no_columns() -> None:
    report = _report([result(float(i)) for i in range(4)], [])
    assert report.benchmarks[0].groups is None
    assert group_tables(report.benchmarks) == []
    (throughput,) = [t for t in report_tables(report) if t.title == "Throughput"]
    assert throughput.note is None


def test_slo_text_is_compact() -> None:
    assert slo_text({"ttft_ms": 300.0, "latency_ms": 30000.0}) == "ttft≤300ms,lat≤30s"
    assert slo_text({"itl_ms": 12.5, "latency_ms": 1500.0}) == "itl≤12.5ms,lat≤1500ms"


def test_a_model_mix_without_classes_gets_a_models_table() -> None:
    results = [msgspec.structs.replace(result(float(i)), model=m) for i, m in enumerate("abab")]
    tables = group_tables(_report(results, []).benchmarks)
    assert [t.title.split(":")[0] for t in tables] == ["Models", "Models"]
    rows = _rows(tables[0])
    assert list(rows) == ["a", "b"] and rows["b"]["OK/Err/Inc"] == "2/0/0"
    assert rows["a"]["Share % got"] == "50.0" and tables[1].note is None
