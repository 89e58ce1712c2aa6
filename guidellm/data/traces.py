"""The ``trace`` dataset source: timestamped request traces, streamed, with token-exact prompts.

A trace says when each request was sent and how long its prompt and output were (formats in
:mod:`guidellm.data.trace_formats`). Each row becomes ``{"prompt", "prompt_tokens_count",
"output_tokens_count", "timestamp"}``; prompts are built by
:class:`~guidellm.data.trace_prompts.TracePrompts`.

Traces may hold millions of rows, so nothing is kept in memory: :meth:`TraceSource.validate`
reads the whole file once (checking every row: sorted, non-negative, parseable timestamps and
numeric lengths; the first bad row is one :class:`~guidellm.errors.UserError` naming the file,
the row and the fix), and :meth:`TraceSource.rows` reads it again lazily, line by line (JSON
Lines, CSV) or by row groups (Parquet).

``--data-args`` keys: ``format`` (``mooncake``, ``azure``, ``burstgpt``, ``generic``; detected
from the columns when absent), ``block_size`` (Mooncake, default 512), ``timestamp_unit``
(``s``, ``ms``, ``us`` for numeric timestamps), and for BurstGPT the filters ``model`` and
``log_type``. A folder or Hugging Face dataset id is read as a trace when ``format`` is given;
other keys then go to the ``huggingface`` source.
"""

from __future__ import annotations

import csv
import itertools
import random
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from guidellm.data.base import DatasetSource
from guidellm.data.files import iter_jsonl
from guidellm.data.tokenizers import ApproxTokenizer
from guidellm.data.trace_formats import (
    FORMATS,
    UNITS,
    RowProblem,
    RowReader,
    TraceColumns,
    TraceRow,
    default_unit,
    detect_format,
    has_text,
    trace_columns,
)
from guidellm.data.trace_prompts import TracePrompts
from guidellm.errors import UserError

__all__ = ["TRACE_KEYS", "TRACE_SUFFIXES", "TraceSource"]

TRACE_KEYS = ("format", "block_size", "timestamp_unit", "model", "log_type")
TRACE_SUFFIXES = (".jsonl", ".csv", ".tsv", ".parquet")
_BATCH = 4096  # Parquet rows read at a time: the read-ahead bound


