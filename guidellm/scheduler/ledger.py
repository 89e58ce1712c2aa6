"""The Ledger: which requests each worker holds, so that a lost worker loses no count.

The parent writes down every request it ships to a worker and strikes it out when the
worker's result comes back. When a worker dies (SIGKILL, a crash) or freezes (the pool kills
it after missed heartbeats), what is still written down for it is either on the wire (it was
launched: the pool's launch count says how many) or was never sent. The first are turned
into ``incomplete`` results with category ``worker_lost``, so that
sent = successful + errored + incomplete holds whatever happens to a worker; the second go back
to the Scheduler, which sends them on a surviving worker (``on_worker_loss="continue"``) or
drops them (``"stop"``).

Workers launch the requests they are given in send-time order (open loop) or in the order
they were given (closed loop), and the ledger keeps that order (requests moved from a lost
worker, due earlier than some the survivor held, are merged in by time on both sides:
:meth:`Ledger.reorder`), so the launched ones are the oldest entries still open.

A session is one entry, open until a result with ``session_end`` comes back; the launch count
counts its turns. A session has at most one turn on the wire, so a lost worker's turns on the
wire are given one per entry, first to started sessions whose think time is over (their next
turn went out), then in shipping order to what had not started (launched first in first out),
last to sessions still thinking. The count is exact; which of several concurrent sessions a
loss is charged to is the likeliest, not certain, so what is handed back to be sent elsewhere
leaves out every request that may have been launched (see :meth:`Ledger.lost`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from guidellm.request import RequestResult, RequestStatus
from guidellm.scheduler.sessions import session_key

if TYPE_CHECKING:
    from guidellm.request import GenerationRequest

__all__ = ["WORKER_LOST", "Ledger"]

#: The error category of a request whose worker process was lost while it was on the wire.
WORKER_LOST = "worker_lost"
#: How early a worker may send a request before its time (the worker's own allowance, and a
#: margin for the clocks' reading).
_EARLY = 0.01


class _Entry:
    __slots__ = ("answered", "copies", "last_end", "request", "time")

    def __init__(self, time: float, request: GenerationRequest) -> None:
        self.time = time
        self.request = request
        self.copies = 1
        #: A session's turns answered so far, and when the last of them ended.
        self.answered = 0
        self.last_end = 0.0

    def next_send(self) -> float | None:
        """A started session's next send time (its last answer plus the think time)."""
        turns = self.request.turns
        if not self.answered or not turns or self.answered >= len(turns):
            return None
        return self.last_end + turns[self.answered].think_time


