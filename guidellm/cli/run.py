"""``guidellm run`` (alias ``guidellm benchmark run``): benchmark a server, write reports.

Every check a user can fail happens before the first request: options, data, backend
(``startup(1)``, ``validate()``, ``shutdown()`` in this process), outputs. Settings come from
flags, then ``GUIDELLM_*`` environment variables, then a ``--scenario`` file; flags win.
"""

from __future__ import annotations

import math
import shlex
import signal
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from guidellm.errors import UserError

if TYPE_CHECKING:
    from guidellm.backends.base import Backend
    from guidellm.plugins import PluginHost

__all__ = ["DEFAULT_DATA", "DEFAULT_MAX_SECONDS", "benchmark_group", "run"]

#: What ``--data`` is when none is given: a synthetic workload any server can answer.
DEFAULT_DATA = "prompt_tokens=256,output_tokens=128"
#: Each benchmark's length when neither --max-seconds nor --max-requests bounds endless data.
DEFAULT_MAX_SECONDS = 30.0
#: A first run against the built-in mock server should finish in about two minutes.
DEFAULT_MOCK_MAX_SECONDS = 10.0
#: The built-in mock server serves this many requests at once and queues the rest, like a real
#: server's batch limit, so that a sweep against it finds a saturation point.
DEFAULT_MOCK_CONCURRENCY = 32
DEFAULT_PROFILE = "sweep"


def _floats(text: str | None, flag: str) -> list[float] | None:
    if text is None or not str(text).strip():
        return None
    values = []
    for part in str(text).replace(" ", ",").split(","):
        if not part:
            continue
        try:
            values.append(float(part))
        except ValueError:
            raise UserError(f"{flag}: {part!r} is not a number; e.g. {flag} 5,10,20") from None
    return values


#: Sane upper bounds: a value past them is a typo (1e12 for 1e2), not a plan.
MAX_RATE = 1_000_000.0
MAX_COUNT = 10**12
MAX_SECONDS = 10**7  # 115 days
MAX_WORKERS = 1024
MAX_SAMPLES = 100_000


def _positive(
    value: float | None, flag: str, *, integer: bool = False, upper: float = MAX_COUNT
) -> Any:
    if value is None:
        return None
    if not math.isfinite(value) or value <= 0 or (integer and value != int(value)):
        kind = "a positive whole number" if integer else "a positive number"
        raise UserError(f"{flag} {value:g} must be {kind}")
    if value > upper:
        raise UserError(f"{flag} {value:g} is implausibly large (at most {upper:,.0f})")
    return int(value) if integer else float(value)


def _load_scenario(path: str) -> dict[str, Any]:
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise UserError(f"--scenario {path!r}: {exc.strerror}; check the path") from None
    except UnicodeDecodeError:
        raise UserError(
            f"--scenario {path!r} is not a text file; give a YAML or JSON file of run options"
        ) from None
    try:
        if file.suffix.lower() in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            import json

            data = json.loads(text)
    except Exception as exc:
        raise UserError(
            f"--scenario {path!r} is not valid {file.suffix.lstrip('.') or 'JSON'} "
            f"({type(exc).__name__}); write a mapping of run options"
        ) from None
    if not isinstance(data, dict):
        raise UserError(f"--scenario {path!r} must hold a mapping of run options")
    return {str(k).replace("-", "_"): v for k, v in data.items()}


def _apply_scenario(ctx: click.Context, params: dict[str, Any]) -> dict[str, Any]:
    """Scenario values fill every option the command line and environment left at default."""
    path = params.get("scenario")
    if not path:
        return params
    scenario = _load_scenario(path)
    known = {p.name for p in ctx.command.params if p.name}
    unknown = sorted(set(scenario) - known)
    if unknown:
        raise UserError(
            f"--scenario {path!r}: unknown key(s) {', '.join(unknown)}; use the long option "
            "names of 'guidellm run' (e.g. target, rate, max_seconds)"
        )
    merged = dict(params)
    for key, raw in scenario.items():
        if ctx.get_parameter_source(key) not in (click.core.ParameterSource.DEFAULT, None):
            continue
        merged[key] = _scenario_value(key, raw)
    return merged


