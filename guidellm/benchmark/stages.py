"""Stage summaries: one row per stage of a staged strategy (docs/metrics.md).

A strategy whose ``describe()`` lists ``stages`` (``index``, ``start_s``, ``end_s`` from the
benchmark's start, and ``rate`` [+ ``ramp_to``] or ``concurrency``) changes its load during
one benchmark; each stage is summarised from the requests whose *intended* send time falls
in it, with the same definitions as the benchmark's own numbers. Percentiles are exact: each
is read off the metric's sorted sample without the other stages' rows.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from guidellm.benchmark.statistics import summarize_runs

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from guidellm.benchmark.sorted_sample import SortedSample

__all__ = ["stage_specs", "stage_summaries"]

#: Report key -> (sorted sample, scale to the report's unit).
_METRICS = {
    "ttft_ms": ("time_to_first_token_ms", 1.0),
    "itl_ms": ("inter_token_latency_ms", 1.0),
    "latency_s": ("request_latency", 1.0),
}


def stage_specs(strategy: Mapping[str, Any]) -> tuple[list[dict[str, Any]] | None, str | None]:
    """The strategy's stages, checked and in time order, and a warning when they are
    malformed (then they are left out: the benchmark itself is still right)."""
    raw = strategy.get("stages")
    if not raw:
        return None, None
    out: list[dict[str, Any]] = []
    try:
        for i, stage in enumerate(raw):
            spec = dict(stage)
            spec["index"] = int(spec.get("index", i))
            spec["start_s"] = float(spec["start_s"])
            spec["end_s"] = float(spec["end_s"])
            if not (math.isfinite(spec["start_s"]) and spec["end_s"] > spec["start_s"]):
                raise ValueError(f"stage {spec['index']} ends before it starts")
            out.append(spec)
    except (TypeError, KeyError, ValueError) as exc:
        return None, f"the strategy's stages are malformed ({exc}); no stage summaries"
    out.sort(key=lambda s: s["start_s"])
    return out, None


def _intended(stage: Mapping[str, Any]) -> float | None:
    """The stage's mean intended rate: its rate, or the mean of a linear ramp."""
    rate = stage.get("rate")
    if rate is None:
        return None
    ramp_to = stage.get("ramp_to")
    return float(rate) if ramp_to is None else (float(rate) + float(ramp_to)) / 2


def stage_summaries(
    stages: list[dict[str, Any]],
    cols: Mapping[str, NDArray[Any]],
    samples: Mapping[str, tuple[SortedSample, ...]],
    origin: float,
) -> list[dict[str, Any]]:
    """One summary per stage of the rows ``cols`` (offsets from ``origin``)."""
    scheduled = cols["scheduled"] - origin
    start = cols["start"] - origin
    status = cols["status"]
    out_tok = cols["output_tokens"]
    bounds = np.array([s["start_s"] for s in stages])
    ends = np.array([s["end_s"] for s in stages])
    pos = np.searchsorted(bounds, scheduled, side="right") - 1
    valid = pos >= 0
    valid[valid] &= scheduled[valid] < ends[pos[valid]]
    stage_of = np.where(valid, pos, -1)
    rows: list[dict[str, Any]] = []
    for i, stage in enumerate(stages):
        lo, hi = stage["start_s"], stage["end_s"]
        length = hi - lo
        mine = stage_of == i
        counts = np.bincount(status[mine], minlength=3)
        sent = int(((start >= lo) & (start < hi)).sum())
        ok = mine & (status == 0)
        row: dict[str, Any] = {
            "index": stage["index"],
            "start_s": lo,
            "end_s": hi,
            "rate": stage.get("rate"),
            "ramp_to": stage.get("ramp_to"),
            "concurrency": stage.get("concurrency"),
            "intended_rate": _intended(stage),
            "successful": int(counts[0]),
            "errored": int(counts[1]),
            "incomplete": int(counts[2]),
            "requests_per_second": sent / length,
            "output_tokens_per_second": float(out_tok[ok].sum()) / length,
        }
        excluded = ~mine
        for key, (name, scale) in _METRICS.items():
            summary = summarize_runs(samples[name][0].runs(excluded), ci=False)
            for q in ("p50", "p99"):
                value = summary["percentiles"][q] if summary["count"] else None
                row[f"{key}_{q}"] = None if value is None else value * scale
        rows.append(row)
    return rows
