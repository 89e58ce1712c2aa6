"""Compile: one benchmark's rows, already sorted and tallied, into its :class:`Benchmark`.

The aggregator has merged every metric into sorted samples and kept additive tallies while
the run went on; compiling after the last response cuts the measured window (warmup and
cooldown), subtracts the rows outside it from the tallies and the gap histograms, reads the
percentiles off the samples and builds the report's benchmark: counts, rates, token
sources, errors and warnings. Nothing is sorted here. Definitions: docs/metrics.md.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from guidellm.benchmark.groups import group_summaries, overall_goodput
from guidellm.benchmark.report import Benchmark
from guidellm.benchmark.rows import add_counts, tally
from guidellm.benchmark.sessions import prompt_cache, session_summary, turn_rows
from guidellm.benchmark.stages import stage_specs, stage_summaries
from guidellm.benchmark.statistics import (
    STATUS_NAMES,
    goodput,
    rates_by_status,
    split_runs,
    summarize,
    summarize_histogram,
)
from guidellm.benchmark.timeslices import slice_size

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from guidellm.benchmark.aggregator import BenchmarkAggregator

__all__ = ["compile_benchmark", "window_bounds"]

_SOURCES = ("usage", "tokenizer", "chunks")
#: The report's metric order (docs/metrics.md).
_METRIC_ORDER = (
    "requests_per_second",
    "output_tokens_per_second",
    "tokens_per_second",
    "inputs_per_second",
    "request_concurrency",
    "time_to_first_token_ms",
    "inter_token_latency_ms",
    "time_per_output_token_ms",
    "inter_chunk_latency_ms",
    "request_latency",
    "scheduled_latency",
    "scheduling_delay_ms",
    "prompt_token_count",
    "output_token_count",
    "goodput",
)


def window_bounds(
    start: float, end: float, warmup: float | None, cooldown: float | None
) -> tuple[float, float]:
    """The measured window: a value < 1 is a fraction of the run, >= 1 is seconds."""
    duration = max(end - start, 0.0)

    def cut(value: float | None) -> float:
        if not value or value <= 0:
            return 0.0
        return value * duration if value < 1 else value

    return start + cut(warmup), end - cut(cooldown)


def compile_benchmark(
    agg: BenchmarkAggregator,
    cols: dict[str, NDArray[Any]],
    *,
    start_time: float,
    end_time: float,
    client: Mapping[str, Any],
) -> Benchmark:
    """The :class:`Benchmark` of ``agg``'s flushed rows ``cols`` over the measured window."""
    warnings: list[str] = []
    ws, we = window_bounds(start_time, end_time, agg.warmup, agg.cooldown)
    if we <= ws and (agg.warmup or agg.cooldown):
        warnings.append(
            "warmup and cooldown cover the whole run: every request was measured; "
            "lower --warmup/--cooldown or run longer"
        )
        ws, we = start_time, end_time
    start = cols["start"]
    # Only requests that start inside the window count; no warmup/cooldown: every request
    # (``mask`` None: nothing to select, no pass over the rows).
    mask: NDArray[np.bool_] | None = None
    if agg.warmup or agg.cooldown:
        lo = ws if agg.warmup else -math.inf
        hi = we if agg.cooldown else math.inf
        mask = (start >= lo) & (start <= hi)
        if mask.all():
            mask = None
    excluded = None if mask is None else ~mask
    # The running totals, less the rows outside the window (only those rows are read).
    totals = dict(agg.running_tally)
    category_counts = agg.category_counts
    if excluded is not None:
        rows = np.nonzero(excluded)[0]
        outside = {name: values[rows] for name, values in cols.items()}
        for key, value in tally(outside, agg.slo).items():
            totals[key] = totals[key] - value
        category_counts = category_counts - add_counts(
            np.zeros_like(category_counts), outside["category"]
        )

    length = max(we - ws, 0.0)
    requests = totals["requests"]
    metrics: dict[str, Any] = {
        "requests_per_second": rates_by_status(requests, length),
        "output_tokens_per_second": rates_by_status(totals["output_tokens"], length),
        "tokens_per_second": rates_by_status(totals["tokens"], length),
    }
    inputs = totals.get("inputs")
    pooling = None
    if inputs is not None and inputs.any():
        metrics["inputs_per_second"] = rates_by_status(inputs, length)
        pooling = {name: int(inputs[code]) for code, name in enumerate(STATUS_NAMES)}
        pooling["total"] = int(inputs.sum())
    # Concurrency counts every request overlapping the window (each clipped to it), those
    # that start outside it included.
    metrics["request_concurrency"] = agg.timeline.summaries(ws, we, agg.running_tally["lasting"])
    for name, per_status in agg.sorted_samples.items():
        metrics[name] = split_runs([sample.runs(excluded) for sample in per_status])
    metrics["inter_chunk_latency_ms"] = _gaps(agg, cols, mask, totals)
    if agg.slo:
        metrics["goodput"] = goodput(agg.slo, totals["goodput"], length)
    groups = group_summaries(
        {k: g for k, g in agg.groups.items() if k != (None, None)} or agg.groups,
        cols,
        mask,
        agg.sorted_samples,
        length,
        classes=agg.classes,
        slo=agg.slo,
    )
    if groups is not None and groups["classes"]:
        mixed = overall_goodput(groups["classes"], agg.slo, length)
        if mixed is not None:
            metrics["goodput"] = mixed
    metrics = {key: metrics[key] for key in _METRIC_ORDER if key in metrics}

    # Token counting: where counts came from, and server/client disagreements.
    by_status = totals["sources"].reshape(3, 3)
    sources = by_status.sum(axis=0)
    used = [name for name, n in zip(_SOURCES, sources, strict=True) if n]
    n_compared, n_disagree, n_vs_tokenizer = (int(x) for x in totals["tokens_compared"])
    # The source that matters is the one behind the successful requests' counts (cancelled
    # requests never get a usage chunk); ``sources`` counts every request.
    ok_used = [name for name, n in zip(_SOURCES, by_status[0], strict=True) if n]
    used = ok_used or used
    tokens = {
        "source": used[0] if len(used) == 1 else ("mixed" if used else "none"),
        "sources": {name: int(n) for name, n in zip(_SOURCES, sources, strict=True) if n},
        "compared": n_compared,
        "disagreements": n_disagree,
        "compared_with": None if not n_compared else ("tokenizer" if n_vs_tokenizer else "chunks"),
    }

    names = agg.categories
    errors = {names[cat]: int(n) for cat, n in enumerate(category_counts) if n}
    counts = {name: int(requests[code]) for code, name in enumerate(STATUS_NAMES)}
    counts["outside_window"] = 0 if excluded is None else int(excluded.sum())

    if client.get("limited"):
        reason = client.get("reason") or "the client could not keep up with the schedule"
        warnings.append(
            f"client-limited: {reason}; the numbers describe the client, not the server"
        )
    if counts["successful"] == 0:
        warnings.append("no successful requests in the measured window")
    if tokens["disagreements"]:
        warnings.append(
            f"server and client output token counts disagree on {n_disagree} of {n_compared} "
            f"requests (compared with {tokens['compared_with']})"
        )
    measured = counts["successful"] + counts["errored"]
    if measured and counts["errored"] / measured > 0.05:
        warnings.append(f"{counts['errored']} of {measured} requests errored")

    off = agg.epoch
    stages, stage_warning = stage_specs(agg.strategy)
    if stage_warning:
        warnings.append(stage_warning)
    slices = agg.slices
    timeslices = None
    if slices is not None:
        factor = slice_size(slices.size, end_time - start_time)
        timeslices = slices.compile(
            end_time=end_time,
            factor=factor,
            epoch=off,
            window=(ws, we),
            timeline=agg.timeline,
            stages=stages,
        )
    cached = agg.cached_tokens
    return Benchmark(
        id=agg.index,
        strategy=agg.strategy,
        start_time=start_time + off,
        end_time=end_time + off,
        duration=end_time - start_time,
        measured_window=[ws + off, we + off],
        warmup=agg.warmup,
        cooldown=agg.cooldown,
        max_seconds=agg.max_seconds,
        max_requests=agg.max_requests,
        requests=counts,  # type: ignore[arg-type]
        inputs=pooling,  # type: ignore[arg-type]
        metrics=metrics,  # type: ignore[arg-type]
        tokens=tokens,  # type: ignore[arg-type]
        errors=errors,
        error_examples={k: v for k, v in agg.error_examples.items() if k in errors},
        warnings=warnings,
        client=dict(client),
        samples=agg.samples,
        timeslices=timeslices,  # type: ignore[arg-type]
        stages=None
        if stages is None
        else stage_summaries(  # type: ignore[arg-type]
            stages, cols, agg.sorted_samples, start_time
        ),
        prompt_cache=prompt_cache(cached, cols, mask),  # type: ignore[arg-type]
        images=image_counts(agg.image_rows, mask),  # type: ignore[arg-type]
        audio=audio_counts(agg.audio_rows, cols, mask),  # type: ignore[arg-type]
        sessions=session_summary(  # type: ignore[arg-type]
            agg.sessions, cols, end_time - start_time
        ),
        turns=turn_rows(  # type: ignore[arg-type]
            agg.sessions, cols, mask, cached, agg.sorted_samples
        ),
        groups=groups,  # type: ignore[arg-type]
    )


