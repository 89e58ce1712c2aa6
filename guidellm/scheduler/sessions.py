"""Sessions on a worker: the turns of one conversation, sent one after another.

A session is one scheduled item (the strategy times its start); its turns follow each other
on the worker that received it, each after the previous answer has ended plus the turn's think
time, and each carries the conversation so far: the earlier user (or tool) messages and the
answers the client actually received, verbatim (``history=live``), or the conversation's
recorded answers (``history=recorded``). A turn that does not succeed ends its session.

Think time must not hold a stream or the event loop, and the turn that follows it is timed
like any send (its scheduling delay is measured from the end of the think time), so waits go
through :class:`ThinkClock`: one timerfd for every waiting session of the worker.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from guidellm.request import GenerationRequest, RequestResult, RequestStatus
from guidellm.scheduler.timer import DeadlineTimer

__all__ = ["ThinkClock", "fit_turns", "run_session", "session_key"]

#: Waits ending within this much of now are not waited for.
_EARLY_S = 20e-6
_SUCCESSFUL = RequestStatus.SUCCESSFUL

#: Sends one turn's request, scheduled at the given time; returns its result and the answer
#: text as received (whatever ``keep_text`` says about the result's own copy).
SendTurn = Callable[[GenerationRequest, float], Awaitable[tuple[RequestResult, str]]]


def session_key(request: GenerationRequest) -> str:
    """The identity a session's turns carry (and the ledger files the session under)."""
    return request.session_id or request.request_id


class ThinkClock:
    """Wakes each waiting session at its own deadline (``time.perf_counter`` seconds), with
    one timer for all of them."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._heap: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()
        self._timer = DeadlineTimer(loop, self._fire)

    async def wait(self, deadline: float) -> None:
        if deadline <= time.perf_counter() + _EARLY_S:
            return
        future: asyncio.Future[None] = self._loop.create_future()
        heap = self._heap
        heapq.heappush(heap, (deadline, next(self._seq), future))
        if heap[0][2] is future:
            self._timer.arm(deadline)
        await future

    def _fire(self) -> None:
        heap = self._heap
        limit = time.perf_counter() + _EARLY_S
        while heap and heap[0][0] <= limit:
            future = heapq.heappop(heap)[2]
            if not future.done():
                future.set_result(None)
        while heap and heap[0][2].done():  # cancelled waits (a stop) leave their entries
            heapq.heappop(heap)
        if heap:
            self._timer.arm(heap[0][0])

    def close(self) -> None:
        self._timer.close()


def _answer(reply: dict[str, Any] | None, text: str, recorded: bool) -> dict[str, Any]:
    """The assistant message that follows a turn in the history."""
    if recorded and reply is not None:
        return reply
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if reply is not None and reply.get("tool_calls"):
        # The next turn's tool messages answer these calls: keep them so the ids match.
        message["tool_calls"] = reply["tool_calls"]
    return message


async def run_session(
    session: GenerationRequest,
    scheduled: float,
    send: SendTurn,
    emit: Callable[[RequestResult], None],
    wait: Callable[[float], Awaitable[None]],
) -> None:
    """Send ``session``'s turns in order; ``emit`` each turn's result, tagged.

    A stop cancels the session: in a turn, that turn ends ``incomplete`` (and is the last);
    while thinking, nothing more is sent and the turns never sent are counted from
    ``session_turns`` by whoever reads the results.
    """
    turns = session.turns or []
    key = session_key(session)
    planned = max(session.planned_turns, len(turns))
    recorded = session.recorded_history
    history: list[dict[str, Any]] = list(session.messages or ())
    last = len(turns)
    at = scheduled
    for k, turn in enumerate(turns, 1):
        if k > 1:
            at += turn.think_time
            if turn.think_time > 0:
                await wait(at)
        history.extend(turn.messages)
        request = GenerationRequest(
            f"{key}.{k}",
            messages=list(history),
            prompt_tokens=session.prompt_tokens if k == 1 else None,
            max_tokens=turn.max_tokens,
            extra_body=session.extra_body,
            session_id=key,
            last_turn=k == last,
            model=session.model,
            traffic_class=session.traffic_class,
        )
        result, text = await send(request, at)
        ok = result.status == _SUCCESSFUL
        result.session_id = key
        result.turn = k
        result.session_turns = planned
        result.turn_kind = turn.kind
        result.session_end = not ok or k == last
        emit(result)
        if not ok:
            return
        history.append(_answer(turn.reply, text, recorded))
        at = result.request_end


def fit_turns(batch: list[GenerationRequest], budget: int) -> tuple[list[GenerationRequest], int]:
    """The leading items of ``batch`` holding at most ``budget`` requests; a session that
    straddles the budget keeps its first turns (and says how many it planned)."""
    kept: list[GenerationRequest] = []
    units = 0
    for item in batch:
        if units >= budget:
            break
        room = budget - units
        request = item
        if item.units > room and item.turns:
            planned = max(item.planned_turns, len(item.turns))
            request = msgspec.structs.replace(item, turns=item.turns[:room], planned_turns=planned)
        elif item.units > room:
            break
        kept.append(request)
        units += request.units
    return kept, units
