"""The report writers: suffix selection, round trips, CSV shape, console and HTML content."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
import yaml
from reportdata import sweep_report
from rich.console import Console

from guidellm.benchmark.report import Report
from guidellm.errors import UserError
from guidellm.outputs import Progress, writers_for
from guidellm.outputs.console import ConsoleWriter, progress_line
from guidellm.outputs.csv_writer import CSVWriter
from guidellm.outputs.html import render_html
from guidellm.plugins import PluginHost


@pytest.fixture(scope="module")
def report() -> Report:
    return sweep_report()


@pytest.fixture
def host() -> PluginHost:
    return PluginHost(builtins=("guidellm.outputs.builtin",), entry_points=False)


def test_builtin_writers_are_registered(host: PluginHost) -> None:
    assert host.report_writers.names() == [
        "console",
        "csv",
        "html",
        "json",
        "requests",
        "timeline",
        "turns",
        "yaml",
    ]
    assert host.report_writers.owner("json") == "guidellm.outputs.builtin"


def test_writers_for_picks_by_suffix(host: PluginHost, tmp_path: Path) -> None:
    writers = writers_for(
        [tmp_path / "a.json", tmp_path / "b.YAML", tmp_path / "c.yml", "d.csv", "e.html"],
        host,
        console=True,
        progress=False,
    )
    assert [w.name for w in writers] == ["console", "json", "yaml", "yaml", "csv", "html"]
    assert isinstance(writers[0], ConsoleWriter) and writers[0].show_progress is False
    with pytest.raises(UserError, match=r"'\.pdf'.*\.csv, \.htm, \.html, \.json"):
        writers_for(["report.pdf"], host)


def test_unwritable_output_paths_fail_before_the_run(host: PluginHost, tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(UserError, match=r"afile' is a file, not a folder; pick another path"):
        writers_for([afile / "deeper" / "r.csv"], host)
    (tmp_path / "d.json").mkdir()
    with pytest.raises(UserError, match=r"is a folder; give a file"):
        writers_for([tmp_path / "d.json"], host)
    # A folder that does not exist yet is made when the report is written.
    [json_writer] = writers_for([tmp_path / "new" / "sub" / "r.json"], host)
    json_writer.write(sweep_report(n=60))
    assert (tmp_path / "new" / "sub" / "r.json").is_file()
    # A path that became unwritable by the end of the run: one line, not a traceback.
    from guidellm.outputs.files import write_atomically

    with pytest.raises(UserError, match=r"cannot write the report .*pick another --output"):
        write_atomically(afile / "r.json", b"{}")


def test_json_and_yaml_round_trip(host: PluginHost, report: Report, tmp_path: Path) -> None:
    for w in writers_for([tmp_path / "r.json", tmp_path / "r.yaml"], host):
        w.write(report)
    from_json = Report.load(tmp_path / "r.json")
    from_yaml = Report.load(tmp_path / "r.yaml")
    assert from_json.to_dict() == report.to_dict()
    assert from_yaml.to_dict() == report.to_dict()
    tree = json.loads((tmp_path / "r.json").read_text())
    assert set(tree) == {"metadata", "config", "labels", "resolved", "benchmarks", "capacity"}
    assert set(tree["metadata"]) >= {"guidellm_version", "python", "platform", "created", "command"}
    b = tree["benchmarks"][0]
    for key in (
        "id",
        "strategy",
        "start_time",
        "end_time",
        "measured_window",
        "requests",
        "metrics",
        "errors",
        "warnings",
    ):
        assert key in b
    assert set(b["metrics"]["time_to_first_token_ms"]) == {
        "successful",
        "errored",
        "incomplete",
        "total",
    }
    assert yaml.safe_load((tmp_path / "r.yaml").read_text()) == tree
    assert "api_key" in json.dumps(tree["config"]) and "***" in json.dumps(tree["config"])


def test_load_rejects_other_files(tmp_path: Path) -> None:
    bad = tmp_path / "x.json"
    bad.write_text("[1, 2]")
    with pytest.raises(UserError, match="not a guidellm report"):
        Report.load(bad)
    bad.write_text("{not json")
    with pytest.raises(UserError, match="not a valid guidellm report"):
        Report.load(bad)
    with pytest.raises(UserError, match="cannot read report"):
        Report.load(tmp_path / "missing.json")


def test_csv_one_header_one_row_per_benchmark(report: Report, tmp_path: Path) -> None:
    CSVWriter(tmp_path / "r.csv").write(report)
    rows = list(csv.reader(io.StringIO((tmp_path / "r.csv").read_text())))
    header, body = rows[0], rows[1:]
    assert len(body) == len(report.benchmarks)
    assert len(header) == len(set(header))  # one column per statistic
    assert all(len(r) == len(header) for r in body)
    record = dict(zip(header, body[1], strict=True))
    b = report.benchmarks[1]
    assert float(record["time_to_first_token_ms.p99"]) == pytest.approx(
        b.metrics.time_to_first_token_ms.successful.percentiles.p99
    )
    assert float(record["requests_per_second.errored"]) == pytest.approx(
        b.metrics.requests_per_second.errored
    )
    concurrency = b.metrics.request_concurrency
    assert concurrency.total.mean != concurrency.successful.mean  # errored requests in flight
    assert float(record["request_concurrency.mean"]) == pytest.approx(concurrency.total.mean)
    assert record["strategy.rate"] == "4.0"
    assert int(record["errors.http_5xx"]) == b.errors["http_5xx"]
    assert "inter_chunk_latency_ms.p999" in header and "goodput.attainment" in header


def _recorded(width: int = 100, terminal: bool = False) -> Console:
    return Console(
        record=True, width=width, file=io.StringIO(), force_terminal=terminal, color_system=None
    )


def test_console_final_tables(report: Report) -> None:
    console = _recorded()
    ConsoleWriter(console=console).write(report)
    text = console.export_text()
    for title in (
        "Run summary",
        "Request latency s",
        "Time to first token ms",
        "Inter-token latency ms",
        "Time per output token ms",
        "Token counts",
        "Throughput",
        "Errors",
    ):
        assert title in text
    b = report.benchmarks[2]
    ttft = b.metrics.time_to_first_token_ms.successful
    assert f"{ttft.median:.2f}" in text
    assert "constant 8/s" in text
    assert "HTTP 503: overloaded" in text


def test_console_shows_client_limited_warning(report: Report) -> None:
    limited = report.model_copy(deep=True)
    limited.benchmarks[0].warnings.append("client-limited: loop lag p99 30 ms")
    console = _recorded()
    ConsoleWriter(console=console).write(limited)
    assert "warning: constant 2/s: client-limited: loop lag p99 30 ms" in console.export_text()


def _snapshot(**kw: object) -> Progress:
    values: dict[str, object] = dict(
        benchmark_index=1,
        strategy={"type": "constant", "rate": 4},
        elapsed=30.0,
        fraction_done=0.25,
        successful=118,
        errored=2,
        incomplete=0,
        in_flight=3,
        requests_per_second=4.0,
        ttft_median_ms=52.25,
        itl_median_ms=9.5,
    )
    values.update(kw)
    return Progress(**values)  # type: ignore[arg-type]


def test_progress_line() -> None:
    line = progress_line(_snapshot())
    for part in (
        "#1",
        "constant 4/s",
        "25%",
        "0:30 elapsed",
        "~1:30 left",
        "118 ok",
        "2 err",
        "3 in flight",
        "4.00 req/s",
        "TTFT p50 52.2 ms",
        "ITL p50 9.50 ms",
    ):
        assert part in line
    unbounded = progress_line(_snapshot(fraction_done=None, ttft_median_ms=None))
    assert "left" not in unbounded and "TTFT" not in unbounded
    assert "client-limited" in progress_line(_snapshot(client_limited=True))


def test_console_live_progress_on_a_terminal(report: Report) -> None:
    console = _recorded(terminal=True)
    writer = ConsoleWriter(console=console)
    writer.benchmark_started(1, {"type": "constant", "rate": 4})
    writer.progress(_snapshot())
    assert writer._live is not None
    writer.benchmark_finished(report.benchmarks[1])
    assert writer._live is None
    text = console.export_text()
    assert "#1 constant 4/s done" in text


def test_console_progress_can_be_disabled(report: Report) -> None:
    console = _recorded(terminal=True)
    writer = ConsoleWriter(console=console, progress=False)
    writer.benchmark_started(0, {"type": "synchronous"})
    writer.progress(_snapshot())
    writer.benchmark_finished(report.benchmarks[0])
    assert writer._live is None
    assert console.export_text() == ""


def test_html_is_self_contained(report: Report) -> None:
    page = render_html(report)
    assert page.startswith("<!DOCTYPE html>")
    for forbidden in ("<link", " src=", "@import", "url(", "https://", "//cdn"):
        assert forbidden not in page
    # The only URL is the SVG namespace, which browsers never fetch.
    assert page.count("http://") == page.count('xmlns="http://www.w3.org/2000/svg"') + page.count(
        "http://127.0.0.1:1/v1"
    )
    # 5 charts across benchmarks, TTFT/ITL distributions, 3 over-time charts per benchmark
    assert page.count("<svg") == 7 + 3 * len(report.benchmarks)
    assert "Time to first token" in page and "TTFT distribution" in page
    embedded = page.split("id='report-data'>", 1)[1].split("</script>", 1)[0]
    assert Report.model_validate(json.loads(embedded)).to_dict() == report.to_dict()


def test_html_escapes_report_text(report: Report) -> None:
    hostile = report.model_copy(deep=True)
    hostile.benchmarks[0].warnings.append("<script>alert(1)</script>")
    hostile.benchmarks[0].error_examples["http_5xx"] = "</script><b>x</b>"
    page = render_html(hostile)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


@pytest.mark.parametrize(
    ("strategy", "label"),
    [
        ({"type": "constant", "rate": 2.5}, "constant 2.5/s"),
        ({"type": "poisson", "rate": 4.0}, "poisson 4/s"),
        ({"type": "concurrent", "streams": 8}, "concurrent 8"),
        ({"type": "synchronous", "streams": 1}, "synchronous"),
        ({"type": "throughput", "max_concurrency": 256}, "throughput"),
    ],
)
def test_strategy_labels(strategy: dict[str, object], label: str) -> None:
    from guidellm.benchmark.report import strategy_label

    assert strategy_label(strategy) == label


def test_cancelled_requests_are_not_listed_as_errors(report: Report) -> None:
    cut = report.model_copy(deep=True)
    cut.benchmarks[0].errors["cancelled"] = 7
    console = _recorded()
    ConsoleWriter(console=console).write(cut)
    assert "cancelled" not in console.export_text()
    assert "cancelled" not in render_html(cut).split("id='report-data'")[0]
