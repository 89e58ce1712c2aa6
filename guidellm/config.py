"""RunConfig: everything one run needs, in one typed model, from wherever it was given.

A run's settings come from four places, in this order of precedence: command-line flags,
``GUIDELLM_*`` environment variables, a scenario file (YAML or JSON; a saved report is one
too: its ``config``), then the defaults below. Each place is read into a plain mapping of
field names, checked on its own (so an error names the flag, the variable or the file and
key), then merged. :func:`resolve_config` returns the model and where each value came from
(``guidellm config`` prints both).

Importing this module imports pydantic: the CLI does it inside the command, never at
``guidellm --help``.
"""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from guidellm.errors import UserError
from guidellm.options import parse_options
from guidellm.redact import REDACTED, redact
from guidellm.traffic_classes import RequestFormat, TrafficClass, check_classes

__all__ = [
    "DEFAULT_DATA",
    "ENV_PREFIX",
    "OTHER_VARIABLES",
    "ConfigSources",
    "RunConfig",
    "config_from_env",
    "config_from_scenario",
    "resolve_config",
]

#: What ``--data`` is when none is given: a synthetic workload any server can answer.
DEFAULT_DATA = "prompt_tokens=256,output_tokens=128"
ENV_PREFIX = "GUIDELLM_"
#: Sane upper bounds: a value past them is a typo (1e12 for 1e2), not a plan.
MAX_RATE = 1_000_000.0
MAX_COUNT = 10**12
MAX_SECONDS = 10**7  # 115 days
MAX_WORKERS = 1024
MAX_SAMPLES = 100_000
#: ``GUIDELLM_*`` variables that are not run settings (plugins, debugging, test tooling).
OTHER_VARIABLES = {
    "GUIDELLM_DEBUG": "show full tracebacks instead of one-line errors",
    "GUIDELLM_LOAD_PLUGINS": "comma-separated allow-list of third-party plugins to load",
    "GUIDELLM_DISABLE_PLUGINS": "comma-separated plugins not to load, built-ins included",
    "GUIDELLM_API_KEY": "API key for openai_http when --backend-args api_key is not given",
    "GUIDELLM_SCENARIO": "a scenario file, as --scenario",
    "GUIDELLM_JOURNAL_DIR": "where journals go when no output names a folder",
    "GUIDELLM_TEST_SERVERS": "where scripts/test-servers/setup.sh installs the test servers",
    "GUIDELLM_LLAMA_SERVER": "a llama-server binary for the tests",
    "GUIDELLM_GEN_SSE": "the SSE generator benchmarks/bench_client.py uses",
    "GUIDELLM_TEST_CLOCK_OFFSET_S": "test only: a Ray actor's clock reads this far ahead",
}

#: Report formats ``outputs`` may name instead of a path: written as ``benchmarks.<suffix>``.
OUTPUT_FORMATS = {
    "json": ".json",
    "yaml": ".yaml",
    "csv": ".csv",
    "html": ".html",
    "timeline": ".timeline.csv",
    "turns": ".turns.csv",
    "requests": ".requests.parquet",
}


REQUEST_FORMATS: tuple[str, ...] = get_args(RequestFormat)


