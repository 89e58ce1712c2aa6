"""The ``json`` and ``yaml`` writers: the report tree (docs/metrics.md), as is."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from guidellm.outputs.base import ReportWriter

if TYPE_CHECKING:
    from guidellm.benchmark.report import Report

__all__ = ["JSONWriter", "YAMLWriter", "write_atomically", "write_csv_rows"]


def write_atomically(path: Path, data: bytes) -> None:
    """Write through a temporary file and rename, so a Ctrl-C never leaves half a report."""
    from guidellm.errors import UserError

    tmp = path.with_name(f".{path.name}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(data)
        tmp.replace(path)
    except OSError as exc:
        raise UserError(
            f"cannot write the report {str(path)!r} ({exc.strerror or exc}); pick another "
            "--output path"
        ) from None


def write_csv_rows(path: Path, columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> None:
    """A CSV of ``rows`` under ``columns`` (other keys left out, ``None`` as empty), written
    atomically: the one-row-per-item writers (timeline, turns) share it."""
    import csv
    import io

    out = io.StringIO()
    writer = csv.DictWriter(
        out, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n"
    )
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    write_atomically(path, out.getvalue().encode("utf-8"))


class JSONWriter(ReportWriter):
    """The saved report; ``guidellm report`` and ``guidellm compare`` read it back."""

    name = "json"
    extensions: ClassVar[tuple[str, ...]] = (".json",)

    def write(self, report: Report) -> None:
        import orjson

        assert self.path is not None
        data = orjson.dumps(
            report.to_dict(), option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY
        )
        write_atomically(self.path, data + b"\n")


class YAMLWriter(ReportWriter):
    """The same tree as the JSON report, in YAML."""

    name = "yaml"
    extensions: ClassVar[tuple[str, ...]] = (".yaml", ".yml")

    def write(self, report: Report) -> None:
        import yaml

        assert self.path is not None
        dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
        text = yaml.dump(report.to_dict(), Dumper=dumper, sort_keys=False, allow_unicode=True)
        write_atomically(self.path, text.encode("utf-8"))
