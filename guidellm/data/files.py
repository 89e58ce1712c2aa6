"""The ``files`` dataset source: local ``.jsonl .json .csv .tsv .txt .parquet .arrow`` files.

JSON Lines, JSON, CSV/TSV and text need nothing beyond the standard library; Parquet and Arrow
need ``pyarrow`` (the ``hf`` extra) and say so when it is missing. A ``.txt`` file holds one
prompt per line (blank lines skipped). A ``.json`` file holds a list of objects, an object with
one list of objects (``{"data": [...]}``), or columns (``{"prompt": [...], ...}``). An
``.arrow`` file may be in the Arrow file or stream format (``datasets`` writes the latter).

Files are read whole when the loader validates them, so any problem shows before the run and
iteration costs nothing but the row mapping.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from guidellm.data.base import DatasetSource
from guidellm.errors import UserError

__all__ = ["FILE_SUFFIXES", "FileSource", "iter_jsonl", "read_rows"]

FILE_SUFFIXES = (".jsonl", ".json", ".csv", ".tsv", ".txt", ".parquet", ".arrow")
_NEED_ARROW = (".parquet", ".arrow")


def _pyarrow(path: Path) -> Any:
    try:
        import pyarrow
    except ImportError:
        raise UserError(
            f"reading {path.suffix} files ({path}) needs pyarrow; install it with "
            "pip install 'guidellm[hf]', or convert the file to .jsonl or .csv"
        ) from None
    return pyarrow


def iter_jsonl(
    path: Path, where: str | None = None, example: str = '{"prompt": "..."}'
) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` for each non-blank line, read lazily; a line that is not a
    JSON object is a UserError naming ``where`` (default: the path), the line and ``example``."""
    import orjson

    where = where or str(path)
    with path.open("rb") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = orjson.loads(line)
            except orjson.JSONDecodeError:
                raise UserError(
                    f"{where}: line {number} is not valid JSON; fix it or remove the line"
                ) from None
            if not isinstance(row, dict):
                raise UserError(
                    f"{where}: line {number} is not a JSON object; each line must be like {example}"
                )
            yield number, row


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [row for _, row in iter_jsonl(path)]


def _read_json(path: Path) -> list[dict[str, Any]]:
    try:
        data = json.loads(path.read_bytes())
    except ValueError as exc:
        raise UserError(f"{path} is not valid JSON ({exc}); fix it or use .jsonl") from None
    if isinstance(data, dict):
        lists = [v for v in data.values() if isinstance(v, list)]
        if len(lists) == 1 and all(isinstance(r, dict) for r in lists[0]):
            data = lists[0]  # {"data": [{...}, ...]}
        elif lists and len(lists) == len(data) and len({len(v) for v in lists}) == 1:
            keys = list(data)  # columns: {"prompt": [...], "output_tokens_count": [...]}
            data = [dict(zip(keys, values, strict=True)) for values in zip(*lists, strict=True)]
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise UserError(
            f"{path}: expected a list of objects (or columns of equal length); write it as "
            '[{"prompt": "..."}, ...] or use .jsonl'
        )
    return data


def _read_csv(path: Path) -> list[dict[str, Any]]:
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    try:
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f, delimiter=delimiter)
            rows = [dict(r) for r in reader]
    except (csv.Error, UnicodeDecodeError) as exc:
        raise UserError(f"{path} is not readable as CSV ({exc}); save it as UTF-8 CSV") from None
    if reader.fieldnames is None:
        raise UserError(f"{path} is empty; a CSV needs a header row such as 'prompt'")
    return rows


def _read_txt(path: Path) -> list[dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{path} is not UTF-8 text; re-save it as UTF-8") from None
    return [{"prompt": line} for line in text.splitlines() if line.strip()]


def _read_arrow_table(path: Path) -> Any:
    pa = _pyarrow(path)
    try:
        if path.suffix.lower() == ".parquet":
            import pyarrow.parquet as pq

            return pq.read_table(path)
        from pyarrow import ipc

        try:
            with pa.memory_map(str(path)) as source:
                return ipc.open_file(source).read_all()
        except pa.ArrowInvalid:
            with pa.memory_map(str(path)) as source:
                return ipc.open_stream(source).read_all()
    except UserError:
        raise
    except Exception as exc:
        raise UserError(
            f"{path} is not a readable {path.suffix} file ({exc}); check the file or its extension"
        ) from None


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Every row of a local file, by its extension; problems are one-line UserErrors."""
    if not path.exists():
        raise UserError(
            f"dataset file {str(path)!r} not found; check the path (relative paths start in "
            f"{Path.cwd()})"
        )
    if path.is_dir():
        raise UserError(f"{path} is a folder; pass a file, or a Hugging Face dataset folder")
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        return _read_jsonl(path)
    if suffix == ".json":
        return _read_json(path)
    if suffix in {".csv", ".tsv"}:
        return _read_csv(path)
    if suffix == ".txt":
        return _read_txt(path)
    if suffix in _NEED_ARROW:
        rows: list[dict[str, Any]] = _read_arrow_table(path).to_pylist()
        return rows
    raise UserError(
        f"unsupported dataset format {suffix or '(no extension)'!r} for {path}; use one of "
        f"{' '.join(FILE_SUFFIXES)}"
    )


class FileSource(DatasetSource):
    """Rows of one local file (see the module docstring for the formats)."""

    name = "files"

    @classmethod
    def accepts(cls, spec: str, options: Mapping[str, Any]) -> bool:
        path = Path(spec).expanduser()
        if path.suffix.lower() in FILE_SUFFIXES and "=" not in spec:
            return True
        return path.is_file()

    def __init__(self, spec: str, options: Mapping[str, Any], *args: Any, **kwargs: Any) -> None:
        super().__init__(spec, options, *args, **kwargs)
        self.path = Path(spec).expanduser()
        self._rows: list[dict[str, Any]] | None = None

    def validate(self) -> None:
        if self._rows is None:
            self._rows = read_rows(self.path)
            if not self._rows:
                raise UserError(f"dataset file {self.spec!r} has no rows; check the file")

    def columns(self) -> list[str]:
        self.validate()
        assert self._rows is not None
        names: dict[str, None] = {}
        for row in self._rows[:100]:
            names.update(dict.fromkeys(row))
        return list(names)

    @property
    def size(self) -> int | None:
        return None if self._rows is None else len(self._rows)

    def rows(self) -> Iterator[dict[str, Any]]:
        self.validate()
        assert self._rows is not None
        return iter(self._rows)

    def describe(self) -> dict[str, Any]:
        return {"type": self.name, "path": str(self.path), "rows": self.size, **self.options}
