"""Images end to end against a real engine: ``guidellm run`` (a subprocess) sends synthetic
images to a real llama.cpp llama-server loaded with the tiny model and the tiny vision projector
(``scripts/test-servers/make_tiny_mmproj.py``), which decodes each image, runs it through its
vision encoder and puts the projected embeddings into the prompt.

The projector fits every image to 32x32 pixels in 8x8 patches: each image costs exactly
``TINY_MMPROJ_IMAGE_TOKENS`` (16) prompt tokens, so the server-reported prompt tokens of every
request exceed those of the same request without its image (same seed, same text) by 16.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from clirun import guidellm
from journalread import journal_results

from guidellm.testing.llama import TINY_MMPROJ_IMAGE_TOKENS, LlamaServer
from guidellm.testing.process import TestServerError

pytestmark = pytest.mark.realserver

REQUESTS = 8
TEXT = "prompt_tokens=64,output_tokens=8"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    llama = LlamaServer(mmproj=True, log_dir=tmp_path_factory.mktemp("llama-mmproj"))
    try:
        llama.start()
    except TestServerError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield llama
    finally:
        llama.stop()


def run(server: LlamaServer, data: str, cwd: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """One benchmark's report and its requests (id -> RequestResult) from the run's journal."""
    args = ["run", "--target", server.url, "--data", data, "--data-args", "ignore_eos=true"]
    args += ["--profile", "concurrent", "--rate", "2", "--max-requests", str(REQUESTS)]
    args += ["--request-format", "chat_completions", "--random-seed", "7"]
    args += ["--output", "r.json", "--disable-progress"]
    cwd.mkdir()
    proc = guidellm(args, cwd, timeout=180)
    assert proc.returncode == 0, proc.stderr
    (bench,) = json.loads((cwd / "r.json").read_text())["benchmarks"]
    results: dict[str, Any] = {}
    for result in journal_results(cwd / "r.journal"):
        results[result.request_id] = result
    assert len(results) == REQUESTS
    return bench, results


@pytest.mark.parametrize(("width", "height"), [(32, 32), (64, 48)])
def test_each_image_costs_the_projectors_tokens(
    server: LlamaServer, tmp_path: Path, width: int, height: int
) -> None:
    images = f"{TEXT},images=1,image_width={width},image_height={height}"
    bench, with_image = run(server, images, tmp_path / "images")
    text_bench, text_only = run(server, TEXT, tmp_path / "text")

    for b in (bench, text_bench):
        assert b["requests"]["successful"] == REQUESTS
        assert b["requests"]["errored"] == b["requests"]["incomplete"] == 0
        assert b["metrics"]["output_token_count"]["successful"]["min"] == 8
        assert b["metrics"]["output_token_count"]["successful"]["max"] == 8

    assert with_image.keys() == text_only.keys()
    for rid, result in with_image.items():
        text = text_only[rid]
        assert result.prompt_tokens is not None and text.prompt_tokens is not None
        assert result.prompt_tokens == text.prompt_tokens + TINY_MMPROJ_IMAGE_TOKENS, rid
        assert result.images == 1 and text.images == 0
        assert result.image_bytes > 100

    report_images = bench["images"]
    assert report_images["requests_with_images"] == REQUESTS
    assert report_images["images"] == REQUESTS
    assert report_images["images_per_request_mean"] == 1
    assert report_images["image_bytes"] == sum(r.image_bytes for r in with_image.values())
    assert report_images["image_bytes_per_request_mean"] == report_images["image_bytes"] / REQUESTS
    assert text_bench["images"] is None

    prompt = bench["metrics"]["prompt_token_count"]["successful"]
    text_prompt = text_bench["metrics"]["prompt_token_count"]["successful"]
    assert prompt["mean"] == text_prompt["mean"] + TINY_MMPROJ_IMAGE_TOKENS
    # the server's own counter (its /metrics) saw the image tokens too
    server_prompt = bench["server"]["counters"]["prompt_tokens"]
    text_server_prompt = text_bench["server"]["counters"]["prompt_tokens"]
    assert server_prompt == sum(r.prompt_tokens for r in with_image.values())
    assert server_prompt - text_server_prompt == REQUESTS * TINY_MMPROJ_IMAGE_TOKENS
