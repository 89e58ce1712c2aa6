"""``guidellm report PATH --output OTHER...``: re-render a saved report, or rebuild one from a
run's journal, in any format (the console tables when no ``--output`` is given)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from guidellm.benchmark.report import Report

__all__ = ["load_report", "report"]


def load_report(path: Path) -> Report:
    """A report from a ``.json``/``.yaml`` report or a run journal; ``UserError`` otherwise."""
    from guidellm.benchmark.report import Report
    from guidellm.errors import UserError

    if not path.is_file():
        raise UserError(f"report {str(path)!r} does not exist; pass the --output file of a run")
    from guidellm.benchmark.journal import is_journal, rebuild_report

    if is_journal(path):
        return rebuild_report(path)
    return Report.load(path)


@click.command("report")
@click.argument("path", type=click.Path(path_type=Path))
@click.option(
    "--output",
    "-o",
    "outputs",
    multiple=True,
    help="Write the report here; the format follows the suffix (.json .yaml .csv .html, "
    ".requests.parquet .requests.jsonl .requests.csv from a journal). Repeatable.",
)
@click.option(
    "--disable-console-outputs",
    is_flag=True,
    help="Do not print the tables (only write --output files).",
)
@click.option(
    "--export-chunks",
    is_flag=True,
    help="Per-request exports (.requests.parquet/.jsonl/.csv) also list each chunk's arrival.",
)
def report(
    path: Path, outputs: tuple[str, ...], disable_console_outputs: bool, export_chunks: bool
) -> None:
    """Re-render a saved JSON/YAML report, or a run's journal, in other formats."""
    from guidellm.benchmark.journal import is_journal
    from guidellm.errors import UserError
    from guidellm.outputs import writers_for
    from guidellm.plugins import get_plugin_host

    # Bad --output suffixes fail before any work is done.
    writers = writers_for(
        outputs,
        get_plugin_host(),
        console=not disable_console_outputs,
        options={"export_chunks": export_chunks},
        progress=False,
    )
    journal = path if path.is_file() and is_journal(path) else None
    for writer in writers:
        writer.journal = journal
        if writer.needs_journal and journal is None and path.is_file():
            raise UserError(
                f"--output {str(writer.path)!r} needs every request, which only the run's "
                f"journal has, and {str(path)!r} is a saved report; pass the run's journal "
                "(its .journal file) instead"
            )
    loaded = load_report(path)
    for writer in writers:
        writer.write(loaded)
        if writer.path is not None:
            click.echo(f"wrote {writer.path}", err=True)
