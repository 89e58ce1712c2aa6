"""Writing the outputs at the end of a run: one failing writer costs nothing else."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from journalread import journal_records

from guidellm.benchmark.benchmarker import Benchmarker, RunSettings
from guidellm.benchmark.journal import Journal
from guidellm.outputs.base import ReportWriter
from guidellm.outputs.files import JSONWriter
from guidellm.plugins import PluginHost
from guidellm.request import GenerationRequest
from guidellm.testing.sleep_backend import SleepBackend


class _BrokenWriter(ReportWriter):
    """A plugin writer whose write fails (its message carries a key, as a bug's might)."""

    name = "broken"
    extensions = (".broken",)

    def write(self, report: Any) -> None:
        raise RuntimeError("cannot upload with api_key=sk-SECRET1")


def _requests() -> Iterator[GenerationRequest]:
    for i in itertools.count():
        yield GenerationRequest(f"r{i}", prompt="hi", max_tokens=2)


def test_a_failing_output_does_not_stop_the_others_nor_the_journal(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    first, last = tmp_path / "first.json", tmp_path / "last.json"
    broken = tmp_path / "out.broken"
    journal_path = tmp_path / "run.jsonl"
    host = PluginHost(entry_points=False)

    class _Requests:
        def __iter__(self) -> Iterator[GenerationRequest]:
            return itertools.islice(_requests(), 1000)

    bench = Benchmarker(
        backend=SleepBackend(ttft_ms=1, itl_ms=0, output_tokens=2),
        requests=_Requests(),
        profile=host.profiles.get("synchronous")(None, {}),
        settings=RunSettings(max_requests=5, workers=1),
        writers=[JSONWriter(first), _BrokenWriter(broken), JSONWriter(last)],
        journal=Journal(journal_path),
        config={"test": True},
    )
    outcome = bench.run()
    assert outcome.exit_code == 1 and outcome.interrupted is False
    assert outcome.failed_outputs == [str(broken)]
    for path in (first, last):
        (written,) = json.loads(path.read_text())["benchmarks"]
        assert written["requests"]["successful"] == 5
    lines = journal_records(journal_path)
    assert lines[-1] == {"type": "run_end", "exit_code": 1}
    assert bench.journal is not None and bench.journal._file.closed
    err = [line for line in capfd.readouterr().err.splitlines() if "could not write" in line]
    assert err == [
        f"guidellm: could not write output {broken}: RuntimeError: cannot upload with api_key=***"
    ]


def test_a_bad_row_met_mid_run_stops_with_its_line_and_keeps_what_was_measured(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Streamed data is checked as it is read: a bad row after the load started ends the
    data there; the run stops with that row's one-line error (exit 2), and the requests
    already answered are in the report."""
    from guidellm.errors import UserError

    class _Streamed:
        def __iter__(self) -> Iterator[GenerationRequest]:
            for i in range(6):
                yield GenerationRequest(f"r{i}", prompt="hi", max_tokens=2)
            raise UserError("row 7, column 'image': 12 bytes that are no known image format")

    host = PluginHost(entry_points=False)
    report_path = tmp_path / "r.json"
    outcome = Benchmarker(
        backend=SleepBackend(ttft_ms=1, itl_ms=0, output_tokens=2),
        requests=_Streamed(),
        profile=host.profiles.get("synchronous")(None, {}),
        settings=RunSettings(max_requests=50, workers=1),
        writers=[JSONWriter(report_path)],
    ).run()
    assert outcome.exit_code == 2
    (bench,) = json.loads(report_path.read_text())["benchmarks"]
    assert bench["requests"]["successful"] == 6
    assert bench["client"]["stop_reason"] == "data_exhausted"
    err = capsys.readouterr().err
    assert "guidellm: error: row 7, column 'image'" in err