class RunConfig(BaseModel):
    """One benchmark run. Every field is a flag (``--max-seconds``), a variable
    (``GUIDELLM_MAX_SECONDS``) and a scenario key (``max_seconds``)."""

    model_config = ConfigDict(extra="forbid", frozen=False)

    target: str | None = Field(
        None, description="Server URL; none benchmarks the built-in mock server."
    )
    backend: str | None = Field(None, description="Backend name; default: from the target.")
    backend_args: dict[str, Any] = Field(
        default_factory=dict, description="Backend options (api_key, headers, timeout...)."
    )
    model: str | None = Field(
        None,
        description="Model name, default: discovered; or a weighted mix of models or LoRA "
        "adapters, e.g. base:0.5,adapter-a:0.3,adapter-b:0.2.",
    )
    request_format: RequestFormat | None = Field(
        None,
        description="API to send (openai_http): chat_completions, text_completions, "
        "embeddings, rerank, anthropic_messages, transcriptions.",
    )
    processor: str | None = Field(
        None, description="Tokenizer for token counts and synthetic prompts (alias tokenizer)."
    )
    data: list[str] = Field(
        default_factory=list,
        description=f"Data specs, files or dataset ids; default {DEFAULT_DATA}.",
    )
    data_args: dict[str, Any] = Field(
        default_factory=dict, description="Data options (column_mapping, split, strict...)."
    )
    profile: str = Field(
        "sweep",
        description="synchronous, concurrent, throughput, constant, poisson, gamma, stages, "
        "replay, sweep, slo-search or a plugin's (alias rate_type).",
    )
    profile_args: dict[str, Any] = Field(
        default_factory=dict,
        description="Profile options: max_concurrency; gamma cv; stages stages, arrivals; "
        "replay time_scale, max_gap_s, start_offset_s; slo-search goodput, precision, mode.",
    )
    rate: list[float] | None = Field(
        None,
        description="Streams (concurrent), requests/s (constant, poisson, gamma) or benchmarks "
        "(sweep); several run one benchmark each; none for stages and replay. With "
        "conversations a stream runs sessions back to back and a rate is new sessions/s.",
    )
    max_concurrency: int | None = Field(
        None, gt=0, le=MAX_COUNT, description="Most requests in flight at once."
    )
    max_seconds: float | None = Field(
        None, gt=0, le=MAX_SECONDS, description="Stop each benchmark after this many seconds."
    )
    max_requests: int | None = Field(
        None,
        gt=0,
        le=MAX_COUNT,
        description="Stop each benchmark after this many requests (alias num_prompts); a "
        "session's turns count one each.",
    )
    max_sessions: int | None = Field(
        None,
        gt=0,
        le=MAX_COUNT,
        description="Stop each benchmark after starting this many sessions (conversations; "
        "a request outside a session counts as one).",
    )
    max_errors: int | None = Field(
        None, gt=0, le=MAX_COUNT, description="Stop a benchmark once this many requests failed."
    )
    max_error_rate: float | None = Field(
        None,
        gt=0,
        le=1,
        description="Stop a benchmark once this fraction of its requests failed (judged "
        "after 20 requests).",
    )
    warmup: float | None = Field(
        None, ge=0, description="Leave out the start: a fraction (<1) or seconds."
    )
    cooldown: float | None = Field(
        None, ge=0, description="Leave out the end: a fraction (<1) or seconds."
    )
    slo: dict[str, float] = Field(
        default_factory=dict, description="Goodput limits: ttft_ms, itl_ms, tpot_ms, latency_ms."
    )
    classes: list[TrafficClass] = Field(
        default_factory=list,
        description="Traffic classes mixed in each benchmark, each with a name, a weight or a "
        "rate, its own data, model, request_format, backend_args and slo (JSON list).",
    )
    random_seed: int = Field(42, description="Seed of data and arrival times.")
    stop_on_saturation: Literal["auto", "on", "off"] = Field(
        "auto",
        description="Stop an open-loop benchmark once the server is over-saturated (in flight "
        "and TTFT growing): auto is on for sweep, on for every benchmark, off never.",
    )
    time_slice: float = Field(
        1.0,
        description="Time-series resolution in seconds (1s, 500ms, 2m); widened to at most "
        "300 slices per benchmark.",
    )
    server_metrics: str = Field(
        "auto",
        description="Scrape the server's Prometheus metrics during each benchmark: auto (the "
        "target's /metrics when it answers), off, or URL[,URL...] (other ports, replicas).",
    )
    server_metrics_interval: float = Field(
        1.0, description="How often server metrics are scraped (1s, 500ms); 100ms at least."
    )
    outputs: list[str] = Field(
        default_factory=list,
        description="Report files (.json .yaml .csv .html, timeline.csv, turns.csv; one row per "
        "request: .requests.parquet .requests.jsonl .requests.csv) or formats (json, html, "
        "timeline, turns, requests...) written as benchmarks.<format>; default json and html "
        "in output_dir.",
    )
    output_dir: str | None = Field(
        None, description="Folder for outputs given as formats; default: the working folder."
    )
    output_sampling: int = Field(
        0, ge=0, le=MAX_SAMPLES, description="Keep N example responses per benchmark."
    )
    export_chunks: bool = Field(
        False,
        description="Per-request exports (.requests.parquet/.jsonl/.csv) also list each "
        "request's chunk arrival times (chunk_times_ms).",
    )
    journal: str | None = Field(
        None, description="Where to journal results; default: next to the first output."
    )
    workers: int | None = Field(
        None, ge=1, le=MAX_WORKERS, description="Worker processes; default: one per core."
    )
    executor: dict[str, Any] = Field(
        default_factory=lambda: {"kind": "local"},
        description="Where the workers run: local (processes here) or ray (Ray actors; "
        "kind=ray,address=auto,workers=8,spread=true,runtime_env={...}).",
    )
    on_worker_loss: Literal["stop", "continue"] = Field(
        "stop",
        description="When a worker (process or Ray actor) is lost: stop the run, or continue "
        "without it (its unsent requests and streams go to the others).",
    )
    labels: dict[str, str] = Field(
        default_factory=dict, description="KEY=VALUE labels kept in the report."
    )
    progress: bool = Field(True, description="Live progress display.")
    console: bool = Field(True, description="Console tables and messages (errors always).")

    @field_validator("rate")
    @classmethod
    def _rates(cls, value: list[float] | None) -> list[float] | None:
        for rate in value or ():
            if not rate > 0 or rate > MAX_RATE:
                raise ValueError(f"each rate must be more than 0 and at most {MAX_RATE:,.0f}")
        return value

    @field_validator("time_slice", mode="before")
    @classmethod
    def _time_slice(cls, value: Any) -> float:
        from guidellm.benchmark.timeslices import parse_duration

        return parse_duration(value)

    @field_validator("server_metrics", mode="before")
    @classmethod
    def _server_metrics(cls, value: Any) -> str:
        from guidellm.telemetry.endpoints import parse_setting

        if isinstance(value, (list, tuple)):
            value = ",".join(str(v) for v in value)
        parsed = parse_setting(str(value))
        return parsed if isinstance(parsed, str) else ",".join(parsed)

    @field_validator("server_metrics_interval", mode="before")
    @classmethod
    def _server_metrics_interval(cls, value: Any) -> float:
        from guidellm.benchmark.timeslices import parse_duration

        seconds = parse_duration(value)
        if seconds < 0.1:
            raise ValueError("scrape at most every 100ms (0.1 s)")
        return seconds

    @field_validator("executor", mode="before")
    @classmethod
    def _executor(cls, value: Any) -> dict[str, Any]:
        if isinstance(value, str):
            text = value.strip()
            value = {"kind": text} if not ({"=", "{"} & set(text)) else parse_options(text)
        if not isinstance(value, dict):
            raise ValueError("must be local, ray, or a mapping with kind: ray and its options")
        kind = value.get("kind", "local")
        if kind not in ("local", "ray"):
            raise ValueError("is not an executor")
        if kind == "local" and set(value) - {"kind"}:
            raise ValueError(
                "has options but no kind=ray (the local executor takes none: use --workers)"
            )
        return {**value, "kind": kind}

    @field_validator("slo")
    @classmethod
    def _slo(cls, value: dict[str, float]) -> dict[str, float]:
        from guidellm.benchmark.slo import check_slo

        try:
            return check_slo(value)
        except UserError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("classes", mode="before")
    @classmethod
    def _classes(cls, value: Any) -> list[TrafficClass]:
        return check_classes(value)

    def redacted(self) -> dict[str, Any]:
        """The JSON-ready dump with secrets hidden: the report's ``config``."""
        return redact(self.model_dump(mode="json"))  # type: ignore[no-any-return]


