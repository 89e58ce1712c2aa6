"""The llama_server fixture gives a real, working llama-server (smoke test of the test tooling)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from guidellm.testing.llama import LlamaServer
from guidellm.testing.process import TestServerError


def test_models_lists_the_alias(llama_server: LlamaServer) -> None:
    response = httpx.get(f"{llama_server.url}/v1/models", timeout=10)
    response.raise_for_status()
    ids = [m["id"] for m in response.json()["data"]]
    assert llama_server.model in ids


def test_streamed_completion_gives_exactly_max_tokens(llama_server: LlamaServer) -> None:
    body = {
        "model": llama_server.model,
        "prompt": "The benchmark server",
        "max_tokens": 8,
        "ignore_eos": True,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    chunks: list[str] = []
    usage: dict[str, int] | None = None
    with httpx.stream(
        "POST", f"{llama_server.url}/v1/completions", json=body, timeout=30
    ) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            event = json.loads(line[len("data: ") :])
            for choice in event.get("choices") or []:
                if choice.get("text"):
                    chunks.append(choice["text"])
            usage = event.get("usage") or usage
    assert len(chunks) == 8
    assert usage is not None
    assert usage["completion_tokens"] == 8


def test_factory_starts_a_server_of_ones_own(
    start_llama_server: Callable[..., LlamaServer], llama_server: LlamaServer
) -> None:
    server = start_llama_server(slots=1, alias="other")
    assert server.url != llama_server.url
    ids = [m["id"] for m in httpx.get(f"{server.url}/v1/models", timeout=10).json()["data"]]
    assert ids == ["other"]
    slots = httpx.get(f"{server.url}/slots", timeout=10)
    slots.raise_for_status()
    assert len(slots.json()) == 1


def test_stop_ends_the_process(tmp_path: Path) -> None:
    server = LlamaServer(log_dir=tmp_path).start()
    assert server.pid is not None
    assert httpx.get(f"{server.url}/health", timeout=5).status_code == 200
    server.stop()
    assert server.pid is None
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.url}/health", timeout=5)


def test_a_server_that_cannot_start_fails_loudly(tmp_path: Path) -> None:
    bad_model = tmp_path / "not-a-model.gguf"
    bad_model.write_bytes(b"this is not a GGUF file")
    with pytest.raises(TestServerError) as info:
        LlamaServer(model_path=bad_model, log_dir=tmp_path, timeout=30).start()
    message = str(info.value)
    assert "exited with code" in message
    assert str(bad_model) in message  # the command line
    assert "scripts/test-servers/setup.sh llama" in message  # the fix
    assert "last lines" in message
