"""Report writers: console, json, yaml, csv, html (see :class:`ReportWriter`)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from guidellm.outputs.base import Progress, ReportWriter

if TYPE_CHECKING:
    from guidellm.plugins import PluginHost

__all__ = ["Progress", "ReportWriter", "writers_for"]


def writers_for(
    paths: Iterable[str | Path],
    host: PluginHost | None = None,
    *,
    console: bool = False,
    **console_options: Any,
) -> list[ReportWriter]:
    """One writer per ``--output`` path, chosen by the path's suffix (``.json``, ``.html``...).

    With ``console=True`` the ``console`` writer comes first, built with ``console_options``
    (``progress=False`` for ``--disable-progress``). An unknown suffix raises ``UserError``
    listing the suffixes the installed writers handle.
    """
    from guidellm.errors import UserError

    if host is None:
        from guidellm.plugins import get_plugin_host

        host = get_plugin_host()
    registry = host.report_writers
    by_suffix: dict[str, type[ReportWriter]] = {}
    for name in registry.names():
        cls = registry.get(name)
        for ext in cls.extensions:
            by_suffix.setdefault(ext.lower(), cls)
    writers: list[ReportWriter] = []
    if console:
        writers.append(registry.get("console")(None, **console_options))
    for raw in paths:
        path = Path(raw)
        cls_for = by_suffix.get(path.suffix.lower())
        if cls_for is None:
            known = ", ".join(sorted(by_suffix)) or "(none)"
            raise UserError(
                f"--output {str(path)!r}: unknown report format {path.suffix or '(no suffix)'!r};"
                f" use one of {known}"
            )
        _check_writable(path)
        writers.append(cls_for(path))
    return writers


def _check_writable(path: Path) -> None:
    """Fail before the run, not after it: a report path whose folder cannot be made or
    written is a ``UserError`` now (the folder itself is created when the report is written)."""
    import os

    from guidellm.errors import UserError

    if path.is_dir():
        raise UserError(f"--output {str(path)!r} is a folder; give a file, e.g. {path}/report.json")
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        problem = f"{str(folder)!r} is a file, not a folder"
    elif not os.access(folder, os.W_OK | os.X_OK):
        problem = f"{str(folder)!r} is not writable"
    else:
        return
    raise UserError(f"--output {str(path)!r}: {problem}; pick another path")
