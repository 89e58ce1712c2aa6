"""The mock's DeadlineScheduler on a real uvloop loop: order, never early, both timer kinds."""

from __future__ import annotations

import asyncio
import random
import time

import pytest
import uvloop

from guidellm.mock_server.timers import DeadlineScheduler


@pytest.mark.parametrize("use_timerfd", [True, False])
def test_callbacks_run_in_deadline_order_and_never_early(use_timerfd: bool) -> None:
    fired: list[tuple[float, float, int]] = []

    async def main() -> bool:
        loop = asyncio.get_running_loop()
        scheduler = DeadlineScheduler(loop, use_timerfd=use_timerfd)
        done = loop.create_future()
        rng = random.Random(5)
        start = time.monotonic() + 0.01
        deadlines = [start + rng.uniform(0, 0.2) for _ in range(300)]

        def hit(deadline: float, index: int) -> None:
            fired.append((deadline, time.monotonic(), index))
            if index % 50 == 0:  # a callback may schedule more (streams do)
                scheduler.call_at(deadline + 0.003, hit, deadline + 0.003, -1)
            if len(fired) == 306 and not done.done():
                done.set_result(None)

        for i, deadline in enumerate(deadlines):
            scheduler.call_at(deadline, hit, deadline, i)
        await asyncio.wait_for(done, 5)
        precise = scheduler.precise
        scheduler.close()
        return precise

    precise = uvloop.run(main())
    assert precise is use_timerfd  # Linux: the timerfd is available
    assert len(fired) == 306
    wanted = [d for d, _, _ in fired]
    assert wanted == sorted(wanted)
    early = DeadlineScheduler.EARLY_S if use_timerfd else 0.0011  # uvloop: 1 ms clock
    assert all(at >= deadline - early for deadline, at, _ in fired)
    lateness = sorted(at - deadline for deadline, at, _ in fired)
    assert lateness[len(lateness) // 2] < 0.005  # the median callback runs on time


def test_close_drops_pending_callbacks() -> None:
    fired: list[int] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        scheduler = DeadlineScheduler(loop)
        scheduler.call_at(time.monotonic() + 0.02, fired.append, 1)
        scheduler.close()
        await asyncio.sleep(0.05)

    uvloop.run(main())
    assert fired == []
