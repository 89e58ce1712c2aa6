"""guidellm-ramp-strategy: an arrival rate that ramps linearly from one rate to another."""

from __future__ import annotations

from typing import TYPE_CHECKING

from guidellm import hookimpl

if TYPE_CHECKING:
    from guidellm import Profile, Register, SchedulingStrategy

__version__ = "0.1.0"


@hookimpl
def register_strategies(register: Register[SchedulingStrategy | Profile]) -> None:
    from guidellm_ramp.strategy import RampStrategy

    register(RampStrategy)
