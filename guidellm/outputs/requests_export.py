"""The ``requests`` writer: one row per request of every benchmark, to query (docs/metrics.md).

``--output run.requests.parquet`` (or any ``.parquet``), ``run.requests.jsonl`` (any
``.jsonl``) or ``run.requests.csv``. The report keeps no per-request data, so the rows are
streamed from the run's journal (:attr:`ReportWriter.journal`) in blocks of
:data:`~guidellm.benchmark.request_rows.BLOCK_ROWS`: memory stays bounded whatever the run's
size, and the file is written through a temporary one and renamed, so an interrupted export
never leaves half a file under its name.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, ClassVar, Protocol

from guidellm.errors import UserError
from guidellm.outputs.base import ReportWriter

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from guidellm.benchmark.report import Report

__all__ = ["PARQUET_EXTRA", "RequestsExportWriter", "write_requests"]

#: What ``pip install`` adds Parquet support (pyarrow).
PARQUET_EXTRA = "guidellm[parquet]"
#: Rows converted to Python values at a time for JSONL and CSV.
_TEXT_ROWS = 4096


def _format_of(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(".parquet"):
        return "parquet"
    return "jsonl" if name.endswith(".jsonl") else "csv"


def _iso(seconds: NDArray[np.float64]) -> list[str | None]:
    """UTC timestamps as ISO 8601 text with ``Z``, to the microsecond; NaN is ``None``."""
    import numpy as np

    from guidellm.benchmark.request_rows import utc_micros

    micros, null = utc_micros(seconds)
    text = np.datetime_as_string(micros.astype("datetime64[us]"), unit="us")
    return [None if n else f"{t}Z" for t, n in zip(text.tolist(), null.tolist(), strict=True)]


def _floats(values: NDArray[np.float64]) -> list[float | None]:
    isnan = math.isnan
    return [None if isnan(v) else v for v in values.tolist()]


def _python_rows(
    block: dict[str, Any], kinds: dict[str, str], *, joined: bool = False
) -> Iterator[list[tuple[Any, ...]]]:
    """A block's rows as tuples of Python values for the text formats (``None`` for null,
    times as ISO text, lists ``;``-joined if ``joined``), :data:`_TEXT_ROWS` at a time: a
    whole block of Python rows would take several times the block's own memory."""
    n = len(block["request_id"])
    for at in range(0, n, _TEXT_ROWS):
        cols: list[list[Any]] = []
        for name, values in block.items():
            part = values[at : at + _TEXT_ROWS]
            kind = kinds[name]
            if kind == "time":
                cols.append(_iso(part))
            elif kind == "float":
                cols.append(_floats(part))
            elif kind == "float_list" and joined:
                cols.append([";".join(repr(t) for t in times) for times in part])
            else:
                cols.append(part)
        yield list(zip(*cols, strict=True))


