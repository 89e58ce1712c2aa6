"""Modules of one concept, each under 600 lines (CONTRIBUTING.md): this fails when one grows
past it, so that it is split by concept rather than left to grow."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LIMIT = 600
#: Generated protobuf code, not written by hand.
GENERATED = REPO / "guidellm" / "backends" / "grpc_proto"


def _modules() -> list[Path]:
    found = list((REPO / "guidellm").rglob("*.py"))
    for package in (REPO / "plugins").glob("*/guidellm_*"):
        found += package.rglob("*.py")
    return sorted(p for p in found if GENERATED not in p.parents)


def test_the_walk_finds_the_package_and_the_plugins() -> None:
    names = {p.relative_to(REPO).as_posix() for p in _modules()}
    assert "guidellm/hookspecs.py" in names
    assert any(n.startswith("plugins/") for n in names)
    assert not any("grpc_proto" in n for n in names)


def test_every_module_is_under_600_lines() -> None:
    too_long = {}
    for path in _modules():
        with path.open("rb") as handle:
            lines = sum(1 for _ in handle)
        if lines >= LIMIT:
            too_long[path.relative_to(REPO).as_posix()] = lines
    assert not too_long, (
        f"modules of {LIMIT} lines or more: {too_long}; split each by concept "
        "(one module per idea, named after it)"
    )
