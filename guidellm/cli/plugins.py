"""``guidellm plugins``: what is installed, what each plugin provides, and what failed."""

from __future__ import annotations

import json

import click

__all__ = ["plugins"]


@click.command()
@click.option("--all", "include_builtins", is_flag=True, help="Include the built-in plugins.")
def plugins(include_builtins: bool) -> None:
    """List installed plugins as JSON (name, version, module, hooks, load error if any)."""
    from guidellm.plugins import get_plugin_host

    click.echo(json.dumps(get_plugin_host().listing(include_builtins), indent=2))