class _ParquetSink:
    """Row groups of a Parquet file, one per block."""

    def __init__(self, path: Path, columns: tuple[tuple[str, str], ...]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.pa = pa
        types = {
            "int": pa.int64(),
            "str": pa.string(),
            "float": pa.float64(),
            "time": pa.timestamp("us", tz="UTC"),
            "float_list": pa.list_(pa.float64()),
        }
        self.columns = columns
        self.schema = pa.schema([(name, types[kind]) for name, kind in columns])
        self.writer = pq.ParquetWriter(str(path), self.schema)

    def write(self, block: dict[str, Any]) -> None:
        import numpy as np

        from guidellm.benchmark.request_rows import utc_micros

        pa = self.pa
        arrays = []
        for (name, kind), field in zip(self.columns, self.schema, strict=True):
            values = block[name]
            if kind == "float":
                arrays.append(pa.array(values, type=field.type, mask=np.isnan(values)))
            elif kind == "time":
                micros, null = utc_micros(values)
                arrays.append(pa.array(micros, type=field.type, mask=null))
            else:
                arrays.append(pa.array(values, type=field.type))
        self.writer.write_table(pa.Table.from_arrays(arrays, schema=self.schema))

    def close(self) -> None:
        self.writer.close()


class _JSONLSink:
    """One JSON object per line, keys in column order."""

    def __init__(self, path: Path, columns: tuple[tuple[str, str], ...]) -> None:
        import msgspec

        self.kinds = dict(columns)
        self.encoder = msgspec.json.Encoder()
        self.file: IO[bytes] = path.open("wb")

    def write(self, block: dict[str, Any]) -> None:
        names = list(block)
        for rows in _python_rows(block, self.kinds):
            dicts = [dict(zip(names, row, strict=True)) for row in rows]
            self.file.write(self.encoder.encode_lines(dicts))

    def close(self) -> None:
        self.file.close()


class _CSVSink:
    """A header, then one line per row; null is an empty field, a list is ``;``-joined."""

    def __init__(self, path: Path, columns: tuple[tuple[str, str], ...]) -> None:
        import csv

        self.kinds = dict(columns)
        self.file: IO[str] = path.open("w", newline="", encoding="utf-8")
        self.writer = csv.writer(self.file, lineterminator="\n")
        self.writer.writerow([name for name, _ in columns])

    def write(self, block: dict[str, Any]) -> None:
        for rows in _python_rows(block, self.kinds, joined=True):
            self.writer.writerows(["" if v is None else v for v in row] for row in rows)

    def close(self) -> None:
        self.file.close()


class _Sink(Protocol):
    def write(self, block: dict[str, Any]) -> None: ...
    def close(self) -> None: ...


_SINKS: dict[str, Callable[[Path, tuple[tuple[str, str], ...]], _Sink]] = {
    "parquet": _ParquetSink,
    "jsonl": _JSONLSink,
    "csv": _CSVSink,
}


def write_requests(
    records: Iterable[tuple[str, Any]],
    path: Path,
    *,
    chunks: bool = False,
    warnings: list[str] | None = None,
) -> None:
    """Write the per-request export of a journal's ``(kind, record)`` stream
    (:func:`~guidellm.benchmark.journal.read_journal`) to ``path``, in the format its name
    ends with; what the rows lack (no UTC offset) is added to ``warnings``."""
    from guidellm.benchmark.request_rows import request_blocks, request_columns

    columns = request_columns(chunks)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        sink = _SINKS[_format_of(path)](tmp, columns)
        try:
            for block in request_blocks(records, chunks=chunks, warnings=warnings):
                sink.write(block)
                del block  # not kept while the next one fills: one block in memory at a time
        finally:
            sink.close()
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise UserError(
            f"cannot write the export {str(path)!r} ({exc.strerror or exc}); pick another "
            "--output path"
        ) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class RequestsExportWriter(ReportWriter):
    """For queries (pandas, DuckDB, Spark): every request as a row with named columns."""

    name = "requests"
    extensions: ClassVar[tuple[str, ...]] = (".parquet", "requests.jsonl", ".jsonl", "requests.csv")
    options_taken: ClassVar[tuple[str, ...]] = ("export_chunks",)
    needs_journal: ClassVar[bool] = True

    def __init__(self, path: Path | None = None, **options: Any) -> None:
        super().__init__(path, **options)
        if path is not None and _format_of(Path(path)) == "parquet":
            from importlib.util import find_spec

            if find_spec("pyarrow") is None:
                raise UserError(
                    f"--output {str(path)!r}: Parquet needs pyarrow, which is not installed; "
                    f"pip install '{PARQUET_EXTRA}', or write .requests.jsonl or .requests.csv"
                )

    def write(self, report: Report) -> None:
        assert self.path is not None
        if self.journal is None:
            raise UserError(
                f"--output {str(self.path)!r} exports every request from the run's journal, "
                "and there is none; pass the journal of the run (its .journal file)"
            )
        from guidellm.benchmark.journal import read_journal

        warnings: list[str] = []
        records = read_journal(self.journal, warnings)
        chunks = bool(self.options.get("export_chunks"))
        write_requests(records, Path(self.path), chunks=chunks, warnings=warnings)
        for line in warnings:
            sys.stderr.write(f"guidellm: warning: {self.path}: {line}\n")
