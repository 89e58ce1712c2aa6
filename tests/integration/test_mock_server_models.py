"""A mock serving several models (a base and its adapters) over real sockets: ``/v1/models``
lists them, every answer names the model asked for, an unserved one is a 404 naming the
served ones, each model keeps its own timing, ``/metrics`` counts per ``model_name``, and the
``--models`` / ``--model-timing`` options of ``guidellm mock-server`` work or fail in one line."""

from __future__ import annotations

import io
import statistics
import subprocess
import sys
import time
import wave
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from guidellm.errors import UserError
from guidellm.mock_server import MockServer, MockServerConfig
from guidellm.telemetry.exposition import parse_exposition

MODELS = ["base", "adapter-a", "adapter-b"]
CHAT = {"messages": [{"role": "user", "content": "say a few words"}], "max_tokens": 3}
TEXT = {"prompt": "one two three", "max_tokens": 3}


@pytest.fixture
def serve() -> Iterator[Any]:
    """Start mock servers on threads (``process=True``: a child process, for timing);
    stop them afterwards."""
    started: list[MockServer] = []

    def start(process: bool = False, **settings: Any) -> str:
        server = MockServer(MockServerConfig(**settings))
        started.append(server)
        return server.start_process() if process else server.start_thread()

    yield start
    for server in started:
        server.stop()


def _wav() -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as clip:
        clip.setnchannels(1)
        clip.setsampwidth(2)
        clip.setframerate(8000)
        clip.writeframes(b"\0\0" * 8000)  # one second
    return out.getvalue()


def _stream_models(client: httpx.Client, path: str, body: dict[str, Any]) -> list[str]:
    """The ``model`` of every JSON event of a streamed answer (Anthropic's: message_start)."""
    names = []
    with client.stream("POST", path, json={**body, "stream": True}) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if line.startswith("data: {"):
                event = orjson.loads(line[6:])
                if "model" in event:
                    names.append(event["model"])
                elif event.get("type") == "message_start":
                    names.append(event["message"]["model"])
    assert names, f"{path}: no event named a model"
    return names


def test_v1_models_lists_every_served_model_with_the_base_as_parent(serve: Any) -> None:
    url = serve(models=MODELS)
    listing = httpx.get(url + "/v1/models", timeout=5).json()
    assert listing["object"] == "list"
    assert [m["id"] for m in listing["data"]] == MODELS
    assert [m["parent"] for m in listing["data"]] == [None, "base", "base"]
    for entry in listing["data"]:
        assert entry["object"] == "model"
        assert entry["root"] == entry["id"]
        assert entry["max_model_len"] == 1_000_000


def test_every_answer_names_the_model_asked_for(serve: Any) -> None:
    url = serve(models=MODELS, ttft_ms=1, itl_ms=0)
    with httpx.Client(base_url=url, timeout=5) as client:
        for name in MODELS:
            chat, text = {**CHAT, "model": name}, {**TEXT, "model": name}
            assert set(_stream_models(client, "/v1/chat/completions", chat)) == {name}
            assert set(_stream_models(client, "/v1/completions", text)) == {name}
            assert _stream_models(client, "/v1/messages", chat) == [name]
            for path, body in (
                ("/v1/chat/completions", chat),
                ("/v1/completions", text),
                ("/v1/messages", chat),
                ("/v1/embeddings", {"model": name, "input": ["a b", "c"]}),
                ("/v1/rerank", {"model": name, "query": "a", "documents": ["a", "b"]}),
            ):
                answer = client.post(path, json=body)
                assert answer.status_code == 200, (path, answer.text)
                assert answer.json()["model"] == name, path
            heard = client.post(
                "/v1/audio/transcriptions",
                files={"file": ("clip.wav", _wav(), "audio/wav")},
                data={"model": name},
            )
            assert heard.status_code == 200, heard.text
            assert heard.json()["usage"]["input_tokens"] == 25
        # no model named: the first of models answers
        assert client.post("/v1/completions", json=TEXT).json()["model"] == "base"
        assert set(_stream_models(client, "/v1/chat/completions", CHAT)) == {"base"}


def test_an_unserved_model_is_a_404_naming_the_served_ones(serve: Any) -> None:
    url = serve(models=MODELS, ttft_ms=1, itl_ms=0)
    with httpx.Client(base_url=url, timeout=5) as client:
        for path, body in (
            ("/v1/chat/completions", {**CHAT, "model": "adapter-c"}),
            ("/v1/completions", {**TEXT, "model": "adapter-c"}),
            ("/v1/messages", {**CHAT, "model": "adapter-c"}),
            ("/v1/embeddings", {"model": "adapter-c", "input": "a"}),
            ("/v1/completions", {**TEXT, "model": 7}),
        ):
            answer = client.post(path, json=body)
            assert answer.status_code == 404, path
            message = answer.json()["error"]["message"]
            assert "does not exist" in message, message
            assert all(f"`{name}`" in message for name in MODELS), message
        heard = client.post(
            "/v1/audio/transcriptions",
            files={"file": ("clip.wav", _wav(), "audio/wav")},
            data={"model": "adapter-c"},
        )
        assert heard.status_code == 404
        # a 404 is no request: nothing counted
        counted = httpx.get(url + "/metrics").text
        assert 'guidellm_mock_requests_total{model_name="base"} 0' in counted


def _ttft(client: httpx.Client, name: str) -> float:
    start = time.perf_counter()
    body = {**TEXT, "model": name, "stream": True}
    with client.stream("POST", "/v1/completions", json=body) as r:
        for line in r.iter_lines():
            if line.startswith("data: {"):
                return time.perf_counter() - start
    raise AssertionError("no token event")


