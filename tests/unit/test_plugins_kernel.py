"""The plugin host: built-ins and throwaway plugins registered through the real hooks.

Every test builds a fresh ``PluginHost(builtins=..., entry_points=False)``; entry-point
discovery with real installed distributions is in tests/integration/test_plugin_install.py.
"""

from __future__ import annotations

import sys
import textwrap
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest

from guidellm import (
    Backend,
    GenerationRequest,
    Profile,
    ResponseRecorder,
    SchedulingStrategy,
    hookimpl,
)
from guidellm import plugins as plugins_module
from guidellm.errors import DuplicateComponentError, UnknownComponentError
from guidellm.hookspecs import HOOK_NAMES
from guidellm.plugins import PluginHost, get_plugin_host, reset_plugin_host


class NullBackend(Backend):
    name = "null"

    async def resolve(self, request: GenerationRequest, recorder: ResponseRecorder) -> None:
        return None


class OtherNullBackend(NullBackend):
    name = "null"


class OnceStrategy(SchedulingStrategy):
    name = "once"
    streams = 1

    @classmethod
    def from_rates(cls, rates: Any, options: Any) -> list[SchedulingStrategy]:
        return [cls()]

    def describe(self) -> dict[str, Any]:
        return {"type": self.name}


def plugin(name: str, **hooks: Any) -> types.ModuleType:
    """A throwaway plugin module whose hook implementations are ``hooks``."""
    module = types.ModuleType(name)
    for hook_name, function in hooks.items():
        function.__name__ = hook_name
        setattr(module, hook_name, hookimpl(function))
    return module


@pytest.fixture
def host() -> Iterator[tuple[PluginHost, list[str]]]:
    warnings: list[str] = []
    yield PluginHost(builtins=(), entry_points=False, warn=warnings.append), warnings


def test_hook_names_are_the_six_registration_hooks() -> None:
    assert HOOK_NAMES == [
        "register_backends",
        "register_dataset_sources",
        "register_strategies",
        "register_report_writers",
        "register_server_metrics",
        "register_commands",
    ]


def test_a_plugin_registers_components_by_name(host: tuple[PluginHost, list[str]]) -> None:
    h, warnings = host
    p = plugin(
        "tp_null",
        register_backends=lambda register: register(NullBackend),
        register_strategies=lambda register: register(OnceStrategy),
    )
    h.add_plugin(p, "tp-null")
    try:
        assert warnings == []
        assert h.backends.get("null") is NullBackend
        assert h.strategies.get("once") is OnceStrategy
        # A strategy also becomes a one-strategy profile of the same name.
        profile = h.profiles.get("once")(None, {})
        assert isinstance(profile.next_strategy([]), OnceStrategy)
        (entry,) = h.listing()
        assert entry["name"] == "tp-null"
        assert entry["hooks"] == ["register_backends", "register_strategies"]
        assert entry["provides"] == {"backends": ["null"], "strategies": ["once"]}
        assert "error" not in entry
    finally:
        h.remove_plugin("tp-null")
    assert h.listing() == []


class TwiceProfile(Profile):
    name = "twice"

    def next_strategy(self, completed: Any) -> SchedulingStrategy | None:
        return OnceStrategy() if len(completed) < 2 else None


def test_profiles_are_listed_apart_from_strategies(host: tuple[PluginHost, list[str]]) -> None:
    h, warnings = host
    p = plugin(
        "tp_twice",
        register_strategies=lambda register: (register(OnceStrategy), register(TwiceProfile)),
    )
    h.add_plugin(p, "tp-twice")
    try:
        assert warnings == []
        assert h.profiles.get("twice") is TwiceProfile
        assert "twice" not in h.strategies
        (entry,) = h.listing()
        assert entry["provides"] == {"strategies": ["once"], "profiles": ["twice"]}
    finally:
        h.remove_plugin("tp-twice")


