"""How the runner composes a mix, checked before anything is sent: each route's request format,
options and model; a saved report's class secrets; the profiles a mix cannot take."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from guidellm.backends.routed import RoutedBackend
from guidellm.config import RunConfig, config_from_env, config_from_scenario, resolve_config
from guidellm.errors import UserError
from guidellm.plugins import get_plugin_host
from guidellm.runner import Runner

TARGET = "http://127.0.0.1:9"


def _prepared(tmp_path: Path, **values: Any) -> Runner:
    config = RunConfig.model_validate(
        {"target": TARGET, "output_dir": str(tmp_path), "max_requests": 5, **values}
    )
    runner = Runner(config, get_plugin_host())
    runner.prepare()
    return runner


def _formats(runner: Runner) -> dict[tuple[str | None, str | None], Any]:
    assert isinstance(runner.backend, RoutedBackend)
    return {k: b.describe()["request_format"] for k, b in runner.backend.routes.items()}


def test_the_request_format_flag_reaches_every_route_of_a_model_mix(tmp_path: Path) -> None:
    runner = _prepared(tmp_path, model="a:0.5,b:0.5", request_format="text_completions")
    assert _formats(runner) == {(None, "a"): "text_completions", (None, "b"): "text_completions"}
    plain = _prepared(tmp_path, request_format="embeddings")
    assert plain.backend.describe()["request_format"] == "embeddings"


def test_a_class_format_wins_over_the_runs_and_its_options_add_to_the_runs(
    tmp_path: Path,
) -> None:
    runner = _prepared(
        tmp_path,
        backend_args={"request_format": "embeddings", "headers": {"X-Team": "infra"}},
        classes=[
            {"name": "chat", "data": "prompt_tokens=8", "request_format": "chat_completions",
             "backend_args": {"headers": {"X-Priority": "low"}}},
            {"name": "embed", "data": "prompt_tokens=8"},
        ],
    )  # fmt: skip
    assert _formats(runner) == {("chat", None): "chat_completions", ("embed", None): "embeddings"}
    assert isinstance(runner.backend, RoutedBackend)
    headers = runner.backend.routes["chat", None].describe()["headers"]
    assert headers == {"X-Team": "infra", "X-Priority": "low"}


def test_a_saved_reports_class_secrets_are_not_replayed_as_stars(tmp_path: Path) -> None:
    config, _ = resolve_config(
        {"classes": json.dumps([{"name": "a", "data": "prompt_tokens=8",
                                 "backend_args": {"api_key": "sk-secret-1234"}}])},
        environ={},
    )  # fmt: skip
    saved = {"metadata": {}, "config": config.redacted(), "benchmarks": []}
    assert saved["config"]["classes"][0]["backend_args"]["api_key"] == "***"
    path = tmp_path / "r.json"
    path.write_text(json.dumps(saved))
    assert config_from_scenario(path)["classes"][0]["backend_args"] == {}


@pytest.mark.parametrize(
    ("values", "words"),
    [
        ({"profile": "replay", "data": ["prompt_tokens=8", "prompt_tokens=9"],
          "data_args": {"weights": [1, 1]}}, "replay one trace without weights"),
        ({"classes": [{"name": "a", "data": "prompt_tokens=8", "backend_args": {"model": "x"}}]},
         "backend_args cannot hold model"),
    ],
)  # fmt: skip
def test_what_a_mix_cannot_do_is_one_line(
    tmp_path: Path, values: dict[str, Any], words: str
) -> None:
    with pytest.raises(UserError, match=words):
        _prepared(tmp_path, **values)


def test_slo_search_takes_the_classes_own_slos(tmp_path: Path) -> None:
    runner = _prepared(
        tmp_path,
        profile="slo-search",
        classes=[{"name": "a", "data": "prompt_tokens=8", "slo": {"ttft_ms": 300}}],
    )
    assert runner.mix.classes[0].slo == {"ttft_ms": 300.0}


def test_a_bad_classes_variable_names_the_variable() -> None:
    with pytest.raises(UserError) as info:
        config_from_env({"GUIDELLM_CLASSES": "nope"})
    assert str(info.value).startswith("GUIDELLM_CLASSES: classes must be a list")


def test_the_classes_share_one_tokenizer_loaded_once(tmp_path: Path) -> None:
    runner = _prepared(
        tmp_path,
        processor="approx",
        classes=[
            {"name": "a", "data": "prompt_tokens=8"},
            {"name": "b", "data": "prompt_tokens=16"},
        ],
    )
    first, second = (cls.loader.tokenizer for cls in runner.mix.classes)
    assert first is not None and first is second
