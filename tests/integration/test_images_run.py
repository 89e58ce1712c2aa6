"""Images end to end: ``guidellm run`` (a subprocess) sends synthetic images to the real mock
server (a process), whose prompt tokens count them; the report counts images and bytes. A run
that cannot carry its images is one line, exit 2, and the mock receives nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from clirun import guidellm, mock_requests, one_line

from guidellm.mock_server import MockServer
from guidellm.mock_server.behavior import MockServerConfig

IMAGE_TOKENS = 100
DATA = "prompt_tokens=32,output_tokens=8,images=2,image_width=64,image_height=64"


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    mock = MockServer(
        MockServerConfig(ttft_ms=1, itl_ms=1, output_tokens=4, image_tokens=IMAGE_TOKENS)
    )
    url = mock.start_process()
    try:
        yield url
    finally:
        mock.stop()


def test_images_reach_the_mock_and_the_report(server: str, tmp_path: Path) -> None:
    before = mock_requests(server)
    args = ["run", "--target", server, "--profile", "concurrent", "--rate", "2"]
    args += ["--data", DATA, "--max-requests", "10", "--output", "r.json", "--disable-progress"]
    proc = guidellm(args, tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert mock_requests(server) - before == 10
    (bench,) = json.loads((tmp_path / "r.json").read_text())["benchmarks"]
    assert bench["requests"]["successful"] == 10
    prompt = bench["metrics"]["prompt_token_count"]["successful"]
    assert prompt["min"] == prompt["max"] == 32 + 2 * IMAGE_TOKENS
    images = bench["images"]
    assert images["requests_with_images"] == 10 and images["images"] == 20
    assert images["images_per_request_mean"] == 2
    assert images["image_bytes"] > 20 * 100  # 64x64 JPEGs: hundreds of bytes each
    assert images["image_bytes_per_request_mean"] == images["image_bytes"] / 10


def test_a_run_without_images_reports_none(server: str, tmp_path: Path) -> None:
    args = ["run", "--target", server, "--profile", "synchronous", "--max-requests", "2"]
    args += ["--data", "prompt_tokens=8,output_tokens=4", "--output", "r.json"]
    proc = guidellm([*args, "--disable-progress"], tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    (bench,) = json.loads((tmp_path / "r.json").read_text())["benchmarks"]
    assert bench["images"] is None


@pytest.mark.parametrize("fmt", ["text_completions", "embeddings", "rerank"])
def test_images_with_a_format_that_cannot_send_them_are_one_line(
    fmt: str, server: str, tmp_path: Path
) -> None:
    before = mock_requests(server)
    args = ["run", "--target", server, "--data", DATA, "--max-requests", "10"]
    args += ["--backend-args", f"request_format={fmt}"]
    one_line(guidellm(args, tmp_path), "images", fmt)
    assert mock_requests(server) == before


def test_a_bad_image_row_is_one_line(server: str, tmp_path: Path) -> None:
    before = mock_requests(server)
    rows = [{"prompt": "a", "image": "https://e.x/1.png"}, {"prompt": "b", "image": "nope.png"}]
    (tmp_path / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    args = ["run", "--target", server, "--data", "d.jsonl", "--max-requests", "2"]
    one_line(guidellm(args, tmp_path), "row 2", "'image'", "nope.png")
    assert mock_requests(server) == before
