"""The SLO keys ``--slo`` accepts: light to import, so a run checks them before any load."""

from __future__ import annotations

import math
from collections.abc import Mapping

from guidellm.errors import UserError

__all__ = ["SLO_KEYS", "check_slo"]

#: SLO keys accepted by ``--slo`` and what each limits.
SLO_KEYS = {
    "ttft_ms": "time to first token (ms)",
    "itl_ms": "inter-token latency (ms)",
    "tpot_ms": "time per output token (ms)",
    "latency_ms": "request latency (ms)",
}


def check_slo(slo: Mapping[str, object] | None) -> dict[str, float]:
    """``slo`` as floats; an unknown key or a value that is not a positive number of
    milliseconds is a :class:`UserError`."""
    checked: dict[str, float] = {}
    for key, value in (slo or {}).items():
        if key not in SLO_KEYS:
            raise UserError(
                f"unknown SLO {key!r}; use --slo with {', '.join(SLO_KEYS)} "
                "(e.g. --slo ttft_ms=500,itl_ms=50)"
            )
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
            or value <= 0
        ):
            raise UserError(f"--slo {key}={value!r}: give a positive number of milliseconds")
        checked[key] = float(value)
    return checked
