"""Named registries of plugin components.

Every component (backend, dataset source, strategy, profile, report writer) is chosen by name.
A registry remembers which plugin registered each name so that a clash names both plugins and
an unknown name lists what exists.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Generic, TypeVar

from guidellm.errors import DuplicateComponentError, UnknownComponentError

__all__ = ["Registry"]

T = TypeVar("T")


class Registry(Generic[T]):
    """A name -> component mapping for one kind of component (``kind`` is e.g. ``backend``)."""

    def __init__(self, kind: str, base: type | None = None) -> None:
        self.kind = kind
        self.base = base
        self._items: dict[str, T] = {}
        self._owners: dict[str, str] = {}
        self._conflicts: dict[str, list[str]] = {}

    def register(self, component: T, name: str | None = None, *, plugin: str = "?") -> None:
        """Add ``component`` under ``name`` (default: its ``name`` attribute)."""
        key = name if name is not None else getattr(component, "name", None)
        if not isinstance(key, str) or not key:
            raise TypeError(
                f"plugin {plugin!r} registered a {self.kind} without a name: give the class a "
                "'name' attribute or pass name=..."
            )
        if self.base is not None and not (
            isinstance(component, type) and issubclass(component, self.base)
        ):
            raise TypeError(
                f"plugin {plugin!r} registered {self.kind} {key!r} that is not a subclass of "
                f"{self.base.__module__}.{self.base.__qualname__}"
            )
        if key in self._items and self._items[key] is not component:
            # Neither wins silently: the name stays unusable until one plugin goes away.
            owners = self._conflicts.setdefault(key, [self._owners[key]])
            owners.append(plugin)
            raise DuplicateComponentError(self._conflict_message(key))
        self._items[key] = component
        self._owners[key] = plugin

    def get(self, name: str) -> T:
        """The component called ``name``; an unknown name lists the ones that exist."""
        if name in self._conflicts:
            raise DuplicateComponentError(self._conflict_message(name))
        try:
            return self._items[name]
        except KeyError:
            available = ", ".join(sorted(self._items)) or "(none)"
            raise UnknownComponentError(
                f"Unknown {self.kind} {name!r}. Available: {available}. "
                "Run 'guidellm plugins --all' to see what each plugin provides."
            ) from None

    def _conflict_message(self, name: str) -> str:
        owners = self._conflicts[name]
        plugins = " and ".join(repr(p) for p in owners)
        return (
            f"{self.kind} {name!r} is registered by plugins {plugins}; uninstall one of them or "
            f"disable it with GUIDELLM_DISABLE_PLUGINS={owners[-1]}"
        )

    def owner(self, name: str) -> str:
        """The plugin that registered ``name``."""
        return self._owners[name]

    def names(self) -> list[str]:
        return sorted(self._items)

    def by_plugin(self, plugin: str) -> list[str]:
        return sorted(n for n, p in self._owners.items() if p == plugin)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._items))

    def __len__(self) -> int:
        return len(self._items)
