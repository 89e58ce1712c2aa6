"""The per-request export of real runs against the mock server: read back in every format
with the documented columns, equal to the JSON report's numbers, rebuilt from the journal."""

from __future__ import annotations

import csv
import json
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from clirun import guidellm, mock_requests, one_line

from guidellm.benchmark.journal import read_journal
from guidellm.benchmark.request_rows import request_columns
from guidellm.benchmark.statistics import quantiles
from guidellm.mock_server import MockServer, MockServerConfig

pa = pytest.importorskip("pyarrow")  # the [hf] extra, installed with [dev]
pq = pytest.importorskip("pyarrow.parquet")

NAMES = [name for name, _ in request_columns()]
ARROW = {
    "int": pa.int64(),
    "str": pa.string(),
    "float": pa.float64(),
    "time": pa.timestamp("us", tz="UTC"),
    "float_list": pa.list_(pa.float64()),
}
#: Python types a JSONL value of each kind may have (besides null).
JSON_TYPES: dict[str, tuple[type, ...]] = {
    "int": (int,),
    "str": (str,),
    "float": (float, int),
    "time": (str,),
    "float_list": (list,),
}
UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    config = MockServerConfig(
        ttft_ms=3.0, ttft_ms_std=1.0, itl_ms=1.0, output_tokens=6, error_500_rate=0.1, seed=7
    )
    mock = MockServer(config)
    url = mock.start_process()
    try:
        yield url
    finally:
        mock.stop()


def _journal_of(stderr: str) -> Path:
    """The journal the run named on stderr (``guidellm: journal: PATH``)."""
    line = next(ln for ln in stderr.splitlines() if ln.startswith("guidellm: journal: "))
    return Path(line.removeprefix("guidellm: journal: "))


