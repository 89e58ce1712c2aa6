"""guidellm-echo-backend: a guidellm plugin that answers locally, to measure guidellm itself.

Each function below implements one hook of ``guidellm.hookspecs``. Hooks only register
classes; the classes' modules are imported inside the hooks so that ``guidellm --help``
stays fast however many plugins are installed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from guidellm import hookimpl

if TYPE_CHECKING:
    import click

    from guidellm import Backend, DatasetSource, Register, ReportWriter, ServerCatalog

__version__ = "0.1.0"


@hookimpl
def register_backends(register: Register[Backend]) -> None:
    from guidellm_echo.backend import EchoBackend

    register(EchoBackend)


@hookimpl
def register_dataset_sources(register: Register[DatasetSource]) -> None:
    from guidellm_echo.source import WordsSource

    register(WordsSource)


@hookimpl
def register_report_writers(register: Register[ReportWriter]) -> None:
    from guidellm_echo.writer import MarkdownWriter

    register(MarkdownWriter)


@hookimpl
def register_server_metrics(register: Register[ServerCatalog]) -> None:
    from guidellm_echo.catalog import AcmeGateway

    register(AcmeGateway)


@hookimpl
def register_commands(cli: click.Group) -> None:
    from guidellm_echo.command import echo_overhead

    cli.add_command(echo_overhead)