def test_explicit_names_and_subset_of_hook_arguments(host: tuple[PluginHost, list[str]]) -> None:
    h, warnings = host
    calls: list[str] = []
    p = plugin(
        "tp_named",
        register_backends=lambda register: register(NullBackend, "null2"),
        # pluggy allows an implementation to take fewer arguments than the spec.
        register_report_writers=lambda: calls.append("called"),
    )
    h.add_plugin(p, "tp-named")
    try:
        assert warnings == []
        assert h.backends.get("null2") is NullBackend
        assert calls == ["called"]
    finally:
        h.remove_plugin("tp-named")


def test_duplicate_names_error_names_both_plugins(host: tuple[PluginHost, list[str]]) -> None:
    h, warnings = host
    first = plugin("tp_a", register_backends=lambda register: register(NullBackend))
    second = plugin("tp_b", register_backends=lambda register: register(OtherNullBackend))
    h.add_plugin(first, "plugin-a")
    h.add_plugin(second, "plugin-b")
    try:
        assert len(warnings) == 1
        assert "'plugin-b' failed in register_backends" in warnings[0]
        assert "'plugin-a' and 'plugin-b'" in warnings[0]
        with pytest.raises(DuplicateComponentError) as info:
            h.backends.get("null")
        assert "'plugin-a' and 'plugin-b'" in str(info.value)
        assert "DuplicateComponentError" in (h.records["plugin-b"].error or "")
    finally:
        h.remove_plugin("plugin-a")
        h.remove_plugin("plugin-b")


def test_unknown_name_lists_the_available_ones(host: tuple[PluginHost, list[str]]) -> None:
    h, _ = host
    h.add_plugin(plugin("tp_u", register_backends=lambda register: register(NullBackend)), "u")
    try:
        with pytest.raises(UnknownComponentError, match=r"Unknown backend 'nul'\. Available: null"):
            h.backends.get("nul")
        with pytest.raises(UnknownComponentError, match=r"Available: \(none\)"):
            h.report_writers.get("html")
    finally:
        h.remove_plugin("u")


def test_a_failing_hook_costs_only_its_plugin(host: tuple[PluginHost, list[str]]) -> None:
    h, warnings = host

    def boom(register: Any) -> None:
        raise RuntimeError("no GPU\nsecond line")

    h.add_plugin(plugin("tp_boom", register_backends=boom), "boom")
    h.add_plugin(plugin("tp_ok", register_backends=lambda register: register(NullBackend)), "ok")
    try:
        assert warnings == [
            "plugin 'boom' failed in register_backends: RuntimeError: no GPU second line"
        ]
        assert h.records["boom"].error == "RuntimeError: no GPU second line"
        assert h.backends.get("null") is NullBackend
    finally:
        h.remove_plugin("boom")
        h.remove_plugin("ok")


def test_a_misspelled_hook_is_reported(host: tuple[PluginHost, list[str]]) -> None:
    h, warnings = host
    h.add_plugin(plugin("tp_typo", register_backend=lambda register: None), "typo")
    try:
        assert len(warnings) == 1
        assert "unknown hook(s) register_backend" in warnings[0]
        assert "register_backends" in warnings[0]
        assert "register_backend;" in (h.records["typo"].error or "")
    finally:
        h.remove_plugin("typo")


def test_a_bad_hook_signature_is_reported(host: tuple[PluginHost, list[str]]) -> None:
    h, warnings = host
    h.add_plugin(plugin("tp_sig", register_backends=lambda registr: None), "sig")
    try:
        assert len(warnings) == 1
        assert "'sig' could not be registered" in warnings[0]
        assert "registr" in (h.records["sig"].error or "")
    finally:
        h.remove_plugin("sig")


def test_two_plugins_under_one_name_keep_the_first(host: tuple[PluginHost, list[str]]) -> None:
    h, warnings = host
    h.add_plugin(plugin("tp_one", register_backends=lambda register: register(NullBackend)), "dup")
    h.add_plugin(plugin("tp_two"), "dup")
    try:
        assert h.backends.get("null") is NullBackend
        assert len(warnings) == 1
        assert "'dup' from tp_two ignored" in warnings[0]
        listing = h.listing()
        assert [e["module"] for e in listing] == ["tp_one", "tp_two"]
        assert "error" not in listing[0]
        assert "already used by tp_one" in listing[1]["error"]
    finally:
        h.remove_plugin("dup")


