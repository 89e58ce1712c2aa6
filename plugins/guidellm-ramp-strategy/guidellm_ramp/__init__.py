"""guidellm-ramp-strategy: an arrival rate that ramps linearly from one rate to another."""

from __future__ import annotations

from typing import Any

from guidellm import hookimpl

__version__ = "0.1.0"


@hookimpl
def register_strategies(register: Any) -> None:
    from guidellm_ramp.strategy import RampStrategy

    register(RampStrategy)