class Ledger:
    """Per worker, the requests shipped and not yet answered, oldest first.

    Request ids are unique within a benchmark when they come from the RequestLoader; an
    entry's ``copies`` keeps the count right for a hand-made request stream that repeats one.
    """

    __slots__ = ("_base", "_merged", "_open", "received")

    def __init__(self, size: int, launched: list[int | None]) -> None:
        self._open: list[dict[str, _Entry]] = [{} for _ in range(size)]
        #: Each worker's launch count when this benchmark began.
        self._base = launched
        #: Results received from each worker during this benchmark.
        self.received = [0] * size
        #: Workers given requests due earlier than some they held (:meth:`reorder`).
        self._merged: set[int] = set()

    def shipped(self, worker: int, time: float, request: GenerationRequest) -> None:
        """``request`` went to ``worker`` (to send at ``time``; 0.0 in a closed loop)."""
        held = self._open[worker]
        key = session_key(request) if request.turns else request.request_id
        entry = held.get(key)
        if entry is None:
            held[key] = _Entry(time, request)
        else:
            entry.copies += 1

    def settled(self, worker: int, results: list[RequestResult]) -> None:
        """``worker`` answered these."""
        held = self._open[worker]
        self.received[worker] += len(results)
        for result in results:
            if result.turn:
                entry = held.get(result.session_id or "")
                if entry is None:
                    continue
                entry.answered += 1
                entry.last_end = result.request_end
                if not result.session_end:
                    continue
                result_key = result.session_id or ""
            else:
                result_key = result.request_id
                entry = held.get(result_key)
            if entry is not None:
                if entry.copies == 1:
                    del held[result_key]
                else:
                    entry.copies -= 1

    def take_back(self, worker: int) -> list[tuple[float, GenerationRequest]]:
        """Everything ``worker`` still holds, in order, forgotten here: for a worker that
        reported its benchmark done, that was never sent."""
        held = self._open[worker]
        # A session that started and never ended (its task failed) is not sent again.
        back = [
            (e.time, e.request) for e in held.values() if not e.answered for _ in range(e.copies)
        ]
        held.clear()
        return back

    def reorder(self, worker: int) -> None:
        """Put ``worker``'s open entries back in send-time order (stable), as the worker
        queues them, after requests due earlier than some it held were moved to it."""
        held = self._open[worker]
        self._open[worker] = dict(sorted(held.items(), key=lambda item: item[1].time))
        self._merged.add(worker)

    def oldest_due(self, now: float) -> float | None:
        """The earliest send time of a request still open and due by ``now`` (open loop:
        entries are shipped in send-time order, so each worker's first entry is its oldest)."""
        oldest = None
        for held in self._open:
            for entry in held.values():
                if entry.time <= now and (oldest is None or entry.time < oldest):
                    oldest = entry.time
                break
        return oldest

    def holding(self, worker: int) -> int:
        """Requests shipped to ``worker`` and not answered (queued or on the wire)."""
        return sum(e.copies for e in self._open[worker].values())

    def lost(
        self,
        worker: int,
        launched: int | None,
        when: float,
        reason: str,
        *,
        uncertain: bool = False,
    ) -> tuple[list[RequestResult], list[tuple[float, GenerationRequest]]]:
        """``worker`` is gone: results for what it had on the wire, and what it held that
        was never sent (with its send time), oldest first, to send elsewhere or drop.

        ``launched`` is the pool's launch count for the worker now (``None`` when the pool
        cannot tell: then every request due by ``when`` counts as sent). With ``uncertain``
        the worker's process may outlive the loss by a moment (a Ray actor whose node goes
        down): any request it held may have gone out, and every one counts as on the wire.
        Counting a request that never left as lost is the safe error: one sent again
        elsewhere would reach the server twice. (An open loop ships a worker about a second
        of its schedule ahead, a closed loop a queue a little longer than its streams: that
        much, at most.)
        """
        held = self._open[worker]
        base = self._base[worker]
        if uncertain:
            on_wire = sum(e.copies for e in held.values())
        elif launched is not None and base is not None:
            on_wire = max(0, launched - base - self.received[worker])
        else:
            on_wire = sum(e.copies for e in held.values() if e.time <= when)
        results: list[RequestResult] = []
        unsent: list[tuple[float, GenerationRequest]] = []
        # Which of the requests not yet started were launched is a guess when sessions are
        # mixed in (a turn's think time over, by this clock, need not mean it went out): as
        # many of the oldest due ones as were launched may have gone out, so none of those
        # is handed back, whatever the guess charged the loss to. Sent twice is worse than
        # counted as lost without a result.
        fresh_due = sum(
            e.copies for e in held.values() if e.next_send() is None and e.time <= when + _EARLY
        )
        maybe_out = min(on_wire, fresh_due)
        if worker in self._merged:
            # Requests moved in, overdue, were sorted ahead of ones it had already launched:
            # which due ones went out is not known, so none of them is handed back.
            maybe_out = fresh_due
        fresh_seen = 0
        for request_id, entry in _likeliest_on_wire(held, when):
            fresh = entry.next_send() is None and not entry.answered
            first = fresh_seen
            if fresh:
                fresh_seen += entry.copies
            # copies of this entry among the oldest ``maybe_out`` fresh ones
            kept = min(max(maybe_out - first, 0), entry.copies) if fresh else entry.copies
            if len(results) >= on_wire:
                if fresh:  # a session already started cannot move
                    unsent.extend([(entry.time, entry.request)] * (entry.copies - kept))
                continue
            # Open loop: it went out at its intended time. Closed loop: no time was set; the
            # loss is the one moment known. A session's later turn: after its think time.
            start = entry.next_send() or entry.time or when
            request = entry.request
            if request.turns:
                results.append(
                    _lost_turn(request_id, entry, start, when, reason=reason, worker=worker)
                )
                continue
            taken = min(entry.copies, on_wire - len(results))
            for _ in range(taken):
                results.append(
                    RequestResult(
                        request_id=request_id,
                        status=RequestStatus.INCOMPLETE,
                        scheduled_time=start,
                        request_start=start,
                        request_end=max(when, start),
                        request_prompt_tokens=request.prompt_tokens,
                        requested_output_tokens=request.max_tokens,
                        error_category=WORKER_LOST,
                        error=reason,
                        worker=worker,
                        model=request.model,
                        traffic_class=request.traffic_class,
                    )
                )
            # Copies of one request past what was on the wire (and past the maybe-launched).
            unsent.extend([(entry.time, request)] * (entry.copies - max(taken, kept)))
        held.clear()
        unsent.sort(key=lambda pair: pair[0])
        return results, unsent


def _likeliest_on_wire(held: dict[str, _Entry], when: float) -> list[tuple[str, _Entry]]:
    """Open entries, the likeliest to have a request on the wire first (module docstring)."""
    due: list[tuple[str, _Entry]] = []
    fresh: list[tuple[str, _Entry]] = []
    thinking: list[tuple[str, _Entry]] = []
    for item in held.items():
        send = item[1].next_send()
        if send is None:
            fresh.append(item)
        elif send <= when:
            due.append(item)
        else:
            thinking.append(item)
    return due + fresh + thinking


def _lost_turn(
    key: str, entry: _Entry, start: float, when: float, *, reason: str, worker: int
) -> RequestResult:
    """The result of a session's turn that was on the wire when its worker was lost."""
    request = entry.request
    turns = request.turns or []
    turn = min(entry.answered + 1, len(turns))
    return RequestResult(
        request_id=f"{key}.{turn}",
        status=RequestStatus.INCOMPLETE,
        scheduled_time=start,
        request_start=start,
        request_end=max(when, start),
        requested_output_tokens=turns[turn - 1].max_tokens if turns else None,
        error_category=WORKER_LOST,
        error=reason,
        worker=worker,
        session_id=key,
        turn=turn,
        session_turns=max(request.planned_turns, len(turns)),
        turn_kind=turns[turn - 1].kind if turns else None,
        session_end=True,
        model=request.model,
        traffic_class=request.traffic_class,
    )
