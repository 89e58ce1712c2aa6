"""Timestamped trace formats: which columns a trace has and how one row is read.

Four formats, told apart by their columns (``--data-args format=NAME`` forces one):

* ``mooncake``: ``timestamp`` (milliseconds), ``input_length``, ``output_length`` and
  ``hash_ids`` (one id per block of ``block_size`` prompt tokens, the last block partial);
* ``azure``: ``TIMESTAMP`` (datetime text such as ``2023-11-16 18:15:46.6805900``),
  ``ContextTokens``, ``GeneratedTokens``;
* ``burstgpt``: ``Timestamp`` (seconds), ``Model``, ``Request tokens``, ``Response tokens``,
  ``Total tokens``, ``Log Type``;
* ``generic``: a ``timestamp`` column (see :data:`guidellm.data.columns.ROLES`) and either
  prompt text or a prompt token length.

Timestamps become seconds on the trace's own clock. Datetime text counts from 00:00 UTC of the
first row's day (so seven fractional digits survive in a float); numbers are scaled by the
format's unit. :class:`RowReader` turns one row (a dict) into a :class:`TraceRow` or raises
:class:`RowProblem` with the problem and its fix; the caller adds the file and row number.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from guidellm.data.columns import ROLES
from guidellm.errors import UserError

__all__ = [
    "FORMATS",
    "UNITS",
    "RowProblem",
    "RowReader",
    "TraceColumns",
    "TraceRow",
    "detect_format",
    "has_text",
    "trace_columns",
]

FORMATS = ("mooncake", "azure", "burstgpt", "generic")
UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6}

_REQUIRED: dict[str, tuple[str, ...]] = {
    "mooncake": ("timestamp", "input_length", "output_length"),
    "azure": ("TIMESTAMP", "ContextTokens", "GeneratedTokens"),
    "burstgpt": ("Timestamp", "Request tokens", "Response tokens"),
}
#: Optional columns of a format: TraceColumns field -> lower-case column name.
_OPTIONAL: dict[str, dict[str, str]] = {
    "mooncake": {"hash_ids": "hash_ids"},
    "burstgpt": {"model": "model", "log_type": "log type"},
}
_DEFAULT_UNIT = {"mooncake": "ms", "azure": "s", "burstgpt": "s", "generic": "s"}

# YYYY-MM-DD[ T]HH:MM:SS[.fraction][Z|+HH:MM]
_DATETIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?\s*"
    r"(Z|[+-]\d{2}:?\d{2})?"
)


class RowProblem(Exception):
    """What is wrong with one row and how to fix it (without the file and row number)."""


@dataclass(frozen=True, slots=True)
class TraceRow:
    """One request of a trace: when it was sent (seconds) and what it asked for."""

    timestamp: float
    input_tokens: int | None
    output_tokens: int | None
    hash_ids: list[int] | None = None
    prompt: str | None = None


@dataclass(frozen=True)
class TraceColumns:
    """The columns of one format in one file (``None`` where the file has none)."""

    format: str
    timestamp: str
    input_tokens: str | None
    output_tokens: str | None
    hash_ids: str | None = None
    prompt: str | None = None
    model: str | None = None
    log_type: str | None = None


def _lower_map(columns: Iterable[str]) -> dict[str, str]:
    return {c.lower(): c for c in reversed(list(columns))}


def _generic_role(by_lower: Mapping[str, str], role: str) -> str | None:
    return next((by_lower[n] for n in ROLES[role] if n in by_lower), None)


def has_text(columns: Iterable[str]) -> bool:
    """Whether the columns include prompt text (or chat messages)."""
    by_lower = _lower_map(columns)
    return bool(_generic_role(by_lower, "prompt") or _generic_role(by_lower, "messages"))


def detect_format(columns: Iterable[str]) -> str | None:
    """The trace format these columns look like, ``None`` when they are no trace."""
    by_lower = _lower_map(columns)
    has_text = _generic_role(by_lower, "prompt")
    for name, required in _REQUIRED.items():
        if all(c.lower() in by_lower for c in required):
            # Mooncake's names are common ones: with prompt text and no hash ids, a file is
            # a generic trace (times in seconds, its own text), not Mooncake.
            if name == "mooncake" and has_text and "hash_ids" not in by_lower:
                continue
            return name
    has_length = _generic_role(by_lower, "prompt_tokens_count") or "input_length" in by_lower
    if _generic_role(by_lower, "timestamp") and (has_length or has_text):
        return "generic"
    return None


def trace_columns(
    fmt: str, columns: Iterable[str], override: Mapping[str, Any] | None, where: str
) -> TraceColumns:
    """The columns of ``fmt`` in a file with these columns; a missing one is a UserError."""
    columns = list(columns)
    by_lower = _lower_map(columns)
    shown = ", ".join(columns[:20]) or "(none)"

    def need(name: str) -> str:
        found = by_lower.get(name.lower())
        if found is None:
            raise UserError(
                f"{where} has no {name!r} column for format={fmt} (columns: {shown}); pick the "
                f"right --data-args format=NAME ({', '.join(FORMATS)}) or fix the file"
            )
        return found

    if fmt in _REQUIRED:  # timestamp, input length, output length, then optional columns
        stamp, tokens_in, tokens_out = (need(name) for name in _REQUIRED[fmt])
        optional = {role: by_lower.get(name) for role, name in _OPTIONAL.get(fmt, {}).items()}
        return TraceColumns(fmt, stamp, tokens_in, tokens_out, **optional)
    chosen = {
        "timestamp": _generic_role(by_lower, "timestamp"),
        "prompt": _generic_role(by_lower, "prompt"),
        "prompt_tokens_count": _generic_role(by_lower, "prompt_tokens_count")
        or by_lower.get("input_length"),
        "output_tokens_count": _generic_role(by_lower, "output_tokens_count"),
    }
    for role, column in (override or {}).items():
        if role in chosen:
            if column is not None and column not in columns:
                raise UserError(
                    f"column_mapping: {where} has no column {column!r}; columns: {shown}"
                )
            chosen[role] = column
    if chosen["timestamp"] is None:
        raise UserError(
            f"{where} has no timestamp column (columns: {shown}); name one with "
            '--data-args column_mapping=\'{"timestamp": "COLUMN"}\''
        )
    if chosen["prompt"] is None and chosen["prompt_tokens_count"] is None:
        raise UserError(
            f"{where} has neither prompt text nor a prompt token length (columns: {shown}); "
            'name one with --data-args column_mapping=\'{"prompt_tokens_count": "COLUMN"}\''
        )
    return TraceColumns(
        "generic",
        chosen["timestamp"],
        chosen["prompt_tokens_count"],
        chosen["output_tokens_count"],
        prompt=chosen["prompt"],
    )


def default_unit(fmt: str) -> str:
    """The unit of numeric timestamps in ``fmt`` unless ``timestamp_unit`` says otherwise."""
    return _DEFAULT_UNIT[fmt]


def _whole(value: Any, column: str) -> int:
    """A token count written as a float (``"12.0"``); anything else is a RowProblem."""
    try:
        as_float = float(value)
    except (TypeError, ValueError):
        raise RowProblem(f"{column}={value!r} is not a number; write a whole token count") from None
    if not as_float.is_integer():
        raise RowProblem(f"{column}={value!r} is not a whole number of tokens")
    return int(as_float)


def _length(value: Any, column: str, required: bool) -> int | None:
    if value is None or value == "":
        if required:
            raise RowProblem(f"{column} is missing; every row needs a token count there")
        return None
    if isinstance(value, bool):
        raise RowProblem(f"{column}={value!r} is not a number; write a token count")
    if isinstance(value, int):
        number = value
    else:
        try:
            number = int(value)
        except (TypeError, ValueError):
            number = _whole(value, column)
    if number < 0:
        raise RowProblem(f"{column}={number} is negative; token counts start at 0")
    return number


class RowReader:
    """Reads the rows of one trace in order; keeps the state that spans rows (the datetime
    origin, the previous timestamp) so that a second pass needs a fresh reader."""

    def __init__(self, columns: TraceColumns, unit: str, block_size: int) -> None:
        self.columns = columns
        self.scale = UNITS[unit]
        self.unit = unit
        self.block_size = block_size
        self.previous: float | None = None
        self.origin: dt.date | None = None  # datetime text counts from this day, 00:00 UTC
        self._origin_ordinal = 0
        self._dates: dict[str, int] = {}

    def _datetime(self, text: str) -> float:
        match = _DATETIME.fullmatch(text.strip())
        if match is None:
            raise ValueError(text)
        year, month, day, hour, minute, second, fraction, zone = match.groups()
        date_key = f"{year}{month}{day}"
        ordinal = self._dates.get(date_key)
        if ordinal is None:
            ordinal = dt.date(int(year), int(month), int(day)).toordinal()
            if len(self._dates) > 64:
                self._dates.clear()
            self._dates[date_key] = ordinal
        # Whole seconds in UTC since the proleptic calendar's day 1 (exact in an int).
        utc: int = ordinal * 86400 + int(hour) * 3600 + int(minute) * 60 + int(second)
        if zone and zone != "Z":
            sign = -1 if zone[0] == "-" else 1
            digits = zone[1:].replace(":", "")
            utc -= sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
        if self.origin is None:  # the first row's day, in UTC
            self._origin_ordinal = utc // 86400
            self.origin = dt.date.fromordinal(self._origin_ordinal)
        seconds = utc - self._origin_ordinal * 86400
        if fraction:
            return seconds + int(fraction) / float(10 ** len(fraction))
        return float(seconds)

    def _timestamp(self, value: Any) -> float:
        column = self.columns.timestamp
        if value is None or value == "" or isinstance(value, bool):
            raise RowProblem(f"{column} is missing; every row needs the time it was sent")
        if isinstance(value, (int, float)):
            return float(value) * self.scale
        if isinstance(value, dt.datetime):  # parquet/arrow timestamp columns
            if value.tzinfo is not None:
                value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
            return self._datetime(value.isoformat(sep=" "))
        text = str(value)
        try:
            return float(text) * self.scale
        except ValueError:
            pass
        try:
            return self._datetime(text)
        except (ValueError, OverflowError):
            raise RowProblem(
                f"{column}={text[:40]!r} is neither a number ({self.unit}) nor a datetime like "
                "2023-11-16 18:15:46.68; fix the row or the column"
            ) from None

    def read(self, row: Mapping[str, Any]) -> TraceRow:
        """One row as a :class:`TraceRow`; raises :class:`RowProblem` naming the fix."""
        c = self.columns
        t = self._timestamp(row.get(c.timestamp))
        if not math.isfinite(t):
            raise RowProblem(f"{c.timestamp}={t} is not a finite number; fix the row")
        previous = self.previous
        if previous is not None and t < previous:
            # A prompt file that merely has a time column is read as a trace too: say how
            # to read it as plain prompts instead.
            plain = (
                ", or read it as plain prompts with --data-args source=files"
                if c.format == "generic"
                else ""
            )
            raise RowProblem(
                f"{c.timestamp} goes back in time ({t:.6f} s after {previous:.6f} s in the row "
                f"before); sort the trace by its timestamp{plain}"
            )
        if t < 0:
            raise RowProblem(f"{c.timestamp} is negative ({t:g} s); traces count time from 0")
        self.previous = t
        prompt: str | None = None
        if c.prompt is not None:
            text = row.get(c.prompt)
            prompt = text if isinstance(text, str) and text else None
        need_length = prompt is None
        tokens = None
        if c.input_tokens is not None:
            tokens = _length(row.get(c.input_tokens), c.input_tokens, need_length)
        elif need_length:
            raise RowProblem(f"{c.prompt} is empty and there is no token length column")
        output = (
            _length(row.get(c.output_tokens), c.output_tokens, c.format != "generic")
            if c.output_tokens is not None
            else None
        )
        hash_ids = None
        if c.hash_ids is not None:
            hash_ids = self._hash_ids(row.get(c.hash_ids), tokens or 0)
        return TraceRow(t, tokens, output, hash_ids, prompt)

    def _hash_ids(self, value: Any, tokens: int) -> list[int]:
        if isinstance(value, str):  # a CSV cell: "[1, 2, 3]"
            try:
                value = [int(v) for v in value.strip("[] ").split(",") if v.strip()]
            except ValueError:
                value = None
        if not isinstance(value, list) or not set(map(type, value)) <= {int}:
            raise RowProblem("hash_ids must be a list of whole numbers, e.g. [0, 1, 2]")
        expected = -(-tokens // self.block_size)
        if len(value) != expected:
            raise RowProblem(
                f"{len(value)} hash_ids for input_length {tokens} at block_size "
                f"{self.block_size} (that needs {expected}); set --data-args block_size=N "
                "to the trace's block size"
            )
        return value
