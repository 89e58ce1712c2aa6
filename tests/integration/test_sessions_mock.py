"""Conversations against the mock server's prefix-cache model, run as a user runs them
(``guidellm run`` in a subprocess): turn 2+ is faster than turn 1 exactly as the model says,
and a run stopped mid-session accounts for every session and turn."""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from clirun import guidellm
from journalread import journal_results

from guidellm.mock_server import MockServer, MockServerConfig
from guidellm.request import RequestResult, RequestStatus

TTFT_MS, PREFILL_MS, BLOCK = 5.0, 0.1, 16


@pytest.fixture
def mock_url() -> Iterator[str]:
    config = MockServerConfig(
        ttft_ms=TTFT_MS, itl_ms=1.0, prefill_ms_per_token=PREFILL_MS, prefix_block_tokens=BLOCK
    )
    with MockServer(config) as url:
        yield url


def _results(journal: Path) -> list[RequestResult]:
    return journal_results(journal)


def _run(url: str, tmp_path: Path, *args: str) -> tuple[dict[str, Any], list[RequestResult]]:
    proc = guidellm(
        ["run", "--target", url, "--output", "r.json", "--disable-progress", *args], tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    (bench,) = json.loads((tmp_path / "r.json").read_text())["benchmarks"]
    return bench, _results(tmp_path / "r.journal")


def test_later_turns_are_as_fast_as_the_prefix_cache_model_says(
    mock_url: str, tmp_path: Path
) -> None:
    bench, results = _run(
        mock_url, tmp_path,
        "--data", "turns=4,prompt_tokens=300,turn_prompt_tokens=60,output_tokens=20",
        "--profile", "concurrent", "--rate", "4", "--max-sessions", "24",
    )  # fmt: skip
    assert len(results) == 96 and all(r.status == RequestStatus.SUCCESSFUL for r in results)
    sessions: dict[str, dict[int, RequestResult]] = defaultdict(dict)
    for r in results:
        assert r.session_id is not None
        sessions[r.session_id][r.turn] = r
    measured: dict[int, list[float]] = defaultdict(list)
    predicted: dict[int, list[float]] = defaultdict(list)
    for turns in sessions.values():
        assert sorted(turns) == [1, 2, 3, 4]
        for k, r in turns.items():
            assert r.prompt_tokens is not None and r.first_token_time is not None
            # Turn k's prompt begins with turn k-1's whole prompt: its full blocks are cached
            # (all but the last token at most); turn 1 shares nothing.
            previous = turns[k - 1].prompt_tokens if k > 1 else 0
            assert previous is not None
            cached = min(previous // BLOCK, (r.prompt_tokens - 1) // BLOCK) * BLOCK
            assert r.cached_tokens == cached, (k, r.cached_tokens, cached)
            predicted[k].append(TTFT_MS + PREFILL_MS * (r.prompt_tokens - cached))
            measured[k].append((r.first_token_time - r.request_start) * 1000)
    report_rows = {row["turn"]: row for row in bench["turns"]}
    for k in range(1, 5):
        model, seen = statistics.median(predicted[k]), statistics.median(measured[k])
        assert report_rows[k]["ttft_ms_p50"] == pytest.approx(seen, abs=0.5)
        print(f"turn {k}: TTFT median {seen:.2f} ms, model {model:.2f} ms")
        assert abs(seen - model) < 1.0, (k, seen, model)
    # The model's point: a later turn, with a longer prompt, starts faster than the first.
    assert statistics.median(measured[2]) < statistics.median(measured[1]) - 10


def test_a_run_stopped_mid_session_counts_every_session_and_turn(
    mock_url: str, tmp_path: Path
) -> None:
    bench, results = _run(
        mock_url, tmp_path,
        "--data", "turns=5,prompt_tokens=50,output_tokens=10,think_time_ms=400",
        "--profile", "constant", "--rate", "10", "--max-seconds", "1.5",
    )  # fmt: skip
    by_session: dict[str, list[RequestResult]] = defaultdict(list)
    for r in results:
        assert r.session_id is not None
        by_session[r.session_id].append(r)
    started = len(by_session)
    completed = sum(
        1
        for turns in by_session.values()
        if len(turns) == 5 and all(t.status == RequestStatus.SUCCESSFUL for t in turns)
    )
    planned = sum(turns[0].session_turns for turns in by_session.values())
    assert started >= 10 and completed < started
    assert planned == 5 * started and len(results) < planned
    requests = bench["requests"]
    assert requests["successful"] + requests["errored"] + requests["incomplete"] == len(results)
    # The report's accounting: every session started is completed or cut short, every turn
    # planned for them was sent or not.
    s = bench["sessions"]
    assert (s["started"], s["completed"], s["turns_planned"]) == (started, completed, planned)
    assert s["started"] == s["completed"] + s["cut_short"]
    assert s["turns_sent"] == len(results)
    assert s["turns_sent"] + s["turns_not_sent"] == s["turns_planned"]
    assert s["scheduled"] == "sessions" and s["started_per_second"] > 0
