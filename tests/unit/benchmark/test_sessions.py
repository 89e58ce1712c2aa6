"""Sessions, per-turn rows and the prompt cache: hand-built turns through the aggregator."""

from __future__ import annotations

from pathlib import Path

import pytest
from reportdata import compile_results, result, session_results, stream, turn

from guidellm.benchmark.journal import Journal, rebuild_report
from guidellm.benchmark.sessions import MAX_TURN_ROWS

_SETTINGS = {
    "warmup": None,
    "cooldown": None,
    "max_seconds": None,
    "max_requests": None,
    "slo": None,
}


def _rows(b):  # type: ignore[no-untyped-def]
    return {(t.turn, t.kind): t for t in b.turns}


def test_session_accounting_by_hand() -> None:
    b = compile_results(session_results())
    s = b.sessions
    assert s is not None
    assert (s.started, s.completed, s.cut_short) == (5, 2, 3)
    assert (s.ended_by_error, s.stopped) == (1, 2)
    assert (s.turns_planned, s.turns_sent, s.turns_not_sent) == (20, 14, 6)
    assert s.started == s.completed + s.cut_short
    assert s.cut_short == s.ended_by_error + s.stopped
    assert s.turns_sent + s.turns_not_sent == s.turns_planned
    assert s.tool_turns == 1
    assert s.turns_per_session_mean == pytest.approx(2.8)
    # Completed: a (0 -> 3.071 s) and b (0.5 -> 6.576 s).
    assert s.duration_s_p50 == pytest.approx((3.071 + 6.076) / 2)
    assert s.duration_s_mean == pytest.approx((3.071 + 6.076) / 2)
    assert s.duration_s_p90 == pytest.approx(3.071 + 0.9 * 3.005)
    assert s.duration_s_p99 == pytest.approx(3.071 + 0.99 * 3.005)
    assert b.duration == pytest.approx(6.576)
    assert s.completed_per_second == pytest.approx(2 / 6.576)
    # Every turn is an ordinary request too: 14 turns + 2 single requests.
    assert b.requests.successful + b.requests.errored + b.requests.incomplete == 16


def test_per_turn_rows_by_hand() -> None:
    b = compile_results(session_results())
    rows = _rows(b)
    assert list(rows) == [(1, "user"), (2, "user"), (2, "tool"), (3, "user"), (4, "user")]
    one = rows[1, "user"]
    assert (one.successful, one.errored, one.incomplete) == (5, 0, 0)
    # TTFT 10, 15, 20, 30, 50 ms.
    assert one.ttft_ms_p50 == pytest.approx(20.0)
    assert one.ttft_ms_p90 == pytest.approx(42.0)
    assert one.ttft_ms_p99 == pytest.approx(49.2)
    assert one.itl_ms_p50 == pytest.approx(10.0)
    assert one.latency_s_p50 == pytest.approx(0.020 + 0.031)
    assert (one.prompt_tokens_median, one.prompt_tokens_mean) == (100.0, 100.0)
    assert (one.output_tokens_median, one.output_tokens_mean) == (4.0, 4.0)
    # e did not say what it cached: the ratio is over a, b, c, d.
    assert one.cached_tokens == 0
    assert one.cache_hit_ratio == pytest.approx(0.0)
    two = rows[2, "user"]
    assert (two.successful, two.errored, two.incomplete) == (2, 1, 0)
    assert two.ttft_ms_p50 == pytest.approx(30.0)
    assert two.cached_tokens == 200
    assert two.cache_hit_ratio == pytest.approx(0.5)
    tool = rows[2, "tool"]
    assert (tool.successful, tool.errored, tool.incomplete) == (1, 0, 0)
    assert tool.ttft_ms_p99 == pytest.approx(25.0)
    assert tool.cache_hit_ratio == pytest.approx(0.5)
    three = rows[3, "user"]
    assert (three.successful, three.errored, three.incomplete) == (2, 0, 1)
    assert three.ttft_ms_p50 == pytest.approx(32.5)
    assert three.cache_hit_ratio == pytest.approx(400 / 600)
    four = rows[4, "user"]
    assert four.ttft_ms_p50 == pytest.approx(42.5)
    assert four.prompt_tokens_mean == pytest.approx(400.0)
    assert four.cache_hit_ratio == pytest.approx(0.75)
    assert not any(t.and_later for t in b.turns)
    # The rows hold every session result, and only those.
    assert sum(t.successful + t.errored + t.incomplete for t in b.turns) == 14


def test_prompt_cache_per_status() -> None:
    b = compile_results(session_results())
    pc = b.prompt_cache
    assert pc is not None
    # Successful results that reported: a1-4, b1-4, c1, d1, d2.
    assert (pc.successful.cached_tokens, pc.successful.prompt_tokens) == (1300, 2400)
    assert pc.successful.reported == 11
    assert pc.successful.hit_ratio == pytest.approx(1300 / 2400)
    assert pc.errored.reported == 0
    assert pc.errored.hit_ratio is None
    assert pc.total.cached_tokens == 1300
    assert pc.total.hit_ratio == pytest.approx(1300 / 2400)


