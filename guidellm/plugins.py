"""The plugin manager: built-ins, entry-point plugins, allow/deny lists and the listing.

Built-in plugins are ordinary modules with hook implementations, listed in
:data:`BUILTIN_PLUGINS` and registered exactly like third-party ones. Third-party plugins are
found in the ``guidellm`` entry-point group. Each is loaded inside its own ``try`` so that one
broken plugin prints one warning line and never takes the CLI down.

``GUIDELLM_LOAD_PLUGINS=a,b`` loads only those third-party plugins (empty: none);
``GUIDELLM_DISABLE_PLUGINS=a,b`` skips those (built-ins included). Both match an entry-point
name or a distribution name (compared in PEP 503 form: case, ``-``, ``_`` and ``.`` do not
matter) and apply *before* the plugin is imported.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import metadata
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pluggy

from guidellm import hookspecs
from guidellm.backends.base import Backend
from guidellm.data.base import DatasetSource
from guidellm.outputs.base import ReportWriter
from guidellm.registry import Registry
from guidellm.scheduler.strategy import Profile, SchedulingStrategy, StrategyProfile
from guidellm.telemetry.catalog import ServerCatalog

if TYPE_CHECKING:
    import click

__all__ = [
    "BUILTIN_PLUGINS",
    "ENTRY_POINT_GROUP",
    "PluginHost",
    "PluginRecord",
    "get_plugin_host",
    "reset_plugin_host",
]

ENTRY_POINT_GROUP = "guidellm"

#: Modules of the built-in plugins, registered like any third-party plugin.
BUILTIN_PLUGINS: tuple[str, ...] = (
    "guidellm.cli.commands",
    "guidellm.outputs.builtin",
    "guidellm.data.sources",
    "guidellm.backends.openai_http",
    "guidellm.backends.grpc_kserve",
    "guidellm.scheduler.strategies",
    "guidellm.scheduler.arrivals",
    "guidellm.scheduler.stages",
    "guidellm.scheduler.replay",
    "guidellm.scheduler.profiles",
    "guidellm.scheduler.slo_search",
    "guidellm.telemetry.catalog",
)


@dataclass
class PluginRecord:
    """What ``guidellm plugins`` reports about one plugin."""

    name: str
    module: str
    builtin: bool
    version: str | None = None
    distribution: str | None = None
    hooks: list[str] = field(default_factory=list)
    provides: dict[str, list[str]] = field(default_factory=dict)
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "version": self.version,
            "module": self.module,
            "distribution": self.distribution,
            "builtin": self.builtin,
            "hooks": self.hooks,
            "provides": self.provides,
        }
        if self.error is not None:
            data["error"] = self.error
        return data


def _normalize(name: str) -> str:
    """PEP 503 form, so ``guidellm_echo_backend`` matches the ``guidellm-echo-backend`` dist."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _env_list(var: str) -> set[str] | None:
    raw = os.environ.get(var)
    if raw is None:
        return None
    return {_normalize(item.strip()) for item in raw.split(",") if item.strip()}


def _describe_error(exc: BaseException) -> str:
    """``Type: message`` on one line: a warning must never spill over several lines."""
    return " ".join(f"{type(exc).__name__}: {exc}".split())


def _entry_point_loader(ep: metadata.EntryPoint) -> Callable[[str], Any]:
    return lambda _value: ep.load()


def _warn(message: str) -> None:
    sys.stderr.write(f"guidellm: warning: {message}\n")