#: Fields whose flag or variable text is a list (comma-separated) or a mapping (k=v or JSON).
_LISTS = {"data", "rate", "outputs"}
_MAPPINGS = {"backend_args", "data_args", "profile_args", "slo", "labels"}
_BOOLS = {"progress", "console", "export_chunks"}
#: Scenario and variable spellings of other tools, mapped to ours.
ALIASES = {"rate_type": "profile", "tokenizer": "processor", "num_prompts": "max_requests"}


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _from_text(name: str, text: Any) -> Any:
    """A flag's or variable's text in the field's shape (lists, mappings, booleans)."""
    if not isinstance(text, str):
        return text
    if name == "data":  # a spec has commas of its own: one text is one spec
        return [text.strip()] if text.strip() else []
    if name == "classes":  # JSON; text that is not stays text, and fails with its own name
        try:
            return json.loads(text)
        except ValueError:
            return text
    if name in _LISTS:
        return [p.strip() for p in text.replace(" ", ",").split(",") if p.strip()]
    if name in _MAPPINGS:
        return parse_options(text, _flag(name))
    if name in _BOOLS:
        low = text.strip().lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off", ""):
            return False
    return text


_REASONS = {
    "int_parsing": "is not a whole number",
    "int_from_float": "is not a whole number",
    "float_parsing": "is not a number",
    "bool_parsing": "must be true or false",
    "string_type": "must be text",
    "dict_type": "must be a mapping (JSON object or k=v,k=v)",
    "list_type": "must be a list",
}


