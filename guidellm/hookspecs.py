"""The whole plugin contract: every hook guidellm calls.

A plugin is a module (or object) with functions decorated by :data:`guidellm.hookimpl` whose
names match the specs below. Built-in components are registered through these same hooks.

All hooks are called in the **parent** (CLI) process, once, when plugins are loaded. Worker
processes never call hooks: the classes registered here are resolved in the parent and shipped
to workers by qualified name plus configuration, so a registered class must be importable by
its module path and picklable before its async ``startup()``.

Hooks are synchronous and cheap: import heavy dependencies (httpx, grpc, datasets) inside the
registered classes' methods, not at module level, so that ``guidellm --help`` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, TypeVar

import pluggy

if TYPE_CHECKING:
    import click

    from guidellm.backends.base import Backend
    from guidellm.data.base import DatasetSource
    from guidellm.outputs.base import ReportWriter
    from guidellm.scheduler.strategy import Profile, SchedulingStrategy
    from guidellm.telemetry.catalog import ServerCatalog

__all__ = ["Register", "hookimpl", "hookspec"]

hookspec = pluggy.HookspecMarker("guidellm")
hookimpl = pluggy.HookimplMarker("guidellm")

_C_contra = TypeVar("_C_contra", contravariant=True)


class Register(Protocol[_C_contra]):
    """What every registration hook receives: ``register(MyComponent)``, or
    ``register(MyComponent, "other-name")`` to register it under another name. Typed by the
    kind of component the hook takes: ``register: Register[Backend]``."""

    def __call__(self, component: type[_C_contra], name: str | None = None, /) -> None: ...


@hookspec
def register_backends(register: Register[Backend]) -> None:
    """Register :class:`guidellm.backends.Backend` subclasses.

    Called once in the parent process when plugins load. Call ``register(MyBackend)``; the
    class attribute ``name`` is what users pass to ``--backend``.

    .. versionadded:: 0.1
    """


@hookspec
def register_dataset_sources(register: Register[DatasetSource]) -> None:
    """Register :class:`guidellm.data.DatasetSource` subclasses.

    Called once in the parent process. A source turns a ``--data`` spec into rows; the
    RequestLoader asks each registered source, in name order, whether it ``accepts()`` a spec,
    unless ``--data-args source=NAME`` picks one.

    .. versionadded:: 0.1
    """


@hookspec
def register_strategies(register: Register[SchedulingStrategy | Profile]) -> None:
    """Register scheduling strategies and profiles.

    Called once in the parent process. ``register`` accepts a
    :class:`guidellm.scheduler.SchedulingStrategy` subclass (it also becomes a one-strategy
    profile of the same name, usable as ``--profile NAME``) or a
    :class:`guidellm.scheduler.Profile` subclass (a sequence of strategies, like ``sweep``).

    .. versionadded:: 0.1
    """


@hookspec
def register_report_writers(register: Register[ReportWriter]) -> None:
    """Register :class:`guidellm.outputs.ReportWriter` subclasses.

    Called once in the parent process. A writer's ``extensions`` decide which ``--output`` paths
    it handles (``.json``, ``.html`` ...).

    .. versionadded:: 0.1
    """


@hookspec
def register_server_metrics(register: Register[ServerCatalog]) -> None:
    """Register :class:`guidellm.telemetry.catalog.ServerCatalog` subclasses.

    Called once in the parent process. A catalog says which of a server's Prometheus metrics
    mean requests running and waiting, KV-cache usage, token counters, TTFT and the rest, so
    the report can show them and cross-check them against the client's numbers; a scrape is
    matched to the first catalog whose ``signature`` it contains, plugins' catalogs (by name)
    before the built-in ones.

    .. versionadded:: 0.1
    """


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add click commands or groups to the ``guidellm`` command line.

    Called once in the parent process when the CLI is built, before arguments are parsed.
    Use ``@cli.command()`` or ``cli.add_command(...)``.

    .. versionadded:: 0.1
    """


def _hook_names() -> list[str]:
    """The names of every hook spec (used by ``guidellm plugins`` and the docs test)."""
    return [n for n, v in globals().items() if n.startswith("register_") and callable(v)]


HOOK_NAMES: list[str] = _hook_names()
