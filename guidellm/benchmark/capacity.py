"""How much load the server takes: the saturation point of a sweep, the SLO capacity of a
search, as the report states them (docs/metrics.md, "Capacity").

Both are read off finished benchmarks, so a report rebuilt from its journal states the same
capacity as the live run.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from guidellm.benchmark.report import Benchmark

__all__ = [
    "Capacity",
    "CapacityProbe",
    "find_capacity",
    "judge_goodput",
    "saturation_point",
    "slo_capacity",
    "wilson",
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CapacityProbe(_Model):
    """One benchmark the answer was read from, and why it passed or failed."""

    #: The benchmark's index in the report.
    benchmark: int
    #: The rate (or concurrency) it asked for, in the capacity's ``unit``.
    rate: float
    #: What it achieved, in the same unit.
    achieved: float | None = None
    passed: bool
    #: The judged value and its 95 % interval (goodput fraction for a search, the latency
    #: ratio to low load for a sweep).
    value: float | None = None
    ci95: tuple[float, float] | None = None
    reason: str


class Capacity(_Model):
    """The run's answer to "how much can it take": ``kind`` ``saturation`` (a sweep's
    saturation point) or ``slo`` (the highest rate meeting the SLOs at the asked goodput)."""

    kind: Literal["saturation", "slo"]
    #: The rule applied, in words (also in docs/metrics.md).
    rule: str
    #: The answer (``None``: not found, ``reason`` says why).
    value: float | None = None
    unit: str = "requests/s"
    #: The answer lies in ``[low, high]``: the highest passing and lowest failing probe.
    bracket: tuple[float, float] | None = None
    #: The benchmark measured at ``value``.
    benchmark: int | None = None
    probes: list[CapacityProbe] = []
    reason: str | None = None
    #: ``slo`` only: the limits, the fraction of requests that must meet them, the precision.
    slo: dict[str, float] | None = None
    goodput: float | None = None
    precision: float | None = None


#: A benchmark keeps up when it completes at least this share of the rate it asked for.
KEEPS_UP = 0.95
#: Its TTFT p50 has left the low-load level past this multiple of the synchronous one's (plus
#: a floor, so that a very fast server's jitter is not a knee).
LATENCY_FACTOR = 2.0
LATENCY_FLOOR_MS = 10.0
SATURATION_RULE = (
    "the highest asked rate whose benchmark completed at least 95 % of it and whose TTFT p50 "
    "stayed within 2x the synchronous benchmark's (+10 ms); the bracket reaches the next "
    "higher rate measured"
)
SLO_RULE = (
    "the highest rate at which the share of requests meeting every SLO is at least the goodput "
    "asked: a probe passes when the 95 % interval of that share lies above it, fails when it "
    "lies below; bisected until the bracket is narrower than the precision"
)


def achieved(bench: Benchmark) -> float:
    """What a benchmark did per second, in its rate's unit: requests answered (successful
    and errored) or, for conversations, sessions started.

    Answers begin a request latency after the first send and those in flight at the end are
    cut, so the rate is read in the steady part: the time slices after the first that holds
    an answer, without the last; a benchmark too short for that counts its answers over its
    length minus the median latency.
    """
    if bench.sessions is not None:
        return bench.sessions.started_per_second
    steady = _steady_rate(bench)
    if steady is not None:
        return steady
    answered = bench.requests.successful + bench.requests.errored
    length = bench.end_time - bench.start_time
    latency = bench.metrics.request_latency.successful.percentiles.p50 or 0.0
    return answered / max(length - latency, length / 2, 1e-9)


def _steady_rate(bench: Benchmark) -> float | None:
    slices = bench.timeslices
    if slices is None:
        return None
    ends = [s + e for s, e in zip(slices.successful, slices.errored, strict=True)]
    first = next((i for i, n in enumerate(ends) if n > 0), None)
    if first is None:
        return None
    usable = range(first + 1, len(ends) - 1)
    if len(usable) < 3:
        return None
    seconds = sum(slices.end_s[i] - slices.start_s[i] for i in usable)
    return sum(ends[i] for i in usable) / seconds if seconds > 0 else None


def asked_rate(bench: Benchmark) -> float | None:
    """The open-loop rate a benchmark asked for (``None`` for a closed loop)."""
    rate = bench.strategy.get("rate")
    return (
        float(rate)
        if isinstance(rate, (int, float))
        and bench.strategy.get("type")
        in (
            "constant",
            "poisson",
            "gamma",
        )
        else None
    )


def _ttft_p50(bench: Benchmark) -> float | None:
    return bench.metrics.time_to_first_token_ms.successful.percentiles.p50


def _unit(benchmarks: Sequence[Benchmark]) -> str:
    return "sessions/s" if any(b.sessions is not None for b in benchmarks) else "requests/s"


def saturation_point(benchmarks: Sequence[Benchmark]) -> Capacity:
    """A sweep's saturation point (:data:`SATURATION_RULE`)."""
    unit = _unit(benchmarks)
    low = next((b for b in benchmarks if b.strategy.get("type") == "synchronous"), None)
    base = _ttft_p50(low) if low is not None else None
    probes: list[CapacityProbe] = []
    for bench in benchmarks:
        rate = asked_rate(bench)
        if rate is None or rate <= 0:
            continue
        done, ttft = achieved(bench), _ttft_p50(bench)
        keeps_up = done >= KEEPS_UP * rate
        limit = None if base is None else max(base * LATENCY_FACTOR, base + LATENCY_FLOOR_MS)
        flat = ttft is not None and (limit is None or ttft <= limit)
        if not keeps_up:
            why = f"completed {done:.3g} of {rate:.3g} {unit} asked (< {KEEPS_UP:.0%})"
        elif not flat:
            why = (
                f"TTFT p50 {ttft:.4g} ms left the low-load level ({limit:.4g} ms)"
                if ttft is not None and limit is not None
                else "no successful request to time"
            )
        else:
            why = f"kept up ({done:.3g} {unit}) with TTFT p50 {ttft:.4g} ms"
        probes.append(
            CapacityProbe(
                benchmark=bench.id, rate=rate, achieved=done, passed=keeps_up and flat,
                value=None if ttft is None or not base else ttft / base, reason=why,
            )
        )  # fmt: skip
    return _answer("saturation", SATURATION_RULE, unit, probes)


