"""One row per request of a run, read from its journal: the per-request export's columns.

docs/metrics.md ("Per-request export") documents every column. Rows are gathered in column
lists and handed out in blocks of at most :data:`BLOCK_ROWS` (and, with chunk times, about
:data:`BLOCK_CHUNKS` chunk times), so a run of any size is exported in bounded memory.
Each block's latencies come from :func:`guidellm.benchmark.rows.latencies` and
:func:`guidellm.benchmark.rows.output_tokens`, the aggregator's own definitions on the same
float64 columns, so that a statistic of the export equals the report's to the last bit.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from guidellm.benchmark.report import strategy_label
from guidellm.benchmark.rows import latencies, output_tokens
from guidellm.redact import redact_text
from guidellm.request import RequestResult, RequestStatus

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = [
    "BLOCK_CHUNKS",
    "BLOCK_ROWS",
    "CHUNK_COLUMN",
    "COLUMNS",
    "ERROR_CHARS",
    "request_blocks",
    "request_columns",
    "utc_micros",
]

#: Rows per block: a Parquet row group, or one append to a JSONL/CSV file.
BLOCK_ROWS = 65_536
#: ... or fewer with ``--export-chunks``, once the block holds this many chunk times (kept
#: twice while it is made: long answers would otherwise make a block of gigabytes).
BLOCK_CHUNKS = 1 << 21
#: An error's text is cut to this many characters (the report's error examples are too).
ERROR_CHARS = 500

#: The columns, in order, with their kind: ``int`` and ``str`` (Python values, ``None`` for
#: null), ``float`` (float64 arrays, NaN for null), ``time`` (float64 Unix seconds, NaN for
#: null; UTC timestamps in the files) and ``float_list``.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("benchmark", "int"),
    ("strategy", "str"),
    ("request_id", "str"),
    ("session_id", "str"),
    ("turn", "int"),
    ("turn_kind", "str"),
    ("traffic_class", "str"),
    ("model", "str"),
    ("worker", "int"),
    ("status", "str"),
    ("error_category", "str"),
    ("error", "str"),
    ("scheduled_at", "time"),
    ("started_at", "time"),
    ("first_token_at", "time"),
    ("last_token_at", "time"),
    ("ended_at", "time"),
    ("ttft_ms", "float"),
    ("itl_ms", "float"),
    ("tpot_ms", "float"),
    ("latency_s", "float"),
    ("scheduled_latency_s", "float"),
    ("scheduling_delay_ms", "float"),
    ("prompt_tokens", "int"),
    ("prompt_tokens_source", "str"),
    ("output_tokens", "int"),
    ("output_tokens_source", "str"),
    ("reasoning_tokens", "int"),
    ("cached_tokens", "int"),
    ("chunks", "int"),
    ("images", "int"),
    ("image_bytes", "int"),
    ("audio_clips", "int"),
    ("audio_seconds", "float"),
    ("inputs", "int"),
)
#: Added by ``--export-chunks``: each chunk's arrival, ms after the request's start, to the
#: microsecond.
CHUNK_COLUMN = ("chunk_times_ms", "float_list")

_TOKEN_SOURCES = ("usage", "tokenizer", "chunks")
#: Columns copied from each result as they are (``None`` stays null).
_COPIED = (
    "request_id",
    "session_id",
    "turn_kind",
    "traffic_class",
    "model",
    "worker",
    "status",
    "reasoning_tokens",
    "cached_tokens",
    "images",
    "image_bytes",
    "inputs",
)
#: The aggregator's per-request columns (its names), from which the latencies are derived.
_TIMES = ("scheduled", "start", "first", "last", "end")
_NAN = math.nan


def request_columns(chunks: bool = False) -> tuple[tuple[str, str], ...]:
    """The export's ``(name, kind)`` columns, in order; ``chunks`` adds ``chunk_times_ms``."""
    return (*COLUMNS, CHUNK_COLUMN) if chunks else COLUMNS


def utc_micros(seconds: NDArray[np.float64]) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
    """Unix seconds as whole microseconds (rounded), and where they are null (NaN)."""
    null = np.isnan(seconds)
    micros = np.rint(np.where(null, 0.0, seconds) * 1e6).astype(np.int64)
    return micros, null


