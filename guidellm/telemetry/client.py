"""The client's own telemetry: CPU of every guidellm process and the workers' loop lag.

Workers put their CPU seconds and their worst event-loop lag since the previous heartbeat in
each ``Stats`` message; :class:`ClientProbe` sits in front of the scheduler's message handler
to keep them, and the telemetry's clock thread calls it once per interval.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from guidellm.scheduler.protocol import Stats

__all__ = ["ClientProbe"]


class ClientProbe:
    """Call it for ``(CPU seconds of the parent and every worker so far, worst worker loop
    lag in ms since the previous call)``."""

    def __init__(self) -> None:
        self._cpu: dict[int, float] = {}
        self._peak = 0.0

    def wrap(self, on_message: Callable[[Any], None]) -> Callable[[Any], None]:
        """``on_message`` that first notes what each ``Stats`` says (one type test each)."""
        cpu = self._cpu

        def handle(message: Any) -> None:
            if type(message) is Stats:
                cpu[message.worker] = message.cpu_s
                self._peak = max(self._peak, message.lag_ms)
            on_message(message)

        return handle

    def __call__(self) -> tuple[float, float]:
        lag, self._peak = self._peak, 0.0
        return time.process_time() + sum(self._cpu.values()), lag
