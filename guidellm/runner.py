"""The composition root: a :class:`~guidellm.config.RunConfig` becomes a run.

Every component is chosen here, by name, from the PluginHost passed in (backend, dataset
sources, profile, report writers); every check a user can fail happens in :meth:`Runner.prepare`
before anything is sent; :meth:`Runner.run` starts the built-in mock server when there is no
target, validates the backend against the server, and runs the Benchmarker. The CLI only maps
flags onto a RunConfig; Python code calls :func:`guidellm.run`.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from guidellm.config import DEFAULT_DATA, OUTPUT_FORMATS, RunConfig
from guidellm.errors import UserError

if TYPE_CHECKING:
    from guidellm.backends.base import Backend
    from guidellm.benchmark.benchmarker import RunOutcome
    from guidellm.benchmark.report import Report
    from guidellm.data.loader import RequestLoader
    from guidellm.data.mix import MixClass, TrafficMix
    from guidellm.outputs.base import ReportWriter
    from guidellm.plugins import PluginHost
    from guidellm.scheduler.strategy import Profile
    from guidellm.telemetry.scraper import Telemetry

__all__ = ["DEFAULT_MAX_SECONDS", "DEFAULT_MOCK_MAX_SECONDS", "Runner", "run"]

#: Each benchmark's length when neither max_seconds nor max_requests bounds endless data.
DEFAULT_MAX_SECONDS = 30.0
#: A first run against the built-in mock server should finish in about two minutes.
DEFAULT_MOCK_MAX_SECONDS = 10.0
#: The built-in mock server serves this many requests at once and queues the rest, like a real
#: server's batch limit, so that a sweep against it finds a saturation point.
DEFAULT_MOCK_CONCURRENCY = 32
#: The default outputs: written in output_dir (the working folder) as benchmarks.<format>.
DEFAULT_OUTPUTS = ("json", "html")
#: The pre-load check's total deadline, whatever a backend's own timeouts say.
VALIDATE_DEADLINE_S = 90.0


def output_paths(config: RunConfig, now: float | None = None) -> list[Path]:
    """The report files of a run: paths as given; formats as ``output_dir/benchmarks.<fmt>``,
    with a time stamp when such a file exists already (never overwritten silently)."""
    items = config.outputs or list(DEFAULT_OUTPUTS)
    folder = Path(config.output_dir or ".")
    named = [item for item in items if item.lower() in OUTPUT_FORMATS]
    stem = "benchmarks"
    if any((folder / f"{stem}{OUTPUT_FORMATS[f.lower()]}").exists() for f in named):
        stem += time.strftime("-%Y%m%d-%H%M%S", time.localtime(now))
    paths = []
    for item in items:
        suffix = OUTPUT_FORMATS.get(item.lower())
        paths.append(folder / f"{stem}{suffix}" if suffix else Path(item))
    return paths


def validate_backend(backend: Backend, deadline: float = VALIDATE_DEADLINE_S) -> None:
    """startup(1), validate(), shutdown() in this process: bad targets fail before any load.

    One total deadline over all of it: a server that answers a byte at a time, or a
    third-party backend whose own waits are per read, cannot hold the run before it starts.
    """
    import asyncio

    async def check() -> None:
        await backend.startup(1)
        try:
            await asyncio.wait_for(backend.validate(), deadline)
        except asyncio.TimeoutError:
            from guidellm.redact import redact_text

            raise UserError(
                f"{redact_text(backend.target)} did not pass the pre-load check (health, model) "
                f"within {deadline:g} s; check that the server is up and answering"
            ) from None
        finally:
            await asyncio.wait_for(backend.shutdown(), 10)

    asyncio.run(check())


#: What each request format can carry besides text (default: chat completions, both).
_CARRIES = {
    "text_completions": (),
    "embeddings": (),
    "rerank": (),
    "anthropic_messages": ("images",),
    "transcriptions": ("audio",),
}


def _check_media(request_format: str | None, images: bool, audio: bool) -> None:
    """Data with images or audio needs a request format that sends them (nothing is dropped
    silently), and transcriptions need audio."""
    carries = _CARRIES.get(request_format or "", ("images", "audio"))
    for kind, present in (("images", images), ("audio", audio)):
        if present and kind not in carries:
            raise UserError(
                f"the data has {kind}, which request_format={request_format} cannot carry; "
                "use chat_completions (the default), which sends images and audio"
            )
    if request_format == "transcriptions" and not audio:
        raise UserError(
            "request_format=transcriptions sends each request's audio clip, and the data "
            "has none; add audio (e.g. --data prompt_tokens=8,audio=1,audio_seconds=5) "
            "or an audio column"
        )


def choose_backend(host: PluginHost, name: str | None, target: str) -> type[Backend]:
    """``name``'s backend, else the one whose schemes include the target's."""
    if name:
        return host.backends.get(name)
    scheme = target.split("://", 1)[0].lower() if "://" in target else ""
    for candidate in host.backends.names():
        cls = host.backends.get(candidate)
        if scheme and scheme in cls.schemes:
            return cls
    known = sorted({s for n in host.backends.names() for s in host.backends.get(n).schemes})
    raise UserError(
        f"--target {target!r}: no backend handles {scheme or 'a URL without a scheme'!r}; "
        f"use a URL starting with {', '.join(s + '://' for s in known)} or pass --backend NAME"
    )


@dataclass
class Runner:
    """One run of ``config`` with the components of ``host``; see the module docstring."""

    config: RunConfig
    host: PluginHost
    say: Callable[[str], None] = lambda _line: None
    command: str | None = None
    outputs: list[Path] = field(default_factory=list)
    journal_path: Path | None = None
    max_seconds: float | None = None
    _prepared: bool = False

    def prepare(self) -> None:
        """Every check a user can fail, before anything is sent (idempotent)."""
        if self._prepared:
            return
        from guidellm.benchmark.journal import default_journal_path
        from guidellm.outputs import check_writable, writers_for

        c = self.config
        profile_args = dict(c.profile_args)
        if c.max_concurrency is not None:
            profile_args.setdefault("max_concurrency", c.max_concurrency)
        self.profile: Profile = self.host.profiles.get(c.profile)(self._class_rate(), profile_args)
        has_slo = bool(c.slo) or any(cls.slo for cls in c.classes)
        if getattr(self.profile, "needs_slo", False) and not has_slo:
            raise UserError(
                f"--profile {c.profile} searches for the highest rate meeting SLOs: give them, "
                "e.g. --slo ttft_ms=300,itl_ms=50"
            )
        self.outputs = output_paths(c)
        self.writers: list[ReportWriter] = writers_for(
            [str(p) for p in self.outputs],
            self.host,
            console=c.console,
            options={"export_chunks": c.export_chunks},
            progress=c.progress,
        )
        if c.journal:
            self.journal_path = Path(c.journal)
        else:  # next to the first report (there is always one: json and html by default)
            self.journal_path = default_journal_path([str(p) for p in self.outputs[:1]])
        check_writable(self.journal_path, "--journal")
        if self.journal_path.resolve() in {p.resolve() for p in self.outputs}:
            raise UserError(
                f"--journal {str(self.journal_path)!r} is also an --output, and each would "
                "overwrite the other; give the journal another path"
            )
        for writer in self.writers:  # the per-request export reads every result from it
            writer.journal = self.journal_path
        planned = self.profile.planned() or []
        timed_by_data = any(s.timed_by_data for s in planned)
        if c.classes and c.data:
            raise UserError(
                "--data and classes are both given, and each class has its own data; drop "
                "--data (or put it in a class)"
            )
        if timed_by_data and c.data_args.get("weights") is not None:
            raise UserError(
                f"--profile {c.profile} replays one trace's times, and --data-args weights "
                "mixes sources that repeat; replay one trace without weights"
            )
        if c.classes and timed_by_data:
            raise UserError(
                f"--profile {c.profile} replays one trace's times, and classes mix several "
                "sources; replay one trace without classes, or use a rate profile (poisson)"
            )
        self.mix = self._mix(timed_by_data)
        self.loader: RequestLoader = self.mix.classes[0].loader
        self.requests: RequestLoader | TrafficMix = self.mix if self._mixed() else self.loader
        if timed_by_data:
            self._check_timestamps()
        # A schedule that ends by itself (stages) or a trace needs no default time limit.
        ends = bool(planned) and all(s.duration is not None for s in planned)
        self.max_seconds = c.max_seconds
        if (
            c.max_seconds is None
            and c.max_requests is None
            and c.max_sessions is None
            and self.requests.size is None
            and not (ends or timed_by_data)
        ):
            self.max_seconds = DEFAULT_MAX_SECONDS if c.target else DEFAULT_MOCK_MAX_SECONDS
            self.say(
                f"no max_seconds or max_requests and the data is endless: each benchmark runs "
                f"{self.max_seconds:g} s"
            )
        for cls in self.mix.classes:
            fmt = self._args_of(cls).get("request_format")
            try:
                _check_media(fmt, cls.loader.has_images, cls.loader.has_audio)
            except UserError as exc:
                if cls.name is None:
                    raise
                raise UserError(f"class {cls.name!r}: {exc}") from None
        if c.executor.get("kind") == "ray":  # Ray installed, options sound: before any load
            from guidellm.scheduler.ray_pool import check_ray_options

            check_ray_options({k: v for k, v in c.executor.items() if k != "kind"})
        if c.target:  # built now, so that bad options fail before anything is sent
            self.backend: Backend = self._build_backend(c.target)
        self._prepared = True

    def _class_rate(self) -> list[float] | None:
        """The profile's rate: ``--rate``, or the sum of the classes' own rates."""
        c = self.config
        rates = [cls.rate for cls in c.classes if cls.rate is not None]
        if not rates:
            return c.rate
        if c.profile not in ("constant", "poisson", "gamma"):
            raise UserError(
                f"the classes have their own rates (requests/s), which --profile {c.profile} "
                "does not take; use --profile poisson (or constant, gamma), or give the "
                "classes weights"
            )
        if c.rate:
            raise UserError(
                "the classes have their own rates, which add up to the benchmark's rate; "
                "drop --rate (or give the classes weights instead)"
            )
        return [sum(rates)]

    def _mixed(self) -> bool:
        """Whether requests are tagged (classes, or a model mix)."""
        return bool(self.config.classes) or len(self.mix.classes[0].models) > 1

    def _mix(self, timed: bool) -> TrafficMix:
        """The run's classes (one unnamed class without ``classes``) with their loaders."""
        from guidellm.data.loader import RequestLoader
        from guidellm.data.mix import MixClass, TrafficMix, parse_model_mix

        c = self.config

        def models(text: str | None) -> list[tuple[str | None, float]]:
            mix = parse_model_mix(text)
            return list(mix) if mix else [(text, 1.0)]

        if not c.classes:
            loader = RequestLoader(
                c.data or [DEFAULT_DATA],
                c.data_args,
                processor=c.processor,
                random_seed=c.random_seed,
                host=self.host,
                timed=timed,
            )
            only = MixClass(
                None,
                loader,
                models=models(c.model),
                request_format=c.request_format,
                slo=dict(c.slo),
            )
            return TrafficMix([only], c.random_seed)
        classes: list[MixClass] = []
        for k, cls in enumerate(c.classes):
            try:
                loader = RequestLoader(
                    cls.data,
                    {**c.data_args, **cls.data_args},
                    processor=c.processor,
                    random_seed=c.random_seed + k,
                    host=self.host,
                    tokenizer=classes[0].loader.tokenizer if classes else None,
                )
                chosen = models(cls.model if cls.model is not None else c.model)
            except UserError as exc:
                raise UserError(f"class {cls.name!r}: {exc}") from None
            classes.append(
                MixClass(
                    cls.name,
                    loader,
                    weight=cls.rate or cls.weight or 1.0,
                    models=chosen,
                    request_format=None,  # filled from the route's backend after its check
                    slo=dict(cls.slo or c.slo),
                    rate=cls.rate,
                )
            )
        return TrafficMix(classes, c.random_seed)

    def _args_of(self, cls: MixClass) -> dict[str, Any]:
        """A class's backend options. The request format, most specific first: the class's
        ``backend_args``, its ``request_format``, the run's ``backend_args``, the run's
        ``--request-format``. A class's ``headers`` and ``extra_body`` add to the run's."""
        c = self.config
        named = next((t for t in c.classes if t.name == cls.name), None)
        own = dict(named.backend_args) if named else {}
        if "model" in own:
            raise UserError(
                f"class {cls.name!r}: backend_args cannot hold model; give the class's own "
                "model (model: NAME, or a mix NAME:0.5,OTHER:0.5)"
            )
        args = dict(c.backend_args)
        for key, value in own.items():
            base = args.get(key)
            if isinstance(base, dict) and isinstance(value, dict):
                args[key] = {**base, **value}
            else:
                args[key] = value
        if "request_format" not in own:
            fmt = (named.request_format if named else None) or args.get("request_format")
            fmt = fmt or c.request_format
            if fmt:
                args["request_format"] = fmt
        return args

    def _build_backend(self, target: str) -> Backend:
        """The backend for ``target``: one, or a route per class and model of a mix (each a
        whole backend with that model and that class's options)."""
        from guidellm.backends.routed import RoutedBackend

        c = self.config
        backend_cls = choose_backend(self.host, c.backend, target)
        if not self._mixed():
            backend = backend_cls(target, c.model, **self._args_of(self.mix.classes[0]))
            backend.remember_secrets()
            return backend
        routes: dict[tuple[str | None, str | None], Backend] = {}
        for cls in self.mix.classes:
            args = self._args_of(cls)
            for model, _ in cls.models:
                try:
                    routes[cls.name, model] = backend_cls(target, model, **args)
                except UserError as exc:
                    if cls.name is None:
                        raise
                    raise UserError(f"class {cls.name!r}: {exc}") from None
        routed = RoutedBackend(routes)
        routed.remember_secrets()
        return routed

    def _name_discovered_models(self) -> None:
        """After validation: a route without a model (the server's default) now knows it;
        its requests are tagged with that name, so the per-model rows name it."""
        from guidellm.backends.routed import RoutedBackend

        backend = self.backend
        if not isinstance(backend, RoutedBackend):
            return
        found: dict[str | None, str] = {}
        for key in [k for k in backend.routes if k[1] is None]:
            model = backend.routes[key].model
            if model is not None and (key[0], model) not in backend.routes:
                backend.routes[key[0], model] = backend.routes.pop(key)
                found[key[0]] = model
        for cls in self.mix.classes:
            if cls.name in found:
                cls.models = [(found[cls.name] if m is None else m, w) for m, w in cls.models]
            if cls.request_format is None:  # the backend's default, for the report's rows
                route = backend.routes[cls.name, cls.models[0][0]]
                cls.request_format = route.describe().get("request_format")

    def _one_model(self) -> str | None:
        """The one model the server's per-model series are read for; ``None`` when a mix
        names several (the server's totals over its models are read)."""
        from guidellm.backends.routed import RoutedBackend

        backend = self.backend
        if isinstance(backend, RoutedBackend):
            models = {route.model for route in backend.routes.values()}
            return models.pop() if len(models) == 1 else None
        return getattr(backend, "model", None)

    def _check_timestamps(self) -> None:
        """A profile timed by the data (``replay``) needs data that carries send times."""
        first = next(iter(self.loader), None)
        if first is None or first.timestamp is None:
            shown = " ".join(self.config.data or [DEFAULT_DATA])
            raise UserError(
                f"--profile {self.config.profile} sends each request at its time in a trace, "
                f"and --data {shown} has no timestamp column; use a trace (docs/data.md, "
                "traces) or name the column: --data-args "
                'column_mapping=\'{"timestamp": "COLUMN"}\''
            )

    def run(self) -> RunOutcome:
        """Prepare, reach the server, run every benchmark, write the outputs."""
        self.prepare()
        mock = None
        try:
            if not self.config.target:
                mock, target = self._start_mock()
                self.backend = self._build_backend(target)
            validate_backend(self.backend)
            self._name_discovered_models()
            return self._benchmark(mock is not None)
        finally:
            if mock is not None:
                mock.stop()

    def _start_mock(self) -> tuple[Any, str]:
        from guidellm.mock_server import MockServer, MockServerConfig

        # A mix's models are all served (the first is the default for classes naming none).
        named = [m for cls in self.mix.classes for m, _ in cls.models if m is not None]
        models = list(dict.fromkeys(named))
        mock = MockServer(MockServerConfig(max_concurrency=DEFAULT_MOCK_CONCURRENCY, models=models))
        # The mock server must outlive a terminal's Ctrl-C (sent to the whole process group)
        # until the in-flight requests are cancelled: its process starts with SIGINT blocked
        # (the mask survives exec) and is stopped by PID at the end.
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            target = mock.start_process()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        self.say(
            f"no target given: benchmarking the built-in mock server at {target} "
            f"(TTFT 50 ms, ITL 10 ms, {DEFAULT_MOCK_CONCURRENCY} requests at once)"
        )
        return mock, target

    def _benchmark(self, mock: bool) -> RunOutcome:
        from guidellm.benchmark.benchmarker import Benchmarker, RunSettings
        from guidellm.benchmark.journal import Journal

        c = self.config
        settings = RunSettings(
            max_seconds=self.max_seconds,
            max_requests=c.max_requests,
            max_sessions=c.max_sessions,
            max_errors=c.max_errors,
            max_error_rate=c.max_error_rate,
            warmup=c.warmup,
            cooldown=c.cooldown,
            slo=c.slo or None,
            random_seed=c.random_seed,
            output_sampling=c.output_sampling,
            workers=c.workers,
            time_slice=c.time_slice,
            stop_on_saturation=c.stop_on_saturation,
            classes=self.mix.describe()["classes"] if self._mixed() else None,
            executor=dict(c.executor),
            on_worker_loss=c.on_worker_loss,
        )
        assert self.journal_path is not None
        journal = Journal(self.journal_path)
        self.say(f"journal: {self.journal_path}")
        telemetry, scraped = self._telemetry()
        resolved = {
            "mock_server": mock,
            "target": None if mock else self.backend.describe().get("target"),
            "backend": self.backend.describe(),
            "data": self.requests.describe(),
            "profile": self.profile.describe(),
            "max_seconds": self.max_seconds,
            "outputs": [str(p) for p in self.outputs],
            "server_metrics": scraped,
        }
        benchmarker = Benchmarker(
            backend=self.backend,
            requests=self.requests,
            profile=self.profile,
            settings=settings,
            writers=self.writers,
            journal=journal,
            config=c.redacted(),
            resolved=resolved,
            labels=dict(c.labels),
            command=self.command,
            tokenizer=self.loader.tokenizer,
            on_message=self.say,
            telemetry=telemetry,
        )
        outcome = benchmarker.run()
        succeeded = sum(b.requests.successful for b in outcome.report.benchmarks)
        if outcome.exit_code == 0 and succeeded == 0:
            self.say("no request succeeded: see the errors above and in the report")
            outcome.exit_code = 1
        return outcome

    def _telemetry(self) -> tuple[Telemetry | None, dict[str, Any]]:
        """The scraper of the server's metrics this run uses (``None``: none) and what the
        report says about it. ``auto`` asks the target's ``/metrics`` once, before the load."""
        from guidellm.telemetry.endpoints import (
            metrics_url_for,
            parse_setting,
            probe,
            remember,
            shown_url,
        )
        from guidellm.telemetry.scraper import Telemetry

        c = self.config
        setting = parse_setting(c.server_metrics)
        info: dict[str, Any] = {"setting": "auto" if setting == "auto" else "off"}
        if setting == "off":
            return None, info
        if setting == "auto":
            url = metrics_url_for(self.backend.target)
            why = "a gRPC target: pass --server-metrics URL" if url is None else probe(url)
            if url is None or why is not None:
                info["note"] = f"not scraped: {why}"
                return None, info
            urls = [url]
        else:
            urls = list(setting)
            info["setting"] = "urls"
        for url in urls:
            remember(url)
        shown = [shown_url(url) for url in urls]
        info.update({"endpoints": shown, "interval_s": c.server_metrics_interval})
        self.say(
            f"server metrics: scraping {', '.join(shown)} every {c.server_metrics_interval:g} s"
        )
        # A plugin's catalog is tried before the built-ins: it may know a server better.
        registry = self.host.server_metrics
        builtin = "guidellm.telemetry.catalog"
        names = sorted(registry.names(), key=lambda n: registry.owner(n) == builtin)
        catalogs = [registry.get(n) for n in names]
        telemetry = Telemetry(
            urls,
            catalogs,
            interval=c.server_metrics_interval,
            shown=shown,
            model=self._one_model(),
        )
        return telemetry, info


def run(
    config: RunConfig | dict[str, Any] | None = None,
    *,
    host: PluginHost | None = None,
    say: Callable[[str], None] | None = None,
) -> Report:
    """Run ``config`` (a RunConfig or its mapping; default: everything default) and return
    the report, also written to the configured outputs. The Python API of ``guidellm run``."""
    if not isinstance(config, RunConfig):
        config = RunConfig.model_validate(config or {})
    if host is None:
        from guidellm.plugins import get_plugin_host

        host = get_plugin_host()
    runner = Runner(config, host, say=say or (lambda _line: None))
    return runner.run().report
