"""``guidellm run`` (alias ``guidellm benchmark run``) and ``guidellm config``: the click surface.

Flags map one to one onto :class:`guidellm.config.RunConfig` fields; ``GUIDELLM_*`` variables
and a ``--scenario`` file fill what the flags leave (flags, then variables, then the file, then
the defaults); :class:`guidellm.runner.Runner` does the rest. ``guidellm config`` prints the
resolved settings and where each came from, without running anything.
"""

from __future__ import annotations

import shlex
import sys
from typing import Any

import click

__all__ = ["benchmark_group", "config_command", "run"]


def _options(func: Any) -> Any:
    opts = [
        click.option("--target", help="Server URL (none: the built-in mock server)."),
        click.option("--backend", help="Backend name (default: from the target's scheme)."),
        click.option("--backend-args", help="Backend options: JSON or k=v,k=v."),
        click.option(
            "--model",
            help="Model name (default: discovered from the server), or a weighted mix of models "
            "or LoRA adapters: base:0.5,adapter-a:0.3,adapter-b:0.2.",
        ),
        click.option(
            "--request-format",
            help="API to send (openai_http): chat_completions (default), text_completions, "
            "embeddings, rerank, anthropic_messages, transcriptions.",
        ),
        click.option(
            "--processor",
            "--tokenizer",
            "processor",
            help="Tokenizer for token counts and synthetic prompts.",
        ),
        click.option(
            "--data",
            multiple=True,
            help="Data spec, file or dataset id (default: prompt_tokens=256,output_tokens=128).",
        ),
        click.option("--data-args", help="Data options: JSON or k=v,k=v."),
        click.option(
            "--profile",
            "--rate-type",
            "profile",
            help="synchronous, concurrent, throughput, constant, poisson, sweep or a plugin's "
            "(default: sweep).",
        ),
        click.option("--profile-args", help="Profile options: JSON or k=v,k=v."),
        click.option(
            "--rate",
            help="Streams (concurrent), requests/s (constant, poisson) or benchmarks (sweep); "
            "a list runs several. Conversations: streams run sessions back to back, a rate is "
            "new sessions/s.",
        ),
        click.option("--max-concurrency", type=int, help="Most requests in flight at once."),
        click.option("--max-seconds", type=float, help="Stop each benchmark after this many s."),
        click.option(
            "--max-requests",
            "--num-prompts",
            "max_requests",
            type=int,
            help="Stop each benchmark after this many requests (a session's turns count).",
        ),
        click.option(
            "--max-sessions",
            type=int,
            help="Stop each benchmark after starting this many sessions.",
        ),
        click.option("--max-errors", type=int, help="Stop a benchmark once this many failed."),
        click.option(
            "--max-error-rate",
            type=float,
            help="Stop a benchmark once this fraction of its requests failed (0-1).",
        ),
        click.option("--warmup", type=float, help="Leave out the start: fraction (<1) or s."),
        click.option("--cooldown", type=float, help="Leave out the end: fraction (<1) or s."),
        click.option("--slo", help="Goodput limits, e.g. ttft_ms=500,itl_ms=50,latency_ms=10000."),
        click.option(
            "--classes",
            help="Traffic classes to mix, a JSON list (a scenario file's classes reads "
            'better): [{"name": "chat", "weight": 0.7, "data": "prompt_tokens=64"}, ...].',
        ),
        click.option("--random-seed", type=int, help="Seed of data and arrival times (42)."),
        click.option(
            "--stop-on-saturation",
            type=click.Choice(["auto", "on", "off"]),
            help="Stop an over-saturated open-loop benchmark early (auto: on for sweep).",
        ),
        click.option("--time-slice", help="Time-series resolution: 1s, 500ms, 2m or seconds (1s)."),
        click.option(
            "--server-metrics",
            help="Scrape the server's Prometheus metrics: auto (the target's /metrics), off, "
            "or URL[,URL...].",
        ),
        click.option("--server-metrics-interval", help="How often to scrape server metrics (1s)."),
        click.option(
            "--output",
            multiple=True,
            help="Report file (.json .yaml .csv .html; one row per request: .requests.parquet "
            ".requests.jsonl .requests.csv); repeat for several.",
        ),
        click.option(
            "--outputs",
            help="Report formats, e.g. json,csv,html, written as benchmarks.<format> "
            "(default: json,html).",
        ),
        click.option("--output-dir", help="Folder for --outputs (default: here)."),
        click.option("--output-sampling", type=int, help="Keep N example responses each."),
        click.option(
            "--export-chunks",
            is_flag=True,
            help="Per-request exports (.requests.parquet/.jsonl/.csv) also list each chunk's "
            "arrival.",
        ),
        click.option("--journal", help="Where to journal results (default: by the output)."),
        click.option("--workers", type=int, help="Worker processes (default: one per core)."),
        click.option(
            "--executor",
            help="Where the workers run: local (default) or ray, with options: "
            "kind=ray,address=auto,workers=8 (needs pip install 'guidellm[ray]').",
        ),
        click.option(
            "--on-worker-loss",
            type=click.Choice(["stop", "continue"]),
            help="A lost worker or Ray actor stops the run (stop, default) or the others "
            "take over its unsent requests (continue).",
        ),
        click.option("--label", multiple=True, help="KEY=VALUE kept in the report; repeatable."),
        click.option("--disable-progress", is_flag=True, help="No live progress display."),
        click.option(
            "--disable-console-outputs", is_flag=True, help="Nothing on the console but errors."
        ),
        click.option(
            "--scenario",
            help="YAML/JSON file of run settings, or a saved report to rerun (flags win).",
        ),
    ]
    for opt in reversed(opts):
        func = opt(func)
    return func