class _Rows:
    """The rows not yet handed out, as column lists."""

    def __init__(self, chunks: bool) -> None:
        self.chunks = chunks
        self._reset()

    def _reset(self) -> None:
        names = [name for name, kind in request_columns(self.chunks) if kind in ("int", "str")]
        self.cols: dict[str, list[Any]] = {n: [] for n in (*names, *_TIMES)}
        if self.chunks:
            self.cols["chunk_times"] = []
        self.audio_seconds: list[float] = []
        self.count = 0
        self.chunk_count = 0

    def add(self, index: int, strategy: str | None, result: RequestResult) -> None:
        """Append one result's row."""
        c = self.cols
        c["benchmark"].append(index)
        c["strategy"].append(strategy)
        for name in _COPIED:
            c[name].append(getattr(result, name))
        c["turn"].append(result.turn if result.session_id is not None else None)
        if result.status == RequestStatus.SUCCESSFUL:
            c["error_category"].append(None)
        else:  # as the report counts it
            incomplete = result.status == RequestStatus.INCOMPLETE
            c["error_category"].append(
                result.error_category or ("cancelled" if incomplete else "error")
            )
        error = result.error
        c["error"].append(redact_text(error[:ERROR_CHARS]) if error else None)
        first, last = result.first_token_time, result.last_token_time
        c["scheduled"].append(result.scheduled_time)
        c["start"].append(result.request_start)
        c["first"].append(_NAN if first is None else first)
        c["last"].append(_NAN if last is None else last)
        c["end"].append(result.request_end)
        if result.prompt_tokens is not None:
            c["prompt_tokens"].append(result.prompt_tokens)
            c["prompt_tokens_source"].append("usage")
        elif result.request_prompt_tokens is not None:
            c["prompt_tokens"].append(result.request_prompt_tokens)
            c["prompt_tokens_source"].append("dataset")
        else:
            c["prompt_tokens"].append(None)
            c["prompt_tokens_source"].append(None)
        # No tokenizer: a run without --processor counts the same (docs/metrics.md).
        tokens, source, _ = output_tokens(result, None)
        c["output_tokens"].append(tokens)
        c["output_tokens_source"].append(_TOKEN_SOURCES[source])
        c["chunks"].append(len(result.chunk_times))
        c["audio_clips"].append(result.audio_clips)
        self.audio_seconds.append(result.audio_seconds)
        if self.chunks:
            c["chunk_times"].append(result.chunk_times)
            self.chunk_count += len(result.chunk_times)
        self.count += 1

    def take(self, epoch: float | None) -> dict[str, Any]:
        """The pending rows as one block, in column order; the lists start again empty."""
        c = self.cols
        block = {name: np.array(c[name], dtype=np.float64) for name in _TIMES}
        block["output_tokens"] = np.array(c["output_tokens"], dtype=np.float64)
        ttft, itl, tpot = latencies(block)
        start, end, scheduled = block["start"], block["end"], block["scheduled"]
        derived: dict[str, Any] = {
            "ttft_ms": ttft,
            "itl_ms": itl,
            "tpot_ms": tpot,
            "latency_s": end - start,
            "scheduled_latency_s": end - scheduled,
            "scheduling_delay_ms": (start - scheduled) * 1000.0,
            "audio_seconds": np.array(self.audio_seconds, dtype=np.float64),
        }
        stamps = zip(
            ("scheduled_at", "started_at", "first_token_at", "last_token_at", "ended_at"),
            _TIMES,
            strict=True,
        )
        for name, col in stamps:
            derived[name] = block[col] + epoch if epoch is not None else np.full(len(start), _NAN)
        if self.chunks:  # to the microsecond: what the journal keeps of them
            derived["chunk_times_ms"] = [
                [round((t - s) * 1e6) / 1000.0 for t in times]
                for times, s in zip(c["chunk_times"], c["start"], strict=True)
            ]
        out = {
            name: derived[name] if name in derived else c[name]
            for name, _ in request_columns(self.chunks)
        }
        self._reset()
        return out


def request_blocks(
    records: Iterable[tuple[str, Any]],
    *,
    chunks: bool = False,
    warnings: list[str] | None = None,
    block_rows: int = BLOCK_ROWS,
) -> Iterator[dict[str, Any]]:
    """Blocks of export rows, ``{column: values}`` in :func:`request_columns` order, from a
    journal's ``(kind, record)`` stream (:func:`~guidellm.benchmark.journal.read_journal`).

    A journal without ``epoch_offset`` in its run record (written by an older guidellm)
    gives null UTC timestamps, and ``warnings`` says so. The export has no tokenizer: a
    result that kept its text (``--output-sampling``) and had no usage from the server was
    counted by the run's tokenizer (``--processor``) in the report and by its chunks here;
    ``warnings`` says how many.
    """
    rows = _Rows(chunks)
    strategies: dict[int, str] = {}
    epoch: float | None = None
    processor: Any = None
    counted_by_text = 0
    for kind, record in records:
        if kind == "result":
            index, result = record
            rows.add(index, strategies.get(index), result)
            text = result.output_text is not None or bool(result.reasoning_text)
            if result.output_tokens is None and text:
                counted_by_text += 1
            if rows.count >= block_rows or rows.chunk_count >= BLOCK_CHUNKS:
                yield rows.take(epoch)
        elif kind == "benchmark":
            strategy = record.get("strategy")
            if isinstance(strategy, Mapping):
                strategies[int(record["index"])] = strategy_label(strategy)
        elif kind == "run":
            offset = record.get("epoch_offset")
            epoch = float(offset) if isinstance(offset, (int, float)) else None
            config = record.get("config")
            processor = config.get("processor") if isinstance(config, Mapping) else None
            if epoch is None and warnings is not None:
                warnings.append(
                    "the journal records no clock offset (journals of older guidellm "
                    "versions do not), so the UTC timestamp columns are empty"
                )
    if rows.count:
        yield rows.take(epoch)
    if processor and counted_by_text and warnings is not None:
        warnings.append(
            f"{counted_by_text} requests kept their text and had no usage from the server: "
            f"the report counted their output tokens with the run's tokenizer ({processor}), "
            "the export counts their chunks"
        )