def test_each_model_keeps_its_own_time_to_first_token(serve: Any) -> None:
    url = serve(
        process=True,
        models=["base", "adapter-a"],
        ttft_ms=20,
        itl_ms=1,
        model_timing={"adapter-a": {"ttft_ms": 150, "itl_ms": 40}},
    )
    base, adapter = [], []
    with httpx.Client(base_url=url, timeout=10) as client:
        _ttft(client, "base")  # connection set up
        for _ in range(5):
            base.append(_ttft(client, "base"))
            adapter.append(_ttft(client, "adapter-a"))
        # the adapter's inter-token latency too: its 3 tokens take 2 x 40 ms after the first
        start = time.perf_counter()
        answer = client.post("/v1/completions", json={**TEXT, "model": "adapter-a"})
        whole = time.perf_counter() - start
    assert answer.status_code == 200
    assert statistics.median(base) < 0.1, base  # 20 ms, with room for a slow machine
    assert min(adapter) >= 0.149, adapter  # never early
    assert statistics.median(adapter) > statistics.median(base) + 0.08, (base, adapter)
    assert whole >= 0.15 + 2 * 0.04 - 0.001, whole


def test_metrics_count_per_model_and_gauges_once(serve: Any) -> None:
    url = serve(models=MODELS, ttft_ms=1, itl_ms=0)
    sent = {"base": 1, "adapter-a": 2, "adapter-b": 0}
    with httpx.Client(base_url=url, timeout=5) as client:
        for name, times in sent.items():
            for _ in range(times):
                answer = client.post("/v1/completions", json={**TEXT, "model": name})
                assert answer.status_code == 200
        text = client.get("/metrics").text
    samples: dict[tuple[str, str], float] = {}
    running = []
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "vllm:num_requests_running":
                running.append(s.labels["model_name"])
            if not s.labels.keys() - {"model_name"}:
                samples[(s.name, s.labels["model_name"])] = s.value
    assert running == ["base"]  # the shared engine's gauge, once
    for name, times in sent.items():
        assert samples[("guidellm_mock_requests_total", name)] == times
        assert samples[("vllm:generation_tokens_total", name)] == 3 * times
        assert samples[("vllm:time_to_first_token_seconds_count", name)] == times
    # what guidellm's own scraper makes of it: every value per model as key@model
    values, _ = parse_exposition(text, model_label="model_name")
    assert values["vllm:generation_tokens_total@adapter-a"] == 6
    assert values["vllm:generation_tokens_total"] == 9


def test_config_checks_models_and_model_timing() -> None:
    config = MockServerConfig(
        models=("base", "a"), ttft_ms=20, model_timing={"a": {"ttft_ms": 150, "itl_ms_std": 2}}
    )
    assert config.model == "base" and config.served_models == ("base", "a")
    adapter = config.for_model("a")
    assert (adapter.model, adapter.ttft_ms, adapter.itl_ms_std, adapter.itl_ms) == ("a", 150, 2, 10)
    assert config.for_model("base").ttft_ms == 20
    assert MockServerConfig.from_dict(config.to_dict()) == config  # the process mode's way
    for settings, fragment in (
        ({"models": ["a"], "model_timing": {"b": {"ttft_ms": 1}}}, "`b`, which is not served"),
        ({"model_timing": {"mock-model": {"output_tokens": 1}}}, "unknown setting 'output_tokens'"),
        ({"model_timing": {"mock-model": {"ttft_ms": -1}}}, "must be a number >= 0"),
        ({"model_timing": {"mock-model": {"itl_ms": "x"}}}, "must be a number >= 0"),
        ({"models": ["a", "a"]}, "more than once"),
        ({"models": ["a", ""]}, "non-empty names"),
        ({"models": "a,b"}, "a list of names"),
        ({"model": "x", "models": ["a", "b"]}, "disagree"),
    ):
        with pytest.raises(UserError, match=fragment):
            MockServerConfig(**settings)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "guidellm", "mock-server", "--port", "0", *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--models", "base,a", "--model-timing", "c:ttft_ms=1"], "`c`, which is not served"),
        (["--model-timing", "mock-model:warp=1"], "unknown setting 'warp'"),
        (["--model-timing", "mock-model:ttft_ms=fast"], "is not KEY=NUMBER"),
        (["--model-timing", "mock-model:ttft_ms=-3"], "must be a number >= 0"),
        (["--model-timing", "ttft_ms=3"], "expected MODEL:KEY=VALUE"),
        (["--model", "x", "--models", "a,b"], "disagree"),
        (["--protocol", "grpc", "--models", "a,b"], "--models applies to the HTTP mock only"),
    ],
)
def test_cli_bad_models_or_model_timing_exit_2_with_one_line(
    args: list[str], fragment: str
) -> None:
    done = _cli(*args)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert fragment in lines[0], lines[0]
    assert "Traceback" not in done.stderr and done.stdout == ""


def test_cli_serves_models_with_their_timing() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "guidellm", "mock-server", "--port", "0", "--ttft-ms", "1",
         "--itl-ms", "0", "--models", "base, adapter-a", "--model-timing",
         "adapter-a:ttft_ms=200;base:itl_ms=0", "--model-timing", "adapter-a:itl_ms=0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), url
        listing = httpx.get(url + "/v1/models", timeout=5).json()
        assert [m["id"] for m in listing["data"]] == ["base", "adapter-a"]
        timings = {}
        for name in ("base", "adapter-a"):
            start = time.perf_counter()
            answer = httpx.post(url + "/v1/completions", json={**TEXT, "model": name}, timeout=5)
            timings[name] = time.perf_counter() - start
            assert answer.json()["model"] == name
        assert timings["adapter-a"] >= 0.199, timings
        assert timings["base"] < timings["adapter-a"] - 0.1, timings
    finally:
        proc.terminate()
        proc.wait(10)
