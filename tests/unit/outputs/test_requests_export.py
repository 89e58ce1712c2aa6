"""The per-request export's files: chosen by suffix, the same rows in Parquet, JSONL and CSV,
documented column for column, and Parquet without pyarrow refused before the run."""

from __future__ import annotations

import csv
import json
import re
import sys
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from guidellm.benchmark.request_rows import request_columns
from guidellm.errors import UserError
from guidellm.outputs import writers_for
from guidellm.outputs.requests_export import RequestsExportWriter, write_requests
from guidellm.plugins import PluginHost
from guidellm.request import RequestResult

ROOT = Path(__file__).resolve().parents[3]
EPOCH = 1_750_000_000.0
#: docs/metrics.md's type names for the columns' kinds.
DOC_TYPES = {
    "int": "int64",
    "str": "string",
    "float": "float64",
    "time": "timestamp",
    "float_list": "list<float64>",
}


@pytest.fixture
def host() -> PluginHost:
    return PluginHost(builtins=("guidellm.outputs.builtin",), entry_points=False)


def _records(epoch: float | None = EPOCH) -> Iterator[tuple[str, Any]]:
    yield "run", {"metadata": {}} if epoch is None else {"metadata": {}, "epoch_offset": epoch}
    yield "benchmark", {"index": 0, "strategy": {"type": "synchronous"}, "settings": {}}
    yield "result", (0, RequestResult(
        request_id="ok", status="successful", scheduled_time=10.0, request_start=10.001,
        request_end=10.3, first_token_time=10.1, last_token_time=10.2,
        chunk_times=[10.1, 10.15, 10.2], content_chunks=3, prompt_tokens=7, output_tokens=3,
    ))  # fmt: skip
    yield "result", (0, RequestResult(
        request_id="bad", status="errored", scheduled_time=11.0, request_start=11.0,
        request_end=11.05, error_category="http_5xx", error='HTTP 500: "oops", again',
    ))  # fmt: skip


def test_writers_are_chosen_by_the_longest_ending(host: PluginHost, tmp_path: Path) -> None:
    names = ["report.csv", "x.requests.csv", "r.turns.csv", "x.parquet", "x.jsonl",
             "x.requests.jsonl", "r.json"]  # fmt: skip
    chosen = [w.name for w in writers_for([tmp_path / n for n in names], host)]
    assert chosen == ["csv", "requests", "turns", "requests", "requests", "requests", "json"]


def test_run_wide_options_reach_only_the_writers_that_take_them(
    host: PluginHost, tmp_path: Path
) -> None:
    paths = [tmp_path / "r.requests.parquet", tmp_path / "r.json"]
    export, report = writers_for(paths, host, options={"export_chunks": True})
    assert export.options == {"export_chunks": True} and export.needs_journal
    assert report.options == {} and not report.needs_journal
    assert export.journal is None  # until the runner (or guidellm report) sets it


def test_parquet_without_pyarrow_fails_when_the_writers_are_chosen(
    host: PluginHost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # importlib finds no such module now
    with pytest.raises(UserError) as info:
        writers_for([tmp_path / "r.requests.parquet"], host)
    assert "pip install 'guidellm[parquet]'" in str(info.value)
    assert "\n" not in str(info.value)
    (writer,) = writers_for([tmp_path / "r.requests.jsonl"], host)  # needs nothing more
    assert writer.name == "requests"


def test_write_without_a_journal_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"pass the journal of the run"):
        RequestsExportWriter(tmp_path / "r.requests.csv").write(None)  # type: ignore[arg-type]
    assert not (tmp_path / "r.requests.csv").exists()


def _iso(seconds: float) -> str:
    stamp = datetime.fromtimestamp(round(seconds * 1e6) / 1e6, tz=timezone.utc)
    return stamp.isoformat(timespec="microseconds").replace("+00:00", "Z")


def test_the_three_formats_hold_the_same_rows(tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")  # the [hf] extra, installed with [dev]
    paths = {fmt: tmp_path / f"r.requests.{fmt}" for fmt in ("parquet", "jsonl", "csv")}
    for path in paths.values():
        write_requests(_records(), path, chunks=True)
    names = [name for name, _ in request_columns(chunks=True)]
    table = pq.read_table(paths["parquet"])
    assert table.column_names == names
    assert str(table.schema.field("started_at").type) == "timestamp[us, tz=UTC]"
    assert str(table.schema.field("chunk_times_ms").type) == "list<element: double>"
    parquet = table.to_pylist()
    lines = [json.loads(line) for line in paths["jsonl"].read_text().splitlines()]
    with paths["csv"].open(newline="") as f:
        reader = csv.reader(f)
        assert next(reader) == names
        cells = list(reader)
    assert [list(line) for line in lines] == [names, names]
    ok, bad = lines
    assert ok["started_at"] == _iso(10.001 + EPOCH) and ok["started_at"].endswith("Z")
    assert parquet[0]["started_at"] == datetime.fromisoformat(ok["started_at"])
    assert ok["ttft_ms"] == parquet[0]["ttft_ms"] == float(cells[0][names.index("ttft_ms")])
    assert ok["chunk_times_ms"] == parquet[0]["chunk_times_ms"]
    assert cells[0][names.index("chunk_times_ms")] == ";".join(map(repr, ok["chunk_times_ms"]))
    assert bad["ttft_ms"] is None and parquet[1]["ttft_ms"] is None
    assert cells[1][names.index("ttft_ms")] == "" and cells[1][names.index("first_token_at")] == ""
    assert bad["chunk_times_ms"] == [] and cells[1][names.index("chunk_times_ms")] == ""
    assert bad["error"] == parquet[1]["error"] == cells[1][names.index("error")]
    assert (bad["error_category"], bad["strategy"]) == ("http_5xx", "synchronous")
    assert not list(tmp_path.glob(".*.tmp"))


def test_no_results_still_give_a_readable_file(tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    only_run = [("run", {"metadata": {}, "epoch_offset": EPOCH})]
    for fmt in ("parquet", "jsonl", "csv"):
        write_requests(iter(only_run), tmp_path / f"e.requests.{fmt}")
    assert pq.read_table(tmp_path / "e.requests.parquet").num_rows == 0
    assert (tmp_path / "e.requests.jsonl").read_text() == ""
    header = (tmp_path / "e.requests.csv").read_text().strip().split(",")
    assert header == [name for name, _ in request_columns()]


def _documented() -> list[tuple[str, str]]:
    """``(column, type)`` rows of docs/metrics.md's "Per-request export" table."""
    text = (ROOT / "docs" / "metrics.md").read_text()
    section = text.split("\n## Per-request export\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `([a-z0-9_]+)` \| ([^|]+?) \|", section, re.MULTILINE)


def test_the_docs_list_exactly_the_columns_written() -> None:
    documented = _documented()
    assert len(documented) > 10  # the parse works
    written = [(name, DOC_TYPES[kind]) for name, kind in request_columns(chunks=True)]
    assert documented == written, "docs/metrics.md's per-request table drifted from COLUMNS"
