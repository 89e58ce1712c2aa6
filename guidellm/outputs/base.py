"""The ReportWriter contract: turn a finished report, and live progress, into output.

:class:`Progress` is defined next to the aggregator that produces it and re-exported here.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from guidellm.benchmark.progress import Progress

if TYPE_CHECKING:
    from guidellm.benchmark.report import Benchmark, Report

__all__ = ["Progress", "ReportWriter"]


class ReportWriter(abc.ABC):
    """Writes a :class:`~guidellm.benchmark.report.Report` somewhere.

    File writers handle the ``--output`` paths whose suffix is in ``extensions`` and only
    implement :meth:`write`. Live writers (the console) also get the ``run_started`` ...
    ``benchmark_finished`` calls while the run goes on. All calls happen in the parent process;
    ``progress`` comes a few times a second and must stay cheap.
    """

    #: The writer's name (``guidellm plugins`` lists it).
    name: ClassVar[str]
    #: File suffixes this writer produces, e.g. ``(".json",)``; empty for the console.
    extensions: ClassVar[tuple[str, ...]] = ()
    #: Run-wide options this writer takes as keyword arguments (``export_chunks``...); the
    #: others are not passed, so a writer that takes none needs no ``**options``.
    options_taken: ClassVar[tuple[str, ...]] = ()
    #: The writer reads every result from the run's journal (:attr:`journal`), which a saved
    #: report does not have: ``guidellm report`` refuses it for one before any work.
    needs_journal: ClassVar[bool] = False
    #: The run's journal, set before :meth:`write` by the runner and by ``guidellm report``
    #: given a journal (flushed, not yet closed, during a run); ``None`` when there is none.
    journal: Path | None = None

    def __init__(self, path: Path | None = None, **options: Any) -> None:
        self.path = path
        self.options = options

    def run_started(self, config: Mapping[str, Any]) -> None:  # noqa: B027 - optional hook
        """The run begins; ``config`` is the redacted run configuration."""

    def benchmark_started(self, index: int, strategy: Mapping[str, Any]) -> None:  # noqa: B027
        """Benchmark ``index`` (0-based) begins with ``strategy`` (its ``describe()``)."""

    def progress(self, snapshot: Progress) -> None:  # noqa: B027 - optional hook
        """Live progress of the current benchmark."""

    def benchmark_finished(self, benchmark: Benchmark) -> None:  # noqa: B027 - optional hook
        """A benchmark is compiled (its metrics are final)."""

    @abc.abstractmethod
    def write(self, report: Report) -> None:
        """Write the finished (or interrupted) run's report to ``self.path``."""
