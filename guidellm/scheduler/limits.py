"""The stop conditions of one benchmark, which the Scheduler enforces."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Limits"]


@dataclass(frozen=True)
class Limits:
    """Stop conditions of one benchmark (``None``: no limit)."""

    max_seconds: float | None = None
    #: Requests: a session's turns count one each.
    max_requests: int | None = None
    #: Sessions started (a request outside a session counts as one).
    max_sessions: int | None = None
    max_errors: int | None = None
    #: Stop once this fraction of the results so far errored (judged from the 20th on).
    max_error_rate: float | None = None
    #: Stop an open-loop benchmark whose server is over-saturated (scheduler/saturation.py).
    stop_on_saturation: bool = False
    #: A lost worker stops the benchmark (``stop``) or the others carry on without it,
    #: taking what it held unsent and its streams (``continue``).
    on_worker_loss: str = "stop"
