"""A weighted model mix against a real llama-server serving two model names: ``base`` (the tiny
model) and ``adapter-a`` (the tiny model with a LoRA adapter), one instance each in router
mode. Each name reaches its own instance, whose own token counter proves where the requests
went; the report's per-model rows and its server view add up to the client's totals."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from guidellm.benchmark.report import Report

_MODELS = ("base", "adapter-a")
_GENERATED = "llamacpp:tokens_predicted_total"


def _generated(metrics_url: str) -> int:
    """Tokens one llama-server instance generated, from its own ``/metrics``."""
    for line in httpx.get(metrics_url, timeout=10).text.splitlines():
        name, _, value = line.partition(" ")
        if name == _GENERATED:
            return int(float(value))
    raise AssertionError(f"{metrics_url} has no {_GENERATED}")


def _complete(url: str, model: str) -> dict[str, Any]:
    """One greedy completion naming ``model``."""
    body = {"model": model, "prompt": "the benchmark server", "max_tokens": 8, "temperature": 0}
    answer = httpx.post(f"{url}/v1/completions", json=body, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _run(tmp_path: Path, *args: str) -> Report:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUIDELLM_")}
    proc = subprocess.run(
        [sys.executable, "-m", "guidellm", "run", "--output", "r.json", "--disable-progress",
         *args],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return Report.load(tmp_path / "r.json")


@pytest.fixture
def lora_server(start_llama_server: Callable[..., Any]) -> Any:
    """Base and base+LoRA under their own names, two slots each."""
    return start_llama_server(alias=_MODELS[0], lora_model=_MODELS[1], slots=2)


@pytest.mark.realserver
def test_each_model_name_reaches_its_own_model(lora_server: Any) -> None:
    url = lora_server.url
    assert lora_server.models == _MODELS
    listed = {m["id"] for m in httpx.get(f"{url}/v1/models", timeout=10).json()["data"]}
    assert listed == set(_MODELS)
    answers = {name: _complete(url, name) for name in _MODELS}
    assert {name: a["model"] for name, a in answers.items()} == {n: n for n in _MODELS}
    texts = {name: a["choices"][0]["text"] for name, a in answers.items()}
    # greedy decoding: the same prompt gives other text only when the adapter is applied
    assert texts["base"] != texts["adapter-a"], texts
    assert _complete(url, "base")["choices"][0]["text"] == texts["base"]
    unknown = httpx.post(
        f"{url}/v1/completions", json={"model": "nope", "prompt": "x", "max_tokens": 1}, timeout=10
    )
    assert unknown.status_code == 400, unknown.text


@pytest.mark.realserver
def test_aliases_are_one_model_under_several_names(start_llama_server: Callable[..., Any]) -> None:
    """Without router mode the names are only labels: llama-server takes any name and answers
    with its first alias in sorted order, so a mix over aliases cannot tell models apart."""
    server = start_llama_server(alias="base", aliases=("adapter-a",), slots=1)
    assert server.models == _MODELS
    (listed,) = httpx.get(f"{server.url}/v1/models", timeout=10).json()["data"]
    assert sorted(listed["aliases"]) == sorted(_MODELS)
    answers = [_complete(server.url, name) for name in (*_MODELS, "nope")]
    assert {a["model"] for a in answers} == {"adapter-a"}
    assert len({a["choices"][0]["text"] for a in answers}) == 1


@pytest.mark.realserver
def test_a_weighted_mix_splits_requests_between_base_and_adapter(
    lora_server: Any, tmp_path: Path
) -> None:
    before = [_generated(u) for u in lora_server.metrics_urls]
    report = _run(
        tmp_path,
        "--target", lora_server.url, "--model", "base:0.5,adapter-a:0.5",
        "--data", "prompt_tokens=16,output_tokens=8", "--data-args", "ignore_eos=true",
        "--profile", "concurrent", "--rate", "2", "--max-requests", "40", "--random-seed", "11",
        "--server-metrics", ",".join(lora_server.metrics_urls),
        "--server-metrics-interval", "500ms",
    )  # fmt: skip
    generated = [_generated(u) - b for u, b in zip(lora_server.metrics_urls, before, strict=True)]
    bench = report.benchmarks[0]
    assert bench.requests.successful == 40, bench.errors
    assert bench.requests.errored == bench.requests.incomplete == 0

    assert bench.groups is not None
    rows = {row.name: row for row in bench.groups.models}
    assert set(rows) == set(_MODELS), rows
    for row in rows.values():
        assert row.errored == row.incomplete == 0, row
        assert row.total == row.successful and row.weight == 0.5, row
        assert abs(row.successful - 20) <= 2, rows  # shares kept within about one request
    assert sum(row.total for row in rows.values()) == 40
    # Each instance generated exactly the tokens of the requests that named it.
    assert generated == [rows[name].successful * 8 for name in _MODELS], (generated, rows)

    server = bench.server
    assert server is not None and server.server == "llamacpp"
    assert len(server.endpoints) == 2, server.endpoints
    assert all(e.exact and e.failed == 0 for e in server.endpoints), server.endpoints
    assert server.counters["generation_tokens"] == 40 * 8
    output = next(row for row in server.crosscheck if row.name == "output_tokens")
    assert output.client == output.server == 40 * 8 and output.agree, output


@pytest.mark.realserver
def test_traffic_classes_each_reach_their_own_model(lora_server: Any, tmp_path: Path) -> None:
    """Two classes with their own data, model and SLOs: the class rows add up to the total
    and each instance generated exactly its class's tokens (8 per chat, 4 per tuned)."""
    import yaml

    before = [_generated(u) for u in lora_server.metrics_urls]
    scenario = {
        "target": lora_server.url,
        "profile": "concurrent",
        "rate": [2],
        "max_requests": 40,
        "data_args": {"ignore_eos": True},
        "classes": [
            {"name": "chat", "weight": 0.6, "model": "base",
             "data": "prompt_tokens=16,output_tokens=8", "slo": {"ttft_ms": 60000}},
            {"name": "tuned", "weight": 0.4, "model": "adapter-a",
             "data": "prompt_tokens=24,output_tokens=4", "slo": {"latency_ms": 60000}},
        ],
    }  # fmt: skip
    (tmp_path / "mix.yaml").write_text(yaml.safe_dump(scenario))
    report = _run(tmp_path, "--scenario", "mix.yaml")
    generated = [_generated(u) - b for u, b in zip(lora_server.metrics_urls, before, strict=True)]
    bench = report.benchmarks[0]
    assert bench.requests.successful == 40, bench.errors
    assert bench.groups is not None
    classes = {row.name: row for row in bench.groups.classes}
    assert sum(row.total for row in classes.values()) == 40
    assert (classes["chat"].total, classes["tuned"].total) == (24, 16)
    assert generated == [classes["chat"].total * 8, classes["tuned"].total * 4], generated
    models = {row.name: row.total for row in bench.groups.models}
    assert models == {"base": 24, "adapter-a": 16}
    for row in classes.values():
        assert row.goodput is not None and row.goodput.attainment == 1.0, row
    assert bench.metrics.goodput is not None and bench.metrics.goodput.met == 40
