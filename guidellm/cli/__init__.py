"""The ``guidellm`` command line: a click group; each command group lives in its own module.

Commands of built-in and third-party plugins are added through the ``register_commands`` hook.
Errors a user can fix print one line and exit 2; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import threading
from typing import Any

import click

from guidellm.errors import UserError
from guidellm.version import __version__

__all__ = ["build_cli", "entry", "main"]


def _version_message() -> str:
    from importlib import metadata

    from guidellm.plugins import ENTRY_POINT_GROUP

    lines = [f"guidellm {__version__} (Python {sys.version.split()[0]})"]
    seen: set[str] = set()
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.dist is not None and ep.dist.name not in seen:
            seen.add(ep.dist.name)
            lines.append(f"  plugin {ep.dist.name} {ep.dist.version}")
    return "\n".join(lines)


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        click.echo(_version_message())
        ctx.exit(0)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="Show the version and the installed plugin distributions, then exit.",
)
@click.option(
    "--debug",
    is_flag=True,
    envvar="GUIDELLM_DEBUG",
    help="Show full tracebacks instead of one-line errors.",
)
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Benchmark LLM inference servers under realistic load.

    With no --target, 'guidellm run' benchmarks the built-in mock server.
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


def build_cli() -> click.Group:
    """The CLI with every plugin's commands added (built-in commands are plugins too)."""
    from guidellm.plugins import get_plugin_host

    get_plugin_host().register_commands(cli)
    return cli


def main(argv: list[str] | None = None) -> Any:
    """Entry point of the console script: one-line errors, exit code 2 for bad input."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:]) or bool(
        os.environ.get("GUIDELLM_DEBUG")
    )
    group = build_cli()
    try:
        return group.main(args=argv, prog_name="guidellm", standalone_mode=False)
    except UserError as exc:
        if debug:
            raise
        from guidellm.redact import redact_text

        click.echo(f"guidellm: error: {redact_text(str(exc))}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        if debug:
            raise
        hint = ""
        ctx = getattr(exc, "ctx", None)
        if ctx is not None:
            hint = f" (see '{ctx.command_path} --help')"
        click.echo(f"guidellm: error: {exc.format_message()}{hint}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("guidellm: aborted", err=True)
        sys.exit(130)


def entry() -> None:
    """The console script (and ``python -m guidellm``): :func:`main`, then a quick exit.

    Tearing the interpreter down (every module, every object: numpy, pydantic's report
    models, rich) takes 50-80 ms after a run's last output is written. The exit is otherwise
    the usual one: atexit handlers run, stdout and stderr are flushed, the exit status is
    kept; while a non-daemon thread is still alive the normal shutdown joins it instead.
    """
    from guidellm import interrupts

    interrupts.install()
    try:
        code = _exit_status(main())  # a command's return value, as sys.exit(main()) would
    except SystemExit as exc:
        code = _exit_status(exc.code)
    except KeyboardInterrupt:  # a Ctrl-C before a command handles its own (imports, parsing)
        sys.stderr.write("guidellm: interrupted\n")
        code = 130
    _quick_exit(code)


def _exit_status(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    sys.stderr.write(f"{code}\n")  # what Python does with a non-integer exit code
    return 1


def _quick_exit(code: int) -> None:
    main_thread = threading.main_thread()
    if any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not main_thread):
        sys.exit(code)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)