def _reason(error: Mapping[str, Any]) -> str:
    kind = str(error.get("type", ""))
    ctx = error.get("ctx") or {}
    if kind in _REASONS:
        return _REASONS[kind]
    if kind == "greater_than":
        return f"must be more than {ctx.get('gt')}"
    if kind == "greater_than_equal":
        return f"must be at least {ctx.get('ge')}"
    if kind == "less_than_equal":
        limit = ctx.get("le")
        if isinstance(limit, (int, float)):
            return f"must be at most {int(limit):,}" if limit == int(limit) else f"<= {limit}"
        return "is too large"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected')}"
    if kind == "value_error":
        return str(ctx.get("error", error.get("msg", "")))
    return str(error.get("msg", "is not valid")).lower()


def _nearest(name: str, choices: list[str]) -> str:
    match = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    return f"; did you mean {match[0]}?" if match else ""


FIELDS = list(RunConfig.model_fields)


def _expected(name: str) -> str:
    """What a field takes, as a user would write it."""
    info = RunConfig.model_fields[name]
    text = str(info.annotation)
    if name in _MAPPINGS:
        return "k=v,k=v or a JSON object"
    if name == "rate":
        return "numbers, e.g. 5,10"
    if name in ("time_slice", "server_metrics_interval"):
        return "a duration, e.g. 1s, 500ms, 2m or 0.5"
    if name == "server_metrics":
        return "auto, off, or http(s)://host:port/metrics[,URL...]"
    if name == "executor":
        return "local, ray, or kind=ray,address=auto,workers=N"
    if name in _BOOLS:
        return "true or false"
    if "Literal" in text:
        return "one of " + ", ".join(REQUEST_FORMATS)
    if "int" in text:
        return "a whole number, e.g. 100"
    if "float" in text:
        return "a number, e.g. 30"
    return "text"


def _check(values: dict[str, Any], where: str | None, key_of: Any) -> dict[str, Any]:
    """Validate one layer alone; the first error is one line naming where it came from (the
    flag, the variable, or the file and key), the bad value and what is expected."""
    prefix = f"{where}: " if where else ""
    try:
        RunConfig.model_validate(values)
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = error.get("loc") or ("?",)
        key = str(loc[0])
        if error.get("type") == "extra_forbidden":
            near = _nearest(key_of(key), [key_of(f) for f in FIELDS])
            raise UserError(f"{prefix}unknown setting {key_of(key)}{near}") from None
        if key == "classes" and error.get("type") == "value_error":
            raise UserError(f"{prefix}{key_of(key)}: {_reason(error)}") from None
        value = values.get(key)
        if isinstance(error.get("input"), (str, int, float, bool)) and len(loc) > 1:
            value = error["input"]
        if isinstance(value, list) and len(value) == 1:
            value = value[0]
        shown = REDACTED if "key" in key or "secret" in key else repr(value)
        sub = "".join(f".{p}" for p in loc[1:] if not isinstance(p, int))
        raise UserError(
            f"{prefix}{key_of(key)}{sub}: {shown} {_reason(error)}; give {_expected(key)}"
        ) from None
    return values


def config_from_flags(flags: Mapping[str, Any]) -> dict[str, Any]:
    """The flags a user typed (``None`` / empty: not typed) as field values, checked."""
    values = {k: _from_text(k, v) for k, v in flags.items() if v not in (None, (), [], "")}
    for name, value in list(values.items()):  # one flag given twice adds up (--output x2)
        if isinstance(value, (list, tuple)) and value and isinstance(value[0], str):
            if name in _LISTS:
                values[name] = [p for item in value for p in _from_text(name, item)]
            elif name in _MAPPINGS:
                merged: dict[str, Any] = {}
                for item in value:
                    merged.update(_from_text(name, item))
                values[name] = merged
    return _check(values, None, _flag)


def config_from_env(environ: Mapping[str, str]) -> dict[str, Any]:
    """``GUIDELLM_<FIELD>`` variables as field values, checked; a ``GUIDELLM_`` variable
    that is neither a field nor a known other variable is an error naming the nearest."""
    known = {ENV_PREFIX + f.upper(): f for f in FIELDS}
    known.update({ENV_PREFIX + a.upper(): f for a, f in ALIASES.items()})
    values: dict[str, Any] = {}
    for var, text in environ.items():
        if not var.startswith(ENV_PREFIX) or var in OTHER_VARIABLES:
            continue
        name = known.get(var)
        if name is None:
            names = [*known, *OTHER_VARIABLES]
            raise UserError(
                f"environment variable {var} is not a guidellm setting{_nearest(var, names)} "
                "(unset it or fix its name; 'guidellm config' lists the settings)"
            )
        values[name] = _from_text(name, text)
    return _check(values, None, lambda k: ENV_PREFIX + k.upper())


