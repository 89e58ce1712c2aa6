"""BenchmarkAggregator: results in, one compiled :class:`Benchmark` out.

``add()`` runs in the parent for every result while the benchmark goes on, so it only appends
plain numbers to Python lists; every few thousand results those lists move into numpy columns,
the chunk arrival times become inter-chunk gaps (exact sums, a log histogram for percentiles),
each metric's values are merged into its exact :class:`SortedSample` and the start/end events
into the :class:`ConcurrencyTimeline`. ``compile()`` after the last result then sorts nothing:
it drops the rows outside the measured window, reads percentiles off the sorted arrays and
sums; no pydantic per request. The window rule and every definition are in docs/metrics.md.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from itertools import chain
from typing import TYPE_CHECKING, Any

import numpy as np

from guidellm.benchmark.progress import Progress
from guidellm.benchmark.report import Benchmark, epoch_offset
from guidellm.benchmark.rows import SAMPLED, add_counts, latencies, row_metrics, tally
from guidellm.benchmark.slo import SLO_KEYS, check_slo
from guidellm.benchmark.sorted_sample import GrowableColumns, SortedSample
from guidellm.benchmark.statistics import (
    STATUS_NAMES,
    LogHistogram,
    goodput,
    rates_by_status,
    split_runs,
    summarize,
    summarize_histogram,
)
from guidellm.benchmark.timeline import ConcurrencyTimeline
from guidellm.errors import UserError
from guidellm.percentile import percentile
from guidellm.redact import redact_text
from guidellm.request import RequestResult, RequestStatus, now

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = ["SLO_KEYS", "BenchmarkAggregator", "window_bounds"]

_STATUS_CODE = {RequestStatus.SUCCESSFUL: 0, RequestStatus.ERRORED: 1, RequestStatus.INCOMPLETE: 2}
_STATUS_NAMES = STATUS_NAMES
_SOURCES = ("usage", "tokenizer", "chunks")
#: Pending results become arrays (gaps, tallies, timeline) every this many results, or
#: sooner once they hold :data:`_PREPARE_CHUNKS` chunk times; prepared rows are merged into
#: the sorted samples every :data:`_FLUSH_EVERY` rows. What is left at the end is small.
_FLUSH_EVERY = 4096
_PREPARE_CHUNKS = 65536
#: The report's metric order (docs/metrics.md).
_METRIC_ORDER = (
    "requests_per_second",
    "output_tokens_per_second",
    "tokens_per_second",
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
_NAN = math.nan

# Columns kept per request (float64 unless noted), filled by add() and flushed in batches.
_FLOAT_COLS = (
    "scheduled",
    "start",
    "end",
    "first",
    "last",
    "prompt_tokens",
    "output_tokens",
)
_INT_COLS = ("status", "source", "disagree", "category", "ngaps")
#: Columns derived at each flush: inter-chunk gap moments and the per-request latencies.
_DERIVED_COLS = ("gap_sum", "gap_sumsq", "gap_min", "gap_max", "ttft", "itl", "tpot")


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


class BenchmarkAggregator:
    """Collects one benchmark's results; see the module docstring and docs/architecture.md."""

    def __init__(
        self,
        *,
        index: int,
        strategy: Mapping[str, Any],
        warmup: float | None,
        cooldown: float | None,
        max_seconds: float | None,
        max_requests: int | None,
        slo: Mapping[str, float] | None,
        tokenizer: Any = None,
        output_sampling: int = 0,
    ) -> None:
        for name, value in (("--warmup", warmup), ("--cooldown", cooldown)):
            if value is not None and (value < 0 or not math.isfinite(value)):
                raise UserError(
                    f"{name} {value} is negative; give a fraction (<1) or seconds (>=1)"
                )
        check_slo(slo)
        self.index = index
        self.strategy = dict(strategy)
        self.warmup = warmup
        self.cooldown = cooldown
        self.max_seconds = max_seconds
        self.max_requests = max_requests
        self.slo = {k: float(v) for k, v in (slo or {}).items()}
        self.tokenizer = tokenizer
        self.output_sampling = max(int(output_sampling), 0)
        self.created = now()
        self._epoch = epoch_offset()
        self.counts = [0, 0, 0]
        self.samples: list[dict[str, Any]] = []
        self.error_examples: dict[str, str] = {}
        self._categories: dict[str, int] = {}
        self._recent_ttft: deque[float] = deque(maxlen=1024)
        self._recent_itl: deque[float] = deque(maxlen=1024)
        self._pending: dict[str, list[Any]] = {c: [] for c in (*_FLOAT_COLS, *_INT_COLS)}
        self._pending_chunks: list[list[float]] = []
        self._pending_chunk_count = 0
        self._unmerged_from = 0  # first row not yet in the sorted samples
        dtypes: dict[str, Any] = {c: np.float64 for c in (*_FLOAT_COLS, *_DERIVED_COLS)}
        dtypes.update({c: np.int64 for c in _INT_COLS})
        self._cols = GrowableColumns(dtypes)
        # One sample per metric and status (successful, errored, incomplete): a status's
        # summary reads its own sample, the total reads them together.
        self._samples = {
            name: tuple(SortedSample(weighted=w) for _ in STATUS_NAMES)
            for name, w in SAMPLED.items()
        }
        self._timeline = ConcurrencyTimeline()
        self._gap_buckets: list[NDArray[np.int16]] = []
        self._gap_batch_rows: list[int] = []
        self._gap_block_hists: list[tuple[int, NDArray[np.int64]]] = []
        self._gap_hist = np.zeros((3, LogHistogram.BUCKETS), dtype=np.int64)
        self._gap_min = np.full(3, math.inf)
        self._gap_max = np.full(3, -math.inf)
        self._tally: dict[str, NDArray[Any]] = {}
        self._category_counts = np.zeros(0, dtype=np.int64)

    # -- per result (hot) --------------------------------------------------------------------

    def add(self, result: RequestResult) -> None:
        """Record one result; cheap (list appends; numpy work is batched)."""
        code = _STATUS_CODE.get(result.status, 1)
        self.counts[code] += 1
        p = self._pending
        chunks = result.content_chunks + result.reasoning_chunks
        client: int | None = None
        client_src = 2
        text = result.output_text
        if self.tokenizer is not None and (text is not None or result.reasoning_text):
            client = self.tokenizer.count(text or "")
            if result.reasoning_text:
                client += self.tokenizer.count(result.reasoning_text)
            client_src = 1
        elif chunks:
            client = chunks
        usage = result.output_tokens
        if usage is not None:
            tokens, source = usage, 0
            disagree = -1 if client is None else int(client != usage) + 2 * (client_src == 1)
        else:
            tokens, source, disagree = (client or 0), client_src, -1
        first, last = result.first_token_time, result.last_token_time
        start = result.request_start
        p["status"].append(code)
        p["scheduled"].append(result.scheduled_time)
        p["start"].append(start)
        p["end"].append(result.request_end)
        p["first"].append(_NAN if first is None else first)
        p["last"].append(_NAN if last is None else last)
        prompt = result.prompt_tokens
        if prompt is None:
            prompt = result.request_prompt_tokens
        p["prompt_tokens"].append(_NAN if prompt is None else prompt)
        p["output_tokens"].append(tokens)
        p["source"].append(source)
        p["disagree"].append(disagree)
        times = result.chunk_times
        p["ngaps"].append(len(times) - 1 if times else 0)
        self._pending_chunks.append(times)
        self._pending_chunk_count += len(times)
        if code:
            category = result.error_category or ("cancelled" if code == 2 else "error")
            cat = self._categories.get(category)
            if cat is None:
                cat = self._categories[category] = len(self._categories)
            if result.error and category not in self.error_examples:
                # Backends scrub their own secrets; a third-party one may not (once per category).
                self.error_examples[category] = redact_text(result.error[:500])
            p["category"].append(cat)
        else:
            p["category"].append(-1)
        if first is not None:
            self._recent_ttft.append((first - start) * 1000.0)
            if last is not None and tokens > 1:
                self._recent_itl.append((last - first) * 1000.0 / (tokens - 1))
        if self.output_sampling and len(self.samples) < self.output_sampling:
            self._sample(result, tokens)
        if (
            len(self._pending_chunks) >= _FLUSH_EVERY
            or self._pending_chunk_count >= _PREPARE_CHUNKS
        ):
            self._flush()

    def _sample(self, result: RequestResult, tokens: int) -> None:
        if result.output_text is None and result.reasoning_text is None and not result.error:
            return
        sample: dict[str, Any] = {
            "request_id": result.request_id,
            "status": result.status,
            "output_tokens": tokens,
            "request_latency": result.request_end - result.request_start,
            "output_text": result.output_text,
        }
        if result.reasoning_text:
            sample["reasoning_text"] = result.reasoning_text
        if result.error:
            sample["error"] = redact_text(result.error)
        self.samples.append(sample)

    def _flush(self, *, last: bool = False) -> None:
        """Prepare the pending results and, every :data:`_FLUSH_EVERY` rows (or ``last``),
        merge the prepared rows into the sorted samples.

        ``last`` (at compile) leaves those rows in the samples' small tails: merging them into
        the large arrays would copy every value once more after the last response.
        """
        self._prepare()
        if last or self._cols.rows - self._unmerged_from >= _FLUSH_EVERY:
            self._merge(last=last)

    def _merge(self, *, last: bool) -> None:
        first_row, end_row = self._unmerged_from, self._cols.rows
        if end_row == first_row:
            return
        view = self._cols.view()
        block = {name: view[name][first_row:end_row] for name in view}
        status = block["status"]
        m = end_row - first_row
        rows = np.arange(first_row, end_row, dtype=np.int32)
        present = np.bincount(status, minlength=3)
        groups = [(c, None if present[c] == m else status == c) for c in range(3) if present[c]]
        for name, (values, weights) in row_metrics(block).items():
            for code, chosen in groups:
                sample = self._samples[name][code]
                if chosen is None:
                    sample.extend(values, rows, weights, defer=last)
                else:
                    w = None if weights is None else weights[chosen]
                    sample.extend(values[chosen], rows[chosen], w, defer=last)
        self._unmerged_from = end_row

    def _prepare(self) -> None:
        """Move pending lists into numpy columns, turn chunk times into gaps, add the tallies
        and merge the start/end events into the timeline (all in the block's size)."""
        lists = self._pending_chunks
        if not lists:
            return
        p = self._pending
        block: dict[str, NDArray[Any]] = {
            col: np.array(p[col], dtype=np.float64) for col in _FLOAT_COLS
        }
        for col in _INT_COLS:
            block[col] = np.array(p[col], dtype=np.int64)
        status = block["status"]
        ngaps = block["ngaps"]
        m = len(lists)
        counts = np.fromiter(map(len, lists), dtype=np.int64, count=m)
        gap_sum = np.zeros(m)
        gap_sumsq = np.zeros(m)
        gap_min = np.full(m, _NAN)
        gap_max = np.full(m, _NAN)
        total = int(counts.sum())
        if total > 1:
            flat = np.fromiter(chain.from_iterable(lists), dtype=np.float64, count=total)
            diffs = np.diff(flat) * 1000.0
            keep = np.ones(total - 1, dtype=bool)
            ends = np.cumsum(counts) - 1
            ends = ends[(ends >= 0) & (ends < total - 1)]
            keep[ends] = False
            gaps = diffs[keep]
            owner = np.repeat(np.arange(m), ngaps)
            gap_sum = np.bincount(owner, weights=gaps, minlength=m).astype(np.float64)
            gap_sumsq = np.bincount(owner, weights=gaps * gaps, minlength=m).astype(np.float64)
            has = ngaps > 0
            if has.any():
                first_idx = (np.cumsum(ngaps) - ngaps)[has]
                gap_min[has] = np.minimum.reduceat(gaps, first_idx)
                gap_max[has] = np.maximum.reduceat(gaps, first_idx)
            buckets = LogHistogram.bucket_of(gaps)
            gap_status = status[owner]
            low = int(buckets.min()) if len(buckets) else 0
            # The block's own histogram over the buckets it touches: a window that leaves the
            # whole block out subtracts it without reading its gaps.
            width = int(buckets.max()) - low + 1 if len(buckets) else 0
            block_hist = np.zeros((3, width), dtype=np.int64)
            for code in range(3):
                sel = buckets[gap_status == code]
                if len(sel):
                    block_hist[code] = np.bincount(sel - low, minlength=block_hist.shape[1])
            self._gap_hist[:, low : low + block_hist.shape[1]] += block_hist
            self._gap_block_hists.append((low, block_hist))
        else:
            buckets = np.zeros(0, dtype=np.int16)
            self._gap_block_hists.append((0, np.zeros((3, 0), dtype=np.int64)))
        self._gap_buckets.append(buckets)
        self._gap_batch_rows.append(m)
        block["gap_sum"], block["gap_sumsq"] = gap_sum, gap_sumsq
        block["gap_min"], block["gap_max"] = gap_min, gap_max
        block["ttft"], block["itl"], block["tpot"] = latencies(block)
        self._cols.append(block)
        for key, value in tally(block, self.slo).items():
            self._tally[key] = value + self._tally[key] if key in self._tally else value
        self._category_counts = add_counts(self._category_counts, block["category"])
        present = np.bincount(status, minlength=3)
        for code in range(3):
            if present[code]:
                chosen = ngaps > 0 if present[code] == m else (ngaps > 0) & (status == code)
                if chosen.any():
                    self._gap_min[code] = min(self._gap_min[code], float(gap_min[chosen].min()))
                    self._gap_max[code] = max(self._gap_max[code], float(gap_max[chosen].max()))
        self._timeline.extend(block["start"], block["end"], status)
        for pending in p.values():
            pending.clear()
        self._pending_chunks = []
        self._pending_chunk_count = 0

    # -- live --------------------------------------------------------------------------------

    def progress(
        self, now_time: float, in_flight: int, *, started: float | None = None
    ) -> Progress:
        """A cheap snapshot for live display (medians of the last ~1000 requests); whether
        the client is falling behind is the scheduler's to say (``client_limited`` False here).

        ``started`` is the benchmark's real start: the aggregator may be built after the
        schedule began (its imports run in a thread), so its creation time can be late.
        """
        elapsed = max(now_time - (self.created if started is None else started), 0.0)
        done = sum(self.counts)
        fractions = []
        if self.max_seconds:
            fractions.append(elapsed / self.max_seconds)
        if self.max_requests:
            fractions.append(done / self.max_requests)
        return Progress(
            benchmark_index=self.index,
            strategy=self.strategy,
            elapsed=elapsed,
            fraction_done=min(max(fractions), 1.0) if fractions else None,
            successful=self.counts[0],
            errored=self.counts[1],
            incomplete=self.counts[2],
            in_flight=in_flight,
            requests_per_second=done / elapsed if elapsed > 0 else 0.0,
            ttft_median_ms=percentile(self._recent_ttft, 50),
            itl_median_ms=percentile(self._recent_itl, 50),
        )

    # -- compile -----------------------------------------------------------------------------

    def _columns(self) -> dict[str, NDArray[Any]]:
        self._flush(last=True)
        return self._cols.view()

    def compile(
        self, *, start_time: float, end_time: float, client: Mapping[str, Any]
    ) -> Benchmark:
        """The finished benchmark (times in, as :func:`~guidellm.request.now` seconds)."""
        cols = self._columns()
        return _compile(self, cols, start_time=start_time, end_time=end_time, client=client)

    def gap_histograms(self, excluded: NDArray[np.bool_] | None, cols: Mapping[str, Any]) -> Any:
        """Per-status gap histograms of the requests not ``excluded`` by the window.

        Works on the smaller side: subtracts the excluded requests' gaps from the running
        histograms, or rebuilds from the included ones when most requests are excluded. Only
        those requests' gaps are touched (no array of every gap's status is built).
        """
        n_excluded = 0 if excluded is None else int(excluded.sum())
        if excluded is None or n_excluded == 0:
            return self._gap_hist.copy()
        ngaps = cols["ngaps"]
        status_all = cols["status"]
        subtract = n_excluded * 2 <= len(excluded)
        chosen = excluded if subtract else ~excluded
        part = np.zeros_like(self._gap_hist)
        row0 = 0
        # Batch by batch (the flushes' arrays): a batch chosen whole adds its own histogram;
        # otherwise only the chosen requests' gaps are touched.
        batches = zip(self._gap_buckets, self._gap_batch_rows, self._gap_block_hists, strict=True)
        for buckets, n_rows, (low, block_hist) in batches:
            rows = np.nonzero(chosen[row0 : row0 + n_rows])[0]
            if len(rows) == n_rows:
                part[:, low : low + block_hist.shape[1]] += block_hist
            elif len(rows):
                batch_ngaps = ngaps[row0 : row0 + n_rows]
                offsets = np.cumsum(batch_ngaps) - batch_ngaps
                counts = batch_ngaps[rows]
                # Concatenated ranges offsets[r] .. offsets[r] + counts[r].
                starts = np.repeat(offsets[rows] - (np.cumsum(counts) - counts), counts)
                picked = buckets[np.arange(int(counts.sum())) + starts]
                status = np.repeat(status_all[row0 + rows].astype(np.int8), counts)
                for code in range(3):
                    sel = picked[status == code]
                    if len(sel):
                        part[code] += np.bincount(sel, minlength=LogHistogram.BUCKETS)
            row0 += n_rows
        return self._gap_hist - part if subtract else part

    @property
    def sorted_samples(self) -> Mapping[str, tuple[SortedSample, ...]]:
        """Each per-request metric's sorted samples by status code (complete after
        :meth:`compile` flushed the last block)."""
        return self._samples

    @property
    def timeline(self) -> ConcurrencyTimeline:
        return self._timeline

    @property
    def running_tally(self) -> Mapping[str, NDArray[Any]]:
        """Every prepared row's :func:`~guidellm.benchmark.rows.tally` (zeros before any)."""
        if not self._tally:
            empty = {name: np.zeros(0) for name in (*_FLOAT_COLS, *_DERIVED_COLS)}
            empty.update({name: np.zeros(0, dtype=np.int64) for name in _INT_COLS})
            return tally(empty, self.slo)
        return self._tally

    @property
    def category_counts(self) -> NDArray[np.int64]:
        """Requests per error category id (see :attr:`categories`)."""
        return self._category_counts

    @property
    def gap_range(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Smallest and largest inter-chunk gap per status (inf / -inf: none)."""
        return self._gap_min, self._gap_max

    @property
    def categories(self) -> dict[int, str]:
        return {v: k for k, v in self._categories.items()}

    @property
    def epoch(self) -> float:
        return self._epoch


def _compile(
    agg: BenchmarkAggregator,
    cols: dict[str, NDArray[Any]],
    *,
    start_time: float,
    end_time: float,
    client: Mapping[str, Any],
) -> Benchmark:
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
    # Concurrency counts every request overlapping the window (each clipped to it), those
    # that start outside it included.
    metrics["request_concurrency"] = agg.timeline.summaries(ws, we, agg.running_tally["lasting"])
    for name, per_status in agg.sorted_samples.items():
        metrics[name] = split_runs([sample.runs(excluded) for sample in per_status])
    metrics["inter_chunk_latency_ms"] = _gaps(agg, cols, mask, totals)
    if agg.slo:
        metrics["goodput"] = goodput(agg.slo, totals["goodput"], length)
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
    counts = {name: int(requests[code]) for code, name in enumerate(_STATUS_NAMES)}
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
        metrics=metrics,  # type: ignore[arg-type]
        tokens=tokens,  # type: ignore[arg-type]
        errors=errors,
        error_examples={k: v for k, v in agg.error_examples.items() if k in errors},
        warnings=warnings,
        client=dict(client),
        samples=agg.samples,
    )


def _gaps(
    agg: BenchmarkAggregator,
    cols: Mapping[str, NDArray[Any]],
    mask: NDArray[np.bool_] | None,
    totals: Mapping[str, NDArray[Any]],
) -> dict[str, Any]:
    hist = agg.gap_histograms(None if mask is None else ~mask, cols)
    gapped = totals["gapped"]
    # Per status; a status without gaps keeps +inf / -inf, which min() / max() pass over.
    vmin, vmax = agg.gap_range
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
    for code, name in enumerate([*_STATUS_NAMES, "total"]):
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
