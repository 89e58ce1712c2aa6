"""The Benchmarker: runs a profile, one Scheduler run per strategy, on one worker pool.

It starts the workers once (forked before its event loop runs; ready before the first
intended send), feeds every result to a fresh BenchmarkAggregator and to the journal, keeps the
report writers' live display going, and on Ctrl-C / SIGTERM stops dispatching, cancels what is
in flight, and still writes every requested output (exit 130 / 143; a second Ctrl-C exits at
once).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import math
import os
import random
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from guidellm.benchmark.run_settings import RunSettings
from guidellm.interrupts import note_interrupt
from guidellm.scheduler.executor import WorkerPool, default_worker_count, describe_pool, make_pool
from guidellm.scheduler.saturation import stops_on_saturation
from guidellm.scheduler.scheduler import Limits, Scheduler, ScheduleSummary
from guidellm.scheduler.strategies import DEFAULT_THROUGHPUT_CONCURRENCY
from guidellm.scheduler.strategy import (
    BenchmarkOutcome,
    Profile,
)

if TYPE_CHECKING:
    from guidellm.backends.base import Backend
    from guidellm.benchmark.journal import Journal
    from guidellm.benchmark.report import Benchmark, Report
    from guidellm.outputs.base import ReportWriter
    from guidellm.request import GenerationRequest
    from guidellm.telemetry.scraper import Telemetry
    from guidellm.telemetry.summary import ClientTotals

__all__ = ["Benchmarker", "RunOutcome", "RunSettings"]

_PROGRESS_S = 0.25
#: Requests in flight (all workers) an open-loop run allows when no max_concurrency is given.
DEFAULT_OPEN_LOOP_CONCURRENCY = 4096
_EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}


@dataclass
class RunOutcome:
    """What a run produced: the report (written already), the exit code, why it stopped."""

    report: Report
    exit_code: int
    interrupted: bool
    summaries: list[ScheduleSummary] = field(default_factory=list)
    #: The outputs (path, or writer name for console writers) that could not be written.
    failed_outputs: list[str] = field(default_factory=list)


def _output_name(writer: ReportWriter) -> str:
    return str(writer.path) if writer.path is not None else f"'{writer.name}'"


def _describe_error(exc: Exception) -> str:
    """One line for a writer's failure (an OSError's reason, else the exception)."""
    from guidellm.errors import UserError
    from guidellm.redact import redact_text

    if isinstance(exc, OSError) and exc.strerror:
        text = exc.strerror
    elif isinstance(exc, UserError):
        text = str(exc)
    else:
        text = f"{type(exc).__name__}: {exc}"
    return redact_text(" ".join(text.split()))


def _planned_concurrency(profile: Profile) -> int | None:
    """The most requests a profile will ever have in flight, when it is known up front."""
    planned = profile.planned()
    if planned:
        caps = [s.streams or s.max_concurrency for s in planned]
        if all(c is not None for c in caps):
            return max(int(c) for c in caps if c is not None)
    return None


class Benchmarker:
    """Runs ``profile`` against ``backend`` with requests from ``requests``; see module doc."""

    def __init__(
        self,
        *,
        backend: Backend,
        requests: Iterable[GenerationRequest],
        profile: Profile,
        settings: RunSettings,
        writers: Sequence[ReportWriter] = (),
        journal: Journal | None = None,
        config: Mapping[str, Any] | None = None,
        resolved: Mapping[str, Any] | None = None,
        labels: Mapping[str, str] | None = None,
        command: str | None = None,
        tokenizer: Any = None,
        on_message: Callable[[str], None] | None = None,
        telemetry: Telemetry | None = None,
    ) -> None:
        self.backend = backend
        self.requests = requests
        self.profile = profile
        self.settings = settings
        self.writers = list(writers)
        self.journal = journal
        self.config = dict(config or {})
        self.resolved = dict(resolved or {})
        self.labels = dict(labels or {})
        self.command = command
        self.tokenizer = tokenizer
        self.say = on_message or (lambda _line: None)
        self.telemetry = telemetry
        #: Per benchmark: its perf-clock span and the client's totals, for the server view.
        self._spans: list[tuple[float, float, float, ClientTotals]] = []
        self.benchmarks: list[Benchmark] = []
        self.summaries: list[ScheduleSummary] = []
        self.exit_code = 0
        self._signals = 0
        self._dropped = 0
        self._data_error: str | None = None
        self._scheduler: Scheduler | None = None
        self._pool: WorkerPool | None = None
        planned = _planned_concurrency(profile)
        workers = settings.workers or default_worker_count()
        if planned is not None:
            workers = max(1, min(workers, planned))
        # Open loop (or a profile that decides as it goes): no hidden cap on requests in
        # flight beyond a generous bound; a cap the user sets wins.
        cap = planned or int(
            profile.options.get("max_concurrency")
            or max(DEFAULT_THROUGHPUT_CONCURRENCY, DEFAULT_OPEN_LOOP_CONCURRENCY)
        )
        self.workers = workers
        # Carrying on after a loss: each worker has room for its share of one lost worker's.
        spare = 1 if settings.on_worker_loss == "continue" and workers > 1 else 0
        self.worker_concurrency = max(1, math.ceil(cap / (workers - spare)))

    # -- run ---------------------------------------------------------------------------------

    def run(self) -> RunOutcome:
        """Run every benchmark of the profile and write the outputs; blocking."""
        import uvloop

        pool = make_pool(
            self.backend,
            self.settings.executor,
            self.workers,
            self.worker_concurrency,
            _planned_concurrency(self.profile),
        )
        self._pool = pool
        pool.start()
        previous = {sig: signal.getsignal(sig) for sig in _EXIT_CODES}
        if previous[signal.SIGINT] is None:  # installed outside Python: Python's default
            previous[signal.SIGINT] = signal.default_int_handler
        if previous[signal.SIGTERM] is None:
            previous[signal.SIGTERM] = signal.SIG_DFL
        try:
            uvloop.run(self._main(pool))
        except KeyboardInterrupt:  # Ctrl-C before the loop's own handler was installed
            self.exit_code = 130
        finally:
            pool.kill()
        self._attach_server_view()
        # Writing the outputs (milliseconds): a first Ctrl-C or SIGTERM lets them finish and
        # sets the exit code, a second one exits at once (no traceback).
        for sig in _EXIT_CODES:
            signal.signal(sig, self._interrupt_after_loop)
        failed: list[str] = []
        try:
            report = self._report()
            if self.journal is not None:  # the per-request export reads it back now
                with contextlib.suppress(OSError):  # close() says it, after the outputs
                    self.journal.flush()
            # One output failing (a full disk, a plugin writer's bug) must not cost the
            # others, nor leave the journal unclosed: each is tried, each failure is one line.
            for writer in self.writers:
                try:
                    writer.write(report)
                except Exception as exc:
                    failed.append(_output_name(writer))
                    sys.stderr.write(
                        f"guidellm: could not write output {_output_name(writer)}: "
                        f"{_describe_error(exc)}\n"
                    )
            if failed:
                self.exit_code = self.exit_code or 1
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            if self.journal is not None:
                with contextlib.suppress(Exception):
                    self.journal.run_finished(self.exit_code)
                self.journal.close()
        interrupted = self.exit_code in _EXIT_CODES.values()
        return RunOutcome(report, self.exit_code, interrupted, self.summaries, failed)

    def _attach_server_view(self) -> None:
        """Stop the scrapes and give each benchmark the server's view of it."""
        telemetry = self.telemetry
        if telemetry is None:
            return
        from guidellm.telemetry.summary import summarize_run

        try:
            telemetry.close()
        except Exception as exc:  # the server's view must never cost the client's numbers
            sys.stderr.write(f"guidellm: server metrics not summarised: {_describe_error(exc)}\n")
            return
        views = summarize_run(telemetry, self._spans)
        for benchmark, (server, warnings, error) in zip(self.benchmarks, views, strict=False):
            if error is not None:
                sys.stderr.write(
                    f"guidellm: server metrics of benchmark {benchmark.id} not summarised: "
                    f"{error}\n"
                )
                continue
            benchmark.server = server
            benchmark.warnings.extend(warnings)
            if self.journal is not None:
                self.journal.server_metrics(benchmark.id, server, warnings)

    def _interrupt_after_loop(self, signum: int, frame: Any) -> None:
        note_interrupt()
        self._signals += 1
        if self._signals > 1:
            self._exit_now(signum, frame)
        self.exit_code = self.exit_code or _EXIT_CODES.get(signal.Signals(signum), 130)

    def _exit_now(self, signum: int, _frame: Any) -> None:
        if self.journal is not None:
            with contextlib.suppress(Exception):
                self.journal.flush()
        sys.stderr.write("\nguidellm: interrupted again while writing the outputs, exiting now\n")
        os._exit(_EXIT_CODES.get(signal.Signals(signum), 130))

    def _report(self) -> Report:
        from guidellm.benchmark.report import Report

        return Report.create(
            self.config,
            list(self.benchmarks),
            self.command,
            resolved={**self.resolved, **describe_pool(self._pool)},
            labels=self.labels,
        )

    async def _main(self, pool: WorkerPool) -> None:
        loop = asyncio.get_running_loop()
        for sig in _EXIT_CODES:
            loop.add_signal_handler(sig, self._on_signal, sig)
        scheduler = Scheduler(pool)
        self._scheduler = scheduler
        # numpy and the pydantic report models take most of a second to import: do it in a
        # thread (the workers are forked already) while the workers start and the first
        # requests go out, so that neither the first request nor the event loop waits for it.
        self._heavy = _import_heavy_in_thread(loop)
        on_message: Callable[[Any], None] = scheduler.on_message
        if self.telemetry is not None:
            on_message = self._start_telemetry(self.telemetry, scheduler)
        try:
            await pool.connect(on_message)
            await self._benchmarks(scheduler)
        finally:
            await pool.close()
            # From the loop's handler straight to one that keeps its rules (a first Ctrl-C
            # stops and the outputs are still written, a second exits at once): a Ctrl-C
            # landing in between, while the loop is torn down, would otherwise raise
            # KeyboardInterrupt anywhere.
            blocked = signal.pthread_sigmask(signal.SIG_BLOCK, set(_EXIT_CODES))
            try:
                for sig in _EXIT_CODES:
                    loop.remove_signal_handler(sig)
                    signal.signal(sig, self._interrupt_after_loop)
            finally:
                signal.pthread_sigmask(signal.SIG_SETMASK, blocked)

    def _start_telemetry(self, telemetry: Telemetry, scheduler: Scheduler) -> Callable[[Any], None]:
        """Start scraping (after the workers forked: no thread crosses a fork); the returned
        message handler also feeds the client's CPU and loop lag to the telemetry."""
        from guidellm.telemetry.client import ClientProbe

        probe = ClientProbe()
        telemetry.client_probe = probe
        telemetry.start()
        return probe.wrap(scheduler.on_message)

    async def _settle_scrapes(self, since: float) -> None:
        """Between benchmarks (never during one): give the edge scrape a moment, so that the
        server's counters split exactly between benchmarks; a slow endpoint is not waited on
        for longer than half a second."""
        if self.telemetry is not None:
            await asyncio.to_thread(self.telemetry.wait_scraped_after, since, 0.5)

    async def _benchmarks(self, scheduler: Scheduler) -> None:
        settings = self.settings
        outcomes: list[BenchmarkOutcome] = []
        rng = random.Random(settings.random_seed)
        limits = Limits(
            max_seconds=settings.max_seconds,
            max_requests=settings.max_requests,
            max_errors=settings.max_errors,
            max_error_rate=settings.max_error_rate,
            max_sessions=settings.max_sessions,
            stop_on_saturation=stops_on_saturation(settings.stop_on_saturation, self.profile),
            on_worker_loss=settings.on_worker_loss,
        )
        agg_settings = settings.aggregator_settings()
        loop = asyncio.get_running_loop()
        strategy = self.profile.next_strategy(outcomes)
        await self._settle_scrapes(time.perf_counter() - 3600.0)  # any first scrape
        while strategy is not None and not self.exit_code:
            index = len(outcomes)
            if index:
                await self._settle_scrapes(self._spans[-1][2] if self._spans else 0.0)
            described = strategy.describe()
            sink = _Sink(self.journal, index)
            run = loop.create_task(
                scheduler.run(
                    index,
                    strategy,
                    self._rows(),
                    on_result=sink,
                    limits=limits,
                    rng=random.Random(rng.random()),
                    keep_text=settings.output_sampling,
                )
            )
            # The schedule starts first; the first benchmark then waits (without blocking
            # the loop) for the aggregator's imports: the first request goes out well
            # before they finish (benchmarks/README.md: first request after launch).
            await self._heavy
            if index == 0:
                self._run_started()
            from guidellm.benchmark.aggregator import BenchmarkAggregator

            agg = BenchmarkAggregator(
                index=index,
                strategy=described,
                tokenizer=self.tokenizer,
                origin=scheduler.started_at(),
                **agg_settings,
            )
            if self.journal is not None:
                self.journal.benchmark_started(index, described, agg_settings)
            sink.attach(agg)
            for writer in self.writers:
                writer.benchmark_started(index, described)
            ticker = loop.create_task(self._tick(agg, scheduler))
            try:
                summary = await run
            finally:
                ticker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await ticker
            drained = time.perf_counter()  # every answer is in: the closing scrape may go
            if self.telemetry is not None:
                self.telemetry.scrape_now()
            self.summaries.append(summary)
            outcomes.append(
                BenchmarkOutcome(
                    strategy=strategy,
                    requests_per_second=summary.successful / summary.duration,
                    successful=summary.successful,
                    errored=summary.errored,
                    duration=summary.duration,
                    items_per_second=summary.completed_items / summary.duration,
                )
            )
            failed = summary.failure is not None or self._data_error is not None
            if summary.failure is not None:
                self.say(f"stopping: worker failed: {summary.failure}")
                self.exit_code = self.exit_code or 1
            elif self._data_error is not None:  # a bad row met mid-run: the user's to fix
                sys.stderr.write(f"guidellm: error: {self._data_error}\n")
                self.exit_code = self.exit_code or 2
            client = summary.client()
            client["stop_reason"] = summary.stop_reason
            client.update(getattr(scheduler.pool, "clock_report", dict)())
            # A profile that judges benchmarks (an SLO search) gets each one compiled;
            # otherwise what comes next is known from the schedule alone, and after the last
            # benchmark the workers are told to quit now and exit while this one compiles.
            compiled = None
            if getattr(self.profile, "needs_benchmarks", False):
                compiled = agg.compile(
                    start_time=summary.start_time, end_time=summary.end_time, client=client
                )
                outcomes[-1] = dataclasses.replace(outcomes[-1], benchmark=compiled)
            strategy = None if failed or self.exit_code else self.profile.next_strategy(outcomes)
            if strategy is None:
                scheduler.pool.quit()
            benchmark = compiled or agg.compile(
                start_time=summary.start_time, end_time=summary.end_time, client=client
            )
            if self.telemetry is not None:
                from guidellm.telemetry.summary import ClientTotals

                streamed = bool(self.backend.describe().get("stream", True))
                totals = ClientTotals.of(agg.running_tally, benchmark, streamed=streamed)
                self._spans.append((summary.start_time, summary.end_time, drained, totals))
            dropped = int(getattr(self.requests, "dropped", 0) or 0)
            if dropped > self._dropped:
                first = getattr(self.requests, "first_dropped", None)
                benchmark.warnings.append(
                    f"{dropped - self._dropped} data rows skipped: no usable prompt or "
                    f"messages, or a conversation out of order with bad_conversations=skip "
                    f"(first: {first}); --data-args strict=true makes this an error"
                )
                self._dropped = dropped
            if summary.over_saturation is not None:
                _mark_over_saturated(benchmark, summary.over_saturation)
            if summary.lost_workers and summary.failure is None:  # it went on without them
                for worker, why in sorted(summary.lost_workers.items()):
                    line = f"worker {worker} lost mid-benchmark, the others carried on: {why}"
                    benchmark.warnings.append(line)
                    self.say(line)
                if summary.unplaced:
                    benchmark.warnings.append(
                        f"{summary.unplaced} requests a lost worker held were not sent: every "
                        "other worker had finished"
                    )
            self.benchmarks.append(benchmark)
            if self.journal is not None:
                self.journal.benchmark_finished(
                    index, summary.start_time, summary.end_time, benchmark
                )
            for writer in self.writers:
                writer.benchmark_finished(benchmark)

    def _rows(self) -> Iterator[GenerationRequest]:
        """The data for one benchmark; a bad row read mid-run (streamed data is checked as it
        is read) ends the data there, and the run stops with that row's one-line error."""
        from guidellm.errors import UserError

        try:
            yield from self.requests
        except UserError as exc:
            self._data_error = str(exc)

    def _run_started(self) -> None:
        from guidellm.benchmark.report import ReportMetadata

        if self.journal is not None:
            metadata = ReportMetadata.current(self.command).model_dump(mode="json")
            self.journal.run_started(metadata, self.config, self.resolved, self.labels)
        for writer in self.writers:
            writer.run_started(self.config)

    async def _tick(self, agg: Any, scheduler: Scheduler) -> None:
        """Live progress a few times a second, and the journal's once-a-second flush."""
        clock = time.perf_counter
        while True:
            await asyncio.sleep(_PROGRESS_S)
            in_flight, _ = scheduler.progress_counts()
            snapshot = agg.progress(clock(), in_flight, started=scheduler.started_at())
            if scheduler.live_limited():  # the one live verdict (scheduler/judgement.py)
                snapshot = dataclasses.replace(snapshot, client_limited=True)
            for writer in self.writers:
                writer.progress(snapshot)
            if self.journal is not None:
                self.journal.maybe_flush()

    # -- signals -----------------------------------------------------------------------------

    def _on_signal(self, sig: signal.Signals) -> None:
        note_interrupt()
        self._signals += 1
        code = _EXIT_CODES.get(sig, 130)
        if self._signals > 1:
            # Second Ctrl-C: out now, without outputs (the journal has what was flushed).
            if self._pool is not None:
                self._pool.kill()
            if self.journal is not None:
                with contextlib.suppress(Exception):
                    self.journal.flush()
            sys.stderr.write("\nguidellm: interrupted twice, exiting now\n")
            os._exit(code)
        self.exit_code = code
        name = "Ctrl-C" if sig == signal.SIGINT else "SIGTERM"
        self.say(
            f"{name}: stopping, writing what was measured (press Ctrl-C again to exit at once)"
        )
        if self._scheduler is not None:
            self._scheduler.stop("interrupted")


