"""RunConfig: flags, GUIDELLM_* variables and scenario files give the same model; every bad
value is one line naming where it came from, the key and the fix."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from guidellm.config import (
    FIELDS,
    RunConfig,
    config_from_env,
    config_from_flags,
    config_from_scenario,
    resolve_config,
)
from guidellm.errors import UserError

#: One run, written as flags would give it (text), with a value in most fields.
AS_TEXT: dict[str, Any] = {
    "target": "http://127.0.0.1:8000",
    "backend": "openai_http",
    "backend_args": "timeout=30,verify=false",
    "model": "m",
    "request_format": "text_completions",
    "processor": "gpt2",
    "data": "prompt_tokens=64,output_tokens=16",
    "data_args": '{"strict": true}',
    "profile": "constant",
    "profile_args": "max_concurrency=8",
    "rate": "5,10",
    "max_concurrency": "16",
    "max_seconds": "30",
    "max_requests": "1000",
    "max_sessions": "50",
    "max_errors": "10",
    "max_error_rate": "0.5",
    "warmup": "0.1",
    "cooldown": "2",
    "slo": "ttft_ms=500,itl_ms=50",
    "classes": '[{"name": "chat", "weight": 0.7, "data": ["prompt_tokens=64,output_tokens=16"], '
    '"slo": {"ttft_ms": 300}}, {"name": "embed", "weight": 0.3, "data": "prompt_tokens=32", '
    '"request_format": "embeddings"}]',
    "random_seed": "7",
    "stop_on_saturation": "on",
    "time_slice": "500ms",
    "server_metrics": "http://127.0.0.1:9/metrics,http://127.0.0.1:10/metrics",
    "server_metrics_interval": "2s",
    "outputs": "json,csv,r.yaml",
    "output_dir": "out",
    "output_sampling": "3",
    "export_chunks": "yes",
    "journal": "j.jsonl",
    "workers": "2",
    "executor": "kind=ray,workers=4",
    "on_worker_loss": "continue",
    "labels": "team=infra,gpu=h100",
    "progress": "false",
    "console": "true",
}


def test_the_example_covers_every_field() -> None:
    assert set(AS_TEXT) == set(FIELDS)


def test_flags_variables_and_scenario_files_give_the_same_config(tmp_path: Path) -> None:
    from_flags, _ = resolve_config(AS_TEXT, environ={})
    env = {"GUIDELLM_" + k.upper(): v for k, v in AS_TEXT.items()}
    from_env, sources = resolve_config({}, environ=env)
    assert sources.of["max_seconds"] == "env GUIDELLM_MAX_SECONDS"
    scenario = tmp_path / "s.yaml"
    scenario.write_text(yaml.safe_dump(from_flags.model_dump(mode="json")))
    from_file, sources = resolve_config({}, environ={}, scenario=scenario)
    assert sources.of["rate"] == f"scenario {scenario}"
    as_json = tmp_path / "s.json"
    as_json.write_text(json.dumps(AS_TEXT))  # text values are read as flags would be
    from_text_file, _ = resolve_config({}, environ={}, scenario=as_json)
    assert from_flags == from_env == from_file == from_text_file
    assert from_flags.rate == [5.0, 10.0] and from_flags.labels == {"team": "infra", "gpu": "h100"}
    assert from_flags.max_requests == 1000 and from_flags.progress is False
    assert from_flags.export_chunks is True


def test_precedence_flags_then_env_then_scenario_then_defaults(tmp_path: Path) -> None:
    scenario = tmp_path / "s.yaml"
    scenario.write_text("max_seconds: 1\nmax_requests: 2\nworkers: 3\n")
    env = {"GUIDELLM_MAX_REQUESTS": "20", "GUIDELLM_WORKERS": "30"}
    config, sources = resolve_config({"workers": 300}, environ=env, scenario=scenario)
    assert (config.max_seconds, config.max_requests, config.workers) == (1.0, 20, 300)
    assert sources.of["workers"] == "flag"
    assert sources.of["max_requests"] == "env GUIDELLM_MAX_REQUESTS"
    assert sources.of["random_seed"] == "default" and config.random_seed == 42


def test_a_saved_report_is_a_scenario(tmp_path: Path) -> None:
    config = RunConfig(target="http://127.0.0.1:1", backend_args={"api_key": "sk-123456"})
    report = {"metadata": {}, "config": config.redacted(), "benchmarks": []}
    assert report["config"]["backend_args"]["api_key"] == "***"
    path = tmp_path / "r.json"
    path.write_text(json.dumps(report))
    again, _ = resolve_config({}, environ={}, scenario=path)
    # the secret is not replayed as "***": it comes from a flag or the environment again
    assert again.backend_args == {} and again.target == config.target


@pytest.mark.parametrize(
    ("layer", "words"),
    [
        (lambda: config_from_flags({"max_seconds": "-1"}), ["--max-seconds", "more than 0"]),
        (lambda: config_from_flags({"rate": "1e12"}), ["--rate", "1,000,000"]),
        (lambda: config_from_flags({"slo": "foo_ms=5"}), ["--slo", "unknown SLO 'foo_ms'"]),
        (lambda: config_from_env({"GUIDELLM_TARGETT": "x"}),
         ["GUIDELLM_TARGETT", "GUIDELLM_TARGET?"]),
        (lambda: config_from_env({"GUIDELLM_MAX_REQUESTS": "ten"}),
         ["GUIDELLM_MAX_REQUESTS", "'ten'", "whole number"]),
        (lambda: config_from_env({"GUIDELLM_WORKERS": "0"}), ["GUIDELLM_WORKERS", "at least 1"]),
    ],
)  # fmt: skip
def test_bad_flags_and_variables_name_themselves(layer: Any, words: list[str]) -> None:
    with pytest.raises(UserError) as info:
        layer()
    message = str(info.value)
    assert "\n" not in message
    for word in words:
        assert word in message, message


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("max_requests: ten\n", ["s.yaml", "max_requests", "'ten'", "whole number"]),
        ("max_reqests: 10\n", ["s.yaml", "unknown setting max_reqests", "max_requests?"]),
        ("profile: {kind: concurrent, streams: [2]}\n", ["s.yaml", "profile", "rate: [2]"]),
        ("- a\n- b\n", ["s.yaml", "mapping"]),
        ("rate: [1, -2]\n", ["s.yaml", "rate"]),
        ("request_format: soap\n", ["s.yaml", "request_format", "chat_completions"]),
    ],
)
def test_bad_scenario_files_are_one_line(tmp_path: Path, text: str, words: list[str]) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    with pytest.raises(UserError) as info:
        config_from_scenario(path)
    message = str(info.value)
    assert "\n" not in message
    for word in words:
        assert word in message, message


def test_other_guidellm_variables_are_not_settings() -> None:
    assert config_from_env({"GUIDELLM_DEBUG": "1", "GUIDELLM_LOAD_PLUGINS": ""}) == {}