def _read_scenario(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UserError(f"--scenario {str(path)!r}: {exc.strerror}; check the path") from None
    except UnicodeDecodeError:
        raise UserError(
            f"--scenario {str(path)!r} is not a text file; give a YAML or JSON file of run settings"
        ) from None
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            return yaml.safe_load(text)
        return json.loads(text)
    except Exception as exc:
        raise UserError(
            f"--scenario {str(path)!r} is not valid {path.suffix.lstrip('.') or 'JSON'} "
            f"({type(exc).__name__}); write a mapping of run settings"
        ) from None


def _without_redacted(value: Any) -> Any:
    """A saved report's config with its ``***`` values dropped (the secret comes from the
    environment or a flag on the rerun)."""
    if isinstance(value, dict):
        return {k: _without_redacted(v) for k, v in value.items() if v != REDACTED}
    if isinstance(value, list):  # a traffic class's backend_args, too
        return [_without_redacted(v) for v in value]
    return value


def config_from_scenario(path: str | Path) -> dict[str, Any]:
    """A scenario file's settings, checked; a saved report (JSON/YAML) gives its ``config``."""
    file = Path(path)
    data = _read_scenario(file)
    where = f"--scenario {str(file)!r}"
    if isinstance(data, dict) and "benchmarks" in data and "config" in data:
        data = _without_redacted(data["config"])  # a saved report: rerun its run
        if isinstance(data, dict) and "target" in data and data.get("mock_server"):
            data.pop("mock_server", None)
    if not isinstance(data, dict):
        raise UserError(f"{where} must hold a mapping of run settings (key: value)")
    values: dict[str, Any] = {}
    for raw_key, value in data.items():
        key = ALIASES.get(str(raw_key).replace("-", "_"), str(raw_key).replace("-", "_"))
        if key == "profile" and isinstance(value, dict):
            raise UserError(
                f"{where}: profile must be a profile name such as concurrent or constant, not a "
                "mapping; put its numbers in rate (e.g. profile: concurrent, rate: [2]) and its "
                "options in profile_args"
            )
        values[key] = _from_text(key, value) if isinstance(value, str) else value
    return _check(values, where, lambda k: k)


@dataclass
class ConfigSources:
    """Where each field's value came from: ``flag``, ``env VAR``, ``scenario FILE``,
    ``default``."""

    of: dict[str, str] = field(default_factory=dict)


def resolve_config(
    flags: Mapping[str, Any],
    environ: Mapping[str, str] | None = None,
    scenario: str | Path | None = None,
) -> tuple[RunConfig, ConfigSources]:
    """Flags over variables over the scenario file over the defaults, as one checked model."""
    env = dict(os.environ if environ is None else environ)
    from_flags = config_from_flags(flags)
    scenario = scenario or env.get(ENV_PREFIX + "SCENARIO") or None
    from_env = config_from_env(env)
    from_file = config_from_scenario(scenario) if scenario else {}
    merged: dict[str, Any] = {}
    sources = ConfigSources()
    for layer, label in (
        (from_file, f"scenario {scenario}"),
        (from_env, "env"),
        (from_flags, "flag"),
    ):
        for key, value in layer.items():
            merged[key] = value
            sources.of[key] = f"env {ENV_PREFIX}{key.upper()}" if label == "env" else label
    for key in FIELDS:
        sources.of.setdefault(key, "default")
    try:
        config = RunConfig.model_validate(merged)
    except ValidationError as exc:  # each layer passed alone: only a combination can fail
        raise UserError(f"run settings do not fit together: {exc.errors()[0]['msg']}") from None
    return config, sources


def settings_table() -> str:
    """The README's table of every setting: scenario key, flag, variable, default, meaning
    (generated from :class:`RunConfig`; a test keeps the README equal to it)."""
    rows = [
        "| scenario key | flag | variable | default | meaning |",
        "|---|---|---|---|---|",
    ]
    flags = {"outputs": "`--output PATH`, `--outputs json,csv`", "labels": "`--label K=V`"}
    flags["progress"] = "`--disable-progress`"
    flags["console"] = "`--disable-console-outputs`"
    flags["classes"] = "`--classes JSON`"
    for name, info in RunConfig.model_fields.items():
        default = info.get_default(call_default_factory=True)
        shown = "none" if default in (None, [], {}) else f"`{json.dumps(default)}`"
        flag = flags.get(name, f"`{_flag(name)}`")
        rows.append(
            f"| `{name}` | {flag} | `{ENV_PREFIX}{name.upper()}` | {shown} | {info.description} |"
        )
    return "\n".join(rows)
