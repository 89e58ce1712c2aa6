"""Reading a run's journal in tests: its records as the dicts the JSON-lines journal held.

The journal is binary (packed, compressed): a test that greps it as text would prove nothing,
so tests read it through :func:`~guidellm.benchmark.journal.read_journal`, as the tool does.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec

from guidellm.benchmark.journal import read_journal
from guidellm.errors import UserError
from guidellm.request import RequestResult


def journal_records(path: Path) -> list[dict[str, Any]]:
    """Every record; a result is ``{"type": "result", "b": i, "r": [its array form]}``."""
    out: list[dict[str, Any]] = []
    for kind, record in read_journal(path):
        if kind == "result":
            index, result = record
            out.append({"type": "result", "b": index, "r": msgspec.to_builtins(result)})
        else:
            out.append(record)
    return out


def journal_results(path: Path) -> list[RequestResult]:
    return [record[1] for kind, record in read_journal(path) if kind == "result"]


def journal_text(path: Path) -> str:
    """Every record as a JSON line (what a secret must not be found in); empty for a
    journal the run had not yet written its header to (interrupted while starting)."""
    try:
        records = journal_records(path)
    except UserError:
        data = path.read_bytes()
        assert len(data) <= 8, f"{path}: {len(data)} bytes, no readable run header"
        return ""
    return "\n".join(json.dumps(r, default=str) for r in records)


def count_results(path: Path) -> int:
    """Results written so far by a run that may still be going (0 before its header)."""
    if not path.exists():
        return 0
    try:
        return sum(1 for kind, _ in read_journal(path) if kind == "result")
    except UserError:
        return 0


def frames(path: Path) -> list[tuple[int, str]]:
    """Each frame's byte offset and what it holds (a record's type, or ``results``)."""
    from guidellm.benchmark.journal_frames import MAGIC, RECORD, scan_frames

    out: list[tuple[int, str]] = []
    with path.open("rb") as f:
        assert f.read(len(MAGIC)) == MAGIC
        for offset, body in scan_frames(f, path.stat().st_size, []):
            if body[:1] == RECORD:
                out.append((offset, str(msgspec.msgpack.decode(body[1:])["type"])))
            else:
                out.append((offset, "results"))
    return out