@pytest.fixture(scope="module")
def run(server: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("export")
    outputs = ["r.json", "r.requests.parquet", "r.requests.jsonl", "r.requests.csv"]
    proc = guidellm(
        ["run", "--target", server, "--profile", "concurrent", "--rate", "8",
         "--max-requests", "300", "--data", "prompt_tokens=16,output_tokens=6",
         *[arg for out in outputs for arg in ("--output", out)], "--disable-progress"],
        cwd=folder, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    (bench,) = json.loads((folder / "r.json").read_text())["benchmarks"]
    journal = folder / _journal_of(proc.stderr)
    run_record = next(record for kind, record in read_journal(journal) if kind == "run")
    return {"folder": folder, "bench": bench, "stderr": proc.stderr, "journal": journal,
            "epoch_offset": run_record.get("epoch_offset")}  # fmt: skip


def _median(values: list[float | None]) -> float:
    """The report's median (p50, docs/metrics.md "Summaries") of the non-null values."""
    present = np.sort(np.array([v for v in values if v is not None], dtype=np.float64))
    return float(quantiles(present, np.array([0.5]))[0])


def _cell(kind: str, text: str) -> Any:
    """A CSV cell read back as its kind (empty: null)."""
    if text == "":
        return None
    if kind == "int":
        return int(text)
    if kind == "float":
        return float(text)
    if kind == "time":
        assert text.endswith("Z"), text
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    return text


def test_every_format_has_the_documented_columns_and_the_reports_numbers(
    run: dict[str, Any],
) -> None:
    folder, bench = run["folder"], run["bench"]
    requests = bench["requests"]
    total = requests["successful"] + requests["errored"] + requests["incomplete"]
    assert total == 300 and requests["errored"] > 0 and requests["outside_window"] == 0
    table = pq.read_table(folder / "r.requests.parquet")
    assert table.schema == pa.schema([(n, ARROW[k]) for n, k in request_columns()])
    lines = [json.loads(ln) for ln in (folder / "r.requests.jsonl").read_text().splitlines()]
    with (folder / "r.requests.csv").open(newline="") as f:
        reader = csv.reader(f)
        assert next(reader) == NAMES
        kinds = request_columns()
        cells = [
            {name: _cell(kind, text) for (name, kind), text in zip(kinds, row, strict=True)}
            for row in reader
        ]
    assert table.num_rows == len(lines) == len(cells) == total
    for line in lines:
        assert list(line) == NAMES
        for name, kind in request_columns():
            value = line[name]
            assert value is None or isinstance(value, JSON_TYPES[kind]), (name, value)
    parquet = table.to_pylist()
    ttft = bench["metrics"]["time_to_first_token_ms"]["successful"]["median"]
    tokens = bench["metrics"]["output_token_count"]["successful"]["mean"]
    for rows in (parquet, lines, cells):
        ok = [row for row in rows if row["status"] == "successful"]
        assert len(ok) == requests["successful"]
        assert _median([row["ttft_ms"] for row in ok]) == ttft  # exactly, not approximately
        # The report merges means block by block (docs/metrics.md: within ~1e-15 relative).
        assert np.mean([row["output_tokens"] for row in ok]) == pytest.approx(tokens, rel=1e-12)
        errors = Counter(row["error_category"] for row in rows if row["status"] == "errored")
        assert errors == bench["errors"]
        assert {row["strategy"] for row in rows} == {"concurrent 8"}
        assert {row["benchmark"] for row in rows} == {0}
    assert [row["request_id"] for row in lines] == table.column("request_id").to_pylist()
    # UTC times: the journal's clock plus the offset its run record holds, to the microsecond.
    offset = run["epoch_offset"]
    assert isinstance(offset, float)
    results = [rec[1] for kind, rec in read_journal(run["journal"]) if kind == "result"]
    assert [r.request_id for r in results] == table.column("request_id").to_pylist()
    for row, result in zip(parquet, results, strict=True):
        micros = round((result.request_start + offset) * 1e6)
        assert row["started_at"] == UNIX_EPOCH + timedelta(microseconds=micros)
    started = [row["started_at"].timestamp() for row in parquet]
    assert bench["start_time"] - 0.05 <= min(started) <= max(started) <= bench["end_time"] + 0.05
    assert [row["started_at"] for row in cells] == [row["started_at"] for row in parquet]
    assert "UTC timestamp columns are empty" not in run["stderr"]


def test_the_journal_gives_the_same_rows_afterwards(run: dict[str, Any], tmp_path: Path) -> None:
    proc = guidellm(
        ["report", str(run["journal"]), "--output", str(tmp_path / "x.requests.parquet"),
         "--disable-console-outputs"],
        cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    again = pq.read_table(tmp_path / "x.requests.parquet")
    assert again.equals(pq.read_table(run["folder"] / "r.requests.parquet"))


def test_export_chunks_lists_each_chunks_arrival(run: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "c.requests.jsonl"
    proc = guidellm(
        ["report", str(run["journal"]), "--export-chunks", "--output", str(out),
         "--disable-console-outputs"],
        cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 300 and list(rows[0])[-1] == "chunk_times_ms"
    assert sum(row["chunks"] for row in rows) > 0
    for row in rows:
        times = row["chunk_times_ms"]
        assert len(times) == row["chunks"] and times == sorted(times)
        if times:  # the first chunk is the first token; chunk times are whole microseconds
            assert abs(times[0] - row["ttft_ms"]) <= 0.0005 + 1e-9
            assert times == [round(t * 1000) / 1000 for t in times]


def test_run_export_chunks_gives_the_list_column(server: str, tmp_path: Path) -> None:
    proc = guidellm(
        ["run", "--target", server, "--profile", "synchronous", "--max-requests", "12",
         "--output", "r.requests.parquet", "--export-chunks", "--disable-progress"],
        cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    table = pq.read_table(tmp_path / "r.requests.parquet")
    assert table.schema.names[-1] == "chunk_times_ms" and table.num_rows == 12
    lengths = [len(times) for times in table.column("chunk_times_ms").to_pylist()]
    assert lengths == table.column("chunks").to_pylist()


def test_an_export_needs_a_journal_not_a_saved_report(
    run: dict[str, Any], server: str, tmp_path: Path
) -> None:
    proc = guidellm(
        ["report", str(run["folder"] / "r.json"), "--output", "x.requests.parquet"], cwd=tmp_path
    )
    one_line(proc, "x.requests.parquet", "saved report", "pass the run's journal")
    assert not list(tmp_path.iterdir())
    before = mock_requests(server)
    proc = guidellm(
        ["run", "--target", server, "--max-requests", "5", "--output", "j.requests.jsonl",
         "--journal", "j.requests.jsonl"],
        cwd=tmp_path,
    )  # fmt: skip
    one_line(proc, "--journal", "also an --output")
    assert mock_requests(server) == before  # refused before anything was sent


@pytest.mark.slow
def test_a_100000_request_export_matches_the_report(tmp_path: Path) -> None:
    """The quickest real way to 100,000 results: a mock server answering at once, 2 tokens,
    the throughput profile; about 10 s of load on 2 cores, the export a few more."""
    config = MockServerConfig(ttft_ms=0.0, itl_ms=0.0, output_tokens=2)
    with MockServer(config) as url:
        began = time.perf_counter()
        proc = guidellm(
            ["run", "--target", url, "--profile", "throughput", "--max-requests", "100000",
             "--data", "prompt_tokens=1,output_tokens=2", "--output", "r.json",
             "--output", "r.requests.parquet", "--server-metrics", "off", "--disable-progress"],
            cwd=tmp_path, timeout=280,
        )  # fmt: skip
        took = time.perf_counter() - began
    assert proc.returncode == 0, proc.stderr[-3000:]
    print(f"100,000-request run with its Parquet export: {took:.1f} s")
    (bench,) = json.loads((tmp_path / "r.json").read_text())["benchmarks"]
    table = pq.read_table(tmp_path / "r.requests.parquet")
    assert table.schema == pa.schema([(n, ARROW[k]) for n, k in request_columns()])
    meta = pq.ParquetFile(tmp_path / "r.requests.parquet").metadata
    assert meta.num_row_groups == 2  # bounded blocks of 65,536 rows
    requests = bench["requests"]
    assert table.num_rows == 100_000 == requests["successful"] + requests["errored"]
    frame = table.select(["status", "ttft_ms"]).to_pandas()
    ok = frame[frame["status"] == "successful"]["ttft_ms"].to_numpy()
    median = bench["metrics"]["time_to_first_token_ms"]["successful"]["median"]
    assert _median(ok.tolist()) == median
