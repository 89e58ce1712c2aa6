"""The ``replay`` strategy: send each request of a timestamped trace when the trace says.

Request ``i`` goes out at ``start + time_scale * (t_i - t_0)``, ``t_0`` being the first
replayed request's trace time. ``time_scale=0.5`` replays twice as fast; ``max_gap_s`` shortens
every idle gap longer than that (in replayed seconds) to it, so a night of silence in a daily
trace does not idle the benchmark; ``start_offset_s`` skips the trace's first seconds (trace
time). ``--max-seconds`` and ``--max-requests`` cut the replay like any benchmark. The send
times come from the data, not from a random process: the Scheduler asks :meth:`data_offsets`
for each request as it reads it, so a trace of millions of rows is never held in memory.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from guidellm.errors import UserError
from guidellm.hookspecs import hookimpl
from guidellm.options import bad_option, is_number, reject_unknown
from guidellm.scheduler.strategies import _check_options
from guidellm.scheduler.strategy import SchedulingStrategy

if TYPE_CHECKING:
    from guidellm.hookspecs import Register
    from guidellm.scheduler.strategy import Profile

__all__ = ["ReplayStrategy"]

_FLAG = "--profile-args"
_OPTIONS = ("time_scale", "max_gap_s", "start_offset_s", "max_concurrency")


def _option(options: Mapping[str, Any], key: str, *, positive: bool) -> float | None:
    value = options.get(key)
    if value is None:
        return None
    if not is_number(value, positive=positive):
        want = "a number > 0" if positive else "a number >= 0"
        example = {"time_scale": "0.5 replays twice as fast"}.get(key, "in seconds")
        raise bad_option(_FLAG, key, f"{want} ({example})", value)
    return float(value)


class ReplayStrategy(SchedulingStrategy):
    """Open loop timed by the data: each request's trace ``timestamp`` sets its send time."""

    name = "replay"
    timed_by_data = True

    def __init__(
        self,
        time_scale: float = 1.0,
        max_gap_s: float | None = None,
        start_offset_s: float = 0.0,
        max_concurrency: int | None = None,
    ) -> None:
        self.time_scale = time_scale
        self.max_gap_s = max_gap_s
        self.start_offset_s = start_offset_s
        self.max_concurrency = max_concurrency

    @classmethod
    def from_rates(
        cls, rates: Sequence[float] | None, options: Mapping[str, Any]
    ) -> list[SchedulingStrategy]:
        reject_unknown(options, _OPTIONS, _FLAG, f"profile {cls.name!r}")
        if rates:
            raise UserError(
                "--rate does not apply to the replay profile: the trace's timestamps set the "
                f"rate; drop --rate, or speed the replay up with {_FLAG} time_scale=0.5"
            )
        cap = _check_options(cls.name, {"max_concurrency": options.get("max_concurrency")})
        scale = _option(options, "time_scale", positive=True)
        gap = _option(options, "max_gap_s", positive=True)
        offset = _option(options, "start_offset_s", positive=False)
        return [cls(scale or 1.0, gap, offset or 0.0, cap)]

    def data_offsets(self, timestamps: Iterator[float | None]) -> Iterator[float | None]:
        """One offset per timestamp, in step; ``None`` for requests before ``start_offset_s``.

        Times that go backwards (unvalidated data) are sent at once rather than earlier
        than the request before them, and so is a request with no time at all (the runner
        checks before the run that the data carries times).
        """
        scale, max_gap = self.time_scale, self.max_gap_s
        first: float | None = None  # the trace's first timestamp
        origin: float | None = None  # the first replayed one
        offset = previous = 0.0
        for stamp in timestamps:
            if stamp is None:
                yield offset if origin is not None else None
                continue
            if first is None:
                first = stamp
            if origin is None:
                if stamp - first < self.start_offset_s:
                    yield None
                    continue
                origin = previous = stamp
                yield 0.0
                continue
            if max_gap is None:
                offset = max(offset, scale * (stamp - origin))
            else:
                offset += min(max(scale * (stamp - previous), 0.0), max_gap)
            previous = max(previous, stamp)
            yield offset

    def describe(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "type": self.name,
            "time_scale": self.time_scale,
            "start_offset_s": self.start_offset_s,
        }
        if self.max_gap_s is not None:
            info["max_gap_s"] = self.max_gap_s
        if self.max_concurrency is not None:
            info["max_concurrency"] = self.max_concurrency
        return info

    def __repr__(self) -> str:
        return f"ReplayStrategy(time_scale={self.time_scale})"


@hookimpl
def register_strategies(register: Register[SchedulingStrategy | Profile]) -> None:
    register(ReplayStrategy)