def image_counts(rows: NDArray[np.int64], mask: NDArray[np.bool_] | None) -> dict[str, Any] | None:
    """The report's ``images`` block from the aggregator's ``[rows, images, bytes]`` of the
    results that carried images; only the window's rows (``mask``) count."""
    if mask is not None and rows.shape[1]:
        rows = rows[:, mask[rows[0]]]
    n = int(rows.shape[1])
    if not n:
        return None
    images, nbytes = int(rows[1].sum()), int(rows[2].sum())
    return {
        "requests_with_images": n,
        "images": images,
        "image_bytes": nbytes,
        "images_per_request_mean": images / n,
        "image_bytes_per_request_mean": nbytes / n,
    }


def audio_counts(
    rows: NDArray[np.int64], cols: Mapping[str, NDArray[Any]], mask: NDArray[np.bool_] | None
) -> dict[str, Any] | None:
    """The report's ``audio`` block from the aggregator's ``[rows, clips, microseconds]`` of
    the results that carried audio; only the window's rows (``mask``) count. ``rtf_mean`` is
    the mean of latency / audio seconds over the successful ones with a readable length."""
    if mask is not None and rows.shape[1]:
        rows = rows[:, mask[rows[0]]]
    n = int(rows.shape[1])
    if not n:
        return None
    clips, seconds = int(rows[1].sum()), float(rows[2].sum()) / 1e6
    index, micros = rows[0], rows[2]
    good = (cols["status"][index] == 0) & (micros > 0)
    rtf = None
    if good.any():
        latency = cols["end"][index[good]] - cols["start"][index[good]]
        rtf = float(np.mean(latency / (micros[good] / 1e6)))
    return {
        "requests_with_audio": n,
        "clips": clips,
        "audio_seconds": seconds,
        "audio_seconds_per_request_mean": seconds / n,
        "rtf_mean": rtf,
    }


