"""The built-in report writers, registered through the same hook a third-party plugin uses."""

from __future__ import annotations

from typing import TYPE_CHECKING

from guidellm.hookspecs import Register, hookimpl

if TYPE_CHECKING:
    from guidellm.outputs.base import ReportWriter


@hookimpl
def register_report_writers(register: Register[ReportWriter]) -> None:
    # The writer modules import rich/yaml/orjson inside their methods: this stays cheap.
    from guidellm.outputs.console import ConsoleWriter
    from guidellm.outputs.csv_writer import CSVWriter
    from guidellm.outputs.files import JSONWriter, YAMLWriter
    from guidellm.outputs.html import HTMLWriter
    from guidellm.outputs.requests_export import RequestsExportWriter
    from guidellm.outputs.timeline_csv import TimelineCSVWriter
    from guidellm.outputs.turns_csv import TurnsCSVWriter

    for writer in (
        ConsoleWriter,
        JSONWriter,
        YAMLWriter,
        CSVWriter,
        TimelineCSVWriter,
        TurnsCSVWriter,
        HTMLWriter,
        RequestsExportWriter,
    ):
        register(writer)