def _mark_over_saturated(benchmark: Benchmark, evidence: dict[str, Any]) -> None:
    """The over-saturation test's evidence, and the warning that goes with it."""
    from guidellm.benchmark.report import OverSaturation

    sat = OverSaturation.model_validate(evidence)
    benchmark.over_saturation = sat
    benchmark.warnings.append(
        f"over-saturated: stopped at {sat.at_s:.0f} s, requests in flight grew from "
        f"{sat.in_flight_start:.0f} to {sat.in_flight_end:.0f} and TTFT by "
        f"{sat.ttft_slope_ms_per_s:.0f} ms/s; its numbers describe an overloaded server's "
        "queue, not the server"
    )


def _import_heavy_in_thread(loop: asyncio.AbstractEventLoop) -> asyncio.Future[None]:
    """Import numpy and the report models in a low-priority thread; a future says when done.

    Linux lets one thread lower its own priority: at nice 19 the import yields the cores to
    the workers (and a local server) instead of delaying the first sends.
    """
    done: asyncio.Future[None] = loop.create_future()

    def finish(error: BaseException | None) -> None:
        if not done.done():
            if error is None:
                done.set_result(None)
            else:
                done.set_exception(error)

    def work() -> None:
        with contextlib.suppress(OSError, AttributeError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        error: BaseException | None = None
        try:
            import guidellm.benchmark.aggregator
            import guidellm.benchmark.report  # noqa: F401
        except BaseException as exc:  # re-raised in the loop by whoever awaits
            error = exc
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits
            loop.call_soon_threadsafe(finish, error)

    threading.Thread(target=work, name="guidellm-imports", daemon=True).start()
    return done


class _Sink:
    """Where results go: buffered until the aggregator exists, then aggregator + journal."""

    def __init__(self, journal: Journal | None, index: int) -> None:
        self.journal = journal
        self.index = index
        self.early: list[Any] = []
        self.add: Callable[[Any], None] = self.early.append

    def attach(self, agg: Any) -> None:
        add = agg.add
        journal = self.journal
        if journal is None:
            sink = add
        else:
            record = journal.result
            index = self.index

            def sink(result: Any) -> None:
                add(result)
                record(index, result)

        for result in self.early:
            sink(result)
        self.early = []
        self.add = sink

    def __call__(self, result: Any) -> None:
        self.add(result)
