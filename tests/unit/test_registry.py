"""Registry: names, clashes that name both plugins, unknown names that list what exists."""

from __future__ import annotations

import pytest

from guidellm.errors import DuplicateComponentError, UnknownComponentError, UserError
from guidellm.registry import Registry


class Base:
    name = "base"


class Alpha(Base):
    name = "alpha"


class Beta(Base):
    name = "beta"


class Other(Base):
    name = "alpha"  # same name as Alpha, different class


def test_register_by_attribute_or_explicit_name() -> None:
    reg: Registry[type[Base]] = Registry("widget", Base)
    reg.register(Alpha, plugin="p1")
    reg.register(Beta, "b2", plugin="p2")
    assert reg.get("alpha") is Alpha
    assert reg.get("b2") is Beta
    assert "beta" not in reg
    assert reg.names() == ["alpha", "b2"] == list(reg)
    assert len(reg) == 2
    assert reg.owner("b2") == "p2"
    assert reg.by_plugin("p1") == ["alpha"]


def test_a_component_needs_a_name_and_the_right_base() -> None:
    reg: Registry[type[Base]] = Registry("widget", Base)

    class Nameless(Base):
        name = ""

    with pytest.raises(TypeError, match="'p' registered a widget without a name"):
        reg.register(Nameless, plugin="p")
    with pytest.raises(TypeError, match=r"not a subclass of .*\.Base"):
        reg.register(int, "int", plugin="p")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not a subclass"):
        reg.register(Alpha(), "inst", plugin="p")  # type: ignore[arg-type]
    assert len(reg) == 0


def test_registering_the_same_component_twice_is_harmless() -> None:
    reg: Registry[type[Base]] = Registry("widget", Base)
    reg.register(Alpha, plugin="p1")
    reg.register(Alpha, plugin="p1")
    assert reg.get("alpha") is Alpha


def test_duplicate_names_both_plugins_and_neither_wins() -> None:
    reg: Registry[type[Base]] = Registry("backend", Base)
    reg.register(Alpha, plugin="first-plugin")
    with pytest.raises(DuplicateComponentError) as info:
        reg.register(Other, plugin="second-plugin")
    message = str(info.value)
    assert "backend 'alpha'" in message
    assert "'first-plugin' and 'second-plugin'" in message
    assert "GUIDELLM_DISABLE_PLUGINS=second-plugin" in message
    assert isinstance(info.value, UserError)
    # Using the clashing name later fails the same way instead of picking one silently.
    with pytest.raises(DuplicateComponentError, match="'first-plugin' and 'second-plugin'"):
        reg.get("alpha")

    class Third(Base):
        name = "alpha"

    with pytest.raises(DuplicateComponentError) as third:
        reg.register(Third, plugin="third-plugin")
    assert "'first-plugin' and 'second-plugin' and 'third-plugin'" in str(third.value)


def test_unknown_name_lists_what_exists() -> None:
    reg: Registry[type[Base]] = Registry("backend", Base)
    with pytest.raises(UnknownComponentError, match=r"Available: \(none\)"):
        reg.get("x")
    reg.register(Beta, plugin="p")
    reg.register(Alpha, plugin="p")
    with pytest.raises(UnknownComponentError) as info:
        reg.get("alfa")
    message = str(info.value)
    assert message.startswith("Unknown backend 'alfa'. Available: alpha, beta.")
    assert "guidellm plugins" in message
    assert info.value.exit_code == 2