def _gaps(
    agg: BenchmarkAggregator,
    cols: Mapping[str, NDArray[Any]],
    mask: NDArray[np.bool_] | None,
    totals: Mapping[str, NDArray[Any]],
) -> dict[str, Any]:
    hist = agg.gaps.histograms(None if mask is None else ~mask, cols)
    gapped = totals["gapped"]
    # Per status; a status without gaps keeps +inf / -inf, which min() / max() pass over.
    vmin, vmax = agg.gaps.range
    gap_sum, gap_sumsq = totals["gap_sum"], totals["gap_sumsq"]
    if mask is not None:
        # The range is not subtractable, and the sums of squares must not be: the outside
        # rows' gaps can dwarf the window's (a slow warmup) and leave only rounding error.
        # Read the window's rows instead.
        status = cols["status"]
        has = (cols["ngaps"] > 0) & mask
        vmin, vmax = np.full(3, math.inf), np.full(3, -math.inf)
        gap_sum, gap_sumsq = np.zeros(3), np.zeros(3)
        for code in range(3):
            chosen = has & (status == code)
            if chosen.any():
                vmin[code] = float(cols["gap_min"][chosen].min())
                vmax[code] = float(cols["gap_max"][chosen].max())
                gap_sum[code] = float(cols["gap_sum"][chosen].sum())
                gap_sumsq[code] = float(cols["gap_sumsq"][chosen].sum())
    out: dict[str, Any] = {}
    for code, name in enumerate([*STATUS_NAMES, "total"]):
        present = gapped[code] if code < 3 else gapped.sum()
        if not present:
            out[name] = summarize(np.zeros(0))
            continue
        every = slice(None) if code == 3 else code
        out[name] = summarize_histogram(
            hist[code] if code < 3 else hist.sum(axis=0),
            total=float(np.sum(gap_sum[every])),
            total_sq=float(np.sum(gap_sumsq[every])),
            vmin=float(np.min(vmin[every])),
            vmax=float(np.max(vmax[every])),
        )
    return out