def test_register_commands_isolates_a_failing_plugin(host: tuple[PluginHost, list[str]]) -> None:
    h, warnings = host

    def good(cli: click.Group) -> None:
        @cli.command("hello")
        def hello() -> None:
            click.echo("hi")

    def bad(cli: click.Group) -> None:
        raise ValueError("broken command")

    h.add_plugin(plugin("tp_good", register_commands=good), "good")
    h.add_plugin(plugin("tp_bad", register_commands=bad), "bad")
    try:
        group = click.Group("guidellm")
        h.register_commands(group)
        assert list(group.commands) == ["hello"]
        assert warnings == ["plugin 'bad' failed in register_commands: ValueError: broken command"]
        assert h.records["bad"].error == "ValueError: broken command"
    finally:
        h.remove_plugin("good")
        h.remove_plugin("bad")


@pytest.fixture
def module_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory on sys.path for real plugin modules written by the test."""
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def _write_module(directory: Path, name: str, source: str) -> str:
    (directory / f"{name}.py").write_text(textwrap.dedent(source))
    return name


def test_builtins_load_by_module_and_a_broken_one_warns_once(
    module_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = _write_module(
        module_dir,
        "tp_builtin_good",
        """
        from guidellm import Backend, hookimpl

        class Local(Backend):
            name = "local"

            async def resolve(self, request, recorder):
                return None

        @hookimpl
        def register_backends(register):
            register(Local)
        """,
    )
    exits = _write_module(module_dir, "tp_builtin_exit", "import sys\nsys.exit(3)\n")
    raises = _write_module(module_dir, "tp_builtin_raise", "raise ImportError('needs libfoo')\n")
    warnings: list[str] = []
    h = PluginHost(builtins=(good, exits, raises), entry_points=False, warn=warnings.append)
    try:
        assert h.backends.get("local").__module__ == good
        assert len(warnings) == 2
        assert warnings[0].startswith("plugin 'tp_builtin_exit' failed to load (SystemExit: 3)")
        assert "ImportError: needs libfoo" in warnings[1]
        assert all("\n" not in w for w in warnings)
        listing = {e["name"]: e for e in h.listing(include_builtins=True)}
        assert listing[good]["builtin"] is True
        assert listing[good]["distribution"] == "guidellm"
        assert listing[raises]["error"] == "ImportError: needs libfoo"
        assert h.listing() == []  # built-ins are hidden without --all
    finally:
        for name in (good, exits, raises):
            h.remove_plugin(name)
            sys.modules.pop(name, None)


def test_disable_list_applies_to_builtins_before_import(
    module_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = _write_module(module_dir, "tp_builtin_never", "raise RuntimeError('imported!')\n")
    monkeypatch.setenv("GUIDELLM_DISABLE_PLUGINS", " other , TP_Builtin_Never ")
    warnings: list[str] = []
    h = PluginHost(builtins=(name,), entry_points=False, warn=warnings.append)
    assert warnings == []
    assert name not in sys.modules
    assert h.listing(include_builtins=True) == []


def test_the_real_builtins_load_cleanly() -> None:
    warnings: list[str] = []
    h = PluginHost(entry_points=False, warn=warnings.append)
    assert warnings == []
    listing = h.listing(include_builtins=True)
    assert {e["module"] for e in listing} == set(plugins_module.BUILTIN_PLUGINS)
    assert all(e["builtin"] and "error" not in e for e in listing)


def test_process_wide_host_is_built_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GUIDELLM_LOAD_PLUGINS", "")  # no third-party plugins
    reset_plugin_host()
    try:
        first = get_plugin_host()
        assert get_plugin_host() is first
        assert first.listing() == []
        reset_plugin_host()
        assert get_plugin_host() is not first
    finally:
        reset_plugin_host()