def test_prompt_cache_without_sessions() -> None:
    plain = [result(float(i), prompt_tokens=200) for i in range(3)]
    import msgspec

    plain = [msgspec.structs.replace(r, cached_tokens=50 * i) for i, r in enumerate(plain)]
    b = compile_results([*plain, result(3.0)])
    assert b.sessions is None
    assert b.turns is None
    assert b.prompt_cache is not None
    assert b.prompt_cache.total.cached_tokens == 150
    assert b.prompt_cache.total.hit_ratio == pytest.approx(150 / 600)


def test_window_cuts_turns_but_not_sessions() -> None:
    whole = compile_results(session_results())
    # A warmup of 1 s: rows starting before 1.0 s are left out of the turns.
    b = compile_results(session_results(), warmup=1.0)
    assert b.sessions == whole.sessions
    rows = _rows(b)
    assert (1, "user") not in rows
    two = rows[2, "user"]
    assert (two.successful, two.errored) == (2, 1)
    assert sum(t.successful + t.errored + t.incomplete for t in b.turns) == 9
    # The cache counts are windowed like the token metrics: a1, b1, c1, d1 are left out.
    assert b.prompt_cache is not None
    assert b.prompt_cache.successful.reported == 7
    assert b.prompt_cache.successful.prompt_tokens == 2400 - 400


def test_late_turns_fold_into_one_row() -> None:
    results = [
        turn(float(i), "long", i + 1, planned=40, cached=10, end=i == 39, ttft=0.001 * (i + 1))
        for i in range(40)
    ]
    b = compile_results(results)
    assert len(b.turns) == MAX_TURN_ROWS
    last = b.turns[-1]
    assert (last.turn, last.and_later, last.successful) == (MAX_TURN_ROWS, True, 9)
    assert not b.turns[-2].and_later
    # Turns 32 .. 40: TTFT 32 .. 40 ms.
    assert last.ttft_ms_p50 == pytest.approx(36.0)
    assert b.sessions is not None
    assert (b.sessions.completed, b.sessions.turns_planned, b.sessions.turns_not_sent) == (1, 40, 0)


def test_single_turn_benchmark_has_no_sessions() -> None:
    b = compile_results(stream(50, rate=10.0))
    assert b.sessions is None
    assert b.turns is None
    assert b.prompt_cache is None
    dumped = b.model_dump(mode="json")
    assert dumped["sessions"] is None and dumped["turns"] is None


def test_many_blocks_keep_rows_aligned() -> None:
    """Session rows point at the right aggregator row across flushed blocks."""
    results = []
    for s in range(3000):
        for t in (1, 2):
            results.append(
                turn(s * 0.01 + t * 0.001, f"s{s}", t, planned=2, ttft=0.01 * t, end=t == 2)
            )
        results.append(result(s * 0.01 + 0.005, ttft=0.5))
    b = compile_results(results)
    rows = _rows(b)
    assert rows[1, "user"].successful == 3000
    assert rows[1, "user"].ttft_ms_p99 == pytest.approx(10.0)
    assert rows[2, "user"].ttft_ms_p50 == pytest.approx(20.0)
    assert b.sessions is not None
    assert b.sessions.completed == 3000


def test_journal_rebuild_matches_the_live_benchmark(tmp_path: Path) -> None:
    results = session_results()
    live = compile_results(results)
    path = tmp_path / "run.jsonl"
    journal = Journal(path)
    journal.run_started({}, {})
    journal.benchmark_started(0, {"type": "constant", "rate": 1.0}, _SETTINGS)
    for r in results:
        journal.result(0, r)
    journal.close()
    rebuilt = rebuild_report(path).benchmarks[0]
    assert rebuilt.sessions == live.sessions
    assert rebuilt.turns == live.turns
    assert rebuilt.prompt_cache == live.prompt_cache


def test_ended_sessions_leave_no_id_behind() -> None:
    """Many conversations, one after another: each lets its id go at its last turn, and the
    sessions are still counted and told apart."""
    from guidellm.benchmark.sessions import SessionTracker

    tracker = SessionTracker()
    row = 0
    for k in range(5000):
        for t in (1, 2):
            tracker.add(turn(float(k), f"s{k}", t, end=t == 2), f"s{k}", row)
            row += 1
    tracker.add(turn(9e3, "open", 1), "open", row)  # still going: kept
    assert len(tracker) == 5001 and list(tracker._ids) == ["open"]
    number, rows, turns, _, _ = tracker.columns()
    assert number[:4].tolist() == [0, 0, 1, 1] and number[-1] == 5000
    assert turns[:4].tolist() == [1, 2, 1, 2] and rows[-1] == row
