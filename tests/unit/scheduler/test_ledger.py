"""The Ledger: a lost worker's launched requests are counted, its queued ones handed back."""

from __future__ import annotations

from guidellm.request import GenerationRequest, RequestResult, Turn
from guidellm.scheduler.ledger import WORKER_LOST, Ledger


def _req(i: int) -> GenerationRequest:
    return GenerationRequest(str(i), prompt="p", prompt_tokens=3, max_tokens=5)


def _done(i: int) -> RequestResult:
    return RequestResult(str(i), "successful", 1.0, 1.0, 2.0)


def test_only_launched_unanswered_requests_are_lost() -> None:
    ledger = Ledger(2, [10, 0])  # worker 0 had launched 10 before this benchmark
    for i in range(6):
        ledger.shipped(0, 100.0 + i, _req(i))
    ledger.settled(0, [_done(1), _done(0)])  # answered out of order
    # 4 launched in this benchmark (14 - 10): 0..3; 0 and 1 answered; 4 and 5 never sent
    lost, unsent = ledger.lost(0, 14, when=200.0, reason="worker 0 was killed by SIGKILL")
    assert [r.request_id for r in lost] == ["2", "3"]
    assert [(t, r.request_id) for t, r in unsent] == [(104.0, "4"), (105.0, "5")]
    assert {r.status for r in lost} == {"incomplete"}
    assert {r.error_category for r in lost} == {WORKER_LOST}
    assert lost[0].scheduled_time == 102.0 and lost[0].request_end == 200.0
    assert lost[0].request_prompt_tokens == 3 and lost[0].requested_output_tokens == 5
    assert ledger.holding(0) == 0


def test_without_a_launch_count_requests_due_by_the_loss_count() -> None:
    ledger = Ledger(1, [None])
    for i in range(4):
        ledger.shipped(0, float(i), _req(i))
    lost, unsent = ledger.lost(0, None, when=1.5, reason="gone")
    assert [r.request_id for r in lost] == ["0", "1"]
    assert [r.request_id for _, r in unsent] == ["2", "3"]


def test_repeated_request_ids_keep_the_count() -> None:
    ledger = Ledger(1, [0])
    for _ in range(3):
        ledger.shipped(0, 0.0, _req(7))
    ledger.settled(0, [_done(7)])
    assert ledger.holding(0) == 2
    lost, unsent = ledger.lost(0, 3, when=5.0, reason="gone")
    assert not unsent
    assert len(lost) == 2 and lost[0].scheduled_time == 5.0  # closed loop: the loss time


def _session(key: str, turns: int) -> GenerationRequest:
    return GenerationRequest(
        key,
        turns=[Turn([{"role": "user", "content": "q"}], max_tokens=4) for _ in range(turns)],
        session_id=key,
    )


def _turn(key: str, turn: int, end: bool = False) -> RequestResult:
    return RequestResult(
        f"{key}.{turn}", "successful", 1.0, 1.0, 2.0, session_id=key, turn=turn,
        session_turns=3, session_end=end,
    )  # fmt: skip


def test_a_session_is_one_entry_until_its_last_turn() -> None:
    ledger = Ledger(1, [0])
    ledger.shipped(0, 0.0, _session("a", 3))
    ledger.shipped(0, 0.0, _session("b", 3))
    ledger.shipped(0, 0.0, _session("c", 3))
    ledger.settled(0, [_turn("a", 1), _turn("a", 2), _turn("a", 3, end=True), _turn("b", 1)])
    assert ledger.holding(0) == 2  # b (one turn answered) and c
    # 6 turns launched: a's three, b's first, then b's second and c's first on the wire.
    lost, unsent = ledger.lost(0, 6, when=5.0, reason="gone")
    assert not unsent
    assert [(r.session_id, r.turn) for r in lost] == [("b", 2), ("c", 1)]
    assert all(r.session_end and r.session_turns == 3 for r in lost)
    assert {r.error_category for r in lost} == {WORKER_LOST}


def test_a_lost_turn_is_charged_to_a_session_not_thinking() -> None:
    """A answered its first turn at t=2 and thinks 10 s; B's first turn is on the wire when
    the worker is lost at t=3: the loss is B's first turn, not A's second."""
    ledger = Ledger(1, [0])
    thinking = GenerationRequest(
        "a",
        turns=[Turn([{"role": "user", "content": "q"}], think_time=10.0) for _ in range(3)],
        session_id="a",
    )
    ledger.shipped(0, 0.0, thinking)
    ledger.shipped(0, 0.0, _session("b", 3))
    ledger.settled(0, [_turn("a", 1)])  # ended at 2.0
    (lost,), _ = ledger.lost(0, 2, when=3.0, reason="gone")
    assert (lost.session_id, lost.turn) == ("b", 1)
    # Past its think time, A's next turn is the likeliest on the wire, sent at 2 + 10 s.
    ledger = Ledger(1, [0])
    ledger.shipped(0, 0.0, thinking)
    ledger.shipped(0, 0.0, _session("b", 3))
    ledger.settled(0, [_turn("a", 1)])
    (lost,), _ = ledger.lost(0, 2, when=13.0, reason="gone")
    assert (lost.session_id, lost.turn) == ("a", 2)
    assert lost.request_start == 12.0 and lost.request_end == 13.0


