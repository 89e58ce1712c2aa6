"""The import layers stay layered: no module of guidellm imports from a layer above its own.

Every module under ``guidellm/`` is parsed with :mod:`ast` (nothing is imported) and each of
its imports of ``guidellm.*`` is an arrow: at module level and inside functions alike, since a
lazy import is still a dependency. Imports under ``if TYPE_CHECKING:`` are not arrows: they
never run, and annotations may name any layer. Strings are not imports either (the built-in
plugins of ``guidellm.plugins.BUILTIN_PLUGINS``), except that ``from guidellm import Name`` is
read through the package's ``_LAZY`` table of public names, because at run time it imports the
module that table names.

The layers, top to bottom, and why they are in this order: docs/architecture.md, "Layers".
Modules of one layer may import each other.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_DIR = ROOT / "guidellm"
PACKAGE = "guidellm"

#: Top to bottom: (layer name, modules and packages in it). A module is in the layer of the
#: longest entry that is the module or one of its packages; the root package ``guidellm``
#: stands for its ``__init__.py`` only.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("cli", ("guidellm.cli", "guidellm.__main__", "guidellm.testing")),
    ("composition", ("guidellm.runner", "guidellm.config", "guidellm.traffic_classes")),
    ("plugins", ("guidellm.plugins",)),
    ("outputs", ("guidellm.outputs",)),
    ("benchmarker", ("guidellm.benchmark.benchmarker",)),
    (
        "pipeline",
        ("guidellm.scheduler", "guidellm.data", "guidellm.benchmark", "guidellm.telemetry"),
    ),
    ("backends", ("guidellm.backends", "guidellm.mock_server")),
    (
        "kernel",
        (
            "guidellm",
            "guidellm.errors",
            "guidellm.hookspecs",
            "guidellm.interrupts",
            "guidellm.options",
            "guidellm.percentile",
            "guidellm.redact",
            "guidellm.registry",
            "guidellm.request",
            "guidellm.server_process",
            "guidellm.timerfd",
            "guidellm.version",
        ),
    ),
)
LAYER_NAMES = [name for name, _ in LAYERS]

#: Only these may call (or import) ``get_plugin_host()``: the layers that choose the plugins.
HOST_CALLERS = ("guidellm.cli", "guidellm.runner", "guidellm.testing")


@dataclass(frozen=True)
class Arrow:
    """One import of ``target`` by ``module``, at ``line`` of ``path``."""

    module: str
    path: str
    line: int
    target: str


def layer_of(module: str) -> int | None:
    """The index in :data:`LAYERS` of ``module``'s layer (0 is the top), ``None`` if unmapped."""
    best: tuple[int, int] | None = None  # (prefix length, layer index)
    for index, (_name, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            inside = prefix != PACKAGE and module.startswith(prefix + ".")
            if (module == prefix or inside) and (best is None or len(prefix) > best[0]):
                best = (len(prefix), index)
    return None if best is None else best[1]


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def sources(package_dir: Path = PACKAGE_DIR) -> dict[str, tuple[str, str]]:
    """Module name -> (path relative to the repository, source) for the whole package."""
    found = {}
    for path in sorted(package_dir.rglob("*.py")):
        found[module_name(path, package_dir.parent)] = (
            path.relative_to(package_dir.parent).as_posix(),
            path.read_text(),
        )
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_nodes(node: ast.AST) -> Iterator[ast.AST]:
    """Every node below ``node``, functions included, minus ``if TYPE_CHECKING:`` bodies."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            for other in child.orelse:
                yield other
                yield from _runtime_nodes(other)
            continue
        yield child
        yield from _runtime_nodes(child)


def lazy_tables(modules: dict[str, tuple[str, str]]) -> dict[str, dict[str, str]]:
    """Per package: its ``_LAZY`` table (public name -> module that defines it), if any."""
    tables: dict[str, dict[str, str]] = {}
    for name, (_path, source) in modules.items():
        for node in ast.parse(source).body:
            if (
                isinstance(node, (ast.Assign, ast.AnnAssign))
                and any(
                    isinstance(t, ast.Name) and t.id == "_LAZY"
                    for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
                )
                and node.value is not None
            ):
                tables[name] = ast.literal_eval(node.value)
    return tables


def arrows(modules: dict[str, tuple[str, str]]) -> list[Arrow]:
    """Every runtime import of a ``guidellm`` module by a module of ``modules``."""
    lazy = lazy_tables(modules)
    found = []
    for module, (path, source) in modules.items():
        is_package = path.endswith("__init__.py")
        for node in _runtime_nodes(ast.parse(source, path)):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = module.split(".")[: len(module.split(".")) - node.level + is_package]
                    base = ".".join([*anchor, *([node.module] if node.module else [])])
                for alias in node.names:
                    submodule = f"{base}.{alias.name}"
                    if submodule in modules:
                        targets.append(submodule)
                    else:
                        targets.append(lazy.get(base, {}).get(alias.name, base))
            for target in targets:
                if target == PACKAGE or target.startswith(PACKAGE + "."):
                    found.append(Arrow(module, path, node.lineno, target))
    return found


def upward(modules: dict[str, tuple[str, str]]) -> list[str]:
    """One line per import from a lower layer to a higher one."""
    problems = []
    for arrow in arrows(modules):
        here, there = layer_of(arrow.module), layer_of(arrow.target)
        if here is not None and there is not None and there < here:
            problems.append(
                f"{arrow.path}:{arrow.line}: {arrow.module} ({LAYER_NAMES[here]}) imports "
                f"{arrow.target} ({LAYER_NAMES[there]}), a layer above it"
            )
    return problems


def test_every_module_is_in_a_layer() -> None:
    unmapped = sorted(m for m in sources() if layer_of(m) is None)
    assert not unmapped, (
        f"modules in no layer: {', '.join(unmapped)}; add them to LAYERS in tests/test_layers.py "
        "and to the Layers section of docs/architecture.md"
    )


def test_no_module_imports_from_a_layer_above_its_own() -> None:
    problems = upward(sources())
    assert not problems, (
        "imports from a higher layer (move the code down, pass the object in from above, or "
        "import under `if TYPE_CHECKING:` when it is only for annotations; "
        f"layers, top to bottom: {' > '.join(LAYER_NAMES)}):\n  " + "\n  ".join(problems)
    )


def test_a_package_is_no_higher_than_its_modules() -> None:
    """Importing ``guidellm.a.b`` runs ``guidellm/a/__init__.py`` first: checking the arrow to
    ``guidellm.a.b`` is enough only while no package sits above one of its own modules."""
    modules = sources()
    problems = []
    for module in modules:
        parent = module.rpartition(".")[0]
        while parent:
            lm, lp = layer_of(module), layer_of(parent)
            if lm is not None and lp is not None and lp < lm:
                problems.append(f"{parent} ({LAYER_NAMES[lp]}) > {module} ({LAYER_NAMES[lm]})")
            parent = parent.rpartition(".")[0]
    assert not problems, "packages above their own modules:\n  " + "\n  ".join(problems)


def host_reaches(modules: dict[str, tuple[str, str]]) -> list[str]:
    """Calls, references and imports of ``get_plugin_host`` outside :data:`HOST_CALLERS`."""
    problems = []
    for module, (path, source) in modules.items():
        if module == "guidellm.plugins" or any(
            module == m or module.startswith(m + ".") for m in HOST_CALLERS
        ):
            continue
        for node in _runtime_nodes(ast.parse(source, path)):
            named = (
                (isinstance(node, ast.Name) and node.id == "get_plugin_host")
                or (isinstance(node, ast.Attribute) and node.attr == "get_plugin_host")
                or (
                    isinstance(node, ast.ImportFrom)
                    and any(a.name == "get_plugin_host" for a in node.names)
                )
            )
            if named:
                problems.append(f"{path}:{getattr(node, 'lineno', '?')}: {module}")
    return problems


def test_only_the_top_layers_reach_for_the_process_wide_plugin_host() -> None:
    """Below the composition root a component gets the host it needs passed in: a hidden
    ``get_plugin_host()`` would choose plugins behind the caller's back (and import upward)."""
    problems = host_reaches(sources())
    assert not problems, (
        "get_plugin_host() outside guidellm/cli/, guidellm/runner.py and guidellm/testing/ "
        "(take a `host` argument instead):\n  " + "\n  ".join(problems)
    )


def test_nothing_inside_the_package_imports_the_public_api() -> None:
    """``guidellm/__init__.py`` is the public API for users; inside the package a name comes
    from the module that defines it (``guidellm.version`` for ``__version__``), so that no
    module leans on the top-level table of lazy names. Submodules may be imported from it."""
    modules = sources()
    problems = [
        f"{path}:{node.lineno}: from guidellm import {alias.name}"
        for module, (path, source) in modules.items()
        for node in _runtime_nodes(ast.parse(source, path))
        if isinstance(node, ast.ImportFrom) and node.module == PACKAGE and not node.level
        for alias in node.names
        if f"{PACKAGE}.{alias.name}" not in modules
    ]
    assert not problems, "import these from their own modules:\n  " + "\n  ".join(problems)


def test_the_docs_list_the_layers_in_this_order() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text()
    section = text.split("\n## Layers", 1)[1].split("\n## ", 1)[0]
    block = section.split("```", 2)[1]
    listed = [line.split()[0] for line in block.splitlines()[1:] if line[:1].strip()]
    assert listed == LAYER_NAMES, "docs/architecture.md's Layers block drifted from LAYERS"


# -- the checker itself can fail ----------------------------------------------------------------

_FAKE = {
    "guidellm": ("guidellm/__init__.py", "_LAZY = {'Runner': 'guidellm.runner'}\n"),
    "guidellm.runner": ("guidellm/runner.py", ""),
    "guidellm.plugins": ("guidellm/plugins.py", ""),
    "guidellm.outputs": ("guidellm/outputs/__init__.py", ""),
    "guidellm.outputs.base": ("guidellm/outputs/base.py", ""),
    "guidellm.request": ("guidellm/request.py", ""),
    "guidellm.errors": ("guidellm/errors.py", ""),
    "guidellm.benchmark": ("guidellm/benchmark/__init__.py", ""),
    "guidellm.benchmark.aggregator": (
        "guidellm/benchmark/aggregator.py",
        "from typing import TYPE_CHECKING\n"
        "from guidellm.request import now\n"  # down: fine
        "if TYPE_CHECKING:\n"
        "    from guidellm.outputs.base import ReportWriter\n"  # not an arrow
        "else:\n"
        "    import guidellm.errors\n"  # down: fine
        "def f():\n"
        "    from ..outputs import base\n"  # 8: relative, lazy, up
        "    from guidellm import Runner\n"  # 9: through the lazy table, up
        "    from guidellm.plugins import get_plugin_host\n",  # 10: up
    ),
}


def test_the_checker_finds_lazy_relative_and_table_imports_and_skips_type_checking() -> None:
    problems = upward(_FAKE)
    assert [p.split(":")[1] for p in problems] == ["8", "9", "10"], problems
    assert problems[0] == (
        "guidellm/benchmark/aggregator.py:8: guidellm.benchmark.aggregator (pipeline) imports "
        "guidellm.outputs.base (outputs), a layer above it"
    )
    assert "guidellm.runner (composition)" in problems[1]
    assert "guidellm.plugins (plugins)" in problems[2]
    assert host_reaches(_FAKE) == [
        "guidellm/benchmark/aggregator.py:10: guidellm.benchmark.aggregator"
    ]