class PluginHost:
    """A plugin manager plus the component registries it fills.

    Tests build a fresh host (``PluginHost(entry_points=False)``) and ``add_plugin`` throwaway
    plugins; the CLI uses the process-wide one from :func:`get_plugin_host`.
    """

    def __init__(
        self,
        *,
        builtins: Iterable[str] = BUILTIN_PLUGINS,
        entry_points: bool = True,
        warn: Callable[[str], None] = _warn,
    ) -> None:
        self.pm = pluggy.PluginManager("guidellm")
        self.pm.add_hookspecs(hookspecs)
        self.warn = warn
        self.records: dict[str, PluginRecord] = {}
        self.backends: Registry[type[Backend]] = Registry("backend", Backend)
        self.dataset_sources: Registry[type[DatasetSource]] = Registry(
            "dataset source", DatasetSource
        )
        self.strategies: Registry[type[SchedulingStrategy]] = Registry(
            "strategy", SchedulingStrategy
        )
        self.profiles: Registry[type[Profile]] = Registry("profile", Profile)
        self.report_writers: Registry[type[ReportWriter]] = Registry("report writer", ReportWriter)
        self.server_metrics: Registry[type[ServerCatalog]] = Registry(
            "server metrics catalog", ServerCatalog
        )
        disabled = _env_list("GUIDELLM_DISABLE_PLUGINS") or set()
        for module_name in builtins:
            if _normalize(module_name) in disabled:
                continue
            self._load(module_name, module_name, builtin=True, loader=importlib.import_module)
        if entry_points:
            self._load_entry_points(disabled)

    # -- loading -----------------------------------------------------------------------------

    def _load_entry_points(self, disabled: set[str]) -> None:
        allowed = _env_list("GUIDELLM_LOAD_PLUGINS")
        for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            dist = ep.dist.name if ep.dist is not None else None
            names = {_normalize(ep.name)} | ({_normalize(dist)} if dist else set())
            if names & disabled or (allowed is not None and not names & allowed):
                continue
            record = PluginRecord(
                name=ep.name,
                module=ep.value,
                builtin=False,
                version=ep.dist.version if ep.dist is not None else None,
                distribution=dist,
            )
            self._load(
                ep.name, ep.value, builtin=False, loader=_entry_point_loader(ep), record=record
            )

    def _load(
        self,
        name: str,
        value: str,
        *,
        builtin: bool,
        loader: Callable[[str], Any],
        record: PluginRecord | None = None,
    ) -> None:
        record = record or PluginRecord(name=name, module=value, builtin=builtin)
        if builtin:
            from guidellm.version import __version__

            record.version = __version__
            record.distribution = "guidellm"
        if self._name_taken(name, record):
            return
        self.records[name] = record
        try:
            plugin = loader(value)
        # A broken plugin must never take the CLI down, not even one calling sys.exit().
        except (Exception, SystemExit) as exc:
            record.error = _describe_error(exc)
            self.warn(
                f"plugin {name!r} failed to load ({record.error}); "
                f"disable it with GUIDELLM_DISABLE_PLUGINS={name}"
            )
            return
        self.add_plugin(plugin, name, record=record)

    def add_plugin(
        self, plugin: ModuleType | object, name: str, *, record: PluginRecord | None = None
    ) -> None:
        """Register ``plugin`` (a module or object with hook implementations) and run its
        registration hooks. Used for built-ins, entry points and tests alike."""
        taken = self.pm.get_plugin(name)
        if taken is not None and taken is not plugin:
            module = getattr(plugin, "__name__", repr(plugin))
            self._name_taken(name, record or PluginRecord(name, module, builtin=False))
            return
        record = (
            record
            or self.records.get(name)
            or PluginRecord(
                name=name, module=getattr(plugin, "__name__", repr(plugin)), builtin=False
            )
        )
        self.records[name] = record
        try:
            self.pm.register(plugin, name=name)
        except Exception as exc:  # e.g. a hook implementation with a misspelled argument
            record.error = _describe_error(exc)
            self.warn(f"plugin {name!r} could not be registered ({record.error})")
            return
        callers = self.pm.get_hookcallers(plugin) or []
        record.hooks = sorted(hc.name for hc in callers)
        unknown = sorted(hc.name for hc in callers if not hc.has_spec())
        if unknown:
            # pluggy accepts unknown hook names silently; a typo would make a plugin do nothing.
            record.error = (
                f"unknown hook(s) {', '.join(unknown)}; "
                f"guidellm hooks are {', '.join(hookspecs.HOOK_NAMES)}"
            )
            self.warn(f"plugin {name!r} implements {record.error}")
        self._run_registration(plugin, name, record)

    def _name_taken(self, name: str, record: PluginRecord) -> bool:
        """Two plugins under one name (two distributions with the same entry-point name):
        keep the first, list the second with an error naming both."""
        first = self.records.get(name)
        if first is None:
            return False
        record.error = (
            f"plugin name {name!r} is already used by {first.distribution or first.module}; "
            "rename one entry point or uninstall one distribution"
        )
        self.records[f"{name} ({record.distribution or record.module})"] = record
        self.warn(
            f"plugin {name!r} from {record.distribution or record.module} ignored: {record.error}"
        )
        return True

    def remove_plugin(self, name: str) -> None:
        """Unregister a plugin's hooks (its registered components stay until a new host)."""
        plugin = self.pm.get_plugin(name)
        if plugin is not None:
            self.pm.unregister(plugin)
        self.records.pop(name, None)

    def _registrars(self) -> dict[str, tuple[str, Callable[..., str | None]]]:
        """Per hook: the default kind listed under ``provides`` and the function that
        registers one component (it may return the kind it actually used)."""

        def strategy_or_profile(component: Any, name: str | None = None, *, plugin: str) -> str:
            if isinstance(component, type) and issubclass(component, SchedulingStrategy):
                self.strategies.register(component, name, plugin=plugin)
                profile = StrategyProfile.for_strategy(component)
                if name is not None:
                    profile.name = name
                self.profiles.register(profile, name, plugin=plugin)
                return "strategies"
            self.profiles.register(component, name, plugin=plugin)
            return "profiles"

        return {
            "register_backends": ("backends", self.backends.register),
            "register_dataset_sources": ("dataset_sources", self.dataset_sources.register),
            "register_strategies": ("strategies", strategy_or_profile),
            "register_report_writers": ("report_writers", self.report_writers.register),
            "register_server_metrics": ("server_metrics", self.server_metrics.register),
        }

    def _run_registration(self, plugin: object, name: str, record: PluginRecord) -> None:
        """Call this plugin's registration hooks with a ``register`` bound to its name, so that
        clashes name both plugins and a failing hook blames the right one."""
        for hook_name, (kind, add) in self._registrars().items():
            for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
                if impl.plugin is not plugin:
                    continue
                added: list[tuple[str, str]] = []

                def register(
                    component: Any,
                    cname: str | None = None,
                    *,
                    _add: Any = add,
                    _kind: str = kind,
                    _added: list[tuple[str, str]] = added,
                ) -> None:
                    used = _add(component, cname, plugin=name) or _kind
                    _added.append((used, cname or component.name))

                # pluggy lets an implementation take a subset of the spec's arguments.
                kwargs = {"register": register} if "register" in impl.argnames else {}
                try:
                    impl.function(**kwargs)
                except Exception as exc:
                    record.error = _describe_error(exc)
                    self.warn(f"plugin {name!r} failed in {hook_name}: {record.error}")
                for used, cname in added:
                    record.provides.setdefault(used, []).append(cname)

    # -- use ---------------------------------------------------------------------------------

    def register_commands(self, cli: click.Group) -> None:
        """Let every plugin add CLI commands; a failing plugin only costs its own commands."""
        for impl in self.pm.hook.register_commands.get_hookimpls():
            try:
                impl.function(**({"cli": cli} if "cli" in impl.argnames else {}))
            except Exception as exc:
                error = _describe_error(exc)
                record = self.records.get(impl.plugin_name)
                if record is not None:
                    record.error = error
                self.warn(f"plugin {impl.plugin_name!r} failed in register_commands: {error}")

    def listing(self, include_builtins: bool = False) -> list[dict[str, Any]]:
        """The JSON-ready list that ``guidellm plugins`` prints."""
        return [r.as_dict() for r in self.records.values() if include_builtins or not r.builtin]


_HOST: PluginHost | None = None


def get_plugin_host() -> PluginHost:
    """The process-wide plugin host, loaded on first use, once."""
    global _HOST  # noqa: PLW0603 - one lazily built host per process is the point
    if _HOST is None:
        _HOST = PluginHost()
    return _HOST


def reset_plugin_host() -> None:
    """Forget the process-wide host (tests that change the environment use this)."""
    global _HOST  # noqa: PLW0603
    _HOST = None
