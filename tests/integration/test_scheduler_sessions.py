"""Sessions on real worker processes (server-less backend): turns follow each other on one
worker with the live history, think time spaces them, limits count turns, and every turn of
a stopped session is accounted for."""

from __future__ import annotations

import asyncio
import itertools
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from schedulerrun import run_schedule

from guidellm.errors import ServerError
from guidellm.request import GenerationRequest, RequestResult, RequestStatus, Turn, now
from guidellm.scheduler.scheduler import Limits
from guidellm.scheduler.strategies import ConcurrentStrategy, ConstantStrategy
from guidellm.testing.sleep_backend import SleepBackend


class HistoryBackend(SleepBackend):
    """Answers with the conversation it was sent, so a test can read what each turn carried:
    ``<turn id|messages|previous answer>``. A session whose id ends in ``-fail`` fails at its
    second turn."""

    async def resolve(self, request: GenerationRequest, recorder: Any) -> None:
        await asyncio.sleep(self.ttft)
        messages = request.messages or []
        if request.session_id and request.session_id.endswith("-fail") and len(messages) > 2:
            raise ServerError("told to fail")
        previous = next((m["content"] for m in reversed(messages) if m["role"] == "assistant"), "")
        recorder.content(f"<{request.request_id}|{len(messages)}|{previous}>", now())
        recorder.usage(None, 1)


def _sessions(
    count: int, turns: int = 3, think: float = 0.0, fail: set[int] | None = None
) -> Iterator[GenerationRequest]:
    for i in range(count):
        key = f"s{i}-fail" if fail and i in fail else f"s{i}"
        yield GenerationRequest(
            key,
            messages=[{"role": "system", "content": "be brief"}],
            turns=[
                Turn([{"role": "user", "content": f"{key} q{k}"}], max_tokens=1, think_time=think)
                for k in range(1, turns + 1)
            ],
            session_id=key,
        )


def _by_session(results: list[RequestResult]) -> dict[str, list[RequestResult]]:
    out: dict[str, list[RequestResult]] = defaultdict(list)
    for r in sorted(results, key=lambda r: r.turn):
        assert r.session_id is not None
        out[r.session_id].append(r)
    return out


def test_turns_carry_the_live_history_and_stay_on_one_worker(pool_kind: str) -> None:
    backend = HistoryBackend(ttft_ms=10)
    summary, results = run_schedule(
        ConcurrentStrategy(4), _sessions(12, think=0.05), backend, pool_kind=pool_kind
    )
    assert summary.stop_reason == "data_exhausted"
    assert len(results) == summary.sent == 36
    assert summary.completed_items == 12  # sessions done whole: the strategy's unit
    sessions = _by_session(results)
    assert len(sessions) == 12
    workers = set()
    for key, turns in sessions.items():
        assert [r.turn for r in turns] == [1, 2, 3]
        assert {r.worker for r in turns} == {turns[0].worker}
        workers.add(turns[0].worker)
        assert [r.session_end for r in turns] == [False, False, True]
        assert all(r.session_turns == 3 and r.status == RequestStatus.SUCCESSFUL for r in turns)
        # Each answer names its own turn and quotes the previous answer verbatim: the turn
        # was sent with the answer before it, as the client received it.
        texts = [r.output_text for r in turns]
        assert texts[0] == f"<{key}.1|2|>"  # system + first question
        assert texts[1] == f"<{key}.2|4|{texts[0]}>"
        assert texts[2] == f"<{key}.3|6|{texts[1]}>"
        # Think time: a turn is scheduled 50 ms after the previous answer ended.
        for before, after in itertools.pairwise(turns):
            assert abs(after.scheduled_time - (before.request_end + 0.05)) < 1e-6
            assert after.request_start - after.scheduled_time < 0.005
    assert workers == {0, 1}


def test_a_failed_turn_ends_its_session(pool_kind: str) -> None:
    summary, results = run_schedule(
        ConcurrentStrategy(2),
        _sessions(4, fail={1}),
        HistoryBackend(ttft_ms=5),
        pool_kind=pool_kind,
    )
    sessions = _by_session(results)
    failed = sessions["s1-fail"]
    assert [(r.turn, r.status, r.session_end) for r in failed] == [
        (1, RequestStatus.SUCCESSFUL, False),
        (2, RequestStatus.ERRORED, True),
    ]
    assert len(results) == summary.sent == 3 * 3 + 2
    assert summary.completed_items == 3


def test_max_requests_counts_turns_and_cuts_the_last_session(pool_kind: str) -> None:
    summary, results = run_schedule(
        ConcurrentStrategy(2),
        _sessions(10),
        HistoryBackend(ttft_ms=5),
        Limits(max_requests=7),
        pool_kind=pool_kind,
    )
    assert len(results) == summary.sent == 7
    sessions = _by_session(results)
    assert sorted(len(t) for t in sessions.values()) == [1, 3, 3]
    cut = next(t for t in sessions.values() if len(t) == 1)
    assert cut[0].session_turns == 3 and cut[0].session_end


def test_max_sessions_counts_sessions(pool_kind: str) -> None:
    summary, results = run_schedule(
        ConcurrentStrategy(2),
        _sessions(10),
        HistoryBackend(ttft_ms=5),
        Limits(max_sessions=3),
        pool_kind=pool_kind,
    )
    assert summary.stop_reason == "completed"
    assert len(_by_session(results)) == 3 and len(results) == 9


def test_a_run_stopped_mid_session_accounts_for_every_turn(pool_kind: str) -> None:
    """Open loop, 20 sessions/s of 4 turns 300 ms apart, stopped at 0.5 s: sessions
    started = completed + cut short; turns sent + not sent = planned turns of those started."""
    summary, results = run_schedule(
        ConstantStrategy(20),
        _sessions(1000, turns=4, think=0.3),
        HistoryBackend(ttft_ms=10),
        Limits(max_seconds=0.5),
        pool_kind=pool_kind,
    )
    assert summary.stop_reason == "max_seconds"
    assert len(results) == summary.sent == summary.successful + summary.incomplete
    sessions = _by_session(results)
    started = len(sessions)
    completed = sum(
        1 for t in sessions.values() if len(t) == 4 and t[-1].status == RequestStatus.SUCCESSFUL
    )
    cut_short = started - completed
    assert started >= 9 and completed == 0 and cut_short == started
    planned = sum(t[0].session_turns for t in sessions.values())
    sent = len(results)
    not_sent = sum(t[0].session_turns - len(t) for t in sessions.values())
    assert sent + not_sent == planned == 4 * started
    assert not_sent > 0


def test_recorded_history_sends_the_recorded_replies(pool_kind: str) -> None:
    def recorded() -> Iterator[GenerationRequest]:
        for i in range(4):
            yield GenerationRequest(
                f"r{i}",
                turns=[
                    Turn(
                        [{"role": "user", "content": f"q{k}"}],
                        max_tokens=1,
                        reply={"role": "assistant", "content": f"recorded answer {i}.{k}"},
                    )
                    for k in (1, 2, 3)
                ],
                session_id=f"r{i}",
                recorded_history=True,
            )

    _, results = run_schedule(
        ConcurrentStrategy(2), recorded(), HistoryBackend(ttft_ms=2), pool_kind=pool_kind
    )
    for key, turns in _by_session(results).items():
        i = key[1:]
        # Each turn quotes the previous turn's recorded reply, not the live answer.
        assert [t.output_text for t in turns] == [
            f"<{key}.1|1|>",
            f"<{key}.2|3|recorded answer {i}.1>",
            f"<{key}.3|5|recorded answer {i}.2>",
        ]