def _peek_columns(path: Path) -> list[str]:
    """The column names of a trace file: its header, Parquet schema or first JSON lines."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        return list(pq.read_schema(path).names)
    names: dict[str, None] = {}
    with path.open("rb") as f:
        for line in itertools.islice((x for x in f if x.strip()), 100):
            if suffix != ".jsonl":
                delimiter = "\t" if suffix == ".tsv" else ","
                return next(csv.reader([line.decode("utf-8-sig")], delimiter=delimiter), [])
            import orjson

            row = orjson.loads(line)  # rows may differ: the keys of the first 100
            if isinstance(row, dict):
                names.update(dict.fromkeys(row))
    return list(names)


class TraceSource(DatasetSource):
    """One timestamped trace (see the module docstring)."""

    name = "trace"
    priority = 10  # a trace file is also a file: asked before the ``files`` source
    normalized_rows = True

    @classmethod
    def accepts(cls, spec: str, options: Mapping[str, Any]) -> bool:
        path = Path(spec).expanduser()
        if options.get("format") is not None:
            return path.exists() or ("=" not in spec and not spec.strip().startswith("{"))
        if path.suffix.lower() not in TRACE_SUFFIXES or not path.is_file():
            return False
        try:
            columns = _peek_columns(path)
        except Exception:  # unreadable here: the files source reports it properly
            return False
        fmt = detect_format(columns)
        # A prompt file that merely has a time column stays a prompt file (its system and
        # prefix columns kept) unless the run replays it or format= says it is a trace.
        if fmt == "generic" and not options.get("timed"):
            return not has_text(columns)
        return fmt is not None

    def __init__(self, spec: str, options: Mapping[str, Any], *args: Any, **kwargs: Any) -> None:
        super().__init__(spec, options, *args, **kwargs)
        self.path = Path(spec).expanduser()
        self.local = self.path.is_file()
        self._columns: TraceColumns | None = None
        self._prompts: TracePrompts | None = None
        self._unit = "s"
        self._block_size = 512
        self.rows_read = 0
        self.rows_kept = 0
        self.skipped: dict[str, int] = {}
        self.first_timestamp: float | None = None
        self.last_timestamp: float | None = None
        self.origin: str | None = None
        self._hf: DatasetSource | None = None

    # -- options and columns ---------------------------------------------------------------
    def _where(self) -> str:
        return f"--data {self.spec!r}"

    def _check_options(self) -> None:
        opts = self.options
        fmt = opts.get("format")
        if fmt is not None and fmt not in FORMATS:
            raise UserError(
                f"--data-args format={fmt!r} is not a trace format; use one of {', '.join(FORMATS)}"
            )
        block = opts.get("block_size", 512)
        if isinstance(block, bool) or not isinstance(block, int) or block < 1:
            raise UserError(f"--data-args block_size={block!r} must be a positive whole number")
        self._block_size = block
        unit = opts.get("timestamp_unit")
        if unit is not None and unit not in UNITS:
            raise UserError(
                f"--data-args timestamp_unit={unit!r} must be one of {', '.join(UNITS)}"
            )
        if self.local:
            unknown = sorted(set(opts) - set(TRACE_KEYS))
            if unknown:
                raise UserError(
                    f"--data-args {', '.join(unknown)}: not a trace option; trace options: "
                    f"{', '.join(TRACE_KEYS)}, ignore_eos"
                )

    def _open_hf(self) -> DatasetSource:
        if self._hf is None:
            from guidellm.data.huggingface import HuggingFaceSource

            rest = {k: v for k, v in self.options.items() if k not in TRACE_KEYS}
            self._hf = HuggingFaceSource(self.spec, rest, self.tokenizer, self.seed)
        return self._hf

    def _file_columns(self) -> list[str]:
        if not self.local:
            names = self._open_hf().columns()
            if names is None:
                first = next(iter(self._open_hf().rows()), None)
                names = list(first) if first else []
            return names
        suffix = self.path.suffix.lower()
        if suffix not in TRACE_SUFFIXES:
            raise UserError(
                f"{self._where()}: traces are read from {' '.join(TRACE_SUFFIXES)} files or "
                "Hugging Face datasets; convert the file"
            )
        try:
            return _peek_columns(self.path)
        except ImportError:
            raise UserError(
                f"reading .parquet traces ({self.path}) needs pyarrow; install it with "
                "pip install 'guidellm[hf]', or convert the trace to .jsonl or .csv"
            ) from None
        except Exception as exc:
            raise UserError(f"{self._where()}: cannot read its header ({exc})") from None

    def _resolve(self) -> TraceColumns:
        names = self._file_columns()
        if not names:
            raise UserError(f"{self._where()} is an empty trace: it has no rows; check the file")
        fmt = self.options.get("format") or detect_format(names)
        if fmt is None:
            raise UserError(
                f"{self._where()} does not look like a trace (columns: {', '.join(names[:20])}); "
                f"pass --data-args format=NAME ({', '.join(FORMATS)})"
            )
        columns = trace_columns(fmt, names, self.column_mapping, self._where())
        fmt_filters = {"model": columns.model, "log_type": columns.log_type}
        for key, column in fmt_filters.items():
            if self.options.get(key) is not None and column is None:
                raise UserError(
                    f"--data-args {key}= filters BurstGPT traces by their "
                    f"{'Model' if key == 'model' else 'Log Type'} column, which "
                    f"{self._where()} does not have; drop it"
                )
        self._unit = self.options.get("timestamp_unit") or default_unit(fmt)
        return columns

    # -- reading ---------------------------------------------------------------------------
    def _stream(self) -> Iterator[tuple[str, Mapping[str, Any]]]:
        """``(where, row)`` for every row, lazily, with bounded read-ahead."""
        if not self.local:
            for number, row in enumerate(self._open_hf().rows(), 1):
                yield f"row {number}", row
            return
        suffix = self.path.suffix.lower()
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            number = 0
            for batch in pq.ParquetFile(self.path).iter_batches(batch_size=_BATCH):
                for row in batch.to_pylist():
                    number += 1
                    yield f"row {number}", row
            return
        if suffix == ".jsonl":
            example = '{"timestamp": 0, "input_length": 10, ...}'
            for number, row in iter_jsonl(self.path, self._where(), example):
                yield f"line {number}", row
            return
        delimiter = "\t" if suffix == ".tsv" else ","
        try:
            with self.path.open(newline="", encoding="utf-8-sig") as f:
                reader = csv.DictReader(f, delimiter=delimiter)
                for row in reader:
                    yield f"line {reader.line_num}", row
        except (csv.Error, UnicodeDecodeError) as exc:
            raise UserError(
                f"{self._where()} is not readable as CSV ({exc}); save it as UTF-8 CSV"
            ) from None

    def _reader(self) -> RowReader:
        assert self._columns is not None
        return RowReader(self._columns, self._unit, self._block_size)

    def _read(self, reader: RowReader, where: str, raw: Mapping[str, Any]) -> TraceRow:
        try:
            return reader.read(raw)
        except RowProblem as problem:
            raise UserError(f"{self._where()}: {where}: {problem}") from None

    def _skip(self, raw: Mapping[str, Any], row: TraceRow) -> str | None:
        """Why this row makes no request (``None``: it does)."""
        c, opts = self._columns, self.options
        assert c is not None
        model, log_type = opts.get("model"), opts.get("log_type")
        if model is not None and c.model is not None and str(raw.get(c.model)) != str(model):
            return f"Model is not {model}"
        if (
            log_type is not None
            and c.log_type is not None
            and str(raw.get(c.log_type)) != str(log_type)
        ):
            return f"Log Type is not {log_type}"
        if row.output_tokens == 0:
            if c.format == "burstgpt":
                return "0 response tokens (failed in production)"
            return "0 output tokens"
        if row.prompt is None and not row.input_tokens:
            return "0 input tokens"
        return None

    def validate(self) -> None:
        """Read every row once (O(1) memory) and build the prompt machinery."""
        if self._prompts is not None:
            return
        self._check_options()
        self._columns = self._resolve()
        reader = self._reader()
        read = kept = longest = 0
        skipped: dict[str, int] = {}
        first = last = None
        for where, raw in self._stream():
            row = self._read(reader, where, raw)
            read += 1
            reason = self._skip(raw, row)
            if reason is not None:
                skipped[reason] = skipped.get(reason, 0) + 1
                continue
            kept += 1
            if first is None:
                first = row.timestamp
            last = row.timestamp
            if row.input_tokens and row.prompt is None and row.input_tokens > longest:
                longest = row.input_tokens
        if read == 0:
            raise UserError(f"{self._where()} is an empty trace: it has no rows; check the file")
        if kept == 0:
            why = "; ".join(f"{n} rows: {r}" for r, n in skipped.items())
            raise UserError(
                f"{self._where()}: no row makes a request ({why}); check the filters "
                "(--data-args model=, log_type=) or the trace"
            )
        self.rows_read, self.rows_kept, self.skipped = read, kept, skipped
        self.first_timestamp, self.last_timestamp = first, last
        if reader.origin is not None:
            self.origin = f"{reader.origin.isoformat()}T00:00:00Z"
        blocks = self._columns.hash_ids is not None
        longest = self._block_size if blocks else max(longest, 1)
        self._prompts = TracePrompts(
            self.tokenizer or ApproxTokenizer(),
            block_size=self._block_size,
            longest=longest,
            seed=self.seed,
        )

    def columns(self) -> list[str]:
        return ["prompt", "prompt_tokens_count", "output_tokens_count", "timestamp"]

    @property
    def size(self) -> int | None:
        return self.rows_kept if self._prompts is not None else None

    def rows(self) -> Iterator[dict[str, Any]]:
        """The kept rows again, lazily, with their prompts built."""
        self.validate()
        prompts = self._prompts
        assert prompts is not None
        reader = self._reader()
        rng = random.Random(self.seed)
        index = 0
        for where, raw in self._stream():
            row = self._read(reader, where, raw)
            if self._skip(raw, row) is not None:
                continue
            n = row.input_tokens
            if row.prompt is not None:
                prompt = row.prompt
            elif row.hash_ids is not None:
                prompt = prompts.blocks(row.hash_ids, n or 0)
            else:
                prompt = prompts.unique(n or 0, index, rng)
            index += 1
            yield {
                "prompt": prompt,
                "prompt_tokens_count": n,
                "output_tokens_count": row.output_tokens,
                "timestamp": row.timestamp,
            }

    def describe(self) -> dict[str, Any]:
        """The trace's format and shape for the report (filled in by :meth:`validate`)."""
        c = self._columns
        info: dict[str, Any] = {
            "type": self.name,
            "spec": self.spec,
            "format": c.format if c is not None else self.options.get("format"),
            "block_size": self._block_size if c is not None and c.hash_ids else None,
            "timestamp_unit": None if self.origin else self._unit,
            "timestamp_origin": self.origin,
            "rows_read": self.rows_read,
            "rows": self.rows_kept,
            "rows_skipped": sum(self.skipped.values()),
            "skipped_reasons": dict(self.skipped),
            "first_timestamp": self.first_timestamp,
            "last_timestamp": self.last_timestamp,
            "duration_s": (
                self.last_timestamp - self.first_timestamp
                if self.first_timestamp is not None and self.last_timestamp is not None
                else None
            ),
        }
        filters = {k: self.options[k] for k in ("model", "log_type") if k in self.options}
        if filters:
            info["filters"] = filters
        if self._prompts is not None:
            info["verified_each_prompt"] = self._prompts.verify_each
        return info
