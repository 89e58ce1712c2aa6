"""Report writers: console, json, yaml, csv, timeline, turns, html, requests (see
:class:`ReportWriter`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from guidellm.outputs.base import Progress, ReportWriter

if TYPE_CHECKING:
    from guidellm.plugins import PluginHost

__all__ = ["Progress", "ReportWriter", "check_writable", "writers_for"]


def writers_for(
    paths: Iterable[str | Path],
    host: PluginHost,
    *,
    console: bool = False,
    options: Mapping[str, Any] | None = None,
    **console_options: Any,
) -> list[ReportWriter]:
    """One writer per ``--output`` path, chosen by how the path's name ends (``.json``,
    ``.html``, ``timeline.csv``...: the longest matching extension wins), from ``host``'s
    report writers (the caller chooses the plugins, never this layer).

    With ``console=True`` the ``console`` writer comes first, built with ``console_options``
    (``progress=False`` for ``--disable-progress``). Each file writer gets those of the
    run-wide ``options`` (``export_chunks``) its class lists in ``options_taken``. An unknown
    suffix raises ``UserError`` listing the suffixes the installed writers handle.
    """
    from guidellm.errors import UserError

    registry = host.report_writers
    by_suffix: dict[str, type[ReportWriter]] = {}
    for name in registry.names():
        cls = registry.get(name)
        for ext in cls.extensions:
            by_suffix.setdefault(ext.lower(), cls)
    writers: list[ReportWriter] = []
    if console:
        writers.append(registry.get("console")(None, **console_options))
    endings = sorted(by_suffix, key=len, reverse=True)
    for raw in paths:
        path = Path(raw)
        name = path.name.lower()
        ending = next((e for e in endings if name.endswith(e)), None)
        cls_for = None if ending is None else by_suffix[ending]
        if cls_for is None:
            known = ", ".join(sorted(by_suffix)) or "(none)"
            raise UserError(
                f"--output {str(path)!r}: unknown report format {path.suffix or '(no suffix)'!r};"
                f" use one of {known}"
            )
        _check_writable(path)
        taken = {k: v for k, v in (options or {}).items() if k in cls_for.options_taken}
        writers.append(cls_for(path, **taken))
    return writers


def _check_writable(path: Path, flag: str = "--output") -> None:
    """Fail before the run, not after it: a report path whose folder cannot be made or
    written is a ``UserError`` now (the folder itself is created when the report is written).

    A real file is created and removed in the nearest existing folder: permission bits say
    nothing for root, nor for /proc, a read-only mount or a full quota.
    """
    import os
    import tempfile

    from guidellm.errors import UserError

    if path.is_dir():
        raise UserError(f"{flag} {str(path)!r} is a folder; give a file, e.g. {path}/report.json")
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        problem = f"{str(folder)!r} is a file, not a folder"
    else:
        try:
            fd, probe = tempfile.mkstemp(prefix=".guidellm-probe-", dir=folder)
        except OSError as exc:
            problem = f"cannot write in {str(folder)!r} ({exc.strerror or exc})"
        else:
            os.close(fd)
            Path(probe).unlink()
            return
    raise UserError(f"{flag} {str(path)!r}: {problem}; pick another path")


def check_writable(path: str | Path, flag: str) -> None:
    """A file the run will write (``--journal``...) can be written; ``UserError`` if not."""
    _check_writable(Path(path), flag)
