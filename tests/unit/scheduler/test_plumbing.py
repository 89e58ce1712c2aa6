"""The worker plumbing: frames split across pipe reads, and the timerfd deadline timer."""

from __future__ import annotations

import asyncio
import time

import uvloop

from guidellm.request import GenerationRequest, RequestResult
from guidellm.scheduler.protocol import (
    Done,
    FrameReader,
    Items,
    Results,
    frame,
    to_parent_decoder,
    to_worker_decoder,
)
from guidellm.scheduler.timer import DeadlineTimer


def test_frames_survive_any_split() -> None:
    requests = [GenerationRequest(str(i), prompt="p" * i, max_tokens=i) for i in range(50)]
    messages = [Items(0, [float(i) for i in range(50)], requests), Items(1, [], requests[:3])]
    data = b"".join(frame(m) for m in messages)
    for step in (1, 3, 7, 4096, len(data)):
        got: list[object] = []
        reader = FrameReader(to_worker_decoder, got.append, lambda: None)
        for i in range(0, len(data), step):
            reader.data_received(data[i : i + step])
        assert got == messages


def test_results_round_trip() -> None:
    result = RequestResult("a", "successful", 1.0, 1.1, 2.0, chunk_times=[1.2, 1.3], worker=1)
    got: list[object] = []
    reader = FrameReader(to_parent_decoder, got.append, lambda: None)
    reader.data_received(frame(Results(3, [result])) + frame(Done(3, 1, 0.5, [0.1], 1, 0)))
    assert got == [Results(3, [result]), Done(3, 1, 0.5, [0.1], 1, 0)]


def test_deadline_timer_fires_at_or_after_each_deadline_and_rearms() -> None:
    fired: list[float] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        timer = DeadlineTimer(loop, lambda: fired.append(time.perf_counter()))
        assert timer.precise  # Linux: the timerfd path
        first = time.perf_counter() + 0.02
        timer.arm(first + 10)  # replaced by the next arm
        timer.arm(first)
        await asyncio.sleep(0.05)
        assert len(fired) == 1 and fired[0] >= first
        timer.arm(time.perf_counter() + 0.01)
        timer.disarm()
        await asyncio.sleep(0.03)
        assert len(fired) == 1
        timer.arm(time.perf_counter() - 1)  # a past deadline fires at once
        await asyncio.sleep(0.01)
        assert len(fired) == 2
        timer.close()

    uvloop.run(main())
