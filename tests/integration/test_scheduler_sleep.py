"""The Scheduler on real workers (processes, then Ray actors) with a server-less backend.

Paths the mock-server tests do not reach cheaply: the open-loop concurrency cap (requests wait
for a slot and the client says so), failed requests' categories, kept response text, and a
stop that cancels requests still queued in the loop.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterator

import uvloop

from guidellm.request import GenerationRequest, RequestResult
from guidellm.scheduler.scheduler import Limits, Scheduler, ScheduleSummary
from guidellm.scheduler.strategies import ConcurrentStrategy, ConstantStrategy
from guidellm.scheduler.strategy import SchedulingStrategy
from guidellm.testing.sleep_backend import SleepBackend
from tests.schedulerrun import make_pool


def _requests(suffix: Callable[[int], str] = lambda _i: "") -> Iterator[GenerationRequest]:
    for i in itertools.count():
        yield GenerationRequest(f"r{i}{suffix(i)}", prompt="hi", max_tokens=4)


def _run(
    backend: SleepBackend,
    runs: list[tuple[SchedulingStrategy, Limits, Iterator[GenerationRequest], int]],
    pool_kind: str,
) -> list[tuple[ScheduleSummary, list[RequestResult]]]:
    pool = make_pool(pool_kind, backend, 2, 64)
    pool.start()
    out: list[tuple[ScheduleSummary, list[RequestResult]]] = []

    async def main() -> None:
        scheduler = Scheduler(pool)
        try:
            await pool.connect(scheduler.on_message)
            for index, (strategy, limits, requests, keep) in enumerate(runs):
                results: list[RequestResult] = []
                summary = await scheduler.run(
                    index, strategy, requests, on_result=results.append, limits=limits,
                    rng=random.Random(1), keep_text=keep,
                )  # fmt: skip
                out.append((summary, results))
        finally:
            await pool.close()

    uvloop.run(main())
    return out


def test_open_loop_concurrency_cap_makes_requests_wait_and_says_so(pool_kind: str) -> None:
    backend = SleepBackend(ttft_ms=50, itl_ms=1, output_tokens=2)
    # 200/s with ~50 ms requests needs ~10 in flight; a cap of 2 (1 per worker) cannot keep up.
    capped = ConstantStrategy(200, max_concurrency=2)
    free = ConstantStrategy(200)
    (s_capped, r_capped), (s_free, _) = _run(
        backend,
        [
            (capped, Limits(max_requests=40), _requests(), 0),
            (free, Limits(max_requests=40), _requests(), 0),
        ],
        pool_kind,
    )
    assert len(r_capped) == 40 and s_capped.successful == 40
    assert s_capped.waited_for_slot >= 30
    client = s_capped.client()
    assert client["limited"] and "concurrency slot" in client["reason"]
    # Never more than the cap in flight: sort by start, count overlaps.
    events = sorted(
        [(r.request_start, 1) for r in r_capped] + [(r.request_end, -1) for r in r_capped]
    )
    in_flight = list(itertools.accumulate(e[1] for e in events))
    assert max(in_flight) <= 2
    assert s_free.waited_for_slot == 0


def test_errors_keep_their_category_and_text_is_kept_when_asked(pool_kind: str) -> None:
    backend = SleepBackend(ttft_ms=1, itl_ms=0, output_tokens=3)
    ((summary, results),) = _run(
        backend,
        [
            (
                ConcurrentStrategy(2),
                Limits(max_requests=20),
                _requests(lambda i: "-fail" if i % 4 == 0 else ""),
                3,
            )
        ],
        pool_kind,
    )
    failed = [r for r in results if r.status == "errored"]
    assert len(failed) == 5 and summary.errored == 5
    assert {r.error_category for r in failed} == {"server_error"}
    assert all("told to fail" in (r.error or "") for r in failed)
    kept = [r for r in results if r.status == "successful" and r.output_text is not None]
    # keep_text=3 per worker: the first successful responses of each keep their text.
    assert 3 <= len(kept) <= 6
    assert all(r.output_text == "x" * 4 for r in kept)


def test_stop_cancels_in_flight_and_queued_requests(pool_kind: str) -> None:
    backend = SleepBackend(ttft_ms=2000, itl_ms=1, output_tokens=2)
    ((summary, results),) = _run(
        backend, [(ConcurrentStrategy(6), Limits(max_seconds=0.3), _requests(), 0)], pool_kind
    )
    assert summary.stop_reason == "max_seconds"
    assert len(results) == 6 and summary.incomplete == 6
    assert {r.error_category for r in results} == {"cancelled"}
    assert summary.duration < 0.5


class _LeakyBackend(SleepBackend):
    """A third-party backend bug whose message carries the key it was given."""

    async def resolve(self, request: GenerationRequest, recorder: object) -> None:
        if request.request_id.endswith("-leak"):
            raise RuntimeError(
                f"bad header Authorization: Bearer sk-LEAK123 api_key={'sk-LEAK456'}"
            )
        if request.request_id.endswith("-fail"):
            from guidellm.errors import ServerError

            raise ServerError("upstream said api_key=sk-LEAK789 is invalid")
        await super().resolve(request, recorder)  # type: ignore[arg-type]


def test_unexpected_backend_errors_are_redacted_before_leaving_the_worker(pool_kind: str) -> None:
    backend = _LeakyBackend(ttft_ms=1, itl_ms=0, output_tokens=2)
    suffixes = {0: "-leak", 1: "-fail"}
    ((summary, results),) = _run(
        backend,
        [
            (
                ConcurrentStrategy(2),
                Limits(max_requests=12),
                _requests(lambda i: suffixes.get(i % 3, "")),
                0,
            )
        ],
        pool_kind,
    )
    failed = [r for r in results if r.status == "errored"]
    assert len(failed) == 8 and summary.errored == 8
    leaked = [r for r in failed if r.error_category == "error"]
    assert len(leaked) == 4
    assert all(r.error and r.error.startswith("RuntimeError: bad header") for r in leaked)
    assert all("***" in (r.error or "") for r in failed)
    assert not [r.error for r in failed if "sk-LEAK" in (r.error or "")]