def _flags(params: dict[str, Any]) -> dict[str, Any]:
    """Click's parameters as RunConfig fields: only what the user typed."""
    flags = dict(params)
    flags.pop("scenario", None)
    # --output PATH (repeated) and --outputs json,csv both fill the one field
    flags["outputs"] = [*flags.pop("output", ()), *filter(None, [flags.pop("outputs", None)])]
    flags["labels"] = flags.pop("label", ())
    if flags.pop("disable_progress", False):
        flags["progress"] = False
    if flags.pop("disable_console_outputs", False):
        flags["console"] = False
    if flags.pop("export_chunks", False):  # not given: the variable or scenario decides
        flags["export_chunks"] = True
    return flags


def _resolve(params: dict[str, Any]) -> Any:
    from guidellm.config import resolve_config

    return resolve_config(_flags(params), scenario=params.get("scenario"))


@click.command()
@_options
def run(**params: Any) -> None:
    """Benchmark a server (or, with no --target, the built-in mock server)."""
    code = run_benchmarks(params)
    if code:
        sys.exit(code)


@click.command("config")
@_options
def config_command(**params: Any) -> None:
    """Print the run settings these flags, variables and --scenario resolve to (YAML), with
    where each came from; nothing is run."""
    import json

    config, sources = _resolve(params)
    # YAML, one setting per line: JSON values are YAML too, and keep a list on its line.
    for key, value in config.redacted().items():
        click.echo(f"{key}: {json.dumps(value)}  # {sources.of.get(key, 'default')}")


@click.group(name="benchmark")
def benchmark_group() -> None:
    """Older spelling: 'guidellm benchmark run' is 'guidellm run'."""


benchmark_group.add_command(run)


def run_benchmarks(params: dict[str, Any]) -> int:
    """The body of ``guidellm run``; returns the exit code (130 for a Ctrl-C before the
    benchmarks start: nothing was sent, nothing to write)."""
    try:
        return _run_benchmarks(params)
    except KeyboardInterrupt:
        click.echo("guidellm: interrupted", err=True)
        return 130


def _run_benchmarks(params: dict[str, Any]) -> int:
    from guidellm.plugins import get_plugin_host
    from guidellm.runner import Runner

    config, _ = _resolve(params)

    def say(line: str) -> None:
        if config.console:
            click.echo(f"guidellm: {line}", err=True)

    runner = Runner(config, get_plugin_host(), say=say, command=_command_line())
    outcome = runner.run()
    wrote = [str(p) for p in runner.outputs if str(p) not in outcome.failed_outputs]
    if wrote:
        say(f"wrote {', '.join(wrote)}")  # the last line: where the results went
    return outcome.exit_code


def _command_line() -> str:
    """The command as typed, with secret-looking option values redacted."""
    from guidellm.redact import redact_text

    args = [redact_text(arg) for arg in sys.argv[1:]]
    return "guidellm " + shlex.join(args)
