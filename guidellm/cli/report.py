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
    help="Write the report here; the format follows the suffix (.json .yaml .csv .html). "
    "Repeatable.",
)
@click.option(
    "--disable-console-outputs",
    is_flag=True,
    help="Do not print the tables (only write --output files).",
)
def report(path: Path, outputs: tuple[str, ...], disable_console_outputs: bool) -> None:
    """Re-render a saved JSON/YAML report, or a run's journal, in other formats."""
    from guidellm.outputs import writers_for
    from guidellm.plugins import get_plugin_host

    # Bad --output suffixes fail before any work is done.
    writers = writers_for(
        outputs, get_plugin_host(), console=not disable_console_outputs, progress=False
    )
    loaded = load_report(path)
    for writer in writers:
        writer.write(loaded)
        if writer.path is not None:
            click.echo(f"wrote {writer.path}", err=True)
