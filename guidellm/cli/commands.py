"""The built-in commands, registered through ``register_commands`` like any plugin's."""

from __future__ import annotations

from typing import TYPE_CHECKING

from guidellm.hookspecs import hookimpl

if TYPE_CHECKING:
    import click


@hookimpl
def register_commands(cli: click.Group) -> None:
    from guidellm.cli.compare import compare
    from guidellm.cli.mock_server import mock_server
    from guidellm.cli.plugins import plugins
    from guidellm.cli.preprocess import preprocess
    from guidellm.cli.report import report
    from guidellm.cli.run import benchmark_group, config_command, run

    cli.add_command(plugins)
    cli.add_command(mock_server)
    cli.add_command(report)
    cli.add_command(compare)
    cli.add_command(preprocess)
    cli.add_command(run)
    cli.add_command(benchmark_group)
    cli.add_command(config_command)