def test_a_started_session_is_not_handed_back_but_an_unstarted_one_is() -> None:
    ledger = Ledger(1, [0])
    for key in ("a", "b", "c"):
        ledger.shipped(0, 0.0, _session(key, 3))
    ledger.settled(0, [_turn("a", 1)])
    # Two turns launched: a's first (answered) and b's first (on the wire); a is thinking.
    lost, unsent = ledger.lost(0, 2, when=1.5, reason="gone")
    assert [(r.session_id, r.turn) for r in lost] == [("b", 1)]
    assert [r.request_id for _, r in unsent] == ["c"]  # a started here: its state is gone


def test_an_uncertain_loss_counts_everything_held() -> None:
    """A Ray actor's process may send for a moment after the driver saw it lost (its node
    going down): every request it held counts as lost, none is handed back to be sent twice
    (whatever the launch count says)."""
    ledger = Ledger(1, [0])
    for i in range(8):
        ledger.shipped(0, float(i), _req(i))
    ledger.settled(0, [_done(0)])
    lost, unsent = ledger.lost(0, 1, when=4.5, reason="gone", uncertain=True)
    assert [r.request_id for r in lost] == [str(i) for i in range(1, 8)]
    assert unsent == []


def test_a_guess_about_sessions_never_hands_back_a_request_that_may_be_out() -> None:
    """A is thinking past its think time, B's first turn went out: the guess charges the
    loss to A's second turn, but B is not handed back (it would be sent twice)."""
    thinking = GenerationRequest(
        "a",
        turns=[Turn([{"role": "user", "content": "q"}], think_time=10.0) for _ in range(3)],
        session_id="a",
    )
    ledger = Ledger(1, [0])
    ledger.shipped(0, 0.0, thinking)
    ledger.shipped(0, 0.0, _session("b", 3))
    ledger.shipped(0, 0.0, _session("c", 3))
    ledger.settled(0, [_turn("a", 1)])
    (lost,), unsent = ledger.lost(0, 2, when=13.0, reason="gone")
    assert (lost.session_id, lost.turn) == ("a", 2)
    assert [r.request_id for _, r in unsent] == ["c"]


def test_requests_moved_in_keep_the_send_time_order_the_worker_keeps() -> None:
    """Own requests at 10 and 11, one moved from a lost worker at 9.5: the worker sends the
    moved one first, so with one launched that is the one on the wire."""
    ledger = Ledger(1, [0])
    ledger.shipped(0, 10.0, _req(1))
    ledger.shipped(0, 11.0, _req(2))
    ledger.shipped(0, 9.5, _req(3))
    ledger.reorder(0)
    lost, unsent = ledger.lost(0, 1, when=9.7, reason="gone")
    assert [r.request_id for r in lost] == ["3"]
    assert [r.request_id for _, r in unsent] == ["1", "2"]


def test_after_a_merge_no_due_request_is_handed_back() -> None:
    """L1 and L2 went out; M1 and M2, moved in overdue, sort ahead of them. Lost with two
    launched: which two is unknown, so only P (not due yet) is handed back."""
    ledger = Ledger(1, [0])
    ledger.shipped(0, 9.5, _req(1))
    ledger.shipped(0, 9.9, _req(2))
    ledger.shipped(0, 10.2, _req(3))
    ledger.shipped(0, 8.0, _req(4))
    ledger.shipped(0, 8.5, _req(5))
    ledger.reorder(0)
    lost, unsent = ledger.lost(0, 2, when=10.0, reason="gone")
    assert len(lost) == 2
    assert [r.request_id for _, r in unsent] == ["3"]


def test_take_back_leaves_a_started_session() -> None:
    ledger = Ledger(1, [0])
    ledger.shipped(0, 0.0, _session("a", 3))
    ledger.shipped(0, 0.0, _session("b", 3))
    ledger.shipped(0, 0.0, _req(7))
    ledger.settled(0, [_turn("a", 1)])
    assert [r.request_id for _, r in ledger.take_back(0)] == ["b", "7"]
    assert ledger.holding(0) == 0
