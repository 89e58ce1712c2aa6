"""The ``console`` writer: a live progress line while the run goes on, then the final tables.

Options: ``progress=False`` turns the live line off (``--disable-progress``); ``console`` passes
a ``rich.console.Console`` (tests record output with it). The live line is only drawn on a
terminal and at most ``refresh_per_second`` times a second, so it costs nothing measurable.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from guidellm.outputs.base import Progress, ReportWriter

if TYPE_CHECKING:
    from pathlib import Path

    from rich.console import Console, RenderableType
    from rich.live import Live

    from guidellm.benchmark.report import Benchmark, Report
    from guidellm.outputs.tables import Table

__all__ = ["ConsoleWriter", "progress_line"]


def _strategy_label(strategy: Mapping[str, Any]) -> str:
    from guidellm.benchmark.report import strategy_label

    return strategy_label(strategy)


def _duration(seconds: float) -> str:
    seconds = max(int(seconds), 0)
    return f"{seconds // 60}:{seconds % 60:02d}"


def progress_line(p: Progress, width: int = 20) -> str:
    """The live status as plain text (rich markup), e.g. for the terminal or a log."""
    parts = [f"[bold]#{p.benchmark_index}[/] {_strategy_label(p.strategy)}"]
    if p.fraction_done is not None:
        done = round(p.fraction_done * width)
        bar = "█" * done + "░" * (width - done)
        parts.append(f"{bar} {p.fraction_done * 100:3.0f}%")
    parts.append(f"{_duration(p.elapsed)} elapsed")
    if p.fraction_done and p.fraction_done > 0:
        parts.append(f"~{_duration(p.elapsed * (1 - p.fraction_done) / p.fraction_done)} left")
    parts.append(
        f"[green]{p.successful} ok[/] [red]{p.errored} err[/] {p.incomplete} inc "
        f"{p.in_flight} in flight"
    )
    parts.append(f"{p.requests_per_second:.2f} req/s")
    if p.ttft_median_ms is not None:
        parts.append(f"TTFT p50 {p.ttft_median_ms:.1f} ms")
    if p.itl_median_ms is not None:
        parts.append(f"ITL p50 {p.itl_median_ms:.2f} ms")
    if p.client_limited:
        parts.append("[bold yellow]client-limited[/]")
    return " · ".join(parts)


class ConsoleWriter(ReportWriter):
    """Live progress and final rich tables on the terminal."""

    name = "console"
    extensions: ClassVar[tuple[str, ...]] = ()

    def __init__(self, path: Path | None = None, **options: Any) -> None:
        super().__init__(path, **options)
        self.show_progress: bool = bool(options.get("progress", True))
        self._console: Console | None = options.get("console")
        self._live: Live | None = None

    @property
    def console(self) -> Console:
        if self._console is None:
            from rich.console import Console

            self._console = Console()
        return self._console

    # -- live --------------------------------------------------------------------------------

    def benchmark_started(self, index: int, strategy: Mapping[str, Any]) -> None:
        if not self.show_progress or not self.console.is_terminal:
            return
        from rich.live import Live
        from rich.text import Text

        self._stop_live()
        self._live = Live(
            Text.from_markup(f"[bold]#{index}[/] {_strategy_label(strategy)} starting..."),
            console=self.console,
            auto_refresh=False,
            transient=True,
        )
        self._live.start()

    def progress(self, snapshot: Progress) -> None:
        if self._live is None:
            return
        from rich.text import Text

        self._live.update(Text.from_markup(progress_line(snapshot)), refresh=True)

    def benchmark_finished(self, benchmark: Benchmark) -> None:
        self._stop_live()
        if not self.show_progress:
            return
        m = benchmark.metrics
        ttft = m.time_to_first_token_ms.successful.median
        itl = m.inter_token_latency_ms.successful.median
        line = (
            f"[bold]#{benchmark.id}[/] {benchmark.label} done: "
            f"{benchmark.requests.successful} ok, {benchmark.requests.errored} errored, "
            f"{m.requests_per_second.successful:.2f} req/s, "
            f"{m.output_tokens_per_second.successful:.1f} out tok/s"
        )
        if ttft is not None:
            line += f", TTFT p50 {ttft:.1f} ms"
        if itl is not None:
            line += f", ITL p50 {itl:.2f} ms"
        self.console.print(line, highlight=False)
        s = benchmark.sessions
        if s is not None:
            self.console.print(
                f"  sessions: {s.started} started, {s.completed} completed, {s.cut_short} cut "
                f"short ({s.ended_by_error} by an error), {s.turns_not_sent} turns not sent",
                highlight=False,
            )
        for warning in benchmark.warnings:
            self.console.print(f"  [yellow]warning:[/] {warning}", highlight=False)

    def _stop_live(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    # -- final -------------------------------------------------------------------------------

    def write(self, report: Report) -> None:
        """Print the final tables, the errors seen, every warning and, last, the run's
        capacity (the answer a reader looks for first, so it ends the output)."""
        from rich.text import Text

        from guidellm.outputs.capacity_text import capacity_line
        from guidellm.outputs.tables import errors_of, report_tables, warnings_of

        self._stop_live()
        console = self.console
        console.print()
        for table in report_tables(report):
            console.print(self._render(table))
            if table.note:
                console.print(Text(table.note, style="dim"))
        errors = errors_of(report)
        if errors:
            from rich import box
            from rich.table import Table as RichTable

            t = RichTable(title="Errors", title_justify="left", box=box.SIMPLE_HEAVY)
            for header in ("Benchmark", "Category", "Count", "Example"):
                t.add_column(header, overflow="fold")
            for label, cat, n, example in errors:
                t.add_row(label, cat, f"{n:,}", example[:160])
            console.print(t)
        for warning in warnings_of(report):
            console.print(f"[bold yellow]warning:[/] {warning}", highlight=False)
        line = capacity_line(report)
        if line is not None:
            console.print(Text(line, style="bold"), highlight=False)

    @staticmethod
    def _render(table: Table) -> RenderableType:
        from rich import box
        from rich.table import Table as RichTable

        t = RichTable(title=table.title, title_justify="left", box=box.SIMPLE_HEAVY, pad_edge=False)
        names = table.headers
        widths = [len(h) for h in names]
        if table.groups:
            # Two-line headers: the group ("TTFT ms") over the statistic ("p99").
            names, widths = [], []
            i = 0
            for label, span in table.groups:
                for header in table.headers[i : i + span]:
                    names.append(f"{label}\n{header}" if label else header)
                    widths.append(max(len(label), len(header)))
                i += span
        for i, header in enumerate(names):
            t.add_column(
                header, justify="left" if i == 0 else "right", no_wrap=i == 0, min_width=widths[i]
            )
        for row in table.rows:
            t.add_row(*row)
        return t
