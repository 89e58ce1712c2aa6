"""Time slices in the outputs: JSON round trip, old reports, the timeline CSV, HTML charts."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from reportdata import compile_results, result, sweep_report

from guidellm.benchmark.report import Report
from guidellm.outputs import writers_for
from guidellm.outputs.html import render_html
from guidellm.outputs.timeline_csv import TIMELINE_COLUMNS, TimelineCSVWriter
from guidellm.plugins import PluginHost

STAGES = [
    {"index": 0, "start_s": 0.0, "end_s": 2.0, "rate": 4.0},
    {"index": 1, "start_s": 2.0, "end_s": 4.0, "rate": 4.0, "ramp_to": 12.0},
]


@pytest.fixture(scope="module")
def staged() -> Report:
    results = [result(0.25 * i, scheduled=0.25 * i, tokens=4) for i in range(16)]
    bench = compile_results(
        results, start_time=0.0, end_time=4.2, strategy={"type": "stages", "stages": STAGES}
    )
    return Report.create({"target": "x"}, [bench], command="guidellm run")


@pytest.fixture
def host() -> PluginHost:
    return PluginHost(builtins=("guidellm.outputs.builtin",), entry_points=False)


def test_report_round_trip_keeps_slices_and_stages(staged: Report, tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text(json.dumps(staged.to_dict()))
    loaded = Report.load(path)
    assert loaded.to_dict() == staged.to_dict()
    (b,) = loaded.benchmarks
    assert b.timeslices is not None and b.timeslices.started == [4, 4, 4, 4, 0]
    assert b.stages is not None and [s.intended_rate for s in b.stages] == [4.0, 8.0]


def test_reports_written_before_time_slices_still_load(staged: Report, tmp_path: Path) -> None:
    old = staged.to_dict()
    for bench in old["benchmarks"]:
        del bench["timeslices"], bench["stages"]
    path = tmp_path / "old.json"
    path.write_text(json.dumps(old))
    (b,) = Report.load(path).benchmarks
    assert b.timeslices is None and b.stages is None
    assert "Over time" not in render_html(Report.load(path))


def test_the_json_keeps_slices_as_columns(staged: Report) -> None:
    ts = staged.to_dict()["benchmarks"][0]["timeslices"]
    assert ts["size"] == 1.0 and ts["widened"] is False
    assert ts["start_s"] == [0.0, 1.0, 2.0, 3.0, 4.0] and ts["end_s"][-1] == 4.2
    assert ts["stage"] == [0, 0, 1, 1, None]
    assert all(len(ts[c]) == 5 for c in TIMELINE_COLUMNS if c not in ("benchmark", "strategy"))


@pytest.mark.parametrize(
    ("name", "writer"),
    [
        ("timeline.csv", "timeline"),
        ("run.timeline.csv", "timeline"),
        ("run.csv", "csv"),
        ("TIMELINE.CSV", "timeline"),
    ],
)
def test_writer_chosen_by_how_the_name_ends(
    host: PluginHost, tmp_path: Path, name: str, writer: str
) -> None:
    (chosen,) = writers_for([tmp_path / name], host)
    assert chosen.name == writer


def test_timeline_csv_one_row_per_slice_per_benchmark(tmp_path: Path) -> None:
    report = sweep_report(n=40)
    path = tmp_path / "t.timeline.csv"
    TimelineCSVWriter(path).write(report)
    with path.open() as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == TIMELINE_COLUMNS
    per_bench = [len(b.timeslices) for b in report.benchmarks if b.timeslices]
    assert len(rows) == sum(per_bench) and len(per_bench) == 3
    first = [r for r in rows if r["benchmark"] == "0"]
    assert first[0]["strategy"] == "constant 2/s" and first[0]["start_s"] == "0.0"
    assert sum(int(r["started"]) for r in first) == 40
    assert first[1]["requests_per_second"] == "2.0"
    assert first[0]["stage"] == ""  # no stages: empty


def test_html_over_time_charts_with_stage_markers(staged: Report) -> None:
    page = render_html(staged)
    section = page.split("<section class='over-time'", 1)[1].split("</section>", 1)[0]
    assert section.count("<svg") == 3
    assert "rate over time" in section and "request latency over time" in section
    assert section.count('class="stage-marker"') == 2 * 3
    assert ">stage 1</text>" in section
    assert 'data-series="intended req/s"' in section
    assert "<circle" not in section  # lines only: hundreds of slices stay small
    for points in section.split('points="')[1:]:
        assert points.split('"', 1)[0].strip()


def test_a_stage_table_follows_the_benchmark_tables(staged: Report) -> None:
    from guidellm.outputs.tables import report_tables

    tables = report_tables(staged)
    assert tables[-1].title.startswith("Stages")
    rows = tables[-1].rows
    assert [r[1:3] for r in rows] == [["0", "4/s"], ["1", "4→12/s"]]
    assert [r[4] for r in rows] == ["8/0/0", "8/0/0"]  # by intended send time
    assert all(not t.title.startswith("Stages") for t in report_tables(sweep_report()))
