"""Sessions, per-turn rows and the prompt cache in every writer; single-turn unchanged."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from reportdata import compile_results, session_results, sweep_report
from rich.console import Console

from guidellm.benchmark.report import Report
from guidellm.outputs import writers_for
from guidellm.outputs.console import ConsoleWriter
from guidellm.outputs.csv_writer import CSVWriter
from guidellm.outputs.html import render_html
from guidellm.outputs.tables import report_tables
from guidellm.outputs.turns_csv import TURN_COLUMNS, TurnsCSVWriter
from guidellm.plugins import PluginHost

_BEFORE_TITLES = [
    "Run summary",
    "Request latency s (successful)",
    "Time to first token ms (successful)",
    "Inter-token latency ms (successful, token-weighted)",
    "Time per output token ms (successful, token-weighted)",
    "Token counts (successful requests)",
    "Throughput",
]


@pytest.fixture(scope="module")
def report() -> Report:
    return Report.create(
        {"target": "http://127.0.0.1:1/v1"},
        [compile_results(session_results(), strategy={"type": "concurrent", "streams": 4})],
        command="guidellm run --data chats.jsonl",
    )


def _console(report: Report, width: int = 80) -> str:
    console = Console(width=width, record=True, file=io.StringIO())
    ConsoleWriter(console=console, progress=False).write(report)
    return console.export_text()


def test_console_sessions_and_turn_tables_fit_80_columns(report: Report) -> None:
    text = _console(report)
    assert max(len(line.rstrip()) for line in text.splitlines()) <= 80
    sessions = text.split("Sessions (every result")[1].split("Turns:")[0]
    # started 5, done 2, cut by an error 1 / stopped 2, 6 turns not sent, p50 duration.
    row = next(line for line in sessions.splitlines() if line.startswith(" concurrent 4"))
    assert row.split()[2:] == ["5", "2", "1/2", "6", f"{2 / 6.576:.2f}", "4.57"]
    turns = text.split("Turns: concurrent 4")[1].split("Errors")[0]
    lines = {
        line.split()[0] + (" tool" if " tool " in line else ""): line
        for line in turns.splitlines()
        if line[:2].strip().isdigit()
    }
    assert lines["1"].split() == ["1", "5/0/0", "20.00", "49.20", "10.00", "0.051", "100", "0.0"]
    assert lines["2 tool"].split()[2:] == [
        "1/0/0",
        "25.00",
        "25.00",
        "10.00",
        "0.056",
        "200",
        "50.0",
    ]
    assert lines["3"].split()[1] == "2/0/1"
    assert lines["3"].split()[-1] == "66.7"
    cache = text.split("Prompt cache")[1].split("Sessions")[0]
    assert "1,300" in cache and "2,400" in cache and "54.2" in cache


def test_console_finished_line_counts_sessions(report: Report) -> None:
    console = Console(width=200, record=True, file=io.StringIO())
    ConsoleWriter(console=console).benchmark_finished(report.benchmarks[0])
    assert (
        "sessions: 5 started, 2 completed, 3 cut short (1 by an error), 6 turns not sent"
        in console.export_text()
    )


def test_folded_turns_are_labelled() -> None:
    from reportdata import turn

    results = [turn(float(i), "s", i + 1, planned=34, end=i == 33) for i in range(34)]
    text = _console(Report.create({}, [compile_results(results)]), 200)
    assert "the last row holds turns ≥ 32" in " ".join(text.split())
    assert any(line.startswith(" ≥32 ") and "3/0/0" in line for line in text.splitlines())


def test_html_has_turn_table_and_charts(report: Report) -> None:
    page = render_html(report)
    assert "<h2>Per turn: concurrent 4</h2>" in page
    assert "TTFT by turn" in page and "Prompt cache hits by turn" in page
    assert "<h2>Turns: concurrent 4 (timings of successful requests)</h2>" in page
    assert "<td>2 tool</td><td>1/0/0</td>" in page
    assert "<h2>Sessions (every result" in page


def test_csv_has_session_and_cache_columns(report: Report, tmp_path: Path) -> None:
    CSVWriter(tmp_path / "b.csv").write(report)
    (row,) = csv.DictReader((tmp_path / "b.csv").open())
    assert row["sessions.started"] == "5"
    assert row["sessions.completed"] == "2"
    assert row["sessions.ended_by_error"] == "1"
    assert row["sessions.stopped"] == "2"
    assert row["sessions.turns_not_sent"] == "6"
    assert float(row["sessions.duration_s_p50"]) == pytest.approx(4.5735)
    assert float(row["prompt_cache.successful.hit_ratio"]) == pytest.approx(1300 / 2400)
    assert row["prompt_cache.total.cached_tokens"] == "1300"
    assert row["prompt_cache.errored.hit_ratio"] == ""


def test_turns_csv_one_row_per_turn(report: Report, tmp_path: Path) -> None:
    host = PluginHost(builtins=("guidellm.outputs.builtin",), entry_points=False)
    (writer,) = writers_for([tmp_path / "run.turns.csv"], host)
    assert isinstance(writer, TurnsCSVWriter)
    writer.write(report)
    rows = list(csv.DictReader((tmp_path / "run.turns.csv").open()))
    assert list(rows[0]) == list(TURN_COLUMNS)
    assert [(r["turn"], r["kind"]) for r in rows] == [
        ("1", "user"),
        ("2", "user"),
        ("2", "tool"),
        ("3", "user"),
        ("4", "user"),
    ]
    assert rows[0]["strategy"] == "concurrent 4"
    assert float(rows[4]["cache_hit_ratio"]) == pytest.approx(0.75)
    assert float(rows[0]["ttft_ms_p90"]) == pytest.approx(42.0)


def test_json_and_yaml_round_trip_sessions(report: Report, tmp_path: Path) -> None:
    host = PluginHost(builtins=("guidellm.outputs.builtin",), entry_points=False)
    paths = [tmp_path / "r.json", tmp_path / "r.yaml"]
    for writer in writers_for(paths, host):
        writer.write(report)
    tree = json.loads(paths[0].read_text())["benchmarks"][0]
    assert tree["sessions"]["started"] == 5
    assert tree["turns"][2] == report.benchmarks[0].turns[2].model_dump(mode="json")
    assert tree["prompt_cache"]["successful"]["cached_tokens"] == 1300
    for path in paths:
        loaded = Report.load(path).benchmarks[0]
        assert loaded.sessions == report.benchmarks[0].sessions
        assert loaded.turns == report.benchmarks[0].turns
        assert loaded.prompt_cache == report.benchmarks[0].prompt_cache


def test_a_report_without_the_new_fields_loads(report: Report, tmp_path: Path) -> None:
    """Reports written before sessions existed have no such keys."""
    tree = sweep_report().to_dict()
    for b in tree["benchmarks"]:
        for key in ("sessions", "turns", "prompt_cache"):
            del b[key]
    path = tmp_path / "old.json"
    path.write_text(json.dumps(tree))
    old = Report.load(path)
    assert all(b.sessions is None and b.turns is None for b in old.benchmarks)
    assert all(b.prompt_cache is None for b in old.benchmarks)


def test_single_turn_report_renders_as_before(tmp_path: Path) -> None:
    """No session table, no cache table, no new CSV column; the same output as the report
    loaded from a tree without the new keys (what older versions wrote)."""
    new = sweep_report()
    tree = new.to_dict()
    for b in tree["benchmarks"]:
        assert (b["sessions"], b["turns"], b["prompt_cache"]) == (None, None, None)
        del b["sessions"], b["turns"], b["prompt_cache"]
    old = Report.model_validate(tree)
    assert [t.title for t in report_tables(new)] == _BEFORE_TITLES
    assert _console(new, 120) == _console(old, 120)
    for name, r in (("new", new), ("old", old)):
        CSVWriter(tmp_path / f"{name}.csv").write(r)
    text = (tmp_path / "new.csv").read_text()
    assert text == (tmp_path / "old.csv").read_text()
    assert "sessions." not in text and "prompt_cache." not in text
    page = render_html(new)
    assert "Per turn" not in page and "Sessions" not in page and "Prompt cache" not in page
