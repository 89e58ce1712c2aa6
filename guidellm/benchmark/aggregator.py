"""BenchmarkAggregator: results in, one compiled :class:`Benchmark` out.

``add()`` runs in the parent for every result while the benchmark goes on, so it only appends
plain numbers to Python lists; every few thousand results those lists move into numpy columns,
the chunk arrival times become inter-chunk gaps (exact sums, a log histogram for percentiles:
:mod:`guidellm.benchmark.gaps`), each metric's values are merged into its exact
:class:`SortedSample` and the start/end events into the :class:`ConcurrencyTimeline`.
``compile()`` after the last result then sorts nothing (:mod:`guidellm.benchmark.compile`):
it drops the rows outside the measured window, reads percentiles off the sorted arrays and
sums; no pydantic per request. The window rule and every definition are in docs/metrics.md.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from guidellm.benchmark.compile import compile_benchmark
from guidellm.benchmark.gaps import GAP_COLUMNS, GapHistograms
from guidellm.benchmark.progress import Progress
from guidellm.benchmark.report import Benchmark, epoch_offset
from guidellm.benchmark.rows import (
    SAMPLED,
    add_counts,
    latencies,
    output_tokens,
    row_metrics,
    tally,
)
from guidellm.benchmark.sessions import SessionTracker, SparseColumns
from guidellm.benchmark.slo import SLO_KEYS, check_slo
from guidellm.benchmark.sorted_sample import GrowableColumns, SortedSample
from guidellm.benchmark.statistics import STATUS_NAMES
from guidellm.benchmark.timeline import ConcurrencyTimeline
from guidellm.benchmark.timeslices import SliceAccumulator, parse_duration
from guidellm.errors import UserError
from guidellm.percentile import percentile
from guidellm.request import RequestResult, RequestStatus, now

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = ["SLO_KEYS", "BenchmarkAggregator"]

_STATUS_CODE = {RequestStatus.SUCCESSFUL: 0, RequestStatus.ERRORED: 1, RequestStatus.INCOMPLETE: 2}
#: Pending results become arrays (gaps, tallies, timeline) every this many results, or
#: sooner once they hold :data:`_PREPARE_CHUNKS` chunk times; prepared rows are merged into
#: the sorted samples every :data:`_FLUSH_EVERY` rows. What is left at the end is small.
_FLUSH_EVERY = 4096
#: Rows read back at a time at compile (the slices; the timeline if made again).
_READ_ROWS = 1 << 16
_PREPARE_CHUNKS = 65536
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
_INT_COLS = ("status", "source", "disagree", "category", "ngaps", "inputs", "group")
#: Columns derived at each flush: inter-chunk gap moments and the per-request latencies.
_DERIVED_COLS = (*GAP_COLUMNS, "ttft", "itl", "tpot")
#: Columns the time slices read.
_SLICED = ("scheduled", "start", "end", "status", "output_tokens", "ttft", "itl")


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
        time_slice: float = 1.0,
        origin: float | None = None,
        classes: list[dict[str, Any]] | None = None,
    ) -> None:
        for name, value in (("--warmup", warmup), ("--cooldown", cooldown)):
            if value is not None and (value < 0 or not math.isfinite(value)):
                raise UserError(
                    f"{name} {value} is negative; give a fraction (<1) or seconds (>=1)"
                )
        check_slo(slo)
        try:
            self.time_slice = parse_duration(time_slice)
        except ValueError as exc:
            raise UserError(f"--time-slice {time_slice!r} {exc}") from None
        self.index = index
        self.strategy = dict(strategy)
        self.warmup = warmup
        self.cooldown = cooldown
        self.max_seconds = max_seconds
        self.max_requests = max_requests
        self.slo = {k: float(v) for k, v in (slo or {}).items()}
        #: A mix's traffic classes (name, weight, models, request_format, slo), if any.
        self.classes = list(classes or [])
        #: Each (traffic class, model) pair seen, and its id in the ``group`` column.
        self.groups: dict[tuple[str | None, str | None], int] = {(None, None): 0}
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
        self._merges = 0  # blocks merged into the sorted samples
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
        #: Sessions seen and the rows of their turns (empty for single-turn benchmarks).
        self.sessions = SessionTracker()
        #: Cached prompt tokens, where the server said: row numbers and counts.
        self._cached = SparseColumns(2)
        #: Rows that carried images: row numbers, images and image bytes.
        self._images = SparseColumns(3)
        #: Rows that carried audio: row numbers, clips and audio microseconds.
        self._audio = SparseColumns(3)
        #: Inter-chunk gap histograms per block and status, and the gaps' range.
        self.gaps = GapHistograms(keep_buckets=bool(warmup or cooldown))
        self._tally: dict[str, NDArray[Any]] = {}
        self._category_counts = np.zeros(0, dtype=np.int64)
        #: Per-slice tallies from the benchmark's start, once it is known (:meth:`set_origin`).
        self._slices: SliceAccumulator | None = None
        if origin is not None:
            self.set_origin(origin)

    def set_origin(self, start_time: float) -> None:
        """The benchmark's start (:func:`~guidellm.request.now` seconds): from then on each
        prepared block is also tallied per time slice, so compile has little left to do."""
        if self._slices is None or self._slices.origin != start_time:
            self._slices = SliceAccumulator(start_time, self.time_slice)

    # -- per result (hot) --------------------------------------------------------------------

    def add(self, result: RequestResult) -> None:
        """Record one result; cheap (list appends; numpy work is batched)."""
        code = _STATUS_CODE.get(result.status, 1)
        self.counts[code] += 1
        p = self._pending
        tokens, source, disagree = output_tokens(result, self.tokenizer)
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
        p["inputs"].append(result.inputs)
        if result.traffic_class is None and result.model is None:
            p["group"].append(0)
        else:
            key = (result.traffic_class, result.model)
            group = self.groups.get(key)
            if group is None:
                group = self.groups[key] = len(self.groups)
            p["group"].append(group)
        # Rarer facts are kept sparse, with their row: a plain result pays two tests.
        cached = result.cached_tokens
        if cached is not None:
            rows, values = self._cached.lists
            rows.append(self._cols.rows + len(self._pending_chunks))
            values.append(cached)
        if result.images:
            rows, images, nbytes = self._images.lists
            rows.append(self._cols.rows + len(self._pending_chunks))
            images.append(result.images)
            nbytes.append(result.image_bytes)
        if result.audio_clips:
            rows, clips, micros = self._audio.lists
            rows.append(self._cols.rows + len(self._pending_chunks))
            clips.append(result.audio_clips)
            micros.append(round(result.audio_seconds * 1e6))
        sid = result.session_id
        if sid is not None:
            self.sessions.add(result, sid, self._cols.rows + len(self._pending_chunks))
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
                self.error_examples[category] = result.error[:500]
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
            sample["error"] = result.error
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
        block = self._cols.read(first_row, end_row)
        status = block["status"]
        m = end_row - first_row
        rows = np.arange(first_row, end_row, dtype=np.int32)
        present = np.bincount(status, minlength=3)
        groups = [(c, None if present[c] == m else status == c) for c in range(3) if present[c]]
        # One metric a block may merge its samples on disk: not all eight on the same block.
        turn = self._merges % len(self._samples)
        self._merges += 1
        for k, (name, (values, weights)) in enumerate(row_metrics(block).items()):
            mine = k == turn
            for code, chosen in groups:
                sample = self._samples[name][code]
                if chosen is None:
                    sample.extend(values, rows, weights, defer=last, turn=mine)
                else:
                    w = None if weights is None else weights[chosen]
                    sample.extend(values[chosen], rows[chosen], w, defer=last, turn=mine)
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
        block.update(self.gaps.add_block(lists, status, ngaps))
        block["ttft"], block["itl"], block["tpot"] = latencies(block)
        self._cols.append(block)
        for key, value in tally(block, self.slo).items():
            self._tally[key] = value + self._tally[key] if key in self._tally else value
        self._category_counts = add_counts(self._category_counts, block["category"])
        self._timeline.extend(block["start"], block["end"], status)
        if self._slices is not None:
            self._slice_rows(self._slices)
        self._cached.prepare()
        self._images.prepare()
        self._audio.prepare()
        self.sessions.prepare()
        for pending in p.values():
            pending.clear()
        self._pending_chunks = []
        self._pending_chunk_count = 0

    def _slice_rows(self, acc: SliceAccumulator) -> None:
        """Feed ``acc`` every prepared row it has not seen (all of them when it is new), a
        bounded slice of rows at a time."""
        while acc.rows < self._cols.rows:
            stop = min(acc.rows + _READ_ROWS, self._cols.rows)
            acc.add(self._cols.read(acc.rows, stop, _SLICED))

    # -- live --------------------------------------------------------------------------------

    def progress(
        self, now_time: float, in_flight: int, *, started: float | None = None
    ) -> Progress:
        """A cheap snapshot for live display (medians of the last ~1000 requests); whether
        the client is falling behind is the scheduler's to say (``client_limited`` False here).

        ``started`` is the benchmark's real start: the aggregator may be built after the
        schedule began (its imports run in a thread), so its creation time can be late.
        """
        if started is not None and self._slices is None:
            self.set_origin(started)
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
        # Slices start at the benchmark's start: rows tallied from another origin (or none)
        # are tallied again from this one.
        self.set_origin(start_time)
        assert self._slices is not None
        self._slice_rows(self._slices)
        return compile_benchmark(
            self, cols, start_time=start_time, end_time=end_time, client=client
        )

    @property
    def sorted_samples(self) -> Mapping[str, tuple[SortedSample, ...]]:
        """Each per-request metric's sorted samples by status code (complete after
        :meth:`compile` flushed the last block)."""
        return self._samples

    @property
    def cached_tokens(self) -> NDArray[np.int64]:
        """``[rows, cached prompt tokens]`` of the results whose server reported them."""
        return self._cached.columns()

    @property
    def image_rows(self) -> NDArray[np.int64]:
        """``[rows, images, image bytes]`` of the results that carried images."""
        return self._images.columns()

    @property
    def audio_rows(self) -> NDArray[np.int64]:
        """``[rows, clips, audio microseconds]`` of the results that carried audio."""
        return self._audio.columns()

    @property
    def slices(self) -> SliceAccumulator | None:
        """The per-slice tallies (complete after :meth:`compile` began)."""
        return self._slices

    @property
    def timeline(self) -> ConcurrencyTimeline:
        """Every prepared row's start and end events. Kept as the run goes (older events on
        disk); made again from the columns at compile, in bounded memory, only if a request
        reached back past the events moved to disk (:attr:`ConcurrencyTimeline.late`)."""
        if self._timeline.late:
            cols = self._cols.view()
            self._timeline = ConcurrencyTimeline.from_columns(
                cols["start"], cols["end"], cols["status"], _READ_ROWS
            )
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
    def categories(self) -> dict[int, str]:
        return {v: k for k, v in self._categories.items()}

    @property
    def epoch(self) -> float:
        return self._epoch