def _scenario_value(key: str, value: Any) -> Any:
    """A scenario value in the form the matching flag would have given."""
    import json

    if key in ("data", "output") and isinstance(value, str):
        return [value]
    if key == "rate" and isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    if key in ("backend_args", "data_args", "profile_args") and isinstance(value, dict):
        return json.dumps(value)
    if key == "slo" and isinstance(value, dict):
        return ",".join(f"{k}={v}" for k, v in value.items())
    return value


def _choose_backend(host: PluginHost, name: str | None, target: str) -> type[Backend]:
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


#: The pre-load check's total deadline, whatever a backend's own timeouts say.
VALIDATE_DEADLINE_S = 90.0


def _validate_backend(backend: Backend, deadline: float = VALIDATE_DEADLINE_S) -> None:
    """startup(1), validate(), shutdown() in the parent: bad targets fail before any load.

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


def _options(func: Any) -> Any:
    opts = [
        click.option(
            "--target",
            envvar="GUIDELLM_TARGET",
            help="Server URL (none: the built-in mock server).",
        ),
        click.option(
            "--backend",
            envvar="GUIDELLM_BACKEND",
            help="Backend name (default: from the target's scheme).",
        ),
        click.option(
            "--backend-args",
            envvar="GUIDELLM_BACKEND_ARGS",
            help="Backend options: JSON or k=v,k=v.",
        ),
        click.option(
            "--model",
            envvar="GUIDELLM_MODEL",
            help="Model name (default: discovered from the server).",
        ),
        click.option(
            "--request-format",
            envvar="GUIDELLM_REQUEST_FORMAT",
            type=click.Choice(["chat_completions", "text_completions"]),
            help="OpenAI endpoint to use.",
        ),
        click.option(
            "--processor",
            envvar="GUIDELLM_PROCESSOR",
            help="Tokenizer for token counts and synthetic prompts.",
        ),
        click.option(
            "--data",
            multiple=True,
            envvar="GUIDELLM_DATA",
            help=f"Data spec, file or dataset id (default: {DEFAULT_DATA}).",
        ),
        click.option(
            "--data-args", envvar="GUIDELLM_DATA_ARGS", help="Data options: JSON or k=v,k=v."
        ),
        click.option(
            "--profile",
            "--rate-type",
            "profile",
            envvar="GUIDELLM_PROFILE",
            help="Profile: synchronous, concurrent, throughput, constant, poisson, sweep or a "
            f"plugin's (default: {DEFAULT_PROFILE}).",
        ),
        click.option(
            "--profile-args",
            envvar="GUIDELLM_PROFILE_ARGS",
            help="Profile options: JSON or k=v,k=v (e.g. max_concurrency=64).",
        ),
        click.option(
            "--rate",
            envvar="GUIDELLM_RATE",
            help="Streams (concurrent), requests/s (constant, poisson) or benchmarks (sweep); "
            "a list runs several.",
        ),
        click.option(
            "--max-seconds",
            type=float,
            envvar="GUIDELLM_MAX_SECONDS",
            help="Stop each benchmark after this many seconds.",
        ),
        click.option(
            "--max-requests",
            type=float,
            envvar="GUIDELLM_MAX_REQUESTS",
            help="Stop each benchmark after this many requests.",
        ),
        click.option(
            "--max-errors",
            type=float,
            envvar="GUIDELLM_MAX_ERRORS",
            help="Stop a benchmark once this many requests failed.",
        ),
        click.option(
            "--warmup",
            type=float,
            envvar="GUIDELLM_WARMUP",
            help="Leave out the start: a fraction (<1) or seconds.",
        ),
        click.option(
            "--cooldown",
            type=float,
            envvar="GUIDELLM_COOLDOWN",
            help="Leave out the end: a fraction (<1) or seconds.",
        ),
        click.option(
            "--slo",
            envvar="GUIDELLM_SLO",
            help="Goodput limits, e.g. ttft_ms=500,itl_ms=50,latency_ms=10000.",
        ),
        click.option(
            "--random-seed",
            type=int,
            default=42,
            show_default=True,
            envvar="GUIDELLM_RANDOM_SEED",
            help="Seed of data and arrival times.",
        ),
        click.option(
            "--output",
            multiple=True,
            envvar="GUIDELLM_OUTPUT",
            help="Report file (.json .yaml .csv .html); repeat for several.",
        ),
        click.option(
            "--output-sampling",
            type=int,
            default=0,
            envvar="GUIDELLM_OUTPUT_SAMPLING",
            help="Keep N example responses per benchmark.",
        ),
        click.option(
            "--journal",
            envvar="GUIDELLM_JOURNAL",
            help="Where to journal results (default: next to the first --output).",
        ),
        click.option(
            "--workers",
            type=int,
            envvar="GUIDELLM_WORKERS",
            help="Worker processes (default: one per core).",
        ),
        click.option(
            "--disable-progress",
            is_flag=True,
            envvar="GUIDELLM_DISABLE_PROGRESS",
            help="No live progress display.",
        ),
        click.option(
            "--disable-console-outputs",
            is_flag=True,
            envvar="GUIDELLM_DISABLE_CONSOLE_OUTPUTS",
            help="Nothing on the console but errors.",
        ),
        click.option(
            "--scenario",
            envvar="GUIDELLM_SCENARIO",
            help="YAML/JSON file of these options (flags win).",
        ),
    ]
    for opt in reversed(opts):
        func = opt(func)
    return func


@click.command()
@_options
@click.pass_context
def run(ctx: click.Context, /, **params: Any) -> None:
    """Benchmark a server (or, with no --target, the built-in mock server)."""
    code = run_benchmarks(ctx, params)
    if code:
        sys.exit(code)


@click.group(name="benchmark")
def benchmark_group() -> None:
    """Older spelling: 'guidellm benchmark run' is 'guidellm run'."""


benchmark_group.add_command(run)


def run_benchmarks(ctx: click.Context, params: dict[str, Any]) -> int:
    """The body of ``guidellm run``; returns the exit code (130 for a Ctrl-C before the
    benchmarks start: nothing was sent, nothing to write)."""
    try:
        return _run_benchmarks(ctx, params)
    except KeyboardInterrupt:
        click.echo("guidellm: interrupted", err=True)
        return 130


def _run_benchmarks(ctx: click.Context, params: dict[str, Any]) -> int:
    from guidellm.options import parse_options
    from guidellm.plugins import get_plugin_host
    from guidellm.redact import redact

    p = _apply_scenario(ctx, params)
    quiet = bool(p.get("disable_console_outputs"))

    def say(line: str) -> None:
        if not quiet:
            click.echo(f"guidellm: {line}", err=True)

    host = get_plugin_host()
    backend_args = parse_options(p.get("backend_args"), "--backend-args")
    data_args = parse_options(p.get("data_args"), "--data-args")
    profile_args = parse_options(p.get("profile_args"), "--profile-args")
    from guidellm.benchmark.slo import check_slo

    slo = check_slo(parse_options(p.get("slo"), "--slo"))
    rates = _floats(p.get("rate"), "--rate")
    for rate in rates or ():
        if rate > MAX_RATE:
            raise UserError(
                f"--rate {rate:g} is beyond what one client can send or track (at most "
                f"{MAX_RATE:,.0f}); give requests/s, streams or a number of benchmarks"
            )
    max_seconds = _positive(p.get("max_seconds"), "--max-seconds", upper=MAX_SECONDS)
    max_requests = _positive(p.get("max_requests"), "--max-requests", integer=True)
    max_errors = _positive(p.get("max_errors"), "--max-errors", integer=True)
    for flag in ("warmup", "cooldown"):
        value = p.get(flag)
        if value is not None and (not math.isfinite(value) or value < 0):
            raise UserError(
                f"--{flag} {value:g}: give a fraction (<1) or seconds (>=1), not negative"
            )
    workers = p.get("workers")
    if workers is not None and not 1 <= workers <= MAX_WORKERS:
        raise UserError(f"--workers {workers}: give 1 to {MAX_WORKERS} (one per core is usual)")
    if not 0 <= p.get("output_sampling", 0) <= MAX_SAMPLES:
        raise UserError(f"--output-sampling must be 0 to {MAX_SAMPLES:,}")

    profile_name = p.get("profile") or DEFAULT_PROFILE
    profile_cls = host.profiles.get(profile_name)
    profile = profile_cls(rates, profile_args)

    from guidellm.outputs import writers_for

    outputs = list(p.get("output") or ())
    writers = writers_for(
        outputs,
        host,
        console=not quiet,
        progress=not p.get("disable_progress"),
    )

    from guidellm.data.loader import RequestLoader

    data = list(p.get("data") or ()) or [DEFAULT_DATA]
    loader = RequestLoader(
        data, data_args, processor=p.get("processor"), random_seed=p["random_seed"], host=host
    )
    target = p.get("target")
    if max_seconds is None and max_requests is None and loader.size is None:
        max_seconds = DEFAULT_MAX_SECONDS if target else DEFAULT_MOCK_MAX_SECONDS
        say(
            f"no --max-seconds or --max-requests and the data is endless: each benchmark runs "
            f"{max_seconds:g} s"
        )

    from guidellm.benchmark.journal import default_journal_path
    from guidellm.outputs import check_writable

    journal_path = Path(p["journal"]) if p.get("journal") else default_journal_path(outputs)
    check_writable(journal_path, "--journal")

    mock = None
    if request_format := p.get("request_format"):
        backend_args.setdefault("request_format", request_format)
    try:
        if not target:
            from guidellm.mock_server import MockServer, MockServerConfig

            mock = MockServer(MockServerConfig(max_concurrency=DEFAULT_MOCK_CONCURRENCY))
            # The mock server must outlive a terminal's Ctrl-C (sent to the whole process
            # group) until the in-flight requests are cancelled: its process starts with
            # SIGINT blocked (the mask survives exec) and is stopped by PID at the end.
            blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
            try:
                target = mock.start_process()
            finally:
                signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
            say(
                f"no --target given: benchmarking the built-in mock server at {target} "
                f"(TTFT 50 ms, ITL 10 ms, {DEFAULT_MOCK_CONCURRENCY} requests at once)"
            )
        backend_cls = _choose_backend(host, p.get("backend"), target)
        backend = backend_cls(target, p.get("model"), **backend_args)
        backend.remember_secrets()
        _validate_backend(backend)

        from guidellm.benchmark.benchmarker import Benchmarker, RunSettings
        from guidellm.benchmark.journal import Journal

        settings = RunSettings(
            max_seconds=max_seconds,
            max_requests=max_requests,
            max_errors=max_errors,
            warmup=p.get("warmup"),
            cooldown=p.get("cooldown"),
            slo=slo or None,
            random_seed=p["random_seed"],
            output_sampling=p.get("output_sampling") or 0,
            workers=workers,
        )
        journal = Journal(journal_path)
        say(f"journal: {journal_path}")
        config = redact(
            {
                "target": target if mock is None else None,
                "mock_server": mock is not None,
                "backend": backend.describe(),
                "data": data,
                "data_args": data_args,
                "data_description": loader.describe(),
                "processor": p.get("processor"),
                "profile": profile.describe(),
                "rate": rates,
                "max_seconds": max_seconds,
                "max_requests": max_requests,
                "max_errors": max_errors,
                "warmup": p.get("warmup"),
                "cooldown": p.get("cooldown"),
                "slo": slo or None,
                "random_seed": p["random_seed"],
                "output": outputs,
                "output_sampling": p.get("output_sampling") or 0,
            }
        )
        benchmarker = Benchmarker(
            backend=backend,
            requests=loader,
            profile=profile,
            settings=settings,
            writers=writers,
            journal=journal,
            config=config,
            command=_command_line(),
            tokenizer=loader.tokenizer,
            on_message=say,
        )
        outcome = benchmarker.run()
        for path in outputs:
            if str(Path(path)) not in outcome.failed_outputs:
                say(f"wrote {path}")
        return outcome.exit_code
    finally:
        if mock is not None:
            mock.stop()


def _command_line() -> str:
    """The command as typed, with secret-looking option values redacted."""
    from guidellm.redact import redact_text

    args = [redact_text(arg) for arg in sys.argv[1:]]
    return "guidellm " + shlex.join(args)


def scenario_keys(params: Mapping[str, Any]) -> list[str]:
    """The option names a scenario file may use (documentation helper)."""
    return sorted(params)
