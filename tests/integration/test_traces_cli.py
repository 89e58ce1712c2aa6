"""Traces through the CLI: a bad row costs one line naming the row and the fix, exit 2 and no
request (the mock server's own count holds); a good trace runs and the report describes it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from clirun import guidellm, mock_requests, one_line

from guidellm.mock_server import MockServer
from guidellm.mock_server.behavior import MockServerConfig

SAMPLES = Path(__file__).resolve().parents[2] / "examples" / "traces"


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    mock = MockServer(MockServerConfig(ttft_ms=1, itl_ms=1, output_tokens=4))
    url = mock.start_process()
    try:
        yield url
    finally:
        mock.stop()


def _row(t: object, n: object = 9, out: object = 2) -> str:
    return json.dumps({"timestamp": t, "input_length": n, "output_length": out, "hash_ids": [0]})


BAD = [
    ("unsorted", [_row(5), _row(4)], ("line 2", "goes back in time", "sort the trace")),
    ("negative", [_row(-3)], ("line 1", "negative", "count time from 0")),
    ("missing length", [_row(0), _row(1, n=None)], ("line 2", "input_length is missing")),
    ("non-numeric", [_row(0), _row(1, n="lots")], ("line 2", "'lots' is not a number")),
    ("bad timestamp", [_row(0), _row("tea time")], ("line 2", "neither a number", "datetime")),
    ("empty", [], ("empty trace", "check the file")),
]


@pytest.mark.parametrize(("case", "lines", "words"), BAD, ids=[b[0] for b in BAD])
def test_a_bad_trace_is_one_line_and_sends_nothing(
    server: str, tmp_path: Path, case: str, lines: list[str], words: tuple[str, ...]
) -> None:
    trace = tmp_path / "trace.jsonl"
    trace.write_text("".join(line + "\n" for line in lines))
    before = mock_requests(server)
    proc = guidellm(
        ["run", "--target", server, "--data", str(trace), "--data-args", "format=mooncake",
         "--profile", "synchronous", "--max-requests", "3"],
        tmp_path,
    )  # fmt: skip
    one_line(proc, str(trace), *words)
    assert mock_requests(server) == before


def test_a_trace_runs_and_the_report_describes_it(server: str, tmp_path: Path) -> None:
    before = mock_requests(server)
    proc = guidellm(
        ["run", "--target", server, "--data", str(SAMPLES / "burstgpt.csv"), "--data-args",
         'model=ChatGPT,log_type="Conversation log",ignore_eos=true', "--profile", "synchronous",
         "--max-requests", "4", "--output", "r.json", "--disable-progress"],
        tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert mock_requests(server) - before == 4
    report = json.loads((tmp_path / "r.json").read_text())
    trace = report["resolved"]["data"]["trace"]
    assert trace["format"] == "burstgpt"
    assert trace["filters"] == {"model": "ChatGPT", "log_type": "Conversation log"}
    assert trace["rows"] + trace["rows_skipped"] == trace["rows_read"] == 40
    assert trace["skipped_reasons"]["Model is not ChatGPT"] > 0
    (bench,) = report["benchmarks"]
    assert bench["requests"]["successful"] == 4