def _answer(kind: Any, rule: str, unit: str, probes: list[CapacityProbe]) -> Capacity:
    """The highest passing probe below the lowest failing one, and its bracket."""
    ordered = sorted(probes, key=lambda p: p.rate)
    failing = [p.rate for p in ordered if not p.passed]
    first_fail = failing[0] if failing else None
    passing = [p for p in ordered if p.passed and (first_fail is None or p.rate < first_fail)]
    if not ordered:
        return Capacity(kind=kind, rule=rule, unit=unit, reason="no rate was measured")
    if not passing:
        return Capacity(
            kind=kind, rule=rule, unit=unit, probes=probes,
            bracket=(0.0, ordered[0].rate),
            reason=f"the lowest rate measured, {ordered[0].rate:.4g} {unit}, already failed",
        )  # fmt: skip
    best = passing[-1]
    high = first_fail if first_fail is not None else best.rate
    reason = None if first_fail is not None else "no measured rate failed: at least this much"
    return Capacity(
        kind=kind, rule=rule, value=best.rate, unit=unit, bracket=(best.rate, high),
        benchmark=best.benchmark, probes=probes, reason=reason,
    )  # fmt: skip


def wilson(met: int, counted: int, z: float = 1.96) -> tuple[float, float] | None:
    """The 95 % Wilson interval of a share ``met / counted`` (``None`` for no requests)."""
    if counted <= 0:
        return None
    p = met / counted
    denom = 1 + z * z / counted
    centre = (p + z * z / (2 * counted)) / denom
    half = z * math.sqrt(p * (1 - p) / counted + z * z / (4 * counted * counted)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def judge_goodput(met: int, counted: int, target: float) -> bool | None:
    """Pass (the interval lies at or above ``target``), fail (below), or ``None``: unsure."""
    ci = wilson(met, counted)
    if ci is None:
        return None
    if ci[0] >= target:
        return True
    if ci[1] < target:
        return False
    return None


def probe_rate(bench: Benchmark, mode: str) -> float | None:
    """A search probe's rate (or streams, ``mode=concurrency``); the synchronous benchmark
    (the low end) counts at the rate it achieved."""
    if mode == "concurrency":
        streams = bench.strategy.get("streams")
        return float(streams) if isinstance(streams, (int, float)) else None
    if bench.strategy.get("type") == "synchronous":
        return achieved(bench)
    return asked_rate(bench)


def slo_capacity(benchmarks: Sequence[Benchmark], profile: Mapping[str, Any]) -> Capacity:
    """An SLO search's answer (:data:`SLO_RULE`), re-read from its benchmarks: repeats of a
    rate are pooled, and one still unsure after them is judged by its point estimate."""
    target = float(profile.get("goodput", 0.95))
    mode = str(profile.get("mode", "rate"))
    unit = "streams" if mode == "concurrency" else _unit(benchmarks)
    pooled: dict[float, tuple[int, int, list[Benchmark]]] = {}
    slo: dict[str, float] | None = None
    for bench in benchmarks:
        rate = probe_rate(bench, mode)
        good = bench.metrics.goodput
        if rate is None or good is None:
            continue
        slo = good.slo
        met, counted, seen = pooled.get(rate, (0, 0, []))
        pooled[rate] = (met + good.met, counted + good.counted, [*seen, bench])
    probes = []
    for rate, (met, counted, seen) in pooled.items():
        verdict = judge_goodput(met, counted, target)
        share = met / counted if counted else None
        ci = wilson(met, counted)
        if verdict is None:
            verdict = share is not None and share >= target
            how = "unsure: judged by the point estimate against"
        else:
            how = "95 % interval above" if verdict else "95 % interval below"
        shown = f"{share:.1%}" if share is not None else "n/a"
        probes.append(
            CapacityProbe(
                benchmark=seen[-1].id, rate=rate, achieved=achieved(seen[-1]),
                passed=verdict, value=share, ci95=ci,
                reason=f"{shown} of {counted} requests met the SLOs ({how} {target:.0%}; "
                f"{len(seen)} run(s))",
            )
        )  # fmt: skip
    answer = _answer("slo", SLO_RULE, unit, probes)
    answer.slo = slo
    answer.goodput = target
    answer.precision = float(profile.get("precision", 0.05))
    return answer


def find_capacity(
    profile: Mapping[str, Any] | None, benchmarks: Sequence[Benchmark]
) -> Capacity | None:
    """The report's capacity for a run of ``profile`` (its ``describe()``), else ``None``."""
    kind = (profile or {}).get("type")
    if kind == "sweep" and benchmarks:
        return saturation_point(benchmarks)
    if kind == "slo-search" and benchmarks:
        return slo_capacity(benchmarks, profile or {})
    return None
